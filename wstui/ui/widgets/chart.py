"""The chart of one market (Line API): price candles from its trades over time, their volume, and the
depth chart of its book (cumulative size on each side of the mid).

Drawn as text rows like the other panels (one candle per column, block characters, eighths for bars), so a
frame costs a few thousand character operations and only changed lines are repainted.  Measured at 120x40
in one harness (a frame's update, render and idle, against a frame that changes one Static): this chart
(candles, volume, depth) adds 3-7 ms a frame; textual-plot 0.10 drawing one 600-point line adds about
40 ms (its canvas repaints every cell), and would bring numpy and a canvas package as dependencies.

Times are on the engine clock (the capture's in replay), in UTC.
"""

from __future__ import annotations

import math

from ...core.snapshot import StreamView
from ...core.text import clean
from .. import fmt
from ..history import Series, Tick
from .ladder import book_status
from .lines import LinesWidget, Row, title_row

INTERVALS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)  # candle widths, seconds
AXIS_W = 12  # price labels on the right
MIN_RANGE = 2e-4  # the price axis spans at least 2 bp of the price
_EIGHTHS = " ▁▂▃▄▅▆▇█"


def interval_label(sec: float) -> str:
    if sec < 60:
        return f"{sec:g}s"
    if sec < 3600:
        return f"{sec / 60:g}m"
    return f"{sec / 3600:g}h"


class Candle:
    __slots__ = ("t", "o", "h", "l", "c", "v", "buy", "n")

    def __init__(self, t: float, tick: Tick) -> None:
        self.t = t
        self.o = self.h = self.l = self.c = tick.price
        self.v = tick.qty
        self.buy = tick.qty if tick.side == "buy" else 0.0
        self.n = 1

    def add(self, tick: Tick) -> None:
        p = tick.price
        if p > self.h:
            self.h = p
        if p < self.l:
            self.l = p
        self.c = p
        self.v += tick.qty
        if tick.side == "buy":
            self.buy += tick.qty
        self.n += 1


def candles(ticks, interval: float, count: int) -> list[Candle | None]:
    """The last ``count`` candles of ``interval`` seconds, oldest first (None: no trade in it; the close
    carries over visually as a gap).  Only the ticks that can fall into them are looked at."""
    if not ticks:
        return []
    last = ticks[-1].ts
    end_slot = math.floor(last / interval)
    first_slot = end_slot - count + 1
    out: list[Candle | None] = [None] * count
    for tick in reversed(ticks):
        slot = math.floor(tick.ts / interval)
        if slot < first_slot:
            break
        i = slot - first_slot
        c = out[i]
        if c is None:
            out[i] = Candle(slot * interval, tick)
        else:  # walking backwards: this tick is earlier
            c.o = tick.price
            c.h = max(c.h, tick.price)
            c.l = min(c.l, tick.price)
            c.v += tick.qty
            if tick.side == "buy":
                c.buy += tick.qty
            c.n += 1
    # trim the empty slots before the first trade
    k = 0
    while k < len(out) and out[k] is None:
        k += 1
    return out[k:] if k < len(out) else []


