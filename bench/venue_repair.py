"""One book repaired alone, per venue: ``wstui serve --sim`` with a repeated ``gap`` fault against ``wstui watch
--headless --json`` on loopback (four symbols per venue, one connection).

Printed per venue: the gaps found, the time from each gap to its book rebuilt (the ``gap`` and ``resync``
events of the watcher's own summary: median and max), reconnects (should be 0), the books that ended in sync,
and the watcher's latency (simulator event -> book applied, p50/p99 of the last book messages).

    .venv/bin/python bench/venue_repair.py [--venues bybit,bitstamp,gemini] [--rate 200] [--duration 12]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")

VENUES = {
    "bybit": (["BTCUSDT", "ETHUSDT", "SOLUSDT", "X0001USDT"], ""),
    "bybit-linear": (["BTCUSDT", "ETHUSDT", "SOLUSDT", "X0001USDT"], ""),
    "bybit-inverse": (["BTCUSD", "ETHUSD", "SOLUSD", "X0001USD"], ""),
    "bitstamp": (["btcusd", "ethusd", "solusd", "x0001eur"], ""),
    "gemini": (["BTCUSD", "ETHUSD", "SOLUSD", "X0001USDT"], ""),
}


def wstui(*args) -> list[str]:
    return [sys.executable, "-m", "wstui", *map(str, args)]


def one(venue: str, rate: int, duration: float) -> dict:
    symbols, path = VENUES[venue]
    srv = subprocess.Popen(wstui("serve", "--sim", "--rate", rate, "--seed", 1, "--port", 0,
                                 "--fault", "gap@1s:1/2.5s"), cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        port = None
        for _ in range(50):
            m = LISTEN.search(srv.stdout.readline() or "")
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise SystemExit("wstui serve did not start")
        p = subprocess.run(wstui("watch", *[f"{venue}:{s}" for s in symbols], "--endpoint",
                                 f"{venue}=ws://127.0.0.1:{port}{path}", "--headless", "--json", "--duration",
                                 duration), cwd=ROOT, capture_output=True, text=True, timeout=duration + 60)
    finally:
        srv.terminate()
        srv.wait(10)
    out = json.loads(p.stdout)
    books = [s for s in out["streams"] if s["channel"] == "book"]
    gaps: dict[str, list[float]] = {}
    waits = []
    for e in out["events"]:
        if e["kind"] == "gap":
            gaps.setdefault(e["stream"], []).append(e["ts"])
        elif e["kind"] == "resync" and gaps.get(e["stream"]):
            waits.append(e["ts"] - gaps[e["stream"]].pop(0))
    return {
        "gaps": sum(b["gaps"] for b in books),
        "resyncs": sum(b["resyncs"] for b in books),
        "repair_ms": [w * 1000 for w in waits],
        "reconnects": sum(b["reconnects"] for b in books),
        "in_sync": sum(b["book_state"] == "ok" and not b["crossed"] for b in books),
        "books": len(books),
        # None: the venue's book messages carry no exchange time (Gemini l2)
        "p50": max((b["latency_ms_p50"] for b in books if b["latency_ms_p50"] is not None), default=None),
        "p99": max((b["latency_ms_p99"] for b in books if b["latency_ms_p99"] is not None), default=None),
        "msgs": sum(b["messages"] for b in books),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venues", default=",".join(VENUES))
    ap.add_argument("--rate", type=int, default=200, help="book events per second per symbol")
    ap.add_argument("--duration", type=float, default=12.0)
    a = ap.parse_args()
    print(f"{'venue':14} {'gaps':>4} {'resyncs':>7} {'repair ms med/max':>18} {'reconn':>6} {'in sync':>7} "
          f"{'book msgs':>9} {'lat p50/p99 ms':>15}")
    for v in a.venues.split(","):
        r = one(v, a.rate, a.duration)
        rep = r["repair_ms"]
        rep_s = f"{statistics.median(rep):.1f}/{max(rep):.1f}" if rep else "-"
        lat = f"{r['p50']:.1f}/{r['p99']:.1f}" if r["p50"] is not None else "- (no exch. time)"
        print(f"{v:14} {r['gaps']:>4} {r['resyncs']:>7} {rep_s:>18} {r['reconnects']:>6} "
              f"{r['in_sync']:>3}/{r['books']:<3} {r['msgs']:>9} {lat:>15}", flush=True)


if __name__ == "__main__":
    main()
