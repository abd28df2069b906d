"""The streams table (the SRE's view): one row per stream, drawn with the Line API.

A DataTable re-renders every cell of the table whenever any cell changes, and here some cell of every
row (its age, its rates) changes every frame; so this is a small table of its own: the rows are built as
plain text pieces, and only the screen lines whose text changed are repainted.  Keyboard: up/down (and
page/home/end) move the cursor, which selects the stream the ladder and tape show; left/right scroll the
columns after the state badge when the terminal is narrow (venue, symbol, channel and state stay put).

A row whose stream is stale, out of sync or down is drawn entirely in the alarm style, and its badge
says so in words (NO_COLOR terminals).
"""

from __future__ import annotations

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
)
COL_INDEX = {c[0]: i for i, c in enumerate(COLUMNS)}
CHANNEL_ORDER = {"book": 0, "trades": 1}
ROW_BAD = frozenset(("stale", "out_of_sync", "down"))


def row_class(s: StreamView) -> str:
    if s.state in ROW_BAD:
        return "streams--bad"
    if s.state in ("lagging", "connecting"):
        return "streams--warn"
    if s.state == "ended":
        return "streams--dim"
    return ""


def cells(s: StreamView) -> list[tuple[str, str]]:
    """Each column's text and style class ("" = the row's style), in COLUMNS order."""
    badge, bcls = fmt.badge(s.state)
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
        (fmt.sparkline(s.history, SPARK_W), "streams--spark"),
        (lat, ""),
        (str(s.gaps), "streams--bad" if s.gaps else ""),
        (ck, "streams--bad" if s.checksum_failed else ""),
        (str(s.resyncs), ""),
        (str(s.reconnects), ""),
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
        for s in streams:
            self._cells[s.key] = cells(s)
            self._row_cls[s.key] = row_class(s)
        self.redraw()

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
