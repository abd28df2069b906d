"""Every book of the source side by side (Line API): compact ladders, as many as fit, each with its state,
and above them the cross-venue top of book for every market quoted on more than one venue.

Books of the same market sit next to each other (their symbols are normalised: ``BTC/USD``, ``BTC-USD`` and
``btcusd`` are one market; ``XBT`` is ``BTC``), so their ladders line up for comparison.  The cross-venue
lines give each venue's best bid and ask and mark where the best prices are (★); a book that cannot be
trusted (out of sync, stale, crossed, waiting for its snapshot) never wins and is shown with a ``?``.

Cost: only the books on the screen are laid out, each frame is a list of text rows, and the base class
repaints only the screen lines whose text changed.
"""

from __future__ import annotations

import math
import re

from textual import events
from textual.binding import Binding

from ...core.snapshot import Snapshot, StreamView
from ...core.text import clean
from .. import fmt
from .ladder import book_status
from .lines import LinesWidget, Row

COL_MIN = 26  # narrowest compact ladder (price, size, a space between)
MIN_LEVELS = 3  # levels a side a compact ladder shows at least
MAX_CROSS = 6  # cross-venue lines at most

_SEP = re.compile(r"[/\-_:. ]")


def market_of(symbol: str) -> str:
    """The market a symbol names, the same on every venue: upper case, separators dropped, XBT = BTC."""
    s = _SEP.sub("", clean(symbol, 40).upper())
    return s.replace("XBT", "BTC")


def best_prices(books: list[StreamView]) -> tuple[tuple[float, StreamView] | None, tuple[float, StreamView] | None]:
    """(best bid, best ask) over the trusted books of one market: (price, the book holding it)."""
    bb = ba = None
    for v in books:
        if not book_status(v)[2] or not v.bids or not v.asks:
            continue
        try:
            b, a = float(v.bids[0][0]), float(v.asks[0][0])
        except ValueError:
            continue
        if bb is None or b > bb[0]:
            bb = (b, v)
        if ba is None or a < ba[0]:
            ba = (a, v)
    return bb, ba


