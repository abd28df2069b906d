"""A price-level order book that keeps the exchange's own number text.

Each side is a plain Python list of float keys kept sorted with ``bisect`` plus a dict from key to the
level.  Keys are arranged so that the *best* level of either side sits at the end of its list
(bids: key = price, asks: key = -price).  Most activity happens near the top of a book, so inserts and
deletes there move little memory, and a top-N read is one slice.  ``bench/book_ops.py`` measured it
against ``sortedcontainers.SortedDict``: a remove-and-add near the top costs 0.16-0.5 us against
0.5-0.8 us, a top-20 read 0.9 us against 2.1 us; only far down a 50,000-level book is it slower
(3.7 us against 1.1 us per change, the memmove of a long list).

A level is stored as ``(price_text, size_text, size_float)``: prices and sizes are shown and checksummed
exactly as the exchange wrote them (Kraken's checksum needs trailing zeros a float would lose).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Iterable, Sequence

Level = tuple[str, str, float]  # (price text, size text, size)

BID = 0
ASK = 1


class BookSide:
    """One side of a book.  ``keys`` ascend; the best level is ``keys[-1]``."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: float) -> None:
        self.sign = sign  # +1.0 for bids, -1.0 for asks
        self.keys: list[float] = []
        self.levels: dict[float, Level] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def clear(self) -> None:
        self.keys.clear()
        self.levels.clear()

    def set(self, price: float, price_text: str, size_text: str, size: float) -> None:
        """Set a level; a size of zero removes it."""
        key = price * self.sign
        levels = self.levels
        if size == 0.0:
            if key in levels:
                del levels[key]
                keys = self.keys
                i = bisect_left(keys, key)
                del keys[i]
            return
        if key not in levels:
            keys = self.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                keys.insert(bisect_left(keys, key), key)
        levels[key] = (price_text, size_text, size)

    def update(self, items: Iterable[Sequence[str]]) -> None:
        """Apply ``(price_text, size_text, ...)`` changes in order (elements after the size, such as
        timestamps or order counts, are ignored); a size of zero removes the level.  The body of
        :meth:`set` inlined: one call per message instead of one per level (Bybit's hot path)."""
        sign = self.sign
        levels = self.levels
        keys = self.keys
        for lv in items:
            p = lv[0]
            s = lv[1]
            key = float(p) * sign
            q = float(s)
            if q == 0.0:
                if key in levels:
                    del levels[key]
                    del keys[bisect_left(keys, key)]
            else:
                if key not in levels:
                    if not keys or key > keys[-1]:
                        keys.append(key)
                    else:
                        insort(keys, key)
                levels[key] = (p, s, q)

    def replace(self, levels: dict[float, Level]) -> None:
        """Replace the whole side with ``levels`` keyed as this side keys them (``price * sign``), zero
        sizes already left out: one sort, for snapshots (Coinbase sends ~46,000 levels)."""
        self.levels = levels
        self.keys = sorted(levels)

    def remove(self, price: float) -> bool:
        key = price * self.sign
        if key in self.levels:
            del self.levels[key]
            del self.keys[bisect_left(self.keys, key)]
            return True
        return False

    def best_price(self) -> float | None:
        return self.keys[-1] * self.sign if self.keys else None

    def top(self, n: int) -> list[Level]:
        """The ``n`` best levels, best first."""
        levels = self.levels
        keys = self.keys
        start = len(keys) - n
        if start < 0:
            start = 0
        return [levels[k] for k in reversed(keys[start:])]

    def truncate(self, depth: int) -> None:
        """Keep only the ``depth`` best levels."""
        keys = self.keys
        extra = len(keys) - depth
        if extra > 0:
            levels = self.levels
            for k in keys[:extra]:
                del levels[k]
            del keys[:extra]


class Book:
    """An order book: two sides plus bookkeeping for snapshots/updates."""

    __slots__ = ("bids", "asks", "updates")

    def __init__(self) -> None:
        self.bids = BookSide(1.0)
        self.asks = BookSide(-1.0)
        self.updates = 0

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def side(self, side: int) -> BookSide:
        return self.bids if side == BID else self.asks

    def load(self, bids: Iterable[Sequence[str]], asks: Iterable[Sequence[str]]) -> None:
        """Replace the whole book with ``[(price_text, size_text, ...), ...]`` per side (zero sizes
        skipped; elements after the size are ignored)."""
        for pairs, side in ((bids, self.bids), (asks, self.asks)):
            sign = side.sign
            levels = {}
            for lv in pairs:
                s = lv[1]
                q = float(s)
                if q != 0.0:
                    p = lv[0]
                    levels[float(p) * sign] = (p, s, q)
            side.replace(levels)

    def apply(self, side: int, price_text: str, size_text: str) -> None:
        """Apply one level change given as text; size 0 removes the level."""
        (self.bids if side == BID else self.asks).set(
            float(price_text), price_text, size_text, float(size_text)
        )

    def best_bid(self) -> float | None:
        return self.bids.best_price()

    def best_ask(self) -> float | None:
        return self.asks.best_price()

    def crossed(self) -> bool:
        bk = self.bids.keys
        ak = self.asks.keys
        return bool(bk and ak) and bk[-1] >= -ak[-1]

    def truncate(self, depth: int) -> None:
        self.bids.truncate(depth)
        self.asks.truncate(depth)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        return self.bids.top(n), self.asks.top(n)

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
