"""Soak: ``wstui watch --headless --metrics --events`` as a service over ``wstui serve --sim`` for a long time.

The simulator injects faults on a schedule (a stall, a disconnect, a gap, a corrupted update and garbage
frames, each repeating every ``--fault-every`` seconds); the metrics are scraped every second (and parsed with
prometheus_client's parser, as Prometheus would).  Printed: the watcher's RSS after the warm-up and at the end
(with the drift between them and the range sampled in between), its CPU (100% = one core), the scrapes (count,
failures, slowest), and at the end, after SIGTERM, the events written to the file against the engine's own
``events_total`` (none may be lost: the file's ``seq`` runs 1..N without a hole).

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 100] [--warmup 60]

Everything stays on 127.0.0.1; it stops by itself after ``--minutes``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")
METRICS_AT = re.compile(r"metrics at http://127\.0\.0\.1:(\d+)/metrics")
TICKS = os.sysconf("SC_CLK_TCK")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wstui(*args) -> list[str]:
    return [sys.executable, "-m", "wstui", *map(str, args)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def wait_line(stream, pattern: re.Pattern, timeout: float, seen: list[str]) -> int:
    out: list[int] = []

    def read() -> None:
        for line in stream:
            seen.append(line.rstrip("\n"))
            m = pattern.search(line)
            if m and not out:
                out.append(int(m.group(1)))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + timeout
    while time.time() < deadline and not out:
        time.sleep(0.05)
    if not out:
        raise SystemExit(f"no {pattern.pattern!r} within {timeout} s: {seen[-5:]}")
    return out[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="how long the service runs (default 30)")
    ap.add_argument("--rate", type=int, default=100, help="sim book events per second per symbol (default 100)")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the first RSS figure (default 60)")
    ap.add_argument("--fault-every", type=int, default=120, help="seconds between rounds of faults (default 120)")
    a = ap.parse_args()
    duration = a.minutes * 60
    every = a.fault_every
    faults = [f"stall@{every * 0.25:g}s:8s/{every}s", f"disconnect@{every * 0.5:g}s/{every}s",
              f"gap@{every * 0.65:g}s:3/{every}s", f"corrupt@{every * 0.8:g}s/{every}s",
              f"garbage@{every * 0.9:g}s:2/{every}s"]
    tmp = Path(tempfile.mkdtemp(prefix="wstui-soak-"))
    events = tmp / "events.jsonl"
    srv = subprocess.Popen(wstui("serve", "--sim", "--rate", a.rate, "--seed", 1, "--port", 0,
                                 *[x for f in faults for x in ("--fault", f)]),
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    srv_lines: list[str] = []
    port = wait_line(srv.stdout, LISTEN, 15, srv_lines)
    w = subprocess.Popen(wstui("watch", "kraken:BTC/USD", "binance-futures:btcusdt",
                               "--endpoint", f"kraken=ws://127.0.0.1:{port}/v2",
                               "--endpoint", f"binance-futures=ws://127.0.0.1:{port}",
                               "--headless", "--json", "--stale-after", 3, "--metrics", "127.0.0.1:0",
                               "--events", events),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: list[str] = []
    mport = wait_line(w.stderr, METRICS_AT, 15, err_lines)
    url = f"http://127.0.0.1:{mport}/metrics"
    print(f"soak: {a.minutes:g} min, sim rate {a.rate}/s/symbol, faults {' '.join(faults)}; files in {tmp}")
    t0 = time.time()
    cpu0 = cpu_warm = cpu_s(w.pid)
    scrapes = failures = 0
    slowest = 0.0
    samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
    warm: tuple[float, float] | None = None
    last: dict[str, float] = {}
    next_print = 300.0
    try:
        while (el := time.time() - t0) < duration:
            t = time.time()
            try:
                with OPENER.open(url, timeout=5) as r:
                    body = r.read().decode()
                fams = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples
                        if not s.labels}
                last = fams
                scrapes += 1
            except Exception as exc:
                failures += 1
                print(f"  scrape failed at {el:.0f} s: {exc}")
            slowest = max(slowest, time.time() - t)
            if int(el) % 10 == 0 or not samples:
                samples.append((el, rss_mb(w.pid)))
            if warm is None and el >= a.warmup:
                warm = (el, rss_mb(w.pid))
                cpu_warm = cpu_s(w.pid)
                print(f"  after warm-up ({el:.0f} s): RSS {warm[1]:.1f} MB")
            if el >= next_print:
                print(f"  {el / 60:.0f} min: RSS {rss_mb(w.pid):.1f} MB, events_total {last.get('wstui_events_total', 0):.0f}, "
                      f"scrapes {scrapes} ({failures} failed)", flush=True)
                next_print += 300.0
            time.sleep(max(0.0, 1.0 - (time.time() - t)))
        end_el = time.time() - t0
        rss_end = rss_mb(w.pid)
        cpu_end = cpu_s(w.pid)
    finally:
        t_stop = time.time()
        w.send_signal(signal.SIGTERM)
        try:
            out, _ = w.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()
            out, _ = w.communicate()
        stop_s = time.time() - t_stop
        srv.send_signal(signal.SIGINT)
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
    summary = json.loads(out) if out.strip() else {}
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    seqs = [e["seq"] for e in lines]
    dropped = sum(1 for e in lines if e["kind"] == "events_dropped")
    kinds: dict[str, int] = {}
    for e in lines:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    fired = sum(1 for x in srv_lines if "fault " in x)
    warm = warm or samples[0]
    rss_range = [r for e, r in samples if e >= warm[0]] or [warm[1]]
    print(f"ran {end_el / 60:.1f} min; {fired} faults fired; {summary.get('messages', 0)} messages "
          f"({summary.get('messages', 0) / max(end_el, 1):.0f}/s)")
    print(f"RSS: {warm[1]:.1f} MB after warm-up ({warm[0]:.0f} s), {rss_end:.1f} MB at the end: "
          f"{100 * (rss_end - warm[1]) / warm[1]:+.1f}% (range after warm-up {min(rss_range):.1f}-{max(rss_range):.1f} MB)")
    print(f"CPU: {100 * (cpu_end - cpu0) / end_el:.1f}% of a core over the run, "
          f"{100 * (cpu_end - cpu_warm) / max(end_el - warm[0], 1):.1f}% after warm-up")
    print(f"scrapes: {scrapes} ok, {failures} failed, slowest {slowest * 1000:.0f} ms")
    print(f"stop: SIGTERM -> exit {w.returncode} in {stop_s:.2f} s")
    print(f"events: {len(lines) - dropped} written, engine events_total {summary.get('events_total')}, "
          f"dropped lines {dropped}, seq 1..N without holes: {seqs == list(range(1, len(seqs) + 1))}")
    print("event kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])))
    ok = (w.returncode == 0 and failures == 0 and dropped == 0 and summary.get("events_total") == len(lines)
          and seqs == list(range(1, len(seqs) + 1)))
    print("verdict:", "OK" if ok else "PROBLEM")


if __name__ == "__main__":
    main()
