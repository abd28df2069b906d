"""The trade tape of the selected market (Line API): newest first, aggressor side coloured, large trades
marked.  Bounded: it shows the trades of the snapshot (the engine keeps the last ``tape_depth``)."""

from __future__ import annotations

from statistics import median

from textual import events

from ...core.snapshot import StreamView
from ...core.text import clean
from .. import fmt
from .ladder import book_status, health_status
from .lines import LinesWidget, Row, note_rows, title_row

LARGE_FACTOR = 5.0  # a trade this many times the median size of the shown trades stands out
LARGE_MIN_TRADES = 8  # ...once there are enough trades to call anything large

SIDES = {"buy": ("BUY ", "tape--buy"), "sell": ("SELL", "tape--sell")}


def large_threshold(view: StreamView) -> float | None:
    qs = [t.qty for t in view.trades]
    if len(qs) < LARGE_MIN_TRADES:
        return None
    m = median(qs)
    return m * LARGE_FACTOR if m > 0 else None


class TapeView(LinesWidget):
    COMPONENT_CLASSES = {
        "tape--title-ok", "tape--title-warn", "tape--title-bad", "tape--title-dim", "tape--head",
        "tape--buy", "tape--sell", "tape--none", "tape--large", "tape--note",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view: StreamView | None = None
        self.note = "select a stream"
        self.back = 0  # the mouse wheel scrolled this many trades back from the newest...
        self._anchor = 0  # ...when the stream's trades_total was this (new trades do not move the rows)

    def update_view(self, v: StreamView | None, note: str = "") -> None:
        if v is None or self.view is None or v.key != self.view.key:
            self.back = 0
        self.view = v
        self.note = note
        self.redraw()

    def skip(self, v: StreamView, rows: int) -> int:
        """Trades skipped from the newest: 0 at the live end, else where the wheel left the tape."""
        if not self.back:
            return 0
        return max(0, min(len(v.trades) - rows, self.back + v.trades_total - self._anchor))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self._wheel(-3)  # towards the newest

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self._wheel(3)  # back in time

    def _wheel(self, delta: int) -> None:
        v = self.view
        if v is None or not v.trades:
            return
        rows = max(1, self.size.height - 2)
        cur = self.skip(v, rows)
        self.back = max(0, min(len(v.trades) - rows, cur + delta))
        self._anchor = v.trades_total
        self.redraw()

    def build(self, width: int, height: int) -> list[Row]:
        v = self.view
        if v is None:
            return note_rows(" TRADES", self.note, width, "tape--title-dim", "tape--note")
        label, cond, _trusted = book_status(v) if v.has_book else health_status(v)
        if v.has_frames and not v.has_tape:
            return self._frames(v, width, height, label, cond)
        skip = self.skip(v, max(1, height - 2))
        right = (f"↓ {skip} newer · " if skip else "") + f"{v.trades_total:,} · {label} "
        rows: list[Row] = [title_row(f" TRADES {clean(v.symbol, 24)}", right, width, f"tape--title-{cond}")]
        trades = v.trades[skip: skip + max(0, height - 2)]
        prices = fmt.align_points([clean(t.price, 24) for t in trades])
        pw = min(14, max([5] + [len(p) for p in prices]))
        sw = max(4, min(12, width - (1 + 12 + 1 + 4 + 1 + pw + 1 + 2)))
        rows.append(((f" {'time (UTC)':<12} side {'price':>{pw}} {'size':>{sw}}", "tape--head"),))
        big = large_threshold(v)
        for t, price in zip(trades, prices):
            side, cls = SIDES.get(t.side, (" ·  ", "tape--none"))
            large = big is not None and t.qty >= big
            mark = "◆" if large else " "
            rows.append((
                (" ", ""),
                (fmt.clock(t.ts), "tape--large" if large else ""),
                (" ", ""),
                (side, cls),
                (" ", ""),
                (f"{fmt.fit(price, pw):>{pw}}", cls),
                (" ", ""),
                (f"{fmt.size_text(t.size, t.qty, sw):>{sw}}", "tape--large" if large else ""),
                (" " + mark, "tape--large" if large else ""),
            ))
        if not v.trades:
            rows.append(((" no trades yet", "tape--note"),))
        return rows

    def _frames(self, v: StreamView, width: int, height: int, label: str, cond: str) -> list[Row]:
        """The latest frames of a feed with no trades (any WebSocket): newest first, one line each."""
        right = f"{v.messages:,} · {label} "
        rows: list[Row] = [title_row(f" FRAMES {clean(v.venue, 30)}{clean(v.symbol, 30)}", right, width,
                                     f"tape--title-{cond}")]
        rows.append(((f" {'time (UTC)':<12} frame", "tape--head"),))
        room = max(1, width - 15)
        for ts, text in v.frames[: max(0, height - 2)]:
            rows.append(((" ", ""), (fmt.clock(ts), ""), (" ", ""), (fmt.fit(clean(text), room), "tape--none")))
        if not v.frames:
            rows.append(((" no frames yet", "tape--note"),))
        return rows
