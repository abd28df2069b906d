"""One broken book repaired: time from the fault to the book verified again, per venue and fault.

For each venue and fault, ``wstui serve --sim`` (a fault 1.5 s in) and ``wstui watch`` of four symbols run as
separate processes on loopback; repeated ``--runs`` times.  Printed: how the book was repaired (the events
seen), how many books were rebuilt, reconnects, and the time from the fault firing to the last broken book
rebuilt (median and worst over the runs).

    .venv/bin/python bench/book_repair.py [--runs 5] [--rate 50] [--venues binance,coinbase,okx]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")
FAULT = re.compile(r"fault (\S+) at ([0-9.]+) on")

# venue -> (symbols, path of its WebSocket endpoint, faults to try)
VENUES = {
    "binance": (["btcusdt", "ethusdt", "solusdt", "x0001usdt"], "", ["gap@1.5s:1", "corrupt@1.5s"]),
    "binance-futures": (["btcusdt", "ethusdt", "solusdt", "x0001usdt"], "", ["gap@1.5s:1"]),
    "coinbase": (["BTC-USD", "ETH-USD", "SOL-USD", "X0001-USD"], "", ["gap@1.5s:1", "corrupt@1.5s"]),
    "okx": (["BTC-USDT", "ETH-USDT", "SOL-USDT", "X0001-USDT"], "", ["gap@1.5s:1", "corrupt@1.5s"]),
}


def wstui(*args) -> list[str]:
    return [sys.executable, "-m", "wstui", *map(str, args)]


def one(venue: str, fault: str, rate: int, duration: float = 3.5) -> dict:
    syms, path, _ = VENUES[venue]
    srv = subprocess.Popen(wstui("serve", "--sim", "--rate", rate, "--port", 0, "--fault", fault), cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    t_end = time.time() + 15
    while time.time() < t_end and port is None:
        m = LISTEN.search(srv.stdout.readline() or "")
        port = int(m.group(1)) if m else None
    if port is None:
        srv.kill()
        raise SystemExit("wstui serve did not start")
    w = subprocess.run(wstui("watch", *[f"{venue}:{s}" for s in syms], "--endpoint",
                             f"{venue}=ws://127.0.0.1:{port}{path}", "--headless", "--json", "--duration", duration),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    srv.send_signal(signal.SIGINT)
    lines = srv.communicate(timeout=10)[0]
    fired = [float(m.group(2)) for m in FAULT.finditer(lines)]
    s = json.loads(w.stdout)
    books = [x for x in s["streams"] if x["channel"] == "book"]
    rebuilt = [e["ts"] for e in s["events"] if e["kind"] == "resync"]
    how = sorted({e["kind"] for e in s["events"] if e["kind"] in ("gap", "checksum_failed", "parse_error",
                                                                   "resubscribe", "snapshot_failed")})
    return {
        "took": (max(rebuilt) - fired[0]) * 1000 if rebuilt and fired else None,
        "rebuilt": sum(1 for b in books if b["resyncs"]),
        "ok": sum(1 for b in books if b["book_state"] == "ok"),
        "reconnects": sum(b["reconnects"] for b in books),
        "how": ",".join(how),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument("--venues", default=",".join(VENUES))
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (shared: figures are indicative), "
          f"{a.runs} runs, 4 symbols, {a.rate} events/s each")
    print(f"{'venue':<16} {'fault':<13} {'books rebuilt':>13} {'ok at end':>9} {'reconnects':>10} "
          f"{'median ms':>9} {'worst ms':>8}  events")
    for venue in a.venues.split(","):
        for fault in VENUES[venue][2]:
            xs = [one(venue, fault, a.rate) for _ in range(a.runs)]
            took = [x["took"] for x in xs if x["took"] is not None]
            print(f"{venue:<16} {fault:<13} {min(x['rebuilt'] for x in xs):>6}-{max(x['rebuilt'] for x in xs):<6} "
                  f"{min(x['ok'] for x in xs):>9} {sum(x['reconnects'] for x in xs):>10} "
                  f"{statistics.median(took) if took else float('nan'):>9.0f} {max(took) if took else float('nan'):>8.0f}"
                  f"  {xs[0]['how']}", flush=True)


if __name__ == "__main__":
    main()
