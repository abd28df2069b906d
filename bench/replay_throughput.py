"""Replay throughput on the real captures, next to the rate of merely decoding the same frames.

For each capture it prints:
  frames       received frames in one pass
  decode/s     orjson.loads of each frame's text alone, frames already in memory
  read+dec/s   what merely decoding the capture costs: read and decompress the file, decode each record
               line and each frame with orjson (the floor for any replay of this file)
  engine/s     frames pushed straight into Engine.frame (adapters, books, checksums, stats), pre-read
  replay/s     a full `wstui replay --speed max`: file reading and decompression, record parsing, pacing
               loop, engine (what a user gets)
  replay/read+dec  replay/s as a share of read+dec/s (the issue's 40% target, like for like)

Each figure is the best of --repeat runs of at least --min-seconds (the capture is looped to get there).
Usage: python bench/replay_throughput.py [FILES...] [--repeat 3] [--min-seconds 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wstui.engine import Engine  # noqa: E402
from wstui.io.capture import iter_lines  # noqa: E402
from wstui.io.replay import Replay  # noqa: E402
from wstui.runner import run_source  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "real_feeds"


def load(path: Path) -> list[dict]:
    out = []
    for _n, line, _err in iter_lines(path):
        if line is not None:
            out.append(orjson.loads(line))
    return out


def best_rate(fn, count: int, repeat: int, min_seconds: float) -> float:
    """count / seconds of the fastest of ``repeat`` runs; fn(k) runs the work k times."""
    k = 1
    while True:
        t = time.perf_counter()
        fn(k)
        dt = time.perf_counter() - t
        if dt >= min_seconds or k > 10000:
            break
        k = max(k * 2, int(k * min_seconds / max(dt, 1e-6)) + 1)
    best = dt
    for _ in range(repeat - 1):
        t = time.perf_counter()
        fn(k)
        best = min(best, time.perf_counter() - t)
    return count * k / best


def bench_file(path: Path, repeat: int, min_seconds: float) -> dict:
    records = load(path)
    frames = [r.get("data") for r in records if r.get("t") == "recv" and "data" in r]
    loads = orjson.loads

    def decode(k):
        for _ in range(k):
            for f in frames:
                try:
                    loads(f)
                except orjson.JSONDecodeError:
                    pass

    def read_decode(k):
        for _ in range(k):
            for _n, line, _err in iter_lines(path):
                if line is None:
                    continue
                r = loads(line)
                d = r.get("data")
                if r.get("t") == "recv" and d is not None:
                    try:
                        loads(d)
                    except orjson.JSONDecodeError:
                        pass

    indexed = Replay(path, speed=None)
    indexed.prescan()  # REST answers indexed once, outside the timing

    def engine_only(k):
        for _ in range(k):
            e = Engine(file=str(path))
            rp = indexed
            rp.http.reset()
            e.fetcher = rp._fetch
            e.set_source(rp)
            frame = e.frame
            for r in records:
                t = r.get("t")
                if t == "recv":
                    frame(r["conn"], r["data"] if "data" in r else b"", r["ts"])
                elif t == "connect":
                    e.open(r["conn"], r["addr"], r["ts"])
                elif t == "send":
                    e.sent(r["conn"], r["data"], r["ts"])

    def replay(k):
        e = Engine(file=str(path))
        asyncio.run(run_source(e, Replay(path, speed=None, loops=k), fps=10))

    e = Engine(file=str(path))
    asyncio.run(run_source(e, Replay(path, speed=None), fps=10))
    snap = e.latest
    venues = sorted({c.venue for c in snap.connections})
    ck_ok = sum(s.checksum_ok for s in snap.streams)
    ck_bad = sum(s.checksum_failed for s in snap.streams)
    gaps = sum(s.gaps for s in snap.streams)
    n = len(frames)
    return {
        "file": path.name, "venues": ",".join(venues), "frames": n,
        "decode": best_rate(decode, n, repeat, min_seconds),
        "read_decode": best_rate(read_decode, n, repeat, min_seconds),
        "engine": best_rate(engine_only, n, repeat, min_seconds),
        "replay": best_rate(replay, n, repeat, min_seconds),
        "checksums": f"{ck_ok}/{ck_ok + ck_bad}", "gaps": gaps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--min-seconds", type=float, default=0.5)
    a = ap.parse_args()
    files = a.files or sorted(DEFAULT_DIR.glob("*.jsonl*"))
    hdr = (f"{'capture':30} {'venues':18} {'frames':>6} {'decode/s':>10} {'read+dec/s':>10} {'engine/s':>9} "
           f"{'replay/s':>9} {'replay/read+dec':>15}  checksums ok  gaps")
    print(hdr)
    print("-" * len(hdr))
    for f in files:
        r = bench_file(f, a.repeat, a.min_seconds)
        print(f"{r['file'][:30]:30} {r['venues'][:18]:18} {r['frames']:6d} {r['decode']:10,.0f} "
              f"{r['read_decode']:10,.0f} {r['engine']:9,.0f} {r['replay']:9,.0f} "
              f"{r['replay'] / r['read_decode']:15.0%}  {r['checksums']:>12}  {r['gaps']:4d}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
