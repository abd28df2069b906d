"""The engine: owns connections, streams, books and stats; publishes immutable snapshots.

A *source* (a replayed capture, or live sockets) drives it with a handful of calls:

``open(conn, addr, ts)``     a connection opened (the venue adapter is picked from ``addr``)
``sent(conn, text, ts)``     the client sent a frame (subscriptions: they declare streams)
``frame(conn, data, ts)``    a frame was received: parsed by the venue adapter, applied at once
``close(conn, ts, reason)``  a connection closed
``tick(now)``                the clock moved: health (staleness) is re-evaluated on that clock
``end(ts)``                  the source ended

Views never touch any of that: they read ``latest`` (a :class:`Snapshot`) which ``publish()`` replaces
at the frame rate.  Ingestion cost is per message; view cost is per frame.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from fnmatch import fnmatchcase
from itertools import islice
from typing import Any, Callable, Iterable

from .core.book import BadLevel
from .core.deadlines import Deadlines
from .core.snapshot import BadRecord, ConnView, Snapshot, SourceStatus, StatusSource, StreamView
from .core.stream import BACKLOG_FRAMES, BOOK_EMPTY, STALE_AFTER, Event, Link, Stream
from .core.text import clean
from .venues import venue_for
from .venues.base import STREAMS_PER_CONN, FetchCallback, Unsolicited, Venue

TICK = 0.1  # seconds of engine clock between health evaluations
VIEW_REUSE_S = 1.0  # a stream that did not change keeps its published view this long (its age, rates)
NAME_MAX = 200  # characters of a symbol or channel name a stream may have
UNSOLICITED_NAMES = 50  # unsolicited stream names remembered and reported (one event each) per connection
FRAMES_KEPT = 50  # latest frames kept per stream that shows frames (generic feeds)
RECENT_KEPT = 30  # latest frames kept per connection (a stream's detail screen shows those naming it)
EVENTS_FIRST = 200  # the first events ever are kept beside the latest ones: a late viewer sees the start
HOUR_ALL_MAX = 64  # with no focus (every stream full), streams up to this many carry their hour history


class Conn(Link):
    """One connection: its venue adapter and the streams it carries.  Implements ``ConnContext``; as a
    :class:`Link` it tells its streams' health what the connection proves (its last frame of any kind)."""

    def __init__(self, engine: "Engine", conn_id: str, addr: str, live: bool, transport: Any = None,
                 venue: type[Venue] | None = None, ts: float = 0.0) -> None:
        Link.__init__(self, ts)
        self.engine = engine
        self.conn_id = conn_id
        self.addr = addr
        self.live = live
        self.transport = transport
        self.streams: dict[str, Stream] = {}
        self.messages = 0
        self.bytes = 0
        self.heartbeats = 0
        self.parse_errors = 0
        self.connects = 1
        self.recent: deque[tuple[float, str | bytes]] = deque(maxlen=RECENT_KEPT)
        self.subscribes = 0
        self.sub_times: deque[float] = deque(maxlen=2048)  # when subscribe frames were sent (hourly budgets)
        self.closes: deque[tuple[float, str]] = deque(maxlen=5)
        self.extensions = ""  # negotiated WebSocket extensions (live)
        # A live connection carries only the streams declared while the client spoke (its address, what
        # it sent): data for any other is counted as unsolicited, never a new stream, so a hostile
        # server cannot grow memory, CPU or REST requests with made-up symbols.
        self.declaring = False
        self.over_cap = False  # a stream was refused for the per-connection cap (noted once)
        self.unsolicited = 0  # frames (or subscription answers) naming a stream it may not have
        self.unsolicited_names: set[str] = set()  # the first UNSOLICITED_NAMES of them
        self.venue: Venue = (venue or venue_for(addr))(self)

    # ---- ConnContext -----------------------------------------------------------------------
    def stream(self, symbol: str, channel: str, *, book: bool = False, tape: bool = False,
               venue: str | None = None, frames: bool = False) -> Stream:
        v = venue or self.venue.name
        if type(symbol) is not str or type(channel) is not str:
            raise ValueError(f"stream name is not text: {str(symbol)[:40]!r} {str(channel)[:40]!r}")
        st = self.streams.get(f"{v}:{symbol}:{channel}")
        if st is not None:
            return st
        if len(symbol) > NAME_MAX or len(channel) > NAME_MAX:
            raise ValueError(f"stream name longer than {NAME_MAX} characters: {symbol[:40]!r}…")
        if self.live and not self.declaring:
            raise Unsolicited(f"{v}:{symbol}:{channel}")
        cap = max(STREAMS_PER_CONN, self.venue.limits.streams_per_conn or 0)  # a venue may allow more (1,024)
        if len(self.streams) >= cap:  # (the planner never puts more on one connection: said, never silent)
            if self.declaring and not self.over_cap:
                self.over_cap = True
                self.engine.notes.append(f"{self.conn_id}: more than {cap} streams on one connection: "
                                         f"{v}:{symbol}:{channel} and any after it are not watched")
            raise Unsolicited(f"{v}:{symbol}:{channel}", f"more than {cap} streams on one connection")
        st = self.engine.get_stream(v, symbol, channel, book=book, tape=tape, frames=frames)
        if st.key not in self.streams:
            self.streams[st.key] = st
            st.conn_id = self.conn_id
            self.engine.attach(st, self)
        return st

    def unsolicited_data(self, exc: Unsolicited, ts: float) -> None:
        """Counted; each new name (up to UNSOLICITED_NAMES) raised once as an event."""
        self.unsolicited += 1
        names = self.unsolicited_names
        if exc.key in names or len(names) > UNSOLICITED_NAMES:
            return
        if len(names) == UNSOLICITED_NAMES:
            names.add("")  # the marker that the list is full: one last event says so
            self.engine.event(Event(ts, self.conn_id, "unsolicited",
                                    f"more than {UNSOLICITED_NAMES} unsolicited streams: further ones only counted"))
            return
        names.add(exc.key)
        self.engine.event(Event(ts, self.conn_id, "unsolicited", clean(f"data for {exc.key}: {exc.why}", 200)))

    def heartbeat(self, ts: float) -> None:
        self.heartbeats += 1

    def fetch(self, url: str, callback: FetchCallback, stream: Stream | None = None) -> None:
        def answer(body: str | None, err: str | None, ts: float) -> None:
            # an answer for a connection since replaced must not load into the new one's books
            if self.engine.conns.get(self.conn_id) is self:
                callback(body, err, ts)

        self.engine.fetch(self, url, answer, stream)

    def resubscribe(self, stream: Stream, reason: str) -> None:
        if self.transport is not None:
            self.transport.resubscribe(self, stream, reason)

    def send(self, text: str) -> None:
        if self.transport is not None:
            self.transport.send(self, text)

    def parse_error(self, detail: str, ts: float, stream: Stream | None = None) -> None:
        self.parse_errors += 1
        detail = clean(detail, 300)
        if stream is not None:
            stream.parse_error(detail, ts)
        else:
            self.engine.event(Event(ts, self.conn_id, "parse_error", detail))
        self.engine.bad(detail)

    def view(self) -> ConnView:
        recent = tuple(reversed(self.recent))  # raw: whoever shows one cleans it (cheap when nobody looks)
        lim = self.venue.limits
        now = self.engine.now
        hour = sum(1 for t in self.sub_times if now - t < 3600.0)
        n = len(self.streams)
        warn = []
        if lim.streams_per_conn and n >= 0.9 * lim.streams_per_conn:
            warn.append(f"{n} of {lim.streams_per_conn} streams")
        if lim.subs_per_hour and hour >= 0.8 * lim.subs_per_hour:
            warn.append(f"{hour} of {lim.subs_per_hour} subscribe requests this hour")
        rtt = None
        probe = getattr(self.transport, "rtt", None)
        if probe is not None:
            rtt = probe(self.conn_id)
        return ConnView(self.conn_id, self.addr, self.venue.name, self.messages, self.bytes, self.heartbeats,
                        self.parse_errors, self.connects, self.up, self.last_ts, recent, n, lim.streams_per_conn,
                        self.subscribes, hour, lim.subs_per_hour, rtt, tuple(reversed(self.closes)),
                        "; ".join(warn), self.extensions, self.unsolicited)


