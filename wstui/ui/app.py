"""The terminal UI: a depth ladder, a trade tape, the streams table and the events log.

The engine runs on its own thread (``runner.EngineThread``) and publishes an immutable
:class:`~wstui.core.snapshot.Snapshot` into ``engine.latest`` at ``--fps``.  The app reads that reference
on a timer at the same rate and nothing else: no message per feed frame crosses into the UI, and each
panel repaints only the lines (or table cells) that changed.  Replay controls call the Replay source's
thread-safe methods (``toggle_pause``, ``step_speed``, ``restart``).

Every time on the screen is on the engine clock (the capture's clock in replay, UTC), so a paused or
ended replay draws the same screen on any machine.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..core.snapshot import BAD, Snapshot, StreamView, changed_rows
from ..core.text import clean
from ..engine import Engine
from ..runner import EngineThread, run_source
from . import fmt
from .screens.base import ViewScreen
from .screens.books import BooksScreen
from .screens.chart import ChartScreen
from .commands import WstuiCommands
from .gcpace import GcPacer
from .history import TradeHistory
from .widgets.events import EventsLog, EventsScreen
from .widgets.ladder import LadderView
from .widgets.streams import ROW_BAD, StreamsTable
from .widgets.connections import ConnectionsScreen
from .widgets.detail import StreamDetail
from .widgets.tape import TapeView



def styles_dir() -> Path:
    """The Textual styles: the top-level ``styles/`` folder, installed as the package data ``wstui.styles``
    (a non-editable install has no ``styles/`` beside the code, an editable one maps it)."""
    try:
        from importlib.resources import files

        p = Path(str(files("wstui.styles") / "app.tcss"))  # a namespace package: join, then convert
        if p.is_file():
            return p.parent
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent.parent / "styles"


STYLES = styles_dir()

# every key, in the order the help screen lists them: (keys as shown, what they do)
KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓  j k", "select a stream (ladder and tape follow)"),
    ("PgUp PgDn Home End", "move through the streams table"),
    ("← →", "scroll the streams table sideways"),
    ("/", "filter the streams as you type (Enter keeps it, Esc clears it)"),
    ("o  O", "sort the streams by the next column / reverse (worst first by default)"),
    ("g", "group the streams by venue, by connection, or not (Enter on a group collapses it)"),
    ("Enter", "the selected stream in detail: events, integrity, book, trades, raw frames"),
    ("n", "connections: streams vs the venue's limit, rates, ping, reconnects and why, subscribe budget"),
    ("s", "jump to the next stream that is not healthy"),
    ("e", "the events log full screen: scroll back, filter by kind (a, k) and stream (f)"),
    ("b", "books: all books, best across venues"),
    ("c", "chart: candles, volume, depth (< > interval)"),
    ("escape", "back from books, chart or help"),
    ("]  [", "coarser / finer price grouping"),
    ("space", "replay: pause; live: freeze the screen"),
    ("+  -", "replay faster / slower (0.1x … max)"),
    ("r", "restart the replay from the beginning"),
    ("?", "this help (escape or ? closes it)"),
    ("ctrl+p", "find any stream or action; themes"),
    ("q  ctrl+c", "quit"),
)
# (key, label, action): a key is shown only while its action works in the current source (check_action)
FOOTER = (("q", "quit", "quit"), ("?", "help", "help"), ("e", "events", ""), ("space", "pause", "pause"), ("space", "freeze", "freeze"),
          ("+/-", "speed", "speed"), ("r", "restart", "restart"), ("[ ]", "group", "group"), ("b", "books", ""), ("c", "chart", ""),
          ("↑↓", "stream", ""))
REPLAY_ACTIONS = frozenset(("pause", "speed", "restart"))


FOLLOW_HINT = "following the busiest book; ↑↓ to pick|busiest book; ↑↓ to pick|auto: busiest"


def pick(snap: Snapshot, key: str | None, views: dict[str, StreamView] | None = None,
         markets: dict[tuple[str, str], list[str]] | None = None) -> tuple[StreamView | None, str, StreamView | None, str]:
    """The book and the trades stream shown for a selected stream: the stream itself when it has a book
    (or a tape), else the stream of the same venue and symbol that has one.  With a note when none.
    ``views``/``markets``: the snapshot's streams by key and by market (the streams table keeps them), so
    thousands of streams are not scanned every frame."""
    if views is not None and markets is not None:
        sel = views.get(key) if key else None
        same = [views[k] for k in markets.get((sel.venue, sel.symbol), ()) if k in views] if sel is not None else []
    else:
        sel = snap.stream(key) if key else None
        same = snap.streams
    if sel is None:
        return None, "select a stream in the table below", None, "select a stream"
    book = sel if sel.has_book else None
    tape = sel if sel.has_tape or sel.has_frames else None  # a feed with no trades shows its frames
    for s in same:
        if s.venue == sel.venue and s.symbol == sel.symbol:
            if book is None and s.has_book:
                book = s
            if tape is None and s.has_tape:
                tape = s
    name = f"{clean(sel.venue, 24)} {clean(sel.symbol, 24)}"
    return book, f"no order book stream for {name}", tape, f"no trades stream for {name}"


BUSIEST_EVERY_S = 1.0  # seconds between looks for the busiest book (while the user has not picked one)


def busiest_book(snap: Snapshot, current: str | None) -> str | None:
    """The book with the most activity (its messages plus its market's trades), for a view nobody has
    steered yet.  The current pick is kept unless another is clearly busier, so the ladder does not flap."""
    trades: dict[tuple[str, str], int] = {}
    for s in snap.streams:
        if s.has_tape:
            trades[(s.venue, s.symbol)] = s.trades_total
    score = {s.key: s.messages + 5 * trades.get((s.venue, s.symbol), 0) for s in snap.streams if s.has_book}
    if not score:
        return current
    best = max(score, key=lambda k: score[k])
    if current in score and score[best] < 1.5 * score[current] + 10:
        return current
    return best


def first_key(snap: Snapshot) -> str | None:
    """The stream selected at start: the first book (a new user sees a ladder at once)."""
    for s in sorted(snap.streams, key=lambda s: (s.venue, s.symbol)):
        if s.has_book:
            return s.key
    return snap.streams[0].key if snap.streams else None


def header_text(snap: Snapshot | None, width: int, error: str | None = None) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" wstui ", "bold reverse")
    if snap is None:
        t.append("  starting…")
        return t
    if snap.source == "replay":
        name = clean(Path(snap.file).name if snap.file else "capture", 40)
        if snap.ended:
            t.append(" ■ ENDED ", "bold")
        elif snap.paused:
            t.append(" ❚❚ PAUSED ", "bold reverse")
        else:
            t.append(" ▶ ", "bold")
        t.append(f" replay {name} ")
        if snap.start is not None and snap.end is not None:
            t.append(f" {fmt.duration(snap.now - snap.start)} / {fmt.duration(snap.end - snap.start)} ", "bold")
        t.append(f" {fmt.speed(snap.speed)} ", "bold")
        loops = "∞" if snap.loops == 0 else str(snap.loops)
        optional = [f" {fmt.date_clock(snap.now)} ", f" loop {snap.loop}/{loops} ", f" {snap.messages:,} msgs "]
        if snap.replay_behind_s:
            optional.insert(0, f" behind {snap.replay_behind_s:.1f} s ")
    else:
        # "live" only while some connection is up: not before the first connects, nor after all dropped
        up = sum(1 for c in snap.connections if c.up)
        if snap.ended:
            t.append(" ■ stopped ", "bold")
        elif up:
            t.append(" ● live ", "bold")
        elif snap.connections:
            t.append(" ▼ no connection up ", "bold reverse")
        else:
            t.append(" ○ connecting ", "bold")
        if len(snap.connections) > 1:
            t.append(f" {up}/{len(snap.connections)} connections up ")
        optional = [f" {fmt.date_clock(snap.now)} ", f" {snap.messages:,} msgs "]
        if snap.backlog_frames:
            optional.insert(0, f" backlog {snap.backlog_frames:,} frames ")
    if snap.bad_records_total:
        optional.insert(0, f" {snap.bad_records_total} bad records ")
    for piece in optional:
        if t.cell_len + len(piece) <= width:
            t.append(piece)
    if error:
        t.append(f" engine stopped: {clean(error, 80)} ", "bold reverse")
    return t


BANNER_ORDER = (("down", "▼ DOWN"), ("stale", "✖ STALE"), ("out_of_sync", "✖ OUT OF SYNC"), ("lagging", "▲ LAGGING"))


class Alarms:
    """What the banner counts, kept from the rows that changed between snapshots (see ``changed_rows``):
    the streams in an alarm state, the quiet ones, and each stream's exchange clock offset."""

    def __init__(self) -> None:
        self.snap: Snapshot | None = None
        self.bad: dict[str, StreamView] = {}
        self.quiet: set[str] = set()
        self.offsets: dict[str, float] = {}

    def update(self, snap: Snapshot) -> None:
        rows = changed_rows(self.snap, snap)
        self.snap = snap
        bad, quiet, offsets = self.bad, self.quiet, self.offsets
        if rows is None:
            bad.clear()
            quiet.clear()
            offsets.clear()
            fresh: Iterable[StreamView] = snap.streams
        else:
            streams = snap.streams
            fresh = [streams[i] for i in rows]
        for s in fresh:
            k = s.key
            if s.state in BAD:  # (the alarm states)
                bad[k] = s
            elif k in bad:
                del bad[k]
            if s.state == "quiet":
                quiet.add(k)
            else:
                quiet.discard(k)
            if s.clock_offset_s is not None:
                offsets[k] = s.clock_offset_s
            elif k in offsets:
                del offsets[k]

    def in_order(self) -> list[StreamView]:
        """The streams in an alarm state, in the snapshot's order."""
        bad = list(self.bad.values())
        index = self.snap.index if self.snap is not None else None
        if index is not None and len(bad) > 1:
            bad.sort(key=lambda s: index.get(s.key, 0))
        return bad



def banner_text(snap: Snapshot | None, error: str | None = None, alarms: Alarms | None = None) -> tuple[Text, str]:
    """The alarm line (text, level): counts every unhealthy state, then names the streams in each with
    the cause.  Healthy: says so, with the quiet streams counted and the exchange clock offset in words.
    ``alarms``: kept between calls, so that a snapshot costs what changed."""
    if error:
        return Text(f" ✖ the engine stopped: {clean(error, 200)}", no_wrap=True, overflow="ellipsis"), "bad"
    if snap is None:
        return Text(" waiting for the first snapshot…"), "dim"
    if snap.recording_error:
        return Text(f" ✖ RECORDING FAILED ({snap.recording_dropped:,} records dropped): "
                    f"{clean(snap.recording_error, 160)}", no_wrap=True, overflow="ellipsis"), "bad"
    if alarms is None:
        alarms = Alarms()
    if alarms.snap is not snap:
        alarms.update(snap)
    groups: dict[str, list[str]] = {}
    for s in alarms.in_order():
        name = f"{clean(s.symbol, 20)} {clean(s.channel, 12)}"
        why = fmt.cause(s.cause) if s.cause else ""
        if s.state == "stale":
            since = "no data yet" if s.last_age_s is None else fmt.age(s.last_age_s)
            why = f"{why}, {since}" if why else since
        groups.setdefault(s.state, []).append(f"{name} ({why})" if why else name)
    if groups:
        t = Text(no_wrap=True, overflow="ellipsis")
        counts = []
        for k, label in BANNER_ORDER:
            if k in groups:
                icon, word = label.split(" ", 1)
                counts.append(f"{icon} {len(groups[k])} {word}")
        t.append(" " + " · ".join(counts) + " │", "bold")
        for k, label in BANNER_ORDER:
            if k in groups:
                t.append(f" {label.split(' ', 1)[1]}: ", "bold")
                t.append(", ".join(groups[k]) + " ")
        level = "warn" if set(groups) == {"lagging"} else "bad"
        return t, level
    n = len(snap.streams)
    if snap.ended:
        return Text(f" ■ replay ended: {n} streams, {snap.events_total:,} events · r restarts"), "dim"
    quiet = len(alarms.quiet)
    text = (f" ✓ all {n} streams healthy" if n != 1 else " ✓ the stream is healthy") + (f" ({quiet} quiet: nothing missing, the market is calm)" if quiet else "")
    if alarms.offsets:
        words = fmt.clock_offset(max(alarms.offsets.values(), key=abs))
        if words:
            text += " · " + words
    return Text(text, no_wrap=True, overflow="ellipsis"), "ok"


class HelpScreen(ModalScreen):
    """Every key, one per line."""

    BINDINGS = [Binding("escape,question_mark", "dismiss", "close help"), Binding("q", "app.quit", "quit")]

    def compose(self) -> ComposeResult:
        import textwrap

        # each key's words wrapped to the box (90% of the screen), under their own column
        room = max(30, int(self.app.size.width * 0.9) - 6 - 22)  # (border, padding and the scrollbar)
        t = Text()
        t.append("wstui keys\n\n", "bold")
        for keys, what in KEYS:
            t.append(f"  {keys:<20}", "bold")
            t.append(("\n" + " " * 22).join(textwrap.wrap(what, room)) + "\n")
        for line in ("", "States: ● live  ◦ quiet (nothing missing)  ○ connecting  ▲ LAGGING  ■ ended",
                     "        ✖ STALE  ✖ OUT OF SYNC  ▼ DOWN  (counted and named in the red banner)",
                     "        ↺ was …: a problem that just ended (held a few seconds)",
                     "Ladder: changed sizes flash; a red title means do not trust it.",
                     "Times: the engine clock in UTC (in a replay, the capture's)."):
            t.append("\n".join(textwrap.wrap(line, room + 22, subsequent_indent=" " * 8,
                                               drop_whitespace=False) or [""]) + "\n")
        with VerticalScroll(id="help-box"):  # scrolls (keys, mouse wheel) when the terminal is short
            yield Static(t, id="help-text")


class FrameStats:
    """What the UI did: frames drawn, the worst gap between frames, time spent drawing."""

    def __init__(self) -> None:
        self.frames = 0
        self.polls = 0
        self.worst_interval = 0.0
        self.busy_s = 0.0
        self._last: float | None = None

    def tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.worst_interval = max(self.worst_interval, now - self._last)
        self._last = now
        self.polls += 1


class WstuiApp(App):
    """The wstui TUI over an engine and its source.

    ``engine_mode``: ``"thread"`` runs the source on an :class:`EngineThread` (the real thing);
    ``"task"`` runs it as a task on the app's own event loop (deterministic tests); ``"none"`` leaves the
    engine to the caller (e.g. a replay already run to its end) and only shows ``engine.latest``.
    """

    CSS_PATH = str(STYLES / "app.tcss")
    TITLE = "wstui"
    COMMANDS = App.COMMANDS | {WstuiCommands}  # ctrl+p: any stream, every action, themes

    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        Binding("question_mark", "help", "help"),
        Binding("space", "pause", "pause"),
        Binding("space", "freeze", "freeze"),
        Binding("plus,equals_sign", "speed(True)", "faster"),
        Binding("minus,underscore", "speed(False)", "slower"),
        Binding("r", "restart", "restart"),
        Binding("right_square_bracket", "group(True)", "coarser"),
        Binding("left_square_bracket", "group(False)", "finer"),
        Binding("s", "next_alert", "next alert"),
        Binding("n", "connections", "connections", show=False),
        Binding("e", "events", "events"),
        Binding("b", "view('books')", "books"),
        Binding("c", "view('chart')", "chart"),
        Binding("j", "cursor(1)", show=False),
        Binding("k", "cursor(-1)", show=False),
    ]

    def __init__(self, engine: Any, source: Any = None, *, fps: float = 10.0, engine_mode: str = "thread",
                 theme: str | None = None) -> None:
        super().__init__()
        if theme:
            self.theme = theme  # e.g. "ansi-dark": the terminal's own palette
        if engine_mode not in ("thread", "task", "none"):
            raise ValueError(f"engine_mode must be thread, task or none, not {engine_mode!r}")
        self.engine = engine
        self.source = source
        self.fps = max(1.0, min(60.0, float(fps)))
        self.engine_mode = engine_mode if source is not None else "none"
        # grouping needs more levels than a screen shows; a view stays a few hundred small tuples
        if getattr(engine, "book_depth", 0) < 200:
            engine.book_depth = 200
        self.thread: EngineThread | None = None
        self.engine_task: asyncio.Task | None = None
        self.selected: str | None = None
        self.follow_busiest = True
        self.snap: Snapshot | None = None
        self.stats = FrameStats()
        self._header_key: Any = None
        self._banner_key: Any = None
        self._banner_src: Any = ()
        self._busiest_at = float("-inf")  # when the busiest book was last looked for (monotonic)
        self.frozen = False  # live: the panels hold still while the engine keeps applying the feed
        self.history = TradeHistory()  # every market's trades since start, for the chart
        self._alarms = Alarms()  # the banner's counts, kept from what changed
        self.gc_pacer = GcPacer()  # full garbage collections out of the frames' way (see gcpace)

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="banner")
        with Horizontal(id="top"):
            yield LadderView(id="ladder")
            yield TapeView(id="tape")
        yield StreamsTable(id="streams")
        yield EventsLog(id="events")
        yield Static(self._footer(), id="footer")

    def _footer(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        for key, what, action in FOOTER:
            if action and not self.check_action(action, ()):
                continue
            t.append(f" {key} ", "bold reverse")
            t.append(f"{what} ")
        return t

    @property
    def replay_controls(self) -> bool:
        return getattr(self.source, "toggle_pause", None) is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys work only where they mean something: replay controls in a replay, freeze elsewhere (live).
        False hides a key from the footer and the command palette and leaves the key unbound."""
        if action in REPLAY_ACTIONS:
            return self.replay_controls
        if action == "freeze":
            return not self.replay_controls and self.engine_mode != "none"
        return True

    def on_mount(self) -> None:
        # the panels, found once: the frame timer may fire while the app is closing (the screen is
        # being taken down) or while another screen (help) is on top, and must not look them up then
        self.w_header = self.query_one("#header", Static)
        self.w_banner = self.query_one("#banner", Static)
        self.w_table = self.query_one(StreamsTable)
        self.w_events = self.query_one(EventsLog)
        self.w_ladder = self.query_one(LadderView)
        self.w_tape = self.query_one(TapeView)
        self._start_engine()
        self.w_table.focus()
        self.set_interval(1.0 / self.fps, self._frame)
        self.call_after_refresh(self.refresh_view)

    def _frame(self) -> None:
        self.refresh_view()
        snap = self.snap
        self.gc_pacer.frame(len(snap.streams) if snap is not None else 0)  # between frames, never in one

    def on_unmount(self) -> None:
        self.gc_pacer.stop()

    def _start_engine(self) -> None:
        if self.engine_mode == "thread":
            self.thread = EngineThread(self.engine, self.source, self.fps)
            self.thread.start()
        elif self.engine_mode == "task":
            self.engine_task = asyncio.ensure_future(run_source(self.engine, self.source, self.fps))

    def _replay_again(self) -> None:
        """The replay has ended (its last pass is over): play it again on a fresh engine."""
        old, src = self.engine, self.source
        self.engine = Engine(
            stale_after=old.stale_after if old.stale_explicit else None, lag_after=old.lag_after,
            stale_overrides=old.stale_overrides,
            book_depth=old.book_depth, tape_depth=old.tape_depth, events_max=old.events.maxlen or 10_000,
            bad_max=old.bad_records.maxlen or 1000, source=old.source, file=old.file,
        )
        self.source = type(src)(src.path, speed=src.speed, loops=src.loops)
        self._start_engine()

    # ------------------------------------------------------------ the frame
    def engine_error(self) -> str | None:
        err: BaseException | None = None
        if self.thread is not None:
            err = self.thread.error
        elif self.engine_task is not None and self.engine_task.done() and not self.engine_task.cancelled():
            err = self.engine_task.exception()
        return None if err is None else f"{type(err).__name__}: {err}"

    def refresh_view(self) -> None:
        """Read ``engine.latest`` and bring every panel up to date (called at ``fps``)."""
        if not self.w_header.is_attached:
            return  # closing: the screen is gone
        self.stats.tick()
        snap = self.engine.latest
        error = self.engine_error()
        t0 = time.perf_counter()
        width = self.size.width
        hkey = (snap.seq if snap is not None else None, width, error, self.frozen)
        if hkey != self._header_key:
            self._header_key = hkey
            text = header_text(snap, width, error)
            if self.frozen:
                text.append(" ❄ FROZEN: space resumes ", "bold reverse")
            self.w_header.update(text, layout=False)  # one line (app.tcss): no layout pass every frame
            if isinstance(self.screen, ViewScreen):
                self.screen.set_header(text)
        src = (snap.seq if snap is not None else None, error)
        if src != self._banner_src:  # (once per snapshot, not per frame)
            self._banner_src = src
            btext, level = banner_text(snap, error, self._alarms)
            bkey = (btext.plain, level)
            if bkey != self._banner_key:
                self._banner_key = bkey
                banner = self.w_banner
                banner.update(btext, layout=False)  # one line, like the header
                banner.set_classes(f"-{level}")
        view = self.screen if isinstance(self.screen, ViewScreen) else None
        if snap is None or snap is self.snap or self.frozen or (view is not None and not view.ready):
            # (a view pushed but not mounted yet takes this snapshot at a later frame)
            if snap is not None and not self.frozen and self.w_table.hold_expired():  # a held problem's time is up
                self.w_table.update_snapshot(snap, self.selected)
            self.stats.busy_s += time.perf_counter() - t0
            return
        self.snap = snap
        self.stats.frames += 1
        self.history.update(snap, id(self.engine))
        if self.selected is None or snap.stream(self.selected) is None:
            self.selected = first_key(snap)
        table = self.w_table
        if self.follow_busiest and table.selected not in (None, self.selected):
            # the user moved the cursor and its message is on the way: their choice, from now on
            self.follow_busiest = False
            self.selected = table.selected
        if self.follow_busiest:
            # until the user picks a stream, show the busiest book (a new user sees the market move);
            # looked for once a second (a pass over every stream; the pick exists: see above), and in the
            # last snapshot of a source that ended
            wall = time.monotonic()
            if wall - self._busiest_at >= BUSIEST_EVERY_S or snap.ended:
                self._busiest_at = wall
                self.selected = busiest_book(snap, self.selected)
        if view is not None:
            # a full-screen view covers the panels: draw only it (they are redrawn when it closes), and
            # tell the engine which streams it shows (snapshots carry full books and trades for those)
            view.update_snapshot(snap, self.selected)
            self.engine.focus = view.focus_keys(snap, self.selected)
            self.stats.busy_s += time.perf_counter() - t0
            return
        # while the ladder follows the busiest book, the table stays at its top (the worst rows: an SRE's
        # alarms are in view at start-up, not scrolled away to a calm busy market)
        table.hold_top = self.follow_busiest
        table.update_snapshot(snap, self.selected)
        if self.follow_busiest:
            table.point(self.selected)
        self.engine.focus = self._focus(snap)
        self._show_selection(snap)
        self.w_events.update_snapshot(snap)
        if isinstance(self.screen, EventsScreen):
            self.screen.events_log.update_snapshot(snap)
        self.stats.busy_s += time.perf_counter() - t0

    def _focus(self, snap: Snapshot) -> frozenset[str]:
        """The streams whose book and tape the next snapshots must carry: the markets of the rows on
        screen and of the selection (a cursor move lands on data already there)."""
        table = self.w_table
        views = table.views
        markets = {(v.venue, v.symbol) for v in (views.get(k) for k in table.visible_keys()) if v is not None}
        sel = views.get(self.selected) if self.selected else None
        if sel is not None:
            markets.add((sel.venue, sel.symbol))
        if isinstance(self.screen, StreamDetail):  # its stream's hour history comes with focused views
            d = views.get(self.screen.key) if table.snap is snap else snap.stream(self.screen.key)
            if d is not None:
                markets.add((d.venue, d.symbol))
        if table.snap is snap:
            by = table.markets  # (the table holds this snapshot's streams, indexed by market)
            return frozenset(k for m in markets for k in by.get(m, ()))
        return frozenset(s.key for s in snap.streams if (s.venue, s.symbol) in markets)

    def _show_selection(self, snap: Snapshot) -> None:
        table = self.w_table
        index = table.views if table.snap is snap else None  # this snapshot's streams, by key and market
        book, bnote, tape, tnote = pick(snap, self.selected, index, table.markets if index is not None else None)
        ladder = self.w_ladder
        ladder.hint = FOLLOW_HINT if self.follow_busiest else ""
        ladder.update_view(book, bnote)
        ladder.set_class(book is not None and book.state in ROW_BAD, "-alarm")
        self.w_tape.update_view(tape, tnote)

    def on_streams_table_opened(self, event: StreamsTable.Opened) -> None:
        self.push_screen(StreamDetail(event.key))

    def on_streams_table_selected(self, event: StreamsTable.Selected) -> None:
        self.follow_busiest = False  # the user chose: never move the view under them again
        if event.key != self.selected:
            self.selected = event.key
            if self.snap is not None:
                self._show_selection(self.snap)

    # ------------------------------------------------------------ actions
    def action_pause(self) -> None:
        if getattr(self.source, "toggle_pause", None) is None:
            self.notify("this source has no replay controls", timeout=2)
            return
        self.source.toggle_pause()
        self._header_key = None

    VIEWS = {"books": BooksScreen, "chart": ChartScreen}

    def action_view(self, name: str) -> None:
        """Open a full-screen view; its own key (or escape) closes it again."""
        cls = self.VIEWS[name]
        if isinstance(self.screen, cls):
            self.action_close_view()
            return
        if isinstance(self.screen, ViewScreen):
            self.pop_screen()
        self.push_screen(cls())
        self._header_key = None
        self.snap = None  # draw it at once, even from an ended replay
        self.call_after_refresh(self.refresh_view)

    def action_close_view(self) -> None:
        if isinstance(self.screen, ViewScreen):
            self.pop_screen()
            self._header_key = None
            self.snap = None  # the panels were not drawn meanwhile
            self.call_after_refresh(self.refresh_view)

    def show_stream(self, key: str) -> None:
        """Show ``key`` (the command palette): back to the main screen, the cursor on it, the user's choice."""
        self.action_close_view()
        self.follow_busiest = False
        if key in self.w_table.keys:
            self.w_table.select(key)
        self.selected = key
        if self.snap is not None:
            self._show_selection(self.snap)

    def action_set_theme(self, name: str) -> None:
        self.theme = name

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        self._header_key = None
        self.refresh_view()

    def action_speed(self, up: bool) -> None:
        if getattr(self.source, "step_speed", None) is None:
            self.notify("this source has no replay controls", timeout=2)
            return
        v = self.source.step_speed(up)
        self._header_key = None
        self.notify(f"speed {fmt.speed(v)}", timeout=1.5)

    async def action_restart(self) -> None:
        if getattr(self.source, "restart", None) is None:
            self.notify("this source has no replay controls", timeout=2)
            return
        if self.engine_mode != "none":
            # a fresh engine and source: the clock, counts, tape and events of the pass before are gone,
            # and the capture's connections are not counted as reconnects
            await self.stop_engine()
            self._replay_again()
            self.snap = None
        else:
            self.source.restart()
        self._header_key = None
        self.notify("replay restarted", timeout=1.5)

    def action_group(self, coarser: bool) -> None:
        tick = self.w_ladder.step_group(coarser)
        if tick:
            self.notify(f"price grouping: {tick}", timeout=1.5)

    def action_cursor(self, delta: int) -> None:
        self.w_table.action_move(delta)

    def action_next_alert(self) -> None:
        self.follow_busiest = False
        snap = self.snap
        table = self.w_table
        if snap is None or not table.keys:
            return
        n = len(table.keys)
        at = table.keys.index(table.selected) if table.selected in table.keys else -1
        for i in range(1, n + 1):
            s = snap.stream(table.keys[(at + i) % n])
            if s is not None and s.state not in ("live", "ended", "quiet"):
                table.select(s.key)
                return
        self.notify("every stream is healthy", timeout=1.5)

    def action_connections(self) -> None:
        if not isinstance(self.screen, ConnectionsScreen):
            self.push_screen(ConnectionsScreen())

    def action_events(self) -> None:
        if isinstance(self.screen, EventsScreen):
            self.pop_screen()
        else:
            self.push_screen(EventsScreen(self.selected))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        else:
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self.stop_engine()
        self.exit(0)

    async def stop_engine(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            await asyncio.to_thread(self.thread.stop, 2.0)
        if self.engine_task is not None and not self.engine_task.done():
            stop = getattr(self.source, "stop", None)
            if stop is not None:
                stop()
            self.engine_task.cancel()
            try:
                await self.engine_task
            except (asyncio.CancelledError, Exception):
                pass


def run_app(engine: Any, source: Any, args: Any) -> int:
    """``wstui`` / ``wstui demo`` / ``wstui replay FILE``: the TUI until the user quits."""
    app = WstuiApp(engine, source, fps=getattr(args, "fps", 10.0), theme=getattr(args, "theme", None))
    try:
        app.run()
    finally:
        if app.thread is not None and app.thread.is_alive():
            app.thread.stop(2.0)
    err = app.engine_error()
    if err:
        print(f"wstui: the engine stopped: {err}", file=sys.stderr)
        return 1
    rc = app.return_code
    return 0 if rc is None else rc
