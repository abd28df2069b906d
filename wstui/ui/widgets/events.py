"""The events log (Line API): every state change the engine recorded, newest first, with its time on
the engine clock, its stream and, for an alarm, its cause.  It scrolls back to the first event the engine
keeps (``back``), and filters by kind (``only_alarms`` or one kind) and by stream.  Once the engine's bound
has dropped events, a line says how many and where (between the first events, always kept, and the latest).  In the main screen
it shows the newest; key ``e`` opens it full screen (:class:`EventsScreen`) with the keys to scroll and
filter."""

from __future__ import annotations

import textwrap

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from ...core.snapshot import Snapshot
from ...core.stream import Event
from ...core.text import clean
from .. import fmt
from .lines import LinesWidget, Row

BAD = {"stale", "gap", "checksum_failed", "out_of_sync", "down", "crossed", "parse_error", "disconnect",
       "record_failed", "record_dropping", "connect_failed"}
GOOD = {"recovered", "resync", "uncrossed", "connect"}
WARN = {"lagging"}
ALARMS = BAD | WARN
DROPPED = "…dropped"  # the kind of the line that marks the events the bound dropped (not an engine event)


def kind_class(kind: str) -> str:
    if kind in BAD:
        return "events--bad"
    if kind in GOOD:
        return "events--good"
    if kind in WARN:
        return "events--warn"
    return "events--dim"


