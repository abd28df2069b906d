"""Live ingestion capacity per venue: ``wstui serve --sim`` at increasing rates against ``wstui watch
--headless``, for every venue protocol the simulator speaks.

For each venue and offered rate (book events per second for one symbol, plus its trades) both run as
separate processes on loopback for ``--duration`` seconds.  Printed per rate: frames per second the watcher
ingested, latency from the simulator's event time to the book applied (p50/p99 of the last 256 book
messages, from the watcher's own summary), checksum failures, the peak backlog (frames received and not yet
processed, sampled every 0.2 s), and the CPU used by each
process (100% = one core).  The verdict, per venue, is the highest rate ingested with p99 under 100 ms
(venues whose messages carry no exchange time, Gemini's book, show no latency).

    .venv/bin/python bench/live_ingest.py [--venues kraken,binance,...] [--rates 500,2000,8000] [--duration 6]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")
# one symbol per venue, spelled the venue's way
SYMBOL = {
    "kraken": "BTC/USD", "binance": "BTCUSDT", "binance-futures": "BTCUSDT", "coinbase": "BTC-USD",
    "okx": "BTC-USDT", "bybit": "BTCUSDT", "bybit-linear": "BTCUSDT", "bybit-inverse": "BTCUSD",
    "bitstamp": "btcusd", "bitfinex": "tBTCUSD", "deribit": "BTC-PERPETUAL", "gemini": "BTCUSD",
}


def wstui(*args) -> list[str]:
    return [sys.executable, "-m", "wstui", *map(str, args)]


def cpu_of(pid: int) -> tuple[int, float]:
    """Wait for ``pid``; (exit status, CPU seconds user+system)."""
    _pid, status, ru = os.wait4(pid, 0)
    return status, ru.ru_utime + ru.ru_stime


def one(venue: str, rate: int, duration: float) -> dict:
    srv = subprocess.Popen(wstui("serve", "--sim", "--rate", rate, "--seed", 1, "--port", 0), cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    t_end = time.time() + 15
    while time.time() < t_end:
        line = srv.stdout.readline()
        m = LISTEN.search(line or "")
        if m:
            port = int(m.group(1))
            break
    if port is None:
        srv.kill()
        raise SystemExit("wstui serve did not start")
    t0 = time.time()
    w = subprocess.Popen(wstui("watch", f"{venue}:{SYMBOL[venue]}", "--endpoint", f"{venue}=ws://127.0.0.1:{port}",
                               "--headless", "--json", "--duration", duration, "--stale-after", 5),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = w.stdout.read()
    w.stderr.read()
    _st, w_cpu = cpu_of(w.pid)
    wall = time.time() - t0
    srv.send_signal(signal.SIGINT)
    srv.stdout.read()
    _st, s_cpu = cpu_of(srv.pid)
    s = json.loads(out)
    peak = max((int(m.group(1)) for n in s["notes"] for m in [re.search(r"peak backlog (\d+)", n)] if m), default=0)
    book = next(x for x in s["streams"] if x["channel"] == "book")
    conn = s["connections"][0]
    return {
        "rate": rate,
        "frames_s": conn["messages"] / duration,
        "book_s": book["messages"] / duration,
        "p50": book["latency_ms_p50"],
        "p99": book["latency_ms_p99"],
        "cksum_bad": book["checksum_failed"],
        "cksum_ok": book["checksum_ok"],
        "backlog": peak,
        "watch_cpu": 100.0 * w_cpu / wall,
        "serve_cpu": 100.0 * s_cpu / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venues", default=",".join(SYMBOL))
    ap.add_argument("--rates", default="500,2000,8000")
    ap.add_argument("--duration", type=float, default=6.0)
    a = ap.parse_args()
    rates = [int(x) for x in a.rates.split(",")]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (shared: figures are indicative), "
          f"{a.duration:g} s per rate, one symbol per venue")
    print(f"{'venue':>15} {'offered ev/s':>12} {'frames/s':>9} {'book/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'cksum bad':>9} {'peak backlog':>12} {'watch CPU':>9} {'serve CPU':>9}")
    verdicts = []
    for venue in a.venues.split(","):
        best = None
        for r in rates:
            x = one(venue, r, a.duration)
            p50 = "-" if x["p50"] is None else f"{x['p50']:.1f}"
            p99 = "-" if x["p99"] is None else f"{x['p99']:.1f}"
            print(f"{venue:>15} {x['rate']:>12} {x['frames_s']:>9.0f} {x['book_s']:>8.0f} {p50:>7} {p99:>7} "
                  f"{x['cksum_bad']:>9} {x['backlog']:>12} {x['watch_cpu']:>8.0f}% {x['serve_cpu']:>8.0f}%", flush=True)
            if x["p99"] is not None and x["p99"] < 100.0 and x["cksum_bad"] == 0:
                best = x
        verdicts.append((venue, best))
    for venue, best in verdicts:
        if best is None:
            print(f"{venue}: no rate met p99 < 100 ms (or no exchange time to measure it)")
        else:
            print(f"{venue}: highest rate with p99 < 100 ms: {best['frames_s']:.0f} frames/s "
                  f"({best['book_s']:.0f} book updates/s; offered {best['rate']} events/s), p50 {best['p50']:.1f} ms, "
                  f"p99 {best['p99']:.1f} ms, watcher CPU {best['watch_cpu']:.0f}% of a core")


if __name__ == "__main__":
    main()
