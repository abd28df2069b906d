"""The engine's per-stream upkeep with no sockets: N streams fed ~R messages/s of simulated time through a
made-up venue, the clock ticking as frames come (as live), a snapshot published 10 times a second.

It prints CPU seconds per simulated second (process time, so other load on the machine barely moves it)
for ingest + health, and for the snapshots, at each stream count:

    .venv/bin/python bench/health_upkeep.py [--streams 500,2000,5000] [--rate 1000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wstui.engine import Engine  # noqa: E402
from wstui.venues.base import Venue  # noqa: E402


class Toy(Venue):
    """``sub SYM;SYM...`` declares book and trades streams; a frame ``SYM CH`` is one message."""

    name = "toy"

    def on_send(self, text: str, ts: float) -> None:
        for sym in text.split(";"):
            self.declare(sym, "book")
            self.declare(sym, "trades")

    def on_frame(self, data, ts: float) -> None:
        sym, ch = data.split()
        self.declare(sym, ch).data(ts, len(data), ts - 0.02)


def run(streams: int, rate: float, seconds: float) -> dict:
    engine = Engine(stale_after=30.0)
    engine.focus = frozenset()
    rng = random.Random(1)
    syms = [f"X{i:04d}" for i in range(streams // 2)]
    t = 1_700_000_000.0
    per = 250
    conns = []
    for i in range(0, len(syms), per):
        c = f"c{i // per}"
        engine.open(c, f"ws://127.0.0.1/{c}", t, venue=Toy)
        engine.sent(c, ";".join(syms[i:i + per]), t)
        conns.append((c, syms[i:i + per]))
    for c, ss in conns:  # every stream speaks once, then the load is random
        for s in ss:
            engine.frame(c, f"{s} book", t)
    dt = 1.0 / rate
    end = t + seconds
    ingest = snap = 0.0
    next_pub = t
    frames = 0
    while t < end:
        c0 = time.process_time()
        stop = min(end, next_pub)
        while t < stop:
            t += rng.expovariate(rate) if rate else dt
            c, ss = conns[rng.randrange(len(conns))]
            engine.frame(c, f"{ss[rng.randrange(len(ss))]} {'book' if rng.random() < 0.8 else 'trades'}", t)
            frames += 1
        c1 = time.process_time()
        engine.publish()
        next_pub += 0.1
        ingest += c1 - c0
        snap += time.process_time() - c1
    d = getattr(engine, "deadlines", None)
    return {"ingest": ingest / seconds, "snap": snap / seconds, "frames": frames / seconds,
            "judged": (d.evaluations / seconds) if d is not None else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", default="500,2000,5000")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    print(f"{a.rate:g} msg/s simulated for {a.seconds:g} s; CPU per simulated second (% of a core)")
    print(f"{'streams':>8} {'ingest+health':>14} {'snapshots':>10} {'msg/s':>7} {'judged/s':>9}")
    for n in (int(x) for x in a.streams.split(",")):
        r = run(n, a.rate, a.seconds)
        j = "-" if r["judged"] is None else f"{r['judged']:,.0f}"
        print(f"{n:>8} {r['ingest'] * 100:>13.1f}% {r['snap'] * 100:>9.1f}% {r['frames']:>7,.0f} {j:>9}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
