"""The streams table (the SRE's view): one row per stream, drawn with the Line API.

A DataTable re-renders every cell of the table whenever any cell changes, and here some cell of every
row (its age, its rates) changes every frame; so this is a small table of its own: the rows are built as
plain text pieces, and only the screen lines whose text changed are repainted.  Keyboard: up/down (and
page/home/end) move the cursor, which selects the stream the ladder and tape show; left/right scroll the
columns after the state badge when the terminal is narrow (venue, symbol, channel and state stay put).

A row whose stream is stale, out of sync or down is drawn entirely in the alarm style, and its badge
says so in words (NO_COLOR terminals).  The last column says why (the alarm's cause and reason), or the
stream's last problem after it recovered (what, how long, when), or its exchange clock offset.  A problem
that came and went between two looks (a 0.4 s disconnect) is held on screen: its row shows
``↺ was DOWN`` for ``HOLD_S`` seconds of wall time.
"""

from __future__ import annotations

import time

from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message

from ...core.snapshot import Snapshot, StreamView
from ...core.text import clean
from .. import fmt
from .lines import LinesWidget, Row

SPARK_W = 10
FIXED = 4  # columns that never scroll sideways

# (column key, label, width or None for "fit the content", right-aligned).  Each cell is preceded
# by one space.
COLUMNS = (
    ("venue", "venue", None, False),
    ("symbol", "symbol", None, False),
    ("channel", "channel", None, False),
    ("state", "state", 13, False),
    ("age", "age", 5, True),
    ("r1", "msg/s", 5, True),
    ("r10", "10s", 5, True),
    ("spark", "last 10s", SPARK_W, False),
    ("lat", "lat ms", 6, True),
    ("gaps", "gaps", 4, True),
    ("cksum", "cksum", 9, True),
    ("resync", "resync", 6, True),
    ("reconn", "reconn", 6, True),
    ("why", "why / last problem", None, False),
)
COL_INDEX = {c[0]: i for i, c in enumerate(COLUMNS)}
CHANNEL_ORDER = {"book": 0, "trades": 1}
ROW_BAD = frozenset(("stale", "out_of_sync", "down"))
ALARM = frozenset(("stale", "out_of_sync", "down", "lagging"))
HOLD_S = 3.0  # wall seconds a problem that already ended stays flagged on its row
WHY_W = 70


def why(s: StreamView) -> str:
    """The last column: the alarm's cause and reason, else the last problem, else the clock offset."""
    if s.state in ALARM:
        return f"{fmt.cause(s.cause)}: {clean(s.reason, WHY_W)}" if s.cause else clean(s.reason, WHY_W)
    parts = []
    if s.last_problem is not None:
        parts.append(fmt.problem(s.last_problem))
    if s.state in ("quiet", "connecting") and s.reason:
        parts.append(clean(s.reason, WHY_W))
    off = fmt.clock_offset(s.clock_offset_s)
    if off:
        parts.append(off)
    return " · ".join(parts)


def row_class(s: StreamView, held: bool = False) -> str:
    if s.state in ROW_BAD:
        return "streams--bad"
    if s.state in ("lagging", "connecting") or held:
        return "streams--warn"
    if s.state == "ended":
        return "streams--dim"
    return ""


def mark_problem(spark: str, s: StreamView, now: float | None) -> str:
    """The sparkline with the second the last problem began marked ``!`` (while it is in view)."""
    lp = s.last_problem
    if lp is None or now is None or not spark:
        return spark
    back = int(now) - int(lp.since)  # whole seconds ago; the sparkline's last cell is the last whole second
    i = len(spark) - back
    if 0 <= i < len(spark):
        return spark[:i] + "!" + spark[i + 1:]
    return spark


def cells(s: StreamView, held: bool = False, now: float | None = None) -> list[tuple[str, str]]:
    """Each column's text and style class ("" = the row's style), in COLUMNS order.  ``held``: the stream's
    last problem ended moments ago: the badge says so for a few seconds."""
    badge, bcls = fmt.badge(s.state)
    if held and s.last_problem is not None:
        badge, bcls = "↺ was " + fmt.badge(s.last_problem.state)[0].split(" ", 1)[-1], "warn"
    ck = "-" if not (s.checksum_ok or s.checksum_failed) else f"{s.checksum_ok}/{s.checksum_failed}"
    lat = "-" if s.latency_ms_p50 is None else f"{s.latency_ms_p50:.0f}"
    return [
        (clean(s.venue, 24), ""),
        (clean(s.symbol, 24), ""),
        (clean(s.channel, 16), ""),
        (badge, f"streams--{bcls}"),
        (fmt.age(s.last_age_s), ""),
        (fmt.rate(s.rate_1s), ""),
        (fmt.rate(s.rate_10s), ""),
        (mark_problem(fmt.sparkline(s.history, SPARK_W), s, now), "streams--spark"),
        (lat, ""),
        (str(s.gaps), "streams--bad" if s.gaps else ""),
        (ck, "streams--bad" if s.checksum_failed else ""),
        (str(s.resyncs), ""),
        (str(s.reconnects), ""),
        (fmt.fit(why(s), WHY_W + 30), ""),
    ]


def sort_key(s: StreamView) -> tuple:
    return (s.venue, s.symbol, CHANNEL_ORDER.get(s.channel, 9), s.channel)


