"""One wrong book repaired alone, timed: ``wstui serve --sim`` injects a fault every few seconds and
``wstui watch --headless --json`` (separate processes, loopback) repairs the book it hits.

For each venue and fault (``gap``: a lost book frame; ``corrupt``: a garbled one) printed: how many
faults fired, how many books were repaired, and the time from the fault firing (the server's own clock
line) to the watcher noticing it (gap / checksum_failed event) and to the book rebuilt (resync event),
median and worst; plus reconnects (want 0) and books other than the hit one that were touched (want 0).

    .venv/bin/python bench/venue_repair.py [--venues bitfinex,deribit] [--duration 12] [--every 2.5]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")
FAULT = re.compile(r"fault (\S+) at ([0-9.]+) on (\d+) connection")

# every venue the simulator speaks, four symbols each (one of them a synthetic X0001 market)
VENUES = {
    "kraken": ["BTC/USD", "ETH/USD", "SOL/USD", "X0001/USD"],
    "binance": ["btcusdt", "ethusdt", "solusdt", "x0001usdt"],
    "binance-futures": ["btcusdt", "ethusdt", "solusdt", "x0001usdt"],
    "coinbase": ["BTC-USD", "ETH-USD", "SOL-USD", "X0001-USD"],
    "okx": ["BTC-USDT", "ETH-USDT", "SOL-USDT", "X0001-USDT"],
    "bybit": ["BTCUSDT", "ETHUSDT", "SOLUSDT", "X0001USDT"],
    "bybit-linear": ["BTCUSDT", "ETHUSDT", "SOLUSDT", "X0001USDT"],
    "bybit-inverse": ["BTCUSD", "ETHUSD", "SOLUSD", "X0001USD"],
    "bitstamp": ["btcusd", "ethusd", "solusd", "x0001eur"],
    "bitfinex": ["tBTCUSD", "tETHUSD", "tSOLUSD", "tX0001USD"],
    "deribit": ["BTC-PERPETUAL", "ETH-PERPETUAL", "SOL-PERPETUAL", "X0001-PERPETUAL"],
    "gemini": ["BTCUSD", "ETHUSD", "SOLUSD", "X0001USDT"],
}


def wstui(*args) -> list[str]:
    return [sys.executable, "-m", "wstui", *map(str, args)]


def one(venue: str, fault: str, duration: float, every: float, rate: int) -> dict:
    spec = f"{fault}@1.5s:1/{every}s" if fault == "gap" else f"{fault}@1.5s/{every}s"
    srv = subprocess.Popen(wstui("serve", "--sim", "--rate", rate, "--seed", 1, "--port", 0, "--fault", spec),
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    port = None
    t0 = time.monotonic()
    while port is None and time.monotonic() - t0 < 15:
        line = srv.stdout.readline()
        lines.append(line)
        m = LISTEN.search(line)
        if m:
            port = int(m.group(1))
    try:
        out = subprocess.run(wstui("watch", *[f"{venue}:{s}" for s in VENUES[venue]], "--endpoint",
                                   f"{venue}=ws://127.0.0.1:{port}", "--headless", "--json", "--duration", duration),
                             cwd=ROOT, capture_output=True, text=True, timeout=duration + 60)
    finally:
        srv.terminate()
        rest, _ = srv.communicate(timeout=10)
    lines += rest.splitlines()
    fired = [float(m.group(2)) for m in map(FAULT.search, lines) if m]
    doc = json.loads(out.stdout)
    events = doc["events"]
    detect, rebuilt = [], []
    for t in fired:
        hit = next((e for e in events if e["ts"] >= t - 0.01 and e["kind"] in ("gap", "checksum_failed")), None)
        if hit is None:
            continue
        detect.append(hit["ts"] - t)
        fix = next((e for e in events if e["ts"] >= hit["ts"] and e["kind"] == "resync" and e["stream"] == hit["stream"]),
                   None)
        if fix is not None:
            rebuilt.append(fix["ts"] - t)
    books = [s for s in doc["streams"] if s["channel"] == "book"]
    return {"fired": len(fired), "repaired": sum(s["resyncs"] for s in books), "detect": detect, "rebuilt": rebuilt,
            "reconnects": max(s["reconnects"] for s in books),
            "bad_at_end": sum(s["book_state"] != "ok" for s in books),
            "hits": sum(s["gaps"] + s["checksum_failed"] for s in books)}


def ms(v: list[float]) -> str:
    if not v:
        return "-"
    return f"{statistics.median(v) * 1000:.0f}/{max(v) * 1000:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venues", default=",".join(VENUES))
    ap.add_argument("--duration", type=float, default=12.0)
    ap.add_argument("--every", type=float, default=2.5)
    ap.add_argument("--rate", type=int, default=50)
    a = ap.parse_args()
    print(f"{'venue':10} {'fault':8} {'fired':>5} {'hits':>4} {'repaired':>8} {'detect ms p50/max':>18} "
          f"{'rebuilt ms p50/max':>19} {'reconnects':>10} {'bad at end':>10}")
    for venue in a.venues.split(","):
        for fault in ("gap", "corrupt"):
            r = one(venue, fault, a.duration, a.every, a.rate)
            print(f"{venue:10} {fault:8} {r['fired']:>5} {r['hits']:>4} {r['repaired']:>8} {ms(r['detect']):>18} "
                  f"{ms(r['rebuilt']):>19} {r['reconnects']:>10} {r['bad_at_end']:>10}", flush=True)


if __name__ == "__main__":
    main()
