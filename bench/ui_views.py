"""What one frame of each view costs: the main screen, the books view (b) and the chart (c).

A capture is replayed looped (default 10x) on the engine thread while the app draws at --fps for
--seconds per view; per frame it prints the time the app spent building the view from the snapshot
(refresh_view: layout, diffing rows) and turning changed rows into strips (render_line), the lines
repainted, and the worst gap between two frames.  Textual's own compositing is the same for any widget
and is not counted.

    .venv/bin/python bench/ui_views.py [CAPTURE] [--seconds 5] [--fps 10] [--size 120x40]

Without CAPTURE: Coinbase, Gemini and Bybit of August 2026 shifted onto one clock (18 books, 3 venues),
built from ../shared/real_feeds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from wstui.engine import Engine  # noqa: E402
from wstui.io.replay import Replay  # noqa: E402
from wstui.ui.app import WstuiApp  # noqa: E402
from wstui.ui.widgets.lines import LinesWidget  # noqa: E402

RENDER = [0.0]
_orig_render_line = LinesWidget.render_line


def _timed_render_line(self, y):
    t = time.perf_counter()
    try:
        return _orig_render_line(self, y)
    finally:
        RENDER[0] += time.perf_counter() - t


LinesWidget.render_line = _timed_render_line  # type: ignore[method-assign]


async def measure(path: Path, key: str | None, seconds: float, fps: float, size: tuple[int, int],
                  speed: float | None) -> dict:
    engine = Engine(file=str(path))
    app = WstuiApp(engine, Replay(path, speed=speed, loops=0), fps=fps, engine_mode="thread")
    async with app.run_test(size=size) as pilot:
        await asyncio.sleep(0.5)
        if key:
            await pilot.press(key)
            await asyncio.sleep(0.3)
        widgets = [w for w in app.screen.query(LinesWidget)]
        f0, b0, r0 = app.stats.frames, app.stats.busy_s, RENDER[0]
        l0 = sum(w.lines_painted for w in widgets)
        app.stats.worst_interval = 0.0
        await asyncio.sleep(seconds)
        frames = app.stats.frames - f0
        out = {
            "frames": frames,
            "build_ms": 1000 * (app.stats.busy_s - b0) / max(1, frames),
            "render_ms": 1000 * (RENDER[0] - r0) / max(1, frames),
            "lines": (sum(w.lines_painted for w in widgets) - l0) / max(1, frames),
            "worst_gap_ms": 1000 * app.stats.worst_interval,
            "messages": engine.messages,
        }
        await pilot.press("q")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("capture", nargs="?")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--size", default="120x40")
    ap.add_argument("--speed", default="10", help="replay speed (a factor or max; at max the engine thread "
                    "holds the GIL most of the time and the times below include waiting for it)")
    a = ap.parse_args()
    size = tuple(int(x) for x in a.size.split("x"))
    speed = None if a.speed == "max" else float(a.speed)
    if a.capture:
        path = Path(a.capture)
    else:
        from views_util import multi_venue_capture

        path = multi_venue_capture(Path(tempfile.mkdtemp()))
    print(f"{path.name} at {size[0]}x{size[1]}, {a.fps:g} fps, {a.seconds:g} s a view, replay looped at {a.speed}x")
    print(f"{'view':<8} {'frames':>6} {'build ms/frame':>15} {'render ms/frame':>16} {'lines/frame':>12} {'worst gap ms':>13}")
    for name, key in (("main", None), ("books", "b"), ("chart", "c")):
        r = asyncio.run(measure(path, key, a.seconds, a.fps, size, speed))
        print(f"{name:<8} {r['frames']:>6} {r['build_ms']:>15.2f} {r['render_ms']:>16.2f} {r['lines']:>12.1f} "
              f"{r['worst_gap_ms']:>13.0f}")
    build_only(path, size)




def build_only(path: Path, size: tuple[int, int]) -> None:
    """The views' build (snapshot -> rows) alone, on the final snapshot, without Textual: a clean figure
    on a busy machine."""
    from conftest import replay

    from wstui.ui.history import TradeHistory
    from wstui.ui.widgets.books import BooksView
    from wstui.ui.widgets.chart import ChartView

    _engine, snap = replay(path, book_depth=200)
    books = BooksView()
    books.snap = snap
    chart = ChartView()
    hist = TradeHistory()
    hist.update(snap)
    book = next(s for s in snap.streams if s.has_book and any(t.has_tape and t.symbol == s.symbol for t in snap.streams))
    trades = next(t for t in snap.streams if t.has_tape and t.symbol == book.symbol)
    chart.book, chart.trades, chart.series = book, trades, hist.get(trades.key)
    w, h = size[0], size[1] - 2
    for name, fn in (("books", lambda: books.build(w, h)), ("chart", lambda: chart.build(w, h))):
        n = 200
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t) / n)
        print(f"{name:<8} build alone: {1000 * best:.2f} ms/frame")


if __name__ == "__main__":
    main()