class StreamsTable(LinesWidget, can_focus=True):
    """One row per stream; the cursor row is the selected stream."""

    COMPONENT_CLASSES = {
        "streams--header", "streams--cursor", "streams--cursor-blur", "streams--cursor-bad", "streams--ok", "streams--warn", "streams--bad",
        "streams--dim", "streams--spark",
    }
    BINDINGS = [
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "move(-100000)", "first", show=False),
        Binding("end", "move(100000)", "last", show=False),
        Binding("left", "scroll_columns(-1)", "scroll left", show=False),
        Binding("right", "scroll_columns(1)", "scroll right", show=False),
    ]

    class Selected(Message):
        """The cursor moved to another stream."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.keys: list[str] = []  # row order
        self._cells: dict[str, list[tuple[str, str]]] = {}
        self._row_cls: dict[str, str] = {}
        self.cursor = 0
        self.top = 0  # first row shown
        self.xoff = 0  # scrollable columns skipped on the left
        self._held: dict[str, tuple[float, float]] = {}  # key -> (problem since, hold until wall time)
        self._first = True

    # ------------------------------------------------------------ data
    @property
    def selected(self) -> str | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    def cell(self, key: str, column: str) -> str:
        """The text a column shows for a stream (what is on screen when the column is visible)."""
        return self._cells[key][COL_INDEX[column]][0]

    def update_snapshot(self, snap: Snapshot, selected: str | None) -> None:
        streams = snap.streams
        if len(streams) != len(self.keys) or any(s.key not in self._cells for s in streams):
            self.keys = [s.key for s in sorted(streams, key=sort_key)]
            if selected in self.keys:
                self.cursor = self.keys.index(selected)
            self.refresh(layout=True)  # the table's height follows its rows
        wall = time.monotonic()
        held_map = self._held
        for s in streams:
            held = False
            lp = s.last_problem
            if lp is not None and lp.lasted is not None and s.state not in ALARM:
                h = held_map.get(s.key)
                if h is None or h[0] != lp.since:
                    # a problem seen for the first time already over: hold it (not at start-up)
                    h = held_map[s.key] = (lp.since, 0.0 if self._first else wall + HOLD_S)
                held = wall < h[1]
            self._cells[s.key] = cells(s, held, snap.now)
            self._row_cls[s.key] = row_class(s, held)
        self._first = False
        self.redraw()

    def hold_expired(self) -> bool:
        """A held row whose time is up (its cells must be redrawn even with no new snapshot)."""
        now = time.monotonic()
        out = False
        for key, (since, until) in self._held.items():
            if 0.0 < until <= now:
                self._held[key] = (since, 0.0)
                out = True
        return out

    def is_held(self, key: str) -> bool:
        h = self._held.get(key)
        return h is not None and time.monotonic() < h[1]

    def point(self, key: str | None) -> None:
        """Put the cursor on ``key`` without announcing it (the app chose it, not the user)."""
        if key in self.keys and self.keys.index(key) != self.cursor:
            self.cursor = self.keys.index(key)
            self.redraw()

    def select(self, key: str) -> None:
        if key in self.keys:
            self._move_to(self.keys.index(key))

    def _move_to(self, row: int) -> None:
        if not self.keys:
            return
        row = max(0, min(len(self.keys) - 1, row))
        if row != self.cursor:
            self.cursor = row
            self.redraw()
            self.post_message(self.Selected(self.keys[row]))

    # ------------------------------------------------------------ keys and mouse
    def action_move(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self.size.height - 2))

    def action_scroll_columns(self, delta: int) -> None:
        self.xoff = max(0, min(len(COLUMNS) - FIXED - 1, self.xoff + delta))
        self.redraw()

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._move_to(self.top + event.y - 1)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.keys) + 1

    # ------------------------------------------------------------ drawing
    def _widths(self) -> list[int]:
        out = []
        for i, (_k, label, width, _r) in enumerate(COLUMNS):
            if width is None:
                width = max([len(label)] + [len(self._cells[k][i][0]) for k in self.keys])
            out.append(width)
        return out

    def build(self, width: int, height: int) -> list[Row]:
        widths = self._widths()
        shown = list(range(FIXED)) + list(range(FIXED + self.xoff, len(COLUMNS)))
        visible = max(1, height - 1)
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + visible:
            self.top = self.cursor - visible + 1
        self.top = max(0, min(self.top, max(0, len(self.keys) - visible)))
        header = []
        for i in shown:
            _k, label, _w, right = COLUMNS[i]
            header.append((" " + (f"{label:>{widths[i]}}" if right else f"{label:<{widths[i]}}"), "streams--header"))
        if self.xoff:
            header[FIXED - 1] = (header[FIXED - 1][0] + " «", "streams--header")
        header.append((" " * width, "streams--header"))
        rows: list[Row] = [tuple(header)]
        focused = self.has_focus
        for r in range(self.top, min(len(self.keys), self.top + visible)):
            key = self.keys[r]
            rcls = self._row_cls.get(key, "")
            cursor = r == self.cursor
            pieces = []
            for i in shown:
                text, cls = self._cells[key][i]
                right = COLUMNS[i][3]
                w = widths[i]
                text = fmt.fit(text, w)
                cell = f"{text:>{w}}" if right else f"{text:<{w}}"
                style = rcls if rcls == "streams--bad" else (cls or rcls)
                if cursor:
                    if rcls == "streams--bad":
                        style = "streams--cursor-bad"  # the alarm stays red under the cursor
                    else:
                        style = f"{style} streams--cursor".strip() if focused else f"{style} streams--cursor-blur".strip()
                pieces.append((" " + cell, style))
            if cursor:
                fill = "streams--cursor" if focused else "streams--cursor-blur"
                pieces.append((" " * width, "streams--cursor-bad" if rcls == "streams--bad" else fill))
            rows.append(tuple(pieces))
        return rows

    def on_focus(self) -> None:
        self.redraw()

    def on_blur(self) -> None:
        self.redraw()
