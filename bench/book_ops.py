"""Book side operations: wstui's bisect-on-a-list side against sortedcontainers.SortedDict.

Prints microseconds per operation for books of 25, 1,000 and 50,000 levels:
  update   remove a level near the top and add it back (the common case: most changes, and all
           inserts and deletes that move memory, happen near the best price); per set
  deep     the same at a uniformly random depth
  top20    read the 20 best levels
Usage: python bench/book_ops.py   (sortedcontainers is optional: pip install sortedcontainers)
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wstui.core.book import BookSide  # noqa: E402

try:
    from sortedcontainers import SortedDict
except ImportError:  # pragma: no cover
    SortedDict = None


def per_op(fn, n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6


def main() -> None:
    rnd = random.Random(1)
    print(f"{'levels':>7} {'impl':>12} {'update us':>10} {'deep us':>8} {'top20 us':>9}")
    for depth in (25, 1000, 50000):
        prices = [1000.0 - i * 0.01 for i in range(depth)]  # all > 0: a book refuses a price <= 0
        near = [rnd.choice(prices[: max(1, depth // 50)]) for _ in range(20000)]
        anywhere = [rnd.choice(prices) for _ in range(20000)]

        side = BookSide(1.0)
        for p in prices:
            side.set(p, f"{p:.2f}", "1", 1.0)

        def ours(ps):
            def run(n):
                for i in range(n // 2):
                    p = ps[i]
                    side.set(p, "x", "0", 0.0)
                    side.set(p, "x", "y", 1.0)
            return run

        def ours_top(n):
            for _ in range(n):
                side.top(20)

        row = [per_op(ours(near), 20000), per_op(ours(anywhere), 20000), per_op(ours_top, 20000)]
        print(f"{depth:7d} {'wstui list':>12} {row[0]:10.2f} {row[1]:8.2f} {row[2]:9.2f}")
        if SortedDict is None:
            print(f"{depth:7d} {'SortedDict':>12}  (not installed)")
            continue
        sd = SortedDict({-p: ("x", "y", 1.0) for p in prices})

        def theirs(ps):
            def run(n):
                for i in range(n // 2):
                    k = -ps[i]
                    del sd[k]
                    sd[k] = ("x", "y", 1.0)
            return run

        def theirs_top(n):
            for _ in range(n):
                [sd[k] for k in sd.islice(0, 20)]

        row = [per_op(theirs(near), 20000), per_op(theirs(anywhere), 20000), per_op(theirs_top, 20000)]
        print(f"{depth:7d} {'SortedDict':>12} {row[0]:10.2f} {row[1]:8.2f} {row[2]:9.2f}")


if __name__ == "__main__":
    main()
