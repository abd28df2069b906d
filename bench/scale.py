"""A feed plant on one machine: N streams at about R messages/s from `wstui serve --sim`, watched headless
and under the TUI.

For each stream count it prints, measured over a steady window after a warm-up:
- headless: the monitor's CPU (process time / wall, % of one core), messages/s ingested, RSS;
- TUI: the same with the Textual app drawing at --fps (what the UI adds), the worst frame interval, how
  long a key takes to reach the screen (its action done and the screen refreshed), RSS, and the longest
  garbage collection pause (the UI freezes the live objects once the streams hold still: ui/gcpace.py).

    .venv/bin/python bench/scale.py [--streams 500,2000,5000] [--rate 1000] [--seconds 10] [--warmup 4]

The simulator runs in its own process (its CPU is not counted).  Streams are Kraken v2 books and trades
(two per symbol), so no REST snapshot is involved; symbols are the simulator's X0000/USD ... markets.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from wstui.engine import Engine  # noqa: E402
from wstui.io.live import Live  # noqa: E402
from wstui.io.spec import build_feeds  # noqa: E402
from wstui.runner import EngineThread  # noqa: E402
from wstui.ui.app import WstuiApp  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sim:
    def __init__(self, rate_per_symbol: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "wstui", "serve", "--sim", "--port", "0", "--rate",
                                      f"{rate_per_symbol:g}", "--seed", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.port = None
        for line in self.proc.stdout:
            m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def specs(streams: int) -> list[str]:
    return [f"kraken:X{i:04d}/USD" for i in range(streams // 2)]


SYMBOLS_PER_CONN = 250  # Kraken declares no streams-per-connection limit; the engine takes 1,000 per connection


def make(streams: int, port: int) -> tuple[Engine, Live]:
    engine = Engine(source="live", stale_after=30.0)
    engine.focus = frozenset()  # as `wstui watch` runs: no book shown until a view (the TUI) sets its own
    syms = specs(streams)
    feeds = []
    for i in range(0, len(syms), SYMBOLS_PER_CONN):  # 500 streams (books and trades) per connection
        for f in build_feeds(syms[i:i + SYMBOLS_PER_CONN], {"kraken": f"ws://127.0.0.1:{port}"}):
            f.conn_id = f"KRAKEN.ws.{len(feeds) + 1}"
            feeds.append(f)
    live = Live(feeds, ping_interval=20, ping_timeout=20)
    return engine, live


def headless(streams: int, port: int, seconds: float, warmup: float) -> dict:
    engine, live = make(streams, port)
    th = EngineThread(engine, live, fps=10)
    th.start()
    time.sleep(warmup)
    m0, c0, t0 = engine.messages, time.process_time(), time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - t0
    out = {"cpu": (time.process_time() - c0) / wall, "rate": (engine.messages - m0) / wall, "rss": rss_mb(),
           "streams": len(engine.streams)}
    if out["streams"] != streams:
        print(f"  ({streams} streams asked, {out['streams']} in the engine)", flush=True)
    th.stop()
    return out


async def with_ui(streams: int, port: int, seconds: float, warmup: float, fps: float, size) -> dict:
    engine, live = make(streams, port)
    app = WstuiApp(engine, live, fps=fps, engine_mode="thread")
    key_lat: list[float] = []
    pressed: list[float] = []
    orig = app.action_group

    def timed_group(coarser: bool) -> None:
        orig(coarser)
        if pressed:  # key to screen: the ladder regrouped and the screen refreshed with it
            t = pressed.pop()
            app.call_after_refresh(lambda: key_lat.append(time.perf_counter() - t))

    app.action_group = timed_group  # type: ignore[method-assign]
    async with app.run_test(size=size) as pilot:
        await asyncio.sleep(warmup)
        m0, c0, u0, t0 = engine.messages, time.process_time(), time.thread_time(), time.perf_counter()
        app.stats.worst_interval = 0.0
        gc_pauses: list[float] = []
        gc_t = [0.0]

        def gc_cb(phase: str, info: dict) -> None:
            if phase == "start":
                gc_t[0] = time.perf_counter()
            else:
                gc_pauses.append(time.perf_counter() - gc_t[0])

        gc.callbacks.append(gc_cb)
        i = 0
        while time.perf_counter() - t0 < seconds:
            await asyncio.sleep(0.25)
            key, char = (("right_square_bracket", "]"), ("left_square_bracket", "["), ("down", None), ("up", None))[i % 4]
            if char:
                pressed.append(time.perf_counter())
            app._driver.send_message(events.Key(key, char))
            i += 1
        wall = time.perf_counter() - t0
        gc.callbacks.remove(gc_cb)
        out = {"cpu": (time.process_time() - c0) / wall, "ui_cpu": (time.thread_time() - u0) / wall,
               "rate": (engine.messages - m0) / wall, "rss": rss_mb(), "worst": app.stats.worst_interval,
               "keys": sorted(key_lat), "gc": max(gc_pauses, default=0.0)}
        await pilot.press("q")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", default="500,2000,5000")
    ap.add_argument("--rate", type=float, default=1000.0, help="book events per second in all (about)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--size", default="120x40")
    ap.add_argument("--no-ui", action="store_true")
    a = ap.parse_args()
    size = tuple(int(x) for x in a.size.lower().split("x"))
    print(f"python {sys.version.split()[0]}; ~{a.rate:g} book events/s in all; {a.seconds:g} s measured after "
          f"{a.warmup:g} s warm-up; TUI {size[0]}x{size[1]} at {a.fps:g} fps")
    print(f"{'streams':>8} | {'headless CPU':>12} {'msg/s':>7} {'RSS MB':>7} | {'TUI CPU':>8} {'UI thr':>7} "
          f"{'msg/s':>7} {'RSS MB':>7} {'worst frame':>11} {'key p50/max ms':>15} {'GC max':>7}")
    for n in (int(x) for x in a.streams.split(",")):
        sim = Sim(a.rate / (n // 2))
        try:
            h = headless(n, sim.port, a.seconds, a.warmup)
            row = f"{n:>8} | {h['cpu'] * 100:>11.0f}% {h['rate']:>7,.0f} {h['rss']:>7.0f} |"
            if not a.no_ui:
                u = asyncio.run(with_ui(n, sim.port, a.seconds, a.warmup, a.fps, size))
                keys = u["keys"]
                k = f"{keys[len(keys) // 2] * 1000:.1f}/{keys[-1] * 1000:.1f}" if keys else "-"
                row += (f" {u['cpu'] * 100:>7.0f}% {u['ui_cpu'] * 100:>6.0f}% {u['rate']:>7,.0f} {u['rss']:>7.0f} "
                        f"{u['worst'] * 1000:>9.0f}ms {k:>15} {u['gc'] * 1000:>5.0f}ms")
            print(row, flush=True)
        finally:
            sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