class ChartView(LinesWidget):
    COMPONENT_CLASSES = {
        "chart--title-ok", "chart--title-warn", "chart--title-bad", "chart--title-dim", "chart--head",
        "chart--up", "chart--down", "chart--axis", "chart--note", "chart--bid", "chart--ask", "chart--mid",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.interval_i = 0
        self.auto_interval = True
        self.book: StreamView | None = None
        self.trades: StreamView | None = None
        self.series: Series | None = None
        self.note = "select a stream"
        self.last_candles: list[Candle | None] = []

    @property
    def interval(self) -> float:
        return INTERVALS[self.interval_i]

    def step_interval(self, coarser: bool) -> str:
        self.auto_interval = False
        self.interval_i = max(0, min(len(INTERVALS) - 1, self.interval_i + (1 if coarser else -1)))
        self.redraw()
        return interval_label(self.interval)

    def update_market(self, book: StreamView | None, trades: StreamView | None, series: Series | None,
                      note: str) -> None:
        self.book, self.trades, self.series, self.note = book, trades, series, note
        self.redraw()

    def _pick_interval(self, ticks, width: int) -> None:
        """Until the user picks one, the finest interval at which the trades held fill at most the width."""
        if not self.auto_interval or not ticks:
            return
        span = ticks[-1].ts - ticks[0].ts
        for i, iv in enumerate(INTERVALS):
            if span / iv <= width:
                self.interval_i = i
                return
        self.interval_i = len(INTERVALS) - 1

    # ------------------------------------------------------------ drawing
    def build(self, width: int, height: int) -> list[Row]:
        view = self.book or self.trades
        if view is None:
            return [((" CHART", "chart--title-dim"),), ((" " + fmt.fit(self.note, width - 2), "chart--note"),)]
        label, cond, _ok = book_status(view) if view.has_book else (view.state, "ok", True)
        ticks = self.series.ticks if self.series is not None else ()
        plot_w = max(10, width - AXIS_W - 1)
        self._pick_interval(ticks, plot_w)
        cs = candles(ticks, self.interval, plot_w)
        self.last_candles = cs
        last = ticks[-1].price if ticks else None
        right = f"{label}  candles {interval_label(self.interval)}{' auto' if self.auto_interval else ''} "
        left = f" CHART {clean(view.symbol, 24)} · {clean(view.venue, 20)}"
        if self.trades is not None and self.trades.trades:
            left += f"  last {clean(self.trades.trades[0].price, 24)}"  # as the exchange wrote it
        elif last is not None:
            left += f"  last {fmt.trim_number(repr(last))}"
        rows: list[Row] = [title_row(left, right, width, f"chart--title-{cond}")]
        body = height - 1
        depth_h = max(4, body * 3 // 10) if self.book is not None else 0
        vol_h = 3 if body >= 16 else 2
        price_h = max(3, body - depth_h - vol_h - 3)
        if self.trades is None:
            rows.append(((" " + fmt.fit(self.note or "no trades stream for this market", width - 2), "chart--note"),))
            rows.extend([(("", ""),)] * (price_h + vol_h + 1))
        elif not cs:
            rows.append(((f" no trades yet on {clean(self.trades.channel, 16)}", "chart--note"),))
            rows.extend([(("", ""),)] * (price_h + vol_h + 1))
        else:
            rows.extend(self._price_rows(cs, plot_w, price_h, width))
            rows.extend(self._volume_rows(cs, plot_w, vol_h, width))
            rows.append(self._time_axis(cs, plot_w, width))
            missed = self.series.missed if self.series is not None else 0
            n = sum(c.n for c in cs if c is not None)
            note = f" {n:,} trades in view"
            if missed:
                note += f" · {missed:,} earlier trades were not seen by the chart (before it started, or "
                note += "more between two frames than a snapshot holds)"
            rows.append(((fmt.fit(note, width), "chart--note"),))
        if self.book is not None:
            rows.extend(self._depth_rows(self.book, width, height - len(rows)))
        return rows[:height]

    def _price_rows(self, cs: list[Candle | None], plot_w: int, h: int, width: int) -> list[Row]:
        lo = min(c.l for c in cs if c is not None)
        hi = max(c.h for c in cs if c is not None)
        least = abs(hi) * MIN_RANGE or 1e-8  # a flat market is drawn flat, not magnified into noise
        if hi - lo < least:
            pad = (least - (hi - lo)) / 2
            lo, hi = lo - pad, hi + pad
        step = (hi - lo) / h
        d = _decimals_for(step)
        rows: list[Row] = []
        for r in range(h):
            top = hi - r * step
            bot = top - step
            pieces: list[tuple[str, str]] = [(" " * (plot_w - len(cs)), "")]  # the latest candle by the axis
            run, run_cls = [], ""
            for c in cs:
                if c is None:
                    ch, cls = " ", ""
                else:
                    up = c.c >= c.o
                    b_lo, b_hi = (c.o, c.c) if up else (c.c, c.o)
                    cls = "chart--up" if up else "chart--down"
                    if b_hi >= bot and b_lo <= top:
                        ch = "█"
                    elif c.h >= bot and c.l <= top:
                        ch = "│"
                    else:
                        ch, cls = " ", ""
                if cls != run_cls and run:
                    pieces.append(("".join(run), run_cls))
                    run = []
                run_cls = cls
                run.append(ch)
            if run:
                pieces.append(("".join(run), run_cls))
            label = f"{(top + bot) / 2:.{d}f}" if r % 2 == 0 or h < 8 else ""
            pieces.append((" ┤" + f"{label:>{AXIS_W - 1}}"[: AXIS_W - 1], "chart--axis"))
            rows.append(tuple(pieces))
        return rows

    def _volume_rows(self, cs: list[Candle | None], plot_w: int, h: int, width: int) -> list[Row]:
        top = max((c.v for c in cs if c is not None), default=0.0) or 1.0
        rows: list[Row] = []
        for r in range(h):
            pieces: list[tuple[str, str]] = [(" " * (plot_w - len(cs)), "")]
            for c in cs:
                if c is None:
                    pieces.append((" ", ""))
                    continue
                cells = c.v / top * h
                fill = cells - (h - 1 - r)
                ch = "█" if fill >= 1 else _EIGHTHS[max(0, int(fill * 8))] if fill > 0 else " "
                pieces.append((ch, "chart--up" if c.c >= c.o else "chart--down"))
            label = f"vol {fmt.qty(top, AXIS_W - 5)}" if r == 0 else ""
            pieces.append((" ┤" + f"{label:>{AXIS_W - 1}}"[: AXIS_W - 1], "chart--axis"))
            rows.append(_merge(pieces))
        return rows

    def _time_axis(self, cs: list[Candle | None], plot_w: int, width: int) -> Row:
        first = next(c for c in cs if c is not None).t
        last = cs[-1].t if cs[-1] is not None else first
        a, b = fmt.clock(first, 0), fmt.clock(last, 0)
        n = len(cs)
        gap = max(1, n - len(a) - len(b))
        text = (a + " " * gap + b) if n >= len(a) + len(b) + 1 else b
        return ((fmt.fit(" " * max(0, plot_w - len(text)) + text, width), "chart--axis"),)

    def _depth_rows(self, v: StreamView, width: int, h: int) -> list[Row]:
        """Cumulative size against price: bids left of the mid, asks right, one column per price step."""
        if h < 3:
            return []
        title = f" DEPTH (cumulative size) {clean(v.symbol, 24)}"
        if not v.bids or not v.asks:
            return [((fmt.fit(title, width), "chart--head"),), ((" the book is empty or not ready", "chart--note"),)]
        try:
            bids = [(float(p), q) for p, _s, q in v.bids]
            asks = [(float(p), q) for p, _s, q in v.asks]
        except ValueError:
            return [((fmt.fit(title, width), "chart--head"),), ((" unreadable prices", "chart--note"),)]
        mid = (bids[0][0] + asks[0][0]) / 2
        plot_w = max(10, width - AXIS_W - 1)
        half = plot_w // 2
        # price range: as far as the shorter side of the held book reaches, the same on both sides
        reach = min(mid - bids[-1][0], asks[-1][0] - mid) or max(mid - bids[-1][0], asks[-1][0] - mid) or 1.0
        per_col = reach / half
        bid_cols = list(reversed(_cumulative_columns(bids, [mid - (i + 1) * per_col for i in range(half)], True)))
        ask_cols = _cumulative_columns(asks, [mid + (i + 1) * per_col for i in range(plot_w - half)], False)
        top = max(bid_cols + ask_cols) or 1.0
        rows: list[Row] = [((fmt.fit(f"{title}  ±{fmt.trim_number(f'{reach:.8f}')} around mid "
                                     f"{fmt.trim_number(f'{mid:.8f}')}", width), "chart--head"),)]
        ph = h - 2
        for r in range(ph):
            pieces: list[tuple[str, str]] = []
            for cols, cls in ((bid_cols, "chart--bid"), (ask_cols, "chart--ask")):
                for val in cols:
                    fill = val / top * ph - (ph - 1 - r)
                    ch = "█" if fill >= 1 else _EIGHTHS[max(0, int(fill * 8))] if fill > 0 else " "
                    pieces.append((ch, cls))
            label = fmt.qty(top, AXIS_W - 2) if r == 0 else ("0" if r == ph - 1 else "")
            pieces.append((" ┤" + f"{label:>{AXIS_W - 1}}"[: AXIS_W - 1], "chart--axis"))
            rows.append(_merge(pieces))
        lo, hi = f"{mid - reach:.{_decimals_for(per_col)}f}", f"{mid + reach:.{_decimals_for(per_col)}f}"
        axis = lo + " " * max(1, half - len(lo) - 1) + "▲" + " " * max(1, plot_w - half - len(hi)) + hi
        rows.append(((fmt.fit(axis, width), "chart--axis"),))
        return rows


def _cumulative_columns(levels: list[tuple[float, float]], edges: list[float], bids: bool) -> list[float]:
    """Cumulative size of the levels (best first) up to each edge (edges moving away from the mid): one
    pass over the levels, not one per column."""
    out: list[float] = []
    cum = 0.0
    i = 0
    n = len(levels)
    for edge in edges:
        while i < n and (levels[i][0] >= edge if bids else levels[i][0] <= edge):
            cum += levels[i][1]
            i += 1
        out.append(cum)
    return out


def _merge(pieces: list[tuple[str, str]]) -> Row:
    """Adjacent pieces of one style as one (fewer segments to draw)."""
    out: list[tuple[str, str]] = []
    for text, cls in pieces:
        if out and out[-1][1] == cls:
            out[-1] = (out[-1][0] + text, cls)
        else:
            out.append((text, cls))
    return tuple(out)


def _decimals_for(step: float) -> int:
    """Decimals that tell apart two prices ``step`` apart."""
    if step <= 0 or step != step:
        return 2
    return max(0, min(8, -math.floor(math.log10(step)) + 1))