class EventsLog(LinesWidget):
    wrap = False  # a long detail goes on over the next lines (the full-screen log) or is cut at the edge
    COMPONENT_CLASSES = {"events--title", "events--bad", "events--good", "events--warn", "events--dim",
                         "events--stream"}

    BINDINGS = [
        Binding("up", "scroll(-1)", "newer", show=False),
        Binding("down", "scroll(1)", "older", show=False),
        Binding("pageup", "page(-1)", "newer page", show=False),
        Binding("pagedown", "page(1)", "older page", show=False),
        Binding("home", "scroll(-1000000)", "newest", show=False),
        Binding("end", "scroll(1000000)", "oldest", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snap: Snapshot | None = None
        self._seen: tuple[int, int] | None = None
        self.back = 0  # events skipped from the newest (0: the newest is the first line)
        self.kind: str | None = None  # None: every kind; "alarms": the alarm kinds; else one kind
        self.stream: str | None = None  # only this stream's (or connection's) events
        self._shown: list[Event] = []

    def update_snapshot(self, snap: Snapshot) -> None:
        key = (snap.events_total, len(snap.events))
        self.snap = snap
        if key != self._seen:
            self._seen = key
            if self.back:
                # scrolled back: keep the same events in view as new ones arrive on top
                self.back += snap.events_total - getattr(self, "_total", snap.events_total)
            self._total = snap.events_total
            self.redraw()

    def matching(self) -> list[Event]:
        """The events the filters let through, newest first."""
        evs = self.snap.events if self.snap is not None else ()
        kind, stream = self.kind, self.stream
        out = []
        snap = self.snap
        dropped = snap.events_dropped if snap is not None else 0
        gap = len(evs) - (snap.events_head if snap is not None else 0)  # newest-first index of the gap
        for i, e in enumerate(reversed(evs)):
            if i == gap and dropped:
                out.append(_dropped(e.ts, dropped, snap))
            if stream is not None and e.stream != stream:
                continue
            if kind is not None and (e.kind not in ALARMS if kind == "alarms" else e.kind != kind):
                continue
            out.append(e)
        if dropped and gap >= len(evs):
            out.append(_dropped(evs[0].ts if evs else 0.0, dropped, snap))
        return out

    def set_filter(self, *, kind: str | None = "", stream: str | None = "") -> None:
        if kind != "":
            self.kind = kind
        if stream != "":
            self.stream = stream
        self.back = 0
        self.redraw()

    def action_scroll(self, delta: int) -> None:
        n = len(self.matching())
        self.back = max(0, min(max(0, n - 1), self.back + delta))
        self.redraw()

    def action_page(self, direction: int) -> None:
        self.action_scroll(direction * max(1, self.size.height - 2))

    def build(self, width: int, height: int) -> list[Row]:
        snap = self.snap
        total = snap.events_total if snap else 0
        evs = self.matching() if snap is not None else []
        self._shown = evs
        filt = []
        if self.kind is not None:
            filt.append("alarms only" if self.kind == "alarms" else f"kind {clean(self.kind, 20)}")
        if self.stream is not None:
            filt.append(f"stream {clean(self.stream, 40)}")
        kept = len(snap.events) if snap else 0
        title = f" EVENTS  {total:,} total"
        if kept < total:
            title += f", {total - kept:,} dropped"
        if filt:
            title += f", {len(evs):,} match " + " & ".join(filt)
        if self.back:
            title += f"  ↑ {self.back:,} newer above"
        else:
            title += ", newest first"
        rows: list[Row] = [((fmt.fit(title, width), "events--title"),)]
        for e in evs[self.back:self.back + max(0, height - 1)]:
            if len(rows) >= height:
                break
            if e.kind == DROPPED:
                rows.append(((fmt.fit(f" ⋯ {e.detail}", width), "events--warn"),))
                continue
            detail = clean(e.detail, 200)
            if e.cause and e.kind in ALARMS:
                detail = f"[{fmt.cause(e.cause)}] {detail}"
            head = (" " + fmt.clock(e.ts) + " ", f"{clean(e.kind, 15):<15} ", clean(e.stream, 48) + " ")
            room = width - sum(len(h) for h in head)
            more: list[str] = []
            if self.wrap and room >= 24 and len(detail) > room:
                # the rest of a long detail on the next lines, under its start
                first, *more = textwrap.wrap(detail, room) or [detail]
                detail = first
            rows.append(((head[0], ""), (head[1], kind_class(e.kind)), (head[2], "events--stream"), (detail, "")))
            pad = " " * (width - room)
            for line in more:
                if len(rows) >= height:
                    break
                rows.append(((pad + line, ""),))
        return rows


def _dropped(ts: float, n: int, snap: Snapshot) -> Event:
    head = snap.events_head
    where = f" between the first {head:,} and the latest" if head else " before these"
    return Event(ts, "", DROPPED, f"{n:,} earlier event{'s' if n != 1 else ''} dropped{where} "
                                  f"(the engine keeps a bounded log; events_total counts every one)")


class FullEventsLog(EventsLog, can_focus=True):
    """The full-screen log: it takes the keys (the main screen's panel leaves them to the table), and a
    long detail goes on over the next lines instead of being cut at the screen's edge."""

    COMPONENT_CLASSES = EventsLog.COMPONENT_CLASSES
    wrap = True


EVENTS_KEYS = (("↑↓ PgUp PgDn", "scroll"), ("Home End", "newest / oldest"), ("a", "alarms only"),
               ("k", "next kind"), ("f", "selected stream only"), ("c", "clear filters"), ("e esc", "close"))


class EventsScreen(Screen):
    """The events log full screen: every event kept, scrollable and filtered."""

    BINDINGS = [
        Binding("escape,e,q", "dismiss", "close"),
        Binding("a", "alarms", "alarms only"),
        Binding("k", "next_kind", "next kind"),
        Binding("f", "stream", "selected stream"),
        Binding("c", "clear", "clear filters"),
    ]

    def __init__(self, selected: str | None = None) -> None:
        super().__init__()
        self.selected = selected

    def compose(self) -> ComposeResult:
        yield FullEventsLog(id="events-full")
        keys = "  ".join(f"{k}: {w}" for k, w in EVENTS_KEYS)
        yield Static(" " + keys, id="events-keys")

    @property
    def events_log(self) -> EventsLog:
        return self.query_one("#events-full", EventsLog)

    def on_mount(self) -> None:
        snap = getattr(self.app, "snap", None)
        if snap is not None:
            self.events_log.update_snapshot(snap)
        self.events_log.focus()

    def action_alarms(self) -> None:
        log = self.events_log
        log.set_filter(kind=None if log.kind == "alarms" else "alarms")

    def action_next_kind(self) -> None:
        log = self.events_log
        kinds = sorted({e.kind for e in (log.snap.events if log.snap else ())})
        if not kinds:
            return
        order = [None, *kinds]
        i = order.index(log.kind) if log.kind in order else 0
        log.set_filter(kind=order[(i + 1) % len(order)])

    def action_stream(self) -> None:
        log = self.events_log
        log.set_filter(stream=None if log.stream is not None else self.selected)

    def action_clear(self) -> None:
        self.events_log.set_filter(kind=None, stream=None)