class BooksView(LinesWidget):
    """All books; ``update_snapshot`` each frame.  ↑↓ PgUp PgDn (and the mouse wheel) scroll a row of
    ladders at a time when they do not all fit."""

    can_focus = True

    COMPONENT_CLASSES = {
        "books--title-ok", "books--title-warn", "books--title-bad", "books--title-dim", "books--head",
        "books--bid", "books--ask", "books--best", "books--spread", "books--dim", "books--sep", "books--note",
        "books--cross", "books--cross-bad",
    }
    BINDINGS = [
        Binding("down,j,pagedown", "scroll_books(1)", "more books", show=False),
        Binding("up,k,pageup", "scroll_books(-1)", "fewer", show=False),
        Binding("home", "scroll_books(-1000)", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snap: Snapshot | None = None
        self.band = 0  # first band (row of ladders) shown
        self.layout_info: dict[str, int] = {}
        self.shown_keys: list[str] = []

    def update_snapshot(self, snap: Snapshot) -> None:
        self.snap = snap
        self.redraw()

    def needed_keys(self, snap: Snapshot) -> frozenset[str]:
        """The books on screen (and the row of ladders either side, so scrolling lands on data), and every
        book of a market quoted on several venues (the cross-venue lines)."""
        books, groups = self.ordered(snap)
        cols = max(1, self.layout_info.get("cols", 1))
        bands = max(1, self.layout_info.get("bands", 1))
        first = max(0, (self.band - 1) * cols)
        keys = {v.key for v in books[first: first + (bands + 2) * cols]}
        for group in groups.values():
            if len(group) > 1:
                keys.update(v.key for v in group)
        return frozenset(keys)

    def action_scroll_books(self, delta: int) -> None:
        self.band = max(0, min(self.layout_info.get("bands_total", 1) - self.layout_info.get("bands", 1),
                                 self.band + delta))
        self.redraw()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_scroll_books(1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_scroll_books(-1)

    # ------------------------------------------------------------ layout
    def ordered(self, snap: Snapshot) -> tuple[list[StreamView], dict[str, list[StreamView]]]:
        """Books grouped by market (markets on several venues first), venue order within a market."""
        groups: dict[str, list[StreamView]] = {}
        for s in snap.streams:
            if s.has_book:
                groups.setdefault(market_of(s.symbol), []).append(s)
        order = sorted(groups, key=lambda m: (-min(len(groups[m]), 2), m))
        books = []
        for m in order:
            groups[m].sort(key=lambda v: (v.venue, v.key))
            books.extend(groups[m])
        return books, groups

    def build(self, width: int, height: int) -> list[Row]:
        snap = self.snap
        if snap is None:
            return [((" BOOKS", "books--title-dim"),), ((" waiting for the first snapshot…", "books--note"),)]
        books, groups = self.ordered(snap)
        if not books:
            return [((" BOOKS", "books--title-dim"),),
                    ((" this source has no order books (yet)", "books--note"),)]
        rows: list[Row] = []
        best: dict[str, tuple[str | None, str | None]] = {}  # book key -> ("bid"?, "ask"?) marks
        multi = [m for m in groups if len(groups[m]) > 1]
        if multi:
            rows.append(((fmt.fit(" ACROSS VENUES   best bid ★ / best ask ★ among trusted books", width),
                          "books--head"),))
            for m in multi[:MAX_CROSS]:
                rows.append(self._cross_row(m, groups[m], width, best))
            if len(multi) > MAX_CROSS:
                rows.append(((fmt.fit(f"   … {len(multi) - MAX_CROSS} more markets on several venues", width),
                              "books--note"),))
        for m in multi[MAX_CROSS:]:
            self._cross_row(m, groups[m], width, best)  # marks only

        room = height - len(rows) - 1  # one line says how many books are not shown
        cols = max(1, width // COL_MIN)
        colw = width // cols
        band_min = 4 + 2 * MIN_LEVELS
        bands_total = math.ceil(len(books) / cols)
        bands = max(1, min(bands_total, room // band_min))
        self.band = max(0, min(self.band, bands_total - bands))
        band_h = max(band_min, room // bands)
        levels = max(1, (band_h - 4) // 2)
        self.layout_info = {"cols": cols, "colw": colw, "bands": bands, "bands_total": bands_total,
                            "levels": levels, "books": len(books)}
        first = self.band * cols
        shown = books[first: first + bands * cols]
        self.shown_keys = [v.key for v in shown]
        for b in range(bands):
            band = shown[b * cols:(b + 1) * cols]
            if not band:
                break
            columns = [self._column(v, colw - 1, levels, best.get(v.key, (None, None))) for v in band]
            for y in range(band_h - 1 if b < bands - 1 else min(band_h, room)):
                line: list[tuple[str, str]] = []
                for c, col in enumerate(columns):
                    pieces = col[y] if y < len(col) else ((" " * (colw - 1), ""),)
                    line.extend(pieces)
                    if c < len(columns) - 1:
                        line.append(("│", "books--sep"))
                rows.append(tuple(line))
            if b < bands - 1:
                rows.append((("─" * width, "books--sep"),))
        hidden = len(books) - len(shown)
        if hidden > 0:
            rows.append(((fmt.fit(f" books {first + 1}-{first + len(shown)} of {len(books)}: "
                                  f"↑↓ or the mouse wheel for the others", width), "books--note"),))
        return rows[:height]

    def _cross_row(self, market: str, books: list[StreamView], width: int,
                   best: dict[str, tuple[str | None, str | None]]) -> Row:
        bb, ba = best_prices(books)
        for v in books:
            best[v.key] = ("bid" if bb is not None and bb[1] is v else None,
                           "ask" if ba is not None and ba[1] is v else None)
        pieces: list[tuple[str, str]] = [(f" {clean(books[0].symbol, 14):<14}", "books--head")]
        if bb is not None and ba is not None:
            crossed = bb[0] >= ba[0]
            d = max(fmt.decimals(bb[1].bids[0][0]), fmt.decimals(ba[1].asks[0][0]))
            spread = ba[0] - bb[0]
            text = (f" bid {clean(bb[1].bids[0][0], 20)} {clean(bb[1].venue, 12)}"
                    f"  ask {clean(ba[1].asks[0][0], 20)} {clean(ba[1].venue, 12)}"
                    f"  {'✖ CROSSED ' if crossed else ''}spread {spread:.{d}f} ")
            pieces.append((text, "books--cross-bad" if crossed else "books--cross"))
        else:
            pieces.append((" no trusted book ", "books--cross-bad"))
        for v in books:
            trusted = book_status(v)[2]
            bid = clean(v.bids[0][0], 16) if v.bids else "-"
            ask = clean(v.asks[0][0], 16) if v.asks else "-"
            mark = "" if trusted else "?"
            pieces.append((f" │ {clean(v.venue, 12)} ", "books--head"))
            pieces.append((("★" if best.get(v.key, (None,))[0] else "") + bid + mark, "books--bid" if trusted else "books--dim"))
            pieces.append((" × ", "books--head"))
            pieces.append((("★" if best.get(v.key, (None, None))[1] else "") + ask + mark,
                           "books--ask" if trusted else "books--dim"))
        # cut to the width, piece by piece
        out: list[tuple[str, str]] = []
        used = 0
        for text, cls in pieces:
            if used + len(text) > width:
                out.append((fmt.fit(text, width - used), cls))
                break
            out.append((text, cls))
            used += len(text)
        return tuple(out)

    def _column(self, v: StreamView, w: int, levels: int, marks: tuple[str | None, str | None]) -> list[Row]:
        """One compact ladder ``w`` cells wide: title, state, asks (best lowest), spread, bids."""
        label, cond, trusted = book_status(v)
        title = fmt.fit(f" {clean(v.symbol, 20)} · {clean(v.venue, 16)}", w)
        state = label
        if marks[0] or marks[1]:
            state += "  ★" + " ★".join(x for x in marks if x)
        col: list[Row] = [((f"{title:<{w}}", f"books--title-{cond}"),),
                          ((f"{fmt.fit(' ' + state, w):<{w}}", "books--head"),)]
        asks = list(v.asks[:levels])
        bids = list(v.bids[:levels])
        prices = fmt.align_points([clean(p, 20) for p, _s, _q in bids + asks])
        pw = min(max([5] + [len(p) for p in prices]), max(5, w - 7))
        sw = max(4, w - pw - 2)
        sizes = fmt.aligned_sizes([(s, q) for _p, s, q in bids + asks], sw)
        nb = len(bids)
        dim = not trusted

        def level(i: int, side: str) -> Row:
            p, sz = prices[i], sizes[i]
            best_cls = "books--best" if (i == 0 or i == nb) and (marks[0] if side == "bid" else marks[1]) else ""
            cls = "books--dim" if dim else (f"books--{side} {best_cls}".strip())
            return ((" ", ""), (f"{fmt.fit(p, pw):>{pw}}", cls), (" ", ""),
                    (f"{sz:>{sw}}"[:sw], "books--dim" if dim else ""))

        pad = ((" " * w, ""),)
        col.extend([pad] * (levels - len(asks)))
        col.extend(level(nb + i, "ask") for i in reversed(range(len(asks))))
        if v.bids and v.asks:
            try:
                b, a = float(v.bids[0][0]), float(v.asks[0][0])
                d = max(fmt.decimals(v.bids[0][0]), fmt.decimals(v.asks[0][0]))
                mid = (a + b) / 2
                text = f" {a - b:.{d}f} · {(a - b) / mid * 1e4:.1f}bp " if mid > 0 else " ? "
            except ValueError:
                text = " ? "
        elif v.book_state == "out_of_sync":
            text = " out of sync "
        else:
            text = " no levels yet " if v.book_state == "ok" else " waiting for snapshot "
        text = fmt.fit(text, w)
        left = (w - len(text)) // 2
        col.append((("─" * left, "books--sep"), (text, "books--spread" if trusted else "books--dim"),
                    ("─" * (w - left - len(text)), "books--sep")))
        col.extend(level(i, "bid") for i in range(len(bids)))
        col.extend([pad] * (levels - len(bids)))
        return col
