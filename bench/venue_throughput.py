"""Replay throughput per capture: Engine + Replay(speed=None) + run_source, messages per second.

    python bench/venue_throughput.py [capture names...] [--repeat N]

Each capture is replayed ``--repeat`` times (best run kept, after one warm-up pass); the figure
includes reading and decompressing the file, the venue adapter and the engine.  A second figure
times the adapter's ``on_frame`` alone over the capture's frames held in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wstui.engine import Engine  # noqa: E402
from wstui.io.replay import Replay  # noqa: E402
from wstui.runner import run_source  # noqa: E402

FEEDS = ROOT.parent / "shared" / "real_feeds"
DEFAULT = ["bitstamp", "bitfinex", "deribit", "gemini"]


def replay_once(path: Path) -> tuple[int, float]:
    engine = Engine(file=str(path))
    t0 = time.perf_counter()
    asyncio.run(run_source(engine, Replay(path, speed=None), fps=10))
    return engine.messages, time.perf_counter() - t0


def adapter_only(path: Path) -> tuple[int, float]:
    """Frames through a warm engine's adapters with the file already parsed (no I/O, no JSON of records)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    best = None
    n = 0
    for _ in range(3):
        engine = Engine(file=str(path))
        replay = Replay(path, speed=None)
        replay.prescan()
        engine.fetcher = replay._fetch
        n = 0
        t0 = time.perf_counter()
        for r in records:
            t = r["t"]
            if t == "recv" and "data" in r:
                engine.frame(r["conn"], r["data"], r["ts"])
                n += 1
            elif t == "connect":
                engine.open(r["conn"], r["addr"], r["ts"])
            elif t == "send":
                engine.sent(r["conn"], r["data"], r["ts"])
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return n, best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'capture':<12} {'messages':>8} {'replay msg/s':>13} {'adapter msg/s':>14}")
    for name in args.names:
        path = FEEDS / f"{name}.jsonl.gz"
        replay_once(path)  # warm-up
        runs = [replay_once(path) for _ in range(args.repeat)]
        n, dt = min(runs, key=lambda x: x[1])
        an, adt = adapter_only(path)
        print(f"{name:<12} {n:>8} {n / dt:>13,.0f} {an / adt:>14,.0f}")


if __name__ == "__main__":
    main()
