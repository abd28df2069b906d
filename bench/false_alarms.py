"""Alarms raised by replaying the real captures (recorded without incident) at default settings.

For each capture in ../shared/real_feeds (or the FILES given) it prints the number of each alarm event
(stale, lagging, out_of_sync, down) and the streams that were not healthy at the end, then the demo's
bundled capture.  Every alarm here is a false one: a monitor that cries wolf is not read.
Usage: python bench/false_alarms.py [FILES...]

Measured (issue 10), stale events per capture before -> after "stale means we may be missing data":
binance 22 -> 0, binance_futures 9 -> 0, bitfinex 32 -> 0, bitstamp 23 -> 0, bybit 27 -> 0, coinbase 5 -> 0,
deribit 57 -> 0, gemini 11 -> 0, kraken (v1) 29 -> 0, kraken_v2_btcusd 0 -> 0, kraken_v2_btcusd_d10 0 -> 0,
okx 4 -> 0 (total 219 -> 0; the demo's capture 9 -> 0).  Lagging: bitstamp 5 -> 5, true: its recorder
delivered the first frames 6 s late while it fetched REST snapshots.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wstui.engine import Engine  # noqa: E402
from wstui.io.replay import Replay  # noqa: E402
from wstui.runner import run_source  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "real_feeds"
ALARMS = ("stale", "lagging", "out_of_sync", "down")


def count(path: Path) -> Counter:
    engine = Engine(file=str(path))
    asyncio.run(run_source(engine, Replay(path, speed=None), fps=20))
    return Counter(e.kind for e in engine.events if e.kind in ALARMS)


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or sorted(DEFAULT_DIR.glob("*.jsonl*"))
    files.append(ROOT / "sample_feeds" / "binance_futures.jsonl.gz")
    total: Counter = Counter()
    print(f"{'capture':<34}" + "".join(f"{k:>12}" for k in ALARMS))
    for p in files:
        c = count(p)
        total += c
        name = p.name if p.parent == DEFAULT_DIR else f"{p.parent.name}/{p.name}"
        print(f"{name:<34}" + "".join(f"{c[k]:>12}" for k in ALARMS))
    print(f"{'total':<34}" + "".join(f"{total[k]:>12}" for k in ALARMS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