class Engine:
    def __init__(
        self,
        *,
        stale_after: float | None = None,
        lag_after: float = 3.0,
        stale_overrides: dict[str, float] | None = None,
        book_depth: int = 50,
        tape_depth: int = 100,
        events_max: int = 10_000,
        bad_max: int = 1000,
        source: str = "replay",
        file: str | None = None,
    ) -> None:
        # None: the default threshold, with each stream's own cadence learned; a number is explicit
        self.stale_explicit = stale_after is not None
        self.stale_after = STALE_AFTER if stale_after is None else stale_after
        self.lag_after = lag_after
        self.stale_overrides = dict(stale_overrides or {})
        self.book_depth = book_depth
        self.tape_depth = tape_depth
        self.source = source
        self.file = file
        self.streams: dict[tuple[str, str, str], Stream] = {}
        self.conns: dict[str, Conn] = {}
        self.events: deque[Event] = deque(maxlen=events_max)
        self.events_total = 0
        self.events_first: list[Event] = []  # the first EVENTS_FIRST events, kept once the deque evicts them
        self.bad_records: deque[BadRecord] = deque(maxlen=bad_max)
        self.bad_total = 0
        self.notes: list[str] = []
        # called with each published snapshot, on the engine's thread (e.g. the --events writer)
        self.on_publish: list[Callable[[Snapshot], None]] = []
        self.now = 0.0
        self.messages = 0
        self.bytes = 0
        self.ended = False
        self.line: int | None = None  # line of the capture record being processed (replay)
        self.fetcher: Callable[[Conn, str, FetchCallback], None] | None = None
        self._pending: list[tuple[FetchCallback, str | None, str | None]] = []
        self._last_tick = 0.0
        self._seq = 0
        self._wall0 = time.time()
        self.latest: Snapshot | None = None
        self.status_source: StatusSource | None = None  # read for position, speed, backlog, recording
        self._ever_connected: set[str] = set()
        self.exch_offset = 0.0
        self.focus: frozenset[str] | None = None
        """Streams whose book and tape a view shows now (None: every stream's).  Published snapshots carry
        the full book and tape only for these; every other stream is a cheap row (its counts, state,
        rates).  A view sets it (the TUI: the selected market); the headless summary leaves it None."""
        self._views = _Views()  # the published views, rebuilt when their stream changed or they aged
        self.deadlines = Deadlines()  # health judged when a stream changed or a deadline of it came

    def set_source(self, source: StatusSource) -> None:
        """The source driving this engine: its ``status()`` goes into every snapshot."""
        self.status_source = source

    def set_exch_offset(self, offset: float) -> None:
        """Receive time is shifted by ``offset`` from the venues' own clocks (a looped replay)."""
        self.exch_offset = offset
        for st in self.streams.values():
            st.exch_offset = offset

    # ---------------------------------------------------------------- streams and events
    def event(self, ev: Event) -> None:
        self.events.append(ev)
        if self.events_total < EVENTS_FIRST:
            self.events_first.append(ev)
        self.events_total += 1

    def stale_for(self, key: str) -> tuple[float, bool]:
        """(threshold, explicit) for stream ``key``: an override, else the engine's."""
        for pat, v in self.stale_overrides.items():
            if key == pat or fnmatchcase(key, pat):
                return v, True
        return self.stale_after, self.stale_explicit

    def get_stream(self, venue: str, symbol: str, channel: str, *, book: bool = False,
                   tape: bool = False, frames: bool = False) -> Stream:
        k = (venue, symbol, channel)
        st = self.streams.get(k)
        if st is None:
            key = f"{venue}:{symbol}:{channel}"
            stale, explicit = self.stale_for(key)
            st = Stream(venue, symbol, channel, book=book, tape=tape, stale_after=stale, stale_explicit=explicit,
                        lag_after=self.lag_after, sink=self.event, now=self.now, tape_len=max(50, self.tape_depth),
                        frames=FRAMES_KEPT if frames else 0)
            st.exch_offset = self.exch_offset
            self.streams[k] = st
            self.deadlines.add(st)
        return st

    def attach(self, st: Stream, conn: Conn | None = None) -> None:
        """A connection declared ``st``: the stream's connection is (re)starting now."""
        again = st.key in self._ever_connected
        self._ever_connected.add(st.key)
        st.connection_up(self.now, reconnect=again, link=conn)
        if conn is not None:
            self.deadlines.add_link(conn, st.stale_after)

    def bad(self, error: str, line: int | None = -1, file: str | None = None) -> None:
        """Record a bad input (capture line, frame) with its file and line; never fatal."""
        self.bad_total += 1
        self.bad_records.append(BadRecord(file or self.file or "", self.line if line == -1 else line, clean(error, 300)))

    # ---------------------------------------------------------------- source calls
    def open(self, conn_id: str, addr: str, ts: float, *, live: bool = False, transport: Any = None,
             venue: type[Venue] | None = None) -> Conn:
        self.advance(ts)
        old = self.conns.get(conn_id)
        connects = 1
        if old is not None:
            connects = old.connects + 1
            old.up = False  # replaced: its streams are re-declared by the new connection
        conn = Conn(self, conn_id, addr, live, transport, venue, ts=self.now)
        conn.connects = connects
        if old is not None:
            conn.closes = old.closes  # why it went down before: the connections view keeps the history
            conn.inherit_clock(old)
        self.conns[conn_id] = conn
        self.event(Event(ts, conn_id, "connect", clean(addr, 200)))
        conn.declaring = True
        try:
            conn.venue.on_connect(ts)
        except Unsolicited as exc:
            conn.unsolicited_data(exc, ts)
        except Exception as exc:  # an adapter bug must not stop the source
            conn.parse_error(f"on_connect failed: {exc!r}", ts)
        finally:
            conn.declaring = False
        return conn

    def sent(self, conn_id: str, text: str, ts: float, addr: str | None = None, *, sent: bool = True) -> None:
        """The client sent ``text`` (``sent`` False: it is about to, and its streams are declared now)."""
        conn = self.conns.get(conn_id)
        if conn is None:
            conn = self.open(conn_id, addr or f"unknown://{conn_id}", ts)
        if sent:
            conn.subscribes += 1
            conn.sub_times.append(ts)
        conn.declaring = True
        try:
            conn.venue.on_send(text, ts)
        except Unsolicited as exc:
            conn.unsolicited_data(exc, ts)
        except Exception as exc:
            conn.parse_error(f"could not read sent frame: {exc!r}", ts)
        finally:
            conn.declaring = False

    def frame(self, conn_id: str, data: str | bytes, ts: float) -> None:
        """A received frame: counted, parsed and applied now (the hot path)."""
        if self._pending:
            self._run_pending()
        if ts > self.now:
            self.now = ts
            if ts - self._last_tick >= TICK:
                self.tick(ts)
        conn = self.conns.get(conn_id)
        if conn is None:
            conn = self.open(conn_id, f"unknown://{conn_id}", ts)
        n = len(data)
        conn.messages += 1
        conn.bytes += n
        conn.last_ts = ts
        if conn.sched_marked:  # its first frame, or the first after a silence: its streams are judged again
            self.deadlines.link_woke(conn, conn.streams.values())
        conn.recent.append((ts, data))
        self.messages += 1
        self.bytes += n
        try:
            conn.venue.on_frame(data, ts)
        except Unsolicited as exc:
            conn.unsolicited_data(exc, ts)
        except Exception as exc:
            self._frame_failed(conn, exc, data, ts)

    def _frame_failed(self, conn: Conn, exc: Exception, data: str | bytes, ts: float) -> None:
        """A frame the adapter could not handle: reported, and any book it had begun to change (the
        streams that took data at this very instant) is marked out of sync: a half-applied frame must
        not leave a wrong book looking fine.

        An invalid level (:class:`BadLevel`) names the book side it was meant for: the rejection is
        counted on that stream and its book marked, whatever state it was in (a snapshot may have been
        half applied).  On a venue without sequence numbers a frame that failed before naming any stream
        may have been a lost update: every book of the connection becomes suspect."""
        target = self.owner(exc, conn)
        if target is not None:
            conn.parse_error(f"{conn.venue.name} rejected an invalid value: {exc}: {str(data)[:120]}", ts, target)
            if target.book is not None:
                target.mark_out_of_sync(f"invalid value rejected ({clean(str(exc), 120)})", ts)
                conn.resubscribe(target, "invalid value rejected")
        else:
            why = _brief(exc)
            conn.parse_error(f"{conn.venue.name} frame not understood: {why}: {str(data)[:120]}", ts)
        why = clean(str(exc) if target is not None else _brief(exc), 120)
        marked = False
        for st in conn.streams.values():
            if st.book is not None and st.last_ts == ts and st is not target:
                marked = True
                if st.book_state is not BOOK_EMPTY:
                    st.parse_errors += 1
                    st.mark_out_of_sync(f"a frame failed while being applied ({why})", ts)
                    conn.resubscribe(st, "a frame failed while being applied")
        if target is None and not marked and conn.venue.unsequenced:
            for st in conn.venue.book_streams():
                if st.book_state is not BOOK_EMPTY:
                    st.mark_out_of_sync(f"a frame that may have been an update could not be read ({why})", ts)
                    conn.resubscribe(st, "an update could not be read")

    def owner(self, exc: BaseException, conn: Conn | None = None):
        """The stream whose book side a :class:`BadLevel` was meant for (None: not such an error)."""
        if not isinstance(exc, BadLevel):
            return None
        if exc.stream is not None:
            return exc.stream
        side = exc.side
        if side is None:
            return None
        for st in (conn.streams.values() if conn is not None else self.streams.values()):
            b = st.book
            if b is not None and (b.bids is side or b.asks is side):
                return st
        if conn is not None:
            return self.owner(exc, None)
        return None

    def close(self, conn_id: str, ts: float, reason: str = "") -> None:
        conn = self.conns.get(conn_id)
        if conn is None or not conn.up:
            return
        conn.up = False
        conn.closes.append((ts, clean(reason, 200)))
        conn.down_reason = clean(reason, 200)
        self.event(Event(ts, conn_id, "disconnect", clean(reason, 200), "link_down"))
        for st in conn.streams.values():
            st.connection_down(ts)

    def fetch(self, conn: Conn, url: str, callback: FetchCallback, stream: Stream | None = None) -> None:
        if self.fetcher is None:
            self.defer(callback, None, "no REST access in this mode")
        elif stream is None:
            self.fetcher(conn, url, callback)
        else:  # the book waiting for it (a live source shows it queued)
            self.fetcher(conn, url, callback, stream=stream)

    def defer(self, callback: FetchCallback, body: str | None, error: str | None) -> None:
        """Run ``callback(body, error, now)`` before the next frame (never inside the caller)."""
        self._pending.append((callback, body, error))

    def _run_pending(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, []
            for cb, body, err in pending:
                try:
                    cb(body, err, self.now)
                except Exception as exc:
                    st = self.owner(exc)
                    if st is not None:  # an invalid level in a snapshot or in diffs applied after it
                        st.parse_error(f"snapshot rejected: {clean(str(exc), 200)}", self.now)
                        st.mark_out_of_sync(f"invalid value rejected ({clean(str(exc), 120)})", self.now)
                        self.bad(f"{st.key}: snapshot rejected: {exc}")
                        continue
                    self.event(Event(self.now, "engine", "parse_error", f"snapshot handler failed: {_brief(exc)}"))
                    self.bad(f"snapshot handler failed: {_brief(exc)}")

    def advance(self, ts: float) -> None:
        """Move the clock forward to ``ts`` (it never runs backwards); evaluate health every TICK."""
        if ts > self.now:
            self.now = ts
            if ts - self._last_tick >= TICK:
                self.tick(ts)

    def tick(self, now: float | None = None) -> None:
        if now is not None and now > self.now:
            self.now = now
        now = self.now
        self._last_tick = now
        if self._pending:
            self._run_pending()
        src = self.status_source
        if src is not None:  # frames received and not yet processed: lag that is our own fault
            backlog = src.status().backlog_frames
            behind = backlog > BACKLOG_FRAMES
            for c in self.conns.values():
                if (c.backlog > BACKLOG_FRAMES) is not behind:  # lagging's cause may change
                    for st in c.streams.values():
                        st.touch()
                c.backlog = backlog
        self.deadlines.run(now, _members)

    def end(self, ts: float | None = None) -> None:
        if self._pending:
            self._run_pending()
        if ts is not None:
            self.advance(ts)
        self.tick()
        self.ended = True
        for st in self.streams.values():
            st.end(self.now)
        self.event(Event(self.now, "engine", "ended", "source ended"))

    # ---------------------------------------------------------------- views
    def view(self, st: Stream, depth: int, ntrades: int, hour: bool = False) -> StreamView:
        """``hour``: with the stream's last hour (see ``core.history``), built at most once a second."""
        now = self.now
        r1, r10 = st.rates(now)
        if self.ended:
            r1 = r10 = 0.0
        p50, p99 = st.latency_ms()
        book = st.book
        if book is not None:
            bids = tuple(book.bids.top(depth)) if depth else ()
            asks = tuple(book.asks.top(depth)) if depth else ()
            levels = (len(book.bids), len(book.asks))
            updates = book.updates
        else:
            bids = asks = ()
            levels = (0, 0)
            updates = 0
        tape = st.tape
        trades = tuple(islice(reversed(tape), ntrades)) if tape and ntrades > 0 else ()
        return StreamView(
            key=st.key, venue=st.venue, symbol=st.symbol, channel=st.channel, state=st.state,
            state_since=st.state_since, reason=st.compute_state(now)[2], cause=st.cause, messages=st.messages, bytes=st.bytes,
            last_size=st.last_size, rate_1s=r1, rate_10s=r10,
            history=st.history(now) if depth or ntrades or hour else (),  # (a cheap row: no sparkline)
            last_age_s=st.age(now), latency_ms_p50=p50, latency_ms_p99=p99, gaps=st.gaps,
            checksum_ok=st.checksum_ok, checksum_failed=st.checksum_failed, resyncs=st.resyncs,
            latency_counts=tuple(st.lat_counts), latency_sum=st.lat_sum,
            reconnects=st.reconnects, parse_errors=st.parse_errors, crossed=st.crossed,
            has_book=book is not None, book_state=st.book_state, bids=bids, asks=asks, book_levels=levels,
            book_updates=updates, has_tape=tape is not None, trades=trades, trades_total=st.trades_total,
            stale_after=st.stale_after, version=st.version,
            frames=tuple(reversed(st.frames)) if st.frames else (), has_frames=st.frames is not None,
            conn=st.conn_id,
            clock_offset_s=st.clock_offset(), last_problem=st.last_problem, stale_explicit=st.stale_explicit,
            end_state=st.end_state, hour=st.hist.view(now) if hour else None,
        )

    def snapshot(self, depth: int | None = None, ntrades: int | None = None, events: int | None = None) -> Snapshot:
        depth = self.book_depth if depth is None else depth
        ntrades = self.tape_depth if ntrades is None else ntrades
        self._seq += 1
        src = self.status_source
        st = src.status() if src is not None else _NO_STATUS
        evs, head = self._events(events)
        return Snapshot(
            seq=self._seq, source=self.source, file=self.file, now=self.now, wall=time.time(),
            elapsed_s=time.time() - self._wall0, messages=self.messages, bytes=self.bytes,
            streams=self._stream_views(depth, ntrades), index=self._views.index,
            connections=tuple(c.view() for c in self.conns.values()),
            events=evs, events_total=self.events_total, events_dropped=self.events_total - len(evs),
            events_head=head,
            bad_records=tuple(self.bad_records), bad_records_total=self.bad_total, ended=self.ended,
            start=st.start, end=st.end, speed=st.speed, paused=st.paused, loop=st.loop, loops=st.loops,
            backlog_frames=st.backlog_frames, replay_behind_s=st.replay_behind_s,
            recording_error=st.recording_error, recording_dropped=st.recording_dropped, notes=tuple(self.notes),
            rest=st.rest,
        )

    def _events(self, limit: int | None) -> tuple[tuple[Event, ...], int]:
        """(events, head): every event kept, oldest first; once the bound evicted some, the first ones
        ever (``head`` of them) come first, then the latest (the events log marks the gap between)."""
        evs = tuple(self.events)  # every event kept: the events log scrolls back to the first
        if limit is not None and limit < len(evs):
            return evs[-limit:], 0
        evicted = self.events_total - len(evs)
        if evicted <= 0:
            return evs, 0
        head = self.events_first[:min(evicted, len(self.events_first))]
        return tuple(head) + evs, len(head)

    def _stream_views(self, depth: int, ntrades: int) -> tuple[StreamView, ...]:
        """Every stream's view.  A stream that did not change since its view was built (same version), and
        did not enter or leave the focus, keeps that view up to ``VIEW_REUSE_S``: with thousands of quiet
        streams, a snapshot costs what changed and what is looked at, not the number of streams (see
        :class:`_Views`)."""
        return self._views.update(self, depth, ntrades)

    def publish(self) -> Snapshot:
        snap = self.snapshot()
        self.latest = snap
        for fn in self.on_publish:
            fn(snap)
        return snap

    def restart_clock(self) -> None:
        """Start the wall-clock ``elapsed_s`` over (a replay was restarted)."""
        self._wall0 = time.time()


_NO_STATUS = SourceStatus()


class _Views:
    """The engine's streams' views, in stream order, kept between snapshots.  Each snapshot rebuilds only
    the views of streams whose version moved (one compare per stream), of those built ``VIEW_REUSE_S``
    ago (a queue in build order: their ages and rates moved on) and of those entering or leaving the
    focus (full book and tape, or a cheap row); once the source ended, every view, every time."""

    def __init__(self) -> None:
        self.streams: list[Stream] = []
        self.index: dict[str, int] = {}  # stream key -> position
        self.versions: list[int] = []  # each view's stream version when built
        self.built: list[float] = []  # engine clock when each view was built
        self.full: list[bool] = []  # built with its book and tape
        self.views: list[StreamView | None] = []
        self.queue: deque[tuple[float, int]] = deque()  # (built, position), oldest first
        self.focus: frozenset[str] | None = None
        self.now = float("-inf")

    def update(self, engine: "Engine", depth: int, ntrades: int) -> tuple[StreamView, ...]:
        now = engine.now
        focus = engine.focus
        streams = self.streams
        if len(engine.streams) < len(streams) or now < self.now:  # (streams never go, the clock never runs
            self.__init__()  # back; if either did, start over)
            streams = self.streams
        self.now = now
        n0 = len(streams)
        if len(engine.streams) > n0:
            self.index = index = dict(self.index)  # (a new one: a published index never changes)
            for st in islice(engine.streams.values(), n0, None):
                index[st.key] = len(streams)
                streams.append(st)
                self.versions.append(-1)
                self.built.append(now)
                self.full.append(False)
                self.views.append(None)
        versions = self.versions
        if engine.ended:
            todo: Iterable[int] = range(len(streams))
        else:
            todo = [i for i, st in enumerate(streams) if st.version != versions[i]]
            q, built = self.queue, self.built
            while q and now - q[0][0] >= VIEW_REUSE_S:  # (the very test a view's reuse always had)
                t, i = q.popleft()
                if built[i] == t:
                    todo.append(i)
            if focus != self.focus:
                old = self.focus
                if focus is None or old is None:
                    fulls = self.full
                    todo.extend(i for i, st in enumerate(streams) if (focus is None or st.key in focus) != fulls[i])
                else:
                    index = self.index
                    todo.extend(index[k] for k in old ^ focus if k in index)
            if len(todo) > 1:
                todo = dict.fromkeys(todo)
        self.focus = focus
        views, built, fulls, q = self.views, self.built, self.full, self.queue
        view = engine.view
        # the hour history goes with the focused streams (a handful); with no focus, only while few
        hour_all = focus is not None or len(streams) <= HOUR_ALL_MAX
        for i in todo:
            st = streams[i]
            full = focus is None or st.key in focus
            views[i] = view(st, depth, ntrades, hour_all) if full else view(st, 0, 0)
            versions[i] = st.version
            built[i] = now
            fulls[i] = full
            q.append((now, i))
        if len(q) > 4 * len(streams) + 64:  # (when everything is rebuilt every time: the source ended)
            self.queue = deque((t, i) for t, i in q if built[i] == t)
        return tuple(views)  # type: ignore[arg-type]


def _members(conn: Conn):
    return conn.streams.values()


def _brief(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"
