"""What the last hour costs: bytes per stream of the per-second history (rate, latency, state changes),
the process's RSS with thousands of streams after an hour of simulated time, the cost of publishing one
stream's hour, and what the events bound costs.

    python bench/history_mem.py [--streams 5000] [--seconds 3600] [--events 20000]

Every stream gets messages with exchange timestamps (so its latency series is allocated too: the worst
case); one in fifty is busy (20 messages a second, and a burst of 300 in one second each minute: its
counts widen to two bytes), the others get a message one second in five; a few go stale and recover.  The clock is simulated: the engine's health tick runs every
second instead of every 0.1 s (it is not what is measured here).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wstui.core.stream import Event  # noqa: E402
from wstui.engine import Engine  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--events", type=int, default=20000)
    a = ap.parse_args()
    rng = random.Random(7)
    t0 = 1_700_000_000.0
    rss0 = rss_mb()
    engine = Engine(stale_after=5.0)
    engine.now = t0
    streams = [engine.get_stream("sim", f"S{i}", "book") for i in range(a.streams)]
    for st in streams:
        engine.attach(st)
    rss1 = rss_mb()
    busy = streams[: max(1, a.streams // 50)]
    calm = streams[len(busy):]
    w0 = time.perf_counter()
    msgs = 0
    for sec in range(a.seconds):
        now = t0 + sec
        k = 20 if sec % 60 else 300
        for st in busy:
            for i in range(k):
                ts = now + i / k
                st.data(ts, 100, ts - 0.02)
            msgs += k
        # each calm stream gets a message one second in five (a different fifth each second), except
        # that one stream in fifty falls silent for 20 s every 10 minutes (stale, then recovered)
        for st in calm[sec % 5::5]:
            if hash(st.symbol) % 50 == 0 and sec % 600 < 20:
                continue
            st.data(now + 0.5, 80, now + 0.5 - rng.random() * 0.2)
            msgs += 1
        engine.tick(now + 0.99)
    ingest_s = time.perf_counter() - w0
    end = t0 + a.seconds
    engine.tick(end)
    for st in streams:
        st.history(end)  # flush each stream's last second (as a reader does)
    gc.collect()
    rss2 = rss_mb()
    hist = [st.hist.nbytes() for st in streams]
    per = sum(hist) / len(hist)
    busy_b = sum(st.hist.nbytes() for st in busy) / len(busy)
    calm_b = sum(st.hist.nbytes() for st in calm) / max(1, len(calm))
    changes = sum(len(st.hist.states) for st in streams)
    print(f"{a.streams:,} streams, {a.seconds:,} s simulated, {msgs:,} messages in {ingest_s:.1f} s "
          f"({msgs / ingest_s / 1e3:.0f} k msg/s with the history)")
    print(f"history per stream: {per:,.0f} B on average (busy, 2-byte counts: {busy_b:,.0f} B; "
          f"calm: {calm_b:,.0f} B); {changes:,} state changes kept in all")
    print(f"history total: {sum(hist) / 1e6:.1f} MB; RSS: {rss0:.0f} MB at start, {rss1:.0f} MB with the "
          f"streams, {rss2:.0f} MB after {a.seconds / 3600:.2g} h")

    # publishing one stream's hour (done at most once a second per focused stream)
    st = busy[0]
    n = 200
    w0 = time.perf_counter()
    for k in range(n):
        st.hist._pub = None
        v = st.hist.view(end)
    pub_us = (time.perf_counter() - w0) / n * 1e6
    tracemalloc.start()
    st.hist._pub = None
    v = st.hist.view(end)
    cur, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"one stream's hour published: {len(v.rate):,} s, {pub_us:.0f} us to build, {cur / 1e3:.0f} kB")

    # the events bound: bytes per event and what a snapshot's copy of them costs
    e2 = Engine(events_max=a.events)
    keys = [st.key for st in streams[:100]]
    tracemalloc.start()
    for i in range(a.events):
        e2.event(Event(t0 + i, keys[i % 100], "stale",
                       f"no data for {5 + i % 7}.{i % 10} s while its connection flows (threshold 5 s)",
                       "stream_silent"))
    cur, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    w0 = time.perf_counter()
    for _ in range(50):
        e2._events(None)
    copy_us = (time.perf_counter() - w0) / 50 * 1e6
    print(f"events: {a.events:,} kept cost {cur / 1e6:.1f} MB ({cur / a.events:.0f} B each); a snapshot's "
          f"copy of them {copy_us:.0f} us")
    print(f"pid {os.getpid()}")


if __name__ == "__main__":
    main()
