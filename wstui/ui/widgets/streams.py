"""The streams table (the SRE's view): one row per stream, drawn with the Line API.

A DataTable re-renders every cell of the table whenever any cell changes, and here some cell of every
row (its age, its rates) changes every frame; so this is a small table of its own: the rows are built as
plain text pieces, only for the rows on screen, and only the screen lines whose text changed are
repainted, so thousands of streams cost what the visible forty do.  Keyboard: up/down (and page/home/end)
move the cursor, which selects the stream the ladder and tape show; left/right scroll the columns after
the state badge when the terminal is narrow (venue, symbol, channel and state stay put); ``/`` filters as
you type (every word must match the venue, symbol, channel or state; Enter keeps it, Esc clears it);
``o`` sorts by the next column, ``O`` reverses (worst first by default: state, then age; a click on a
header sorts by that column); ``g`` groups the rows by venue, then by connection, then not at all (Enter
on a group's line collapses or opens it); the mouse wheel scrolls; Enter on a stream opens its detail.

A row whose stream is stale, out of sync or down is drawn entirely in the alarm style, and its badge
says so in words (NO_COLOR terminals).  The last column says why (the alarm's cause and reason), or the
stream's last problem after it recovered (what, how long, when), or its exchange clock offset.  A problem
that came and went between two looks (a 0.4 s disconnect) is held on screen: its row shows
``↺ was DOWN`` for ``HOLD_S`` seconds of wall time.
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from typing import Iterable

from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message

from ...core.snapshot import Snapshot, StreamView, changed_rows
from ...core.text import cell_len, clean
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
    ("why", "why / last problem", 100, False),  # the last column: cut by the screen's edge
)
COL_INDEX = {c[0]: i for i, c in enumerate(COLUMNS)}
CHANNEL_ORDER = {"book": 0, "trades": 1}
ROW_BAD = frozenset(("stale", "out_of_sync", "down"))
# worst first: alarms, then warnings, then the calm states (an unknown state counts as a warning)
SEVERITY = {"down": 0, "out_of_sync": 1, "stale": 2, "lagging": 3, "connecting": 4, "quiet": 6, "live": 7,
            "ended": 8}
SORTS = ("worst", "venue", "symbol", "channel", "age", "r1", "r10", "lat", "gaps", "cksum", "resync", "reconn")
# what the header calls each order (the columns' own words)
SORT_LABELS = {"r1": "msg/s", "r10": "msg/s over 10 s", "lat": "latency", "cksum": "checksums",
               "resync": "resyncs", "reconn": "reconnects"}


ALARM = frozenset(("stale", "out_of_sync", "down", "lagging"))
HOLD_S = 3.0  # wall seconds a problem that already ended stays flagged on its row
WHY_W = 70
WHY_MIN = 36  # cells the last column (why) keeps on a narrow screen, other columns giving way (see _shown)
GIVE_WAY = ("spark", "r10", "resync", "lat")  # ... these, in turn (→ scrolls to them)


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


def cells(s: StreamView, held: bool = False, now: float | None = None, multi: bool = False) -> list[tuple[str, str]]:
    """Each column's text and style class ("" = the row's style), in COLUMNS order.  ``held``: the stream's
    last problem ended moments ago: the badge says so for a few seconds.  ``multi``: the streams come from
    several monitors (``wstui attach``): the venue cell names the stream's monitor first."""
    badge, bcls = fmt.badge(s.state)
    if held and s.last_problem is not None:
        badge, bcls = "↺ was " + fmt.badge(s.last_problem.state)[0].split(" ", 1)[-1], "warn"
    ck = "-" if not (s.checksum_ok or s.checksum_failed) else f"{s.checksum_ok}/{s.checksum_failed}"
    lat = "-" if s.latency_ms_p50 is None else f"{s.latency_ms_p50:.0f}"
    return [
        (clean(f"{s.monitor} {s.venue}", 48) if multi and s.monitor else clean(s.venue, 24), ""),
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


def worst_key(s: StreamView) -> tuple:
    """Worst first: the state's severity, then (among the unhealthy) the longest silent, then by name:
    healthy rows keep still instead of trading places every frame as their ages tick."""
    rank = SEVERITY.get(s.state, 5)
    return (rank, -(s.last_age_s or 0.0) if rank < 5 else 0.0) + sort_key(s)


_BY = {
    "venue": sort_key,
    "symbol": lambda s: (s.symbol, s.venue, s.channel),
    "channel": lambda s: (s.channel,) + sort_key(s),
    "age": lambda s: (-(s.last_age_s or 0.0),) + sort_key(s),
    "r1": lambda s: (-s.rate_1s,) + sort_key(s),
    "r10": lambda s: (-s.rate_10s,) + sort_key(s),
    "lat": lambda s: (-(s.latency_ms_p50 or 0.0),) + sort_key(s),
    "gaps": lambda s: (-s.gaps,) + sort_key(s),
    "cksum": lambda s: (-s.checksum_failed, -s.checksum_ok) + sort_key(s),
    "resync": lambda s: (-s.resyncs,) + sort_key(s),
    "reconn": lambda s: (-s.reconnects,) + sort_key(s),
}


class Group(str):
    """A group's line in the table (its name); told apart from a stream key by its type."""


GROUPINGS = (None, "venue", "conn")


def matches(s: StreamView, words: list[str]) -> bool:
    """Every word (lower case) is part of the stream's venue, symbol, channel or state."""
    hay = f"{s.venue} {s.symbol} {s.channel} {s.state}".lower()
    return all(w in hay for w in words)


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
        Binding("slash", "filter", "filter", show=False),
        Binding("enter", "open", "details", show=False),
        Binding("o", "sort(1)", "sort", show=False),
        Binding("g", "group", "group", show=False),
        Binding("O", "sort(0)", "reverse sort", show=False),
    ]

    class Selected(Message):
        """The cursor moved to another stream."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class Opened(Message):
        """Enter on a row: show that stream in detail."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.keys: list[str] = []  # the streams shown, in row order (after the filter, groups open)
        self.lines: list[str] = []  # the rows: stream keys and Group lines; the cursor indexes these
        self.group: str | None = None  # None, "venue" or "conn"
        self.collapsed: set[str] = set()  # groups shown as their line only
        self._group_stats: dict[str, tuple[int, int]] = {}  # group -> (streams, unhealthy)
        self.views: dict[str, StreamView] = {}  # every stream of the last snapshot
        self.cursor = 0
        self.top = 0  # first row shown
        self.xoff = 0  # scrollable columns skipped on the left
        self.filter = ""  # what was typed after "/"
        self.typing = False  # "/" pressed: keys go to the filter until Enter or Esc
        self.sort = "worst"
        self.reverse = False
        self._fit: dict[int, int] = {}  # widths of the fit-the-content columns, over every stream
        self._fit_w: dict[str, tuple[int, ...]] = {}  # stream key -> the widths of its fit-the-content cells
        self.snap: Snapshot | None = None
        self.markets: dict[tuple[str, str], list[str]] = {}  # (venue, symbol) -> its streams, in snapshot order
        # each stream's place in the worst-first order, (severity, -age or 0.0, name, key) (see _rank), and
        # the urgent rows (an age orders them) and the calm ones, each sorted, with their keys in that order
        # (None: to be taken again)
        self._place: dict[str, tuple] = {}
        self._urgent_rows: list[tuple] = []
        self._calm_rows: list[tuple] = []
        self._urgent_keys: list[str] | None = []
        self._calm_keys: list[str] | None = []
        self._monitors: set[str] = set()  # the monitors the streams come from (several: attach)
        self._remeasure = False  # the streams changed since the name columns were measured
        self._names: dict[str, tuple] = {}  # stream key -> its sort_key (a name never changes)
        self._held: dict[str, tuple[float, float]] = {}  # key -> (problem since, hold until wall time)
        self._first = True
        self._now: float | None = None  # the engine clock of the last snapshot
        self.multi = False  # streams of several monitors (attach): the venue cell names the monitor
        # the view stays at the top rows whatever the cursor (the app follows the busiest book: the cursor
        # is on its row, wherever that is); a move key then starts from the top row
        self.hold_top = False

    # ------------------------------------------------------------ data
    @property
    def selected(self) -> str | None:
        """The stream under the cursor (None on a group's line)."""
        if 0 <= self.cursor < len(self.lines):
            line = self.lines[self.cursor]
            return None if isinstance(line, Group) else line
        return None

    def cell(self, key: str, column: str) -> str:
        """The text a column shows for a stream (what is on screen when the column is visible)."""
        return cells(self.views[key], self.is_held(key), self._now, self.multi)[COL_INDEX[column]][0]

    def update_snapshot(self, snap: Snapshot, selected: str | None) -> None:
        """Take a new snapshot.  Only the rows whose view changed since the table's last snapshot are looked
        at (see ``changed_rows``); every row when the streams themselves changed."""
        rows = changed_rows(self.snap, snap)
        self.snap = snap  # views and markets index this snapshot's streams
        self._now = snap.now
        if rows is None:
            fresh: Iterable[StreamView] = snap.streams
            self.views = {s.key: s for s in fresh}
            self._monitors = {s.monitor for s in fresh}
            self._remeasure = True  # the set of streams changed: the name columns, the market index
        else:
            streams = snap.streams
            fresh = [streams[i] for i in rows]
            views = self.views
            for s in fresh:
                views[s.key] = s
                if s.monitor not in self._monitors:
                    self._monitors.add(s.monitor)
        multi = len(self._monitors) > 1
        if multi != self.multi:
            self.multi = multi
            self._remeasure = True  # measure the venue column again
            self._fit_w.clear()
        wall = time.monotonic()
        held_map = self._held
        for s in fresh:
            lp = s.last_problem
            if lp is not None and lp.lasted is not None and s.state not in ALARM:
                h = held_map.get(s.key)
                if h is None or h[0] != lp.since:
                    # a problem seen for the first time already over: hold it (not at start-up)
                    held_map[s.key] = (lp.since, 0.0 if self._first else wall + HOLD_S)
        self._first = False
        self._rank(fresh, full=rows is None)
        cur = self.lines[self.cursor] if 0 <= self.cursor < len(self.lines) else None
        # the cursor stays on a group's line; else on the selected stream
        self._order(cur if isinstance(cur, Group) else (selected if selected is not None else self.selected))
        self.redraw()

    def _order(self, keep: str | None) -> None:
        """Filter and sort the rows; the cursor stays on ``keep`` (the selected stream) if it is shown."""
        views = self.views
        words = self.filter.lower().split()
        if self.sort == "worst":
            order = self._worst_first()
            if self.reverse:
                order = order[::-1]  # (keys are unique: reversed is the reverse sort)
            if words:
                order = [k for k in order if matches(views[k], words)]
        else:
            vs: Iterable[StreamView] = views.values()
            if words:
                vs = [s for s in vs if matches(s, words)]
            order = [s.key for s in sorted(vs, key=_BY[self.sort], reverse=self.reverse)]
        keep_line = keep if keep is not None else (self.lines[self.cursor] if 0 <= self.cursor < len(self.lines) else None)
        if self.group is None:
            lines = keys = order
        else:
            buckets: dict[str, list[StreamView]] = {}
            for k in order:
                s = views[k]
                buckets.setdefault(s.venue if self.group == "venue" else (s.conn or "(no connection)"), []).append(s)
            lines, keys = [], []
            self._group_stats = {}
            # the group with the worst stream first, then by name
            for name in sorted(buckets, key=lambda g: (min(SEVERITY.get(s.state, 5) for s in buckets[g]), g)):
                members = buckets[name]
                self._group_stats[name] = (len(members), sum(1 for s in members if s.state in ROW_BAD))
                lines.append(Group(name))
                if name not in self.collapsed:
                    mk = [s.key for s in members]
                    lines.extend(mk)
                    keys.extend(mk)
        if len(lines) != len(self.lines):
            self.refresh(layout=True)  # the table's height follows its rows
        self.lines = lines
        self.keys = keys
        at = -1
        if keep_line is not None:
            try:
                at = lines.index(keep_line)
            except ValueError:
                pass
        self.cursor = at if at >= 0 else min(self.cursor, max(0, len(lines) - 1))
        if self._remeasure:  # the set of streams changed: measure the name columns again
            self._remeasure = False
            markets: dict[tuple[str, str], list[str]] = {}
            for v in views.values():
                markets.setdefault((v.venue, v.symbol), []).append(v.key)
            self.markets = markets
            # the fit-the-content columns are the names (venue, symbol, channel): measured once per stream
            fit_cols = [i for i, c in enumerate(COLUMNS) if c[2] is None]
            fit_w = self._fit_w
            for k, v in views.items():
                if k not in fit_w:
                    row = cells(v, multi=self.multi)
                    fit_w[k] = tuple(cell_len(row[i][0]) for i in fit_cols)
            self._fit = {i: max([len(COLUMNS[i][1])] + [fit_w[k][j] for k in views]) for j, i in enumerate(fit_cols)}

    def _rank(self, fresh: Iterable[StreamView], full: bool) -> None:
        """Keep every stream's place in the worst-first order from the views that changed (``full``: from
        every view).  A row's place depends on its view alone (``worst_key``), so only a changed view can
        move: the urgent rows (alarms, connecting: ordered by their age) and the calm ones (live, quiet,
        ended: by state, then name) stay in two sorted lists that a moved row is taken out of and put back
        into; a calm row moves only when its state changes."""
        names = self._names
        place = self._place
        if full:
            place.clear()
        moved: list[tuple[tuple | None, tuple]] = []
        for s in fresh:
            k = s.key
            nm = names.get(k)
            if nm is None:
                nm = names[k] = sort_key(s)
            r = SEVERITY.get(s.state, 5)
            t = (r, -(s.last_age_s or 0.0) if r < 5 else 0.0, nm, k)
            old = place.get(k)
            if t != old:
                place[k] = t
                moved.append((old, t))
        if not (moved or full):
            return
        urgent, calm = self._urgent_rows, self._calm_rows
        if full or len(moved) > 64 + len(place) // 8:  # every row, or many moved: sort them all again
            rows = sorted(place.values())
            cut = bisect_left(rows, (5,))
            self._urgent_rows, self._calm_rows = rows[:cut], rows[cut:]
            self._urgent_keys = self._calm_keys = None
            return
        for old, t in moved:
            if old is not None:
                side = urgent if old[0] < 5 else calm
                del side[bisect_left(side, old)]
            insort(urgent if t[0] < 5 else calm, t)
            if (old is not None and old[0] >= 5) or t[0] >= 5:
                self._calm_keys = None
            if (old is not None and old[0] < 5) or t[0] < 5:
                self._urgent_keys = None

    def _worst_first(self) -> list[str]:
        """Every stream's key, worst first: as ``sorted(views, key=worst_key)`` gives, without sorting
        thousands of rows with a Python key at every look (see ``_rank``)."""
        calm = self._calm_keys
        if calm is None:
            calm = self._calm_keys = [c[3] for c in self._calm_rows]
        if not self._urgent_rows:
            return calm
        urgent = self._urgent_keys
        if urgent is None:
            urgent = self._urgent_keys = [u[3] for u in self._urgent_rows]
        return urgent + calm

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

    def visible_keys(self) -> list[str]:
        """The streams of the rows on screen (and one screen either side: the next page is ready)."""
        visible = max(1, self.size.height - 1)
        lo = max(0, self.top - visible)
        return [k for k in self.lines[lo:self.top + 2 * visible] if not isinstance(k, Group)]

    def point(self, key: str | None) -> None:
        """Put the cursor on ``key`` without announcing it (the app chose it, not the user)."""
        if key in self.keys and self.lines.index(key) != self.cursor:
            self.cursor = self.lines.index(key)
            self.redraw()

    def select(self, key: str) -> None:
        if key in self.keys:
            self._move_to(self.lines.index(key))

    def _move_to(self, row: int) -> None:
        if not self.lines:
            return
        row = max(0, min(len(self.lines) - 1, row))
        if row != self.cursor:
            self.cursor = row
            self.redraw()
            line = self.lines[row]
            if not isinstance(line, Group):
                self.post_message(self.Selected(line))

    # ------------------------------------------------------------ keys and mouse
    def _from_top(self) -> bool:
        """The view held at the top with the cursor off screen: a move key puts the cursor on the top row."""
        if self.hold_top and not 0 <= self.cursor - self.top < max(1, self.size.height - 1):
            self.hold_top = False
            self._move_to(self.top)
            return True
        self.hold_top = False
        return False

    def action_move(self, delta: int) -> None:
        if abs(delta) < 1000 and self._from_top():  # (home and end go where they say)
            return
        self.hold_top = False
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        if self._from_top():
            return
        self._move_to(self.cursor + direction * max(1, self.size.height - 2))

    def action_scroll_columns(self, delta: int) -> None:
        self.xoff = max(0, min(len(COLUMNS) - FIXED - 1, self.xoff + delta))
        self.redraw()

    def action_open(self) -> None:
        if self.typing:  # Enter ends typing the filter (on_key), it does not open anything
            return
        line = self.lines[self.cursor] if 0 <= self.cursor < len(self.lines) else None
        if isinstance(line, Group):  # a group's line: collapse or open it
            self.collapsed ^= {str(line)}
            self._order(line)
            self.redraw()
        elif line is not None:
            self.post_message(self.Opened(line))

    def action_group(self) -> None:
        """Group by venue, then by connection, then not at all."""
        keep = self.selected
        self.group = GROUPINGS[(GROUPINGS.index(self.group) + 1) % len(GROUPINGS)]
        self.collapsed.clear()
        self.top = 0
        self._order(keep)
        self.redraw()

    def action_filter(self) -> None:
        self.typing = True
        self.redraw()

    def action_sort(self, step: int) -> None:
        """``step`` 1: sort by the next column (worst first, venue, symbol, ...); 0: reverse the order."""
        if step:
            self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
            self.reverse = False
        else:
            self.reverse = not self.reverse
        self._order(self.selected)
        self.redraw()

    def set_filter(self, text: str) -> None:
        keep = self.selected
        self.filter = text
        self.top = 0
        self._order(keep)
        if self.selected != keep:  # the selected stream is filtered out: the rows open at their top
            self.cursor = 0
        self.redraw()

    def on_key(self, event: events.Key) -> None:
        """While filtering, printable keys type into the filter (no app key fires).  Esc clears a filter,
        typed or kept."""
        if not self.typing:
            if event.key == "slash":  # here, not through the app's bindings: keys right behind it (a paste, a
                self.action_filter()  # burst) must find the filter open
            elif event.key == "escape" and self.filter:
                self.set_filter("")
            else:
                return
            event.stop()
            event.prevent_default()
            return
        key = event.key
        if key == "escape":
            self.typing = False
            self.set_filter("")
        elif key == "enter":
            self.typing = False
            self.redraw()
        elif key == "backspace":
            self.set_filter(self.filter[:-1])
        elif event.is_printable and event.character:
            self.set_filter(self.filter + event.character)
        elif key not in ("up", "down", "pageup", "pagedown", "home", "end"):
            return
        else:
            return  # cursor keys still move while filtering
        event.stop()
        event.prevent_default()

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.hold_top = False
            self._move_to(self.top + event.y - 1)
            return
        col = self._column_at(event.x)  # a header: sort by that column (again: reverse)
        if col is not None:
            name = "worst" if col == "state" else col
            if name in SORTS:
                if self.sort == name:
                    self.reverse = not self.reverse
                else:
                    self.sort, self.reverse = name, False
                self._order(self.selected)
                self.redraw()

    def _shown(self, widths: list[int], width: int) -> list[int]:
        """The columns on screen: the fixed ones, then from the sideways scroll on.  Unscrolled on a
        screen too narrow for every column, the least telling give way (``GIVE_WAY``, in turn) until the
        last column, why a stream is unhealthy, has ``WHY_MIN`` cells: it is what an SRE reads first."""
        shown = list(range(FIXED)) + list(range(FIXED + self.xoff, len(COLUMNS)))
        if self.xoff:
            return shown
        used = sum(1 + widths[i] for i in shown[:-1]) + 1
        for name in GIVE_WAY:
            if width - used >= WHY_MIN:
                break
            i = COL_INDEX[name]
            shown.remove(i)
            used -= 1 + widths[i]
        return shown

    def _column_at(self, x: int) -> str | None:
        widths = self._widths()
        pos = 0
        for i in self._shown(widths, self.size.width):
            pos += 1 + widths[i]
            if x < pos:
                return COLUMNS[i][0]
        return None

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll(3)
        event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll(-3)
        event.stop()

    def _scroll(self, delta: int) -> None:
        """The wheel moves the view (the cursor follows when it would leave it)."""
        self.hold_top = False
        visible = max(1, self.size.height - 1)
        self.top = max(0, min(max(0, len(self.lines) - visible), self.top + delta))
        if self.cursor < self.top:
            self._move_to(self.top)
        elif self.cursor >= self.top + visible:
            self._move_to(self.top + visible - 1)
        else:
            self.redraw()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines) + 1

    # ------------------------------------------------------------ drawing
    def _widths(self) -> list[int]:
        return [self._fit.get(i, len(c[1])) if c[2] is None else c[2] for i, c in enumerate(COLUMNS)]

    def build(self, width: int, height: int) -> list[Row]:
        widths = self._widths()
        shown = self._shown(widths, width)
        visible = max(1, height - 1)
        if self.hold_top:
            self.top = 0
        elif self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + visible:
            self.top = self.cursor - visible + 1
        self.top = max(0, min(self.top, max(0, len(self.lines) - visible)))
        header = []
        for i in shown:
            _k, label, _w, right = COLUMNS[i]
            header.append((" " + (f"{label:>{widths[i]}}" if right else f"{label:<{widths[i]}}"), "streams--header"))
        if self.xoff:
            header[FIXED - 1] = (header[FIXED - 1][0] + " «", "streams--header")
        if self.typing or self.filter or self.sort != "worst" or self.reverse or self.group:
            # what the rows are: the filter being typed, how many match, the order
            order = ("worst first" if self.sort == "worst" else f"by {SORT_LABELS.get(self.sort, self.sort)}") + (
                " reversed" if self.reverse else "")
            if self.group:
                order += f", grouped by {'venue' if self.group == 'venue' else 'connection'}"
            what = f" /{clean(self.filter, 40)}{'_' if self.typing else ''} {len(self.keys)} of {len(self.views)}" \
                if (self.typing or self.filter) else ""
            status = f"{what}  sorted {order}"
            if self.typing:  # typing: the filter line takes the header's place
                header = [(fmt.fit(status + " ", width), "streams--header")]
            else:  # at the right edge of the screen, over the column labels it covers (the last column
                # runs past the edge: after the labels it would never be seen)
                line = "".join(t for t, _ in header)
                keep = max(0, width - len(status) - 1)
                header = [(line[:keep].ljust(keep) + " " + status, "streams--header")]
        header.append((" " * width, "streams--header"))
        rows: list[Row] = [tuple(header)]
        focused = self.has_focus
        for r in range(self.top, min(len(self.lines), self.top + visible)):
            key = self.lines[r]
            if isinstance(key, Group):
                n, bad = self._group_stats.get(key, (0, 0))
                mark = "▸" if key in self.collapsed else "▾"
                text = f" {mark} {clean(key, 60)}: {n:,} stream{'s' if n != 1 else ''}" + (f", {bad} unhealthy" if bad else "")
                style = "streams--bad" if bad else "streams--header"
                if r == self.cursor:
                    style = f"{style} streams--cursor" if self.has_focus else f"{style} streams--cursor-blur"
                rows.append(((fmt.fit(text, width) + " " * max(0, width - len(text)), style),))
                continue
            view = self.views[key]
            held = self.is_held(key)
            row_cells = cells(view, held, self._now, self.multi)
            rcls = row_class(view, held)
            cursor = r == self.cursor
            pieces = []
            for i in shown:
                text, cls = row_cells[i]
                right = COLUMNS[i][3]
                w = widths[i]
                text = fmt.fit(text, w)
                gap = " " * max(0, w - cell_len(text))  # cells, not characters: fullwidth symbols take two
                cell = gap + text if right else text + gap
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
