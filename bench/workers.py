"""``watch --workers N``: the highest ingest rate with p99 latency under 100 ms, for 1 and 2 workers.

``wstui serve --sim`` offers Kraken v2 books (and their trades) for ``--symbols`` markets at a total of R book
events per second; ``wstui watch ... --workers N --headless --json`` ingests them for ``--duration`` seconds.
Printed per N and R: frames/s ingested (all streams), the worst book stream's p99 latency (simulator event
time to book applied, the last 256 book messages of each stream), checksum failures, and the CPU of the
watcher with its workers (100% = one core; the simulator's own CPU is printed apart).  The verdict per N is
the highest R with every stream's p99 under 100 ms and no checksum failure.

    .venv/bin/python bench/workers.py [--workers 1,2] [--rates 1000,2000,4000,8000] [--symbols 8] [--duration 6]

On a 2-core machine the simulator, the workers and the merging parent share two cores: more workers move
parsing off one core, but they compete with the simulator for the other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")


def wstui(*args) -> list[str]:
    return [sys.executable, "-m", "wstui", *map(str, args)]


def symbols(n: int) -> list[str]:
    majors = ["BTC/USD", "ETH/USD", "SOL/USD"]
    return (majors + [f"X{i:04d}/USD" for i in range(1, n)])[:n]


def one(workers: int, rate: int, nsym: int, duration: float) -> dict:
    srv = subprocess.Popen(wstui("serve", "--sim", "--rate", f"{rate / nsym:g}", "--seed", 1, "--port", 0),
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    t_end = time.time() + 15
    while time.time() < t_end:
        m = LISTEN.search(srv.stdout.readline() or "")
        if m:
            port = int(m.group(1))
            break
    if port is None:
        srv.kill()
        raise SystemExit("wstui serve did not start")
    try:
        w = subprocess.Popen(wstui("watch", *[f"kraken:{s}" for s in symbols(nsym)], "--endpoint",
                                   f"kraken=ws://127.0.0.1:{port}/v2", "--workers", workers, "--headless", "--json",
                                   "--duration", duration),
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        out = w.stdout.read()
        _pid, _status, ru = os.wait4(w.pid, 0)  # includes the workers it waited for
        cpu = ru.ru_utime + ru.ru_stime
    finally:
        srv.terminate()
        _pid, _st, sru = os.wait4(srv.pid, 0)
    res = json.loads(out)
    books = [s for s in res["streams"] if s["channel"] == "book"]
    p99 = max((s["latency_ms_p99"] or 0.0) for s in books) if books else None
    msgs = sum(s["messages"] for s in res["streams"])
    return {"workers": workers, "rate": rate, "frames_s": msgs / duration, "p99_ms": p99,
            "bad": sum(s["checksum_failed"] for s in books), "cpu": 100.0 * cpu / duration,
            "sim_cpu": 100.0 * (sru.ru_utime + sru.ru_stime) / duration,
            "ok": all(s["book_state"] == "ok" for s in books)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--rates", default="1000,2000,4000,8000")
    ap.add_argument("--symbols", type=int, default=8)
    ap.add_argument("--duration", type=float, default=6.0)
    a = ap.parse_args()
    print(f"{'workers':>7} {'offered/s':>9} {'frames/s':>9} {'p99 ms':>8} {'cksum bad':>9} {'watch CPU':>9} "
          f"{'sim CPU':>8}  books")
    best: dict[int, int] = {}
    for n in map(int, a.workers.split(",")):
        for r in map(int, a.rates.split(",")):
            x = one(n, r, a.symbols, a.duration)
            p99 = "-" if x["p99_ms"] is None else f"{x['p99_ms']:.1f}"
            print(f"{n:>7} {r:>9,} {x['frames_s']:>9,.0f} {p99:>8} {x['bad']:>9} {x['cpu']:>8.0f}% "
                  f"{x['sim_cpu']:>7.0f}%  {'ok' if x['ok'] else 'NOT ok'}", flush=True)
            if x["p99_ms"] is not None and x["p99_ms"] < 100 and not x["bad"] and x["ok"]:
                best[n] = max(best.get(n, 0), r)
    for n, r in best.items():
        print(f"workers={n}: highest offered rate with p99 < 100 ms: {r:,} book events/s")


if __name__ == "__main__":
    main()
