"""The TUI under load: a real capture replayed at max speed, looped, for N seconds (headless).

Prints what the engine ingested (messages/s), what the UI drew (frames, lines repainted, table cells
updated), the worst interval between two UI frames, how long keys took to reach their action, CPU
(process time / wall, both threads) and memory (RSS at the start, end and peak, sampled each second).

    .venv/bin/python bench/ui_load.py [CAPTURE] [--seconds 10] [--fps 10] [--size 120x40] [--no-baseline]

The baseline is the same replay with no UI (the engine alone on its thread) for the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from wstui.engine import Engine  # noqa: E402
from wstui.io.replay import Replay  # noqa: E402
from wstui.runner import EngineThread  # noqa: E402
from wstui.ui.app import WstuiApp  # noqa: E402
from wstui.ui.widgets.events import EventsLog  # noqa: E402
from wstui.ui.widgets.ladder import LadderView  # noqa: E402
from wstui.ui.widgets.streams import StreamsTable  # noqa: E402
from wstui.ui.widgets.tape import TapeView  # noqa: E402


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(path: Path, seconds: float) -> float:
    engine = Engine(file=str(path))
    th = EngineThread(engine, Replay(path, speed=None, loops=0), fps=10)
    t0 = time.perf_counter()
    th.start()
    time.sleep(seconds)
    n = engine.messages
    wall = time.perf_counter() - t0
    th.stop()
    return n / wall


async def under_ui(path: Path, seconds: float, fps: float, size: tuple[int, int]) -> dict:
    engine = Engine(file=str(path))
    source = Replay(path, speed=None, loops=0)
    app = WstuiApp(engine, source, fps=fps, engine_mode="thread")
    key_lat: list[float] = []
    pressed: list[float] = []
    orig = app.action_group

    def timed_group(coarser: bool) -> None:
        if pressed:
            key_lat.append(time.perf_counter() - pressed.pop())
        orig(coarser)

    app.action_group = timed_group  # type: ignore[method-assign]
    rss = [rss_mb()]
    keys = ("right_square_bracket", "]"), ("left_square_bracket", "["), ("down", None), ("up", None)
    async with app.run_test(size=size) as pilot:
        await asyncio.sleep(0.5)  # the first frames
        t0 = time.perf_counter()
        c0 = time.process_time()
        u0 = time.thread_time()  # the UI's thread (the engine has its own)
        m0 = engine.messages
        i = 0
        next_rss = t0 + 1.0
        while time.perf_counter() - t0 < seconds:
            await asyncio.sleep(0.25)
            # a key as the terminal driver delivers it; timed until its action runs (grouping keys)
            key, char = keys[i % 4 if i % 8 < 4 else (i + 1) % 2]
            if char:
                pressed.append(time.perf_counter())
            app._driver.send_message(events.Key(key, char))
            i += 1
            if time.perf_counter() >= next_rss:
                rss.append(rss_mb())
                next_rss += 1.0
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        ui_cpu = time.thread_time() - u0
        msgs = engine.messages - m0
        loops = source.loop_no
        lines = {w.__name__: app.query_one(w).lines_painted for w in (LadderView, TapeView, StreamsTable, EventsLog)}
        await pilot.press("q")
    rss.append(rss_mb())
    return {
        "wall": wall, "cpu": cpu, "ui_cpu": ui_cpu, "msgs": msgs, "loops": loops, "frames": app.stats.frames,
        "polls": app.stats.polls, "worst": app.stats.worst_interval, "busy": app.stats.busy_s,
        "lines": lines, "keys": key_lat, "rss": rss,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", nargs="?", default=str(ROOT / "sample_feeds" / "binance_futures.jsonl.gz"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--size", default="120x40")
    ap.add_argument("--no-baseline", action="store_true")
    a = ap.parse_args()
    path = Path(a.capture)
    w, h = (int(x) for x in a.size.lower().split("x"))
    print(f"capture {path.name}, max speed looped, {a.seconds:g} s, fps {a.fps:g}, {w}x{h}, "
          f"python {sys.version.split()[0]}, threads now {threading.active_count()}")
    r = asyncio.run(under_ui(path, a.seconds, a.fps, (w, h)))
    rate = r["msgs"] / r["wall"]
    print(f"ingested        {r['msgs']:,} messages in {r['wall']:.1f} s = {rate:,.0f} msg/s ({r['loops']} passes)")
    print(f"frames drawn    {r['frames']} of {r['polls']} polls ({r['frames'] / r['wall']:.1f}/s); lines repainted: "
          + ", ".join(f"{k} {v:,}" for k, v in r["lines"].items()))
    print(f"frame interval  worst {r['worst'] * 1000:.0f} ms (target {1000 / a.fps:.0f} ms); "
          f"UI work {r['busy'] / max(1, r['polls']) * 1000:.2f} ms per poll")
    keys = sorted(r["keys"])
    if keys:
        print(f"key -> action   median {keys[len(keys) // 2] * 1000:.1f} ms, worst {keys[-1] * 1000:.1f} ms "
              f"({len(keys)} presses)")
    print(f"CPU             {r['cpu'] / r['wall'] * 100:.0f}% of one core (process time / wall, engine + UI); "
          f"UI thread alone {r['ui_cpu'] / r['wall'] * 100:.0f}%")
    rss = r["rss"]
    print(f"memory (RSS)    start {rss[0]:.0f} MB, after 1 s {rss[1]:.0f} MB, end {rss[-1]:.0f} MB, "
          f"peak {max(rss):.0f} MB")
    if not a.no_baseline:
        base = baseline(path, a.seconds)
        print(f"baseline        {base:,.0f} msg/s with no UI (the UI leaves {rate / base * 100:.0f}% of it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
