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
from typing import Any, Callable

from .core.snapshot import BadRecord, ConnView, Snapshot, StreamView
from .core.stream import BOOK_EMPTY, Event, Stream
from .core.text import clean
from .venues import venue_for
from .venues.base import FetchCallback, Venue

TICK = 0.1  # seconds of engine clock between health evaluations
FRAMES_KEPT = 50  # latest frames kept per stream that shows frames (generic feeds)


class Conn:
    """One connection: its venue adapter and the streams it carries.  Implements ``ConnContext``."""

    def __init__(self, engine: "Engine", conn_id: str, addr: str, live: bool, transport: Any = None,
                 venue: type[Venue] | None = None) -> None:
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
        self.up = True
        self.last_ts: float | None = None
        self.venue: Venue = (venue or venue_for(addr))(self)

    # ---- ConnContext -----------------------------------------------------------------------
    def stream(self, symbol: str, channel: str, *, book: bool = False, tape: bool = False,
               venue: str | None = None, frames: bool = False) -> Stream:
        st = self.engine.get_stream(venue or self.venue.name, symbol, channel, book=book, tape=tape,
                                    frames=frames)
        if st.key not in self.streams:
            self.streams[st.key] = st
            self.engine.attach(st)
        return st

    def heartbeat(self, ts: float) -> None:
        self.heartbeats += 1

    def fetch(self, url: str, callback: FetchCallback) -> None:
        def answer(body: str | None, err: str | None, ts: float) -> None:
            # an answer for a connection since replaced must not load into the new one's books
            if self.engine.conns.get(self.conn_id) is self:
                callback(body, err, ts)

        self.engine.fetch(self, url, answer)

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
        return ConnView(self.conn_id, self.addr, self.venue.name, self.messages, self.bytes, self.heartbeats,
                        self.parse_errors, self.connects, self.up, self.last_ts)


class Engine:
    def __init__(
        self,
        *,
        stale_after: float = 5.0,
        lag_after: float = 3.0,
        stale_overrides: dict[str, float] | None = None,
        book_depth: int = 50,
        tape_depth: int = 100,
        events_max: int = 2000,
        bad_max: int = 1000,
        source: str = "replay",
        file: str | None = None,
    ) -> None:
        self.stale_after = stale_after
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
        self.replay: Any = None  # the replay source, when there is one (position, speed, pause)
        self.live: Any = None  # the live source, when there is one (its ``backlog`` is published)
        self._ever_connected: set[str] = set()
        self.exch_offset = 0.0

    def set_exch_offset(self, offset: float) -> None:
        """Receive time is shifted by ``offset`` from the venues' own clocks (a looped replay)."""
        self.exch_offset = offset
        for st in self.streams.values():
            st.exch_offset = offset

    # ---------------------------------------------------------------- streams and events
    def event(self, ev: Event) -> None:
        self.events.append(ev)
        self.events_total += 1

    def stale_for(self, key: str) -> float:
        for pat, v in self.stale_overrides.items():
            if key == pat or fnmatchcase(key, pat):
                return v
        return self.stale_after

    def get_stream(self, venue: str, symbol: str, channel: str, *, book: bool = False,
                   tape: bool = False, frames: bool = False) -> Stream:
        k = (venue, symbol, channel)
        st = self.streams.get(k)
        if st is None:
            key = f"{venue}:{symbol}:{channel}"
            st = Stream(venue, symbol, channel, book=book, tape=tape, stale_after=self.stale_for(key),
                        lag_after=self.lag_after, sink=self.event, now=self.now, tape_len=max(50, self.tape_depth),
                        frames=FRAMES_KEPT if frames else 0)
            st.exch_offset = self.exch_offset
            self.streams[k] = st
        return st

    def attach(self, st: Stream) -> None:
        """A connection declared ``st``: the stream's connection is (re)starting now."""
        again = st.key in self._ever_connected
        self._ever_connected.add(st.key)
        st.connection_up(self.now, reconnect=again)

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
        conn = Conn(self, conn_id, addr, live, transport, venue)
        conn.connects = connects
        self.conns[conn_id] = conn
        self.event(Event(ts, conn_id, "connect", clean(addr, 200)))
        try:
            conn.venue.on_connect(ts)
        except Exception as exc:  # an adapter bug must not stop the source
            conn.parse_error(f"on_connect failed: {exc!r}", ts)
        return conn

    def sent(self, conn_id: str, text: str, ts: float, addr: str | None = None) -> None:
        conn = self.conns.get(conn_id)
        if conn is None:
            conn = self.open(conn_id, addr or f"unknown://{conn_id}", ts)
        try:
            conn.venue.on_send(text, ts)
        except Exception as exc:
            conn.parse_error(f"could not read sent frame: {exc!r}", ts)

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
        self.messages += 1
        self.bytes += n
        try:
            conn.venue.on_frame(data, ts)
        except Exception as exc:
            self._frame_failed(conn, exc, data, ts)

    def _frame_failed(self, conn: Conn, exc: Exception, data: str | bytes, ts: float) -> None:
        """A frame the adapter could not handle: reported, and any book it had begun to change (the
        streams that took data at this very instant) is marked out of sync: a half-applied frame must
        not leave a wrong book looking fine."""
        why = _brief(exc)
        conn.parse_error(f"{conn.venue.name} frame not understood: {why}: {str(data)[:120]}", ts)
        for st in conn.streams.values():
            if st.book is not None and st.last_ts == ts and st.book_state is not BOOK_EMPTY:
                st.parse_errors += 1
                st.mark_out_of_sync(f"a frame failed while being applied ({clean(why, 120)})", ts)
                conn.resubscribe(st, "a frame failed while being applied")

    def close(self, conn_id: str, ts: float, reason: str = "") -> None:
        conn = self.conns.get(conn_id)
        if conn is None or not conn.up:
            return
        conn.up = False
        self.event(Event(ts, conn_id, "disconnect", clean(reason, 200)))
        for st in conn.streams.values():
            st.connection_down(ts)

    def fetch(self, conn: Conn, url: str, callback: FetchCallback) -> None:
        if self.fetcher is None:
            self.defer(callback, None, "no REST access in this mode")
        else:
            self.fetcher(conn, url, callback)

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
        for st in self.streams.values():
            st.evaluate(now)

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
    def view(self, st: Stream, depth: int, ntrades: int) -> StreamView:
        now = self.now
        r1, r10 = st.rates(now)
        if self.ended:
            r1 = r10 = 0.0
        p50, p99 = st.latency_ms()
        book = st.book
        if book is not None:
            bids = tuple(book.bids.top(depth))
            asks = tuple(book.asks.top(depth))
            levels = (len(book.bids), len(book.asks))
            updates = book.updates
        else:
            bids = asks = ()
            levels = (0, 0)
            updates = 0
        tape = st.tape
        if tape:
            n = min(ntrades, len(tape))
            trades = tuple(tape[-1 - i] for i in range(n))
        else:
            trades = ()
        return StreamView(
            key=st.key, venue=st.venue, symbol=st.symbol, channel=st.channel, state=st.state,
            state_since=st.state_since, reason=st.compute_state(now)[1], messages=st.messages, bytes=st.bytes,
            last_size=st.last_size, rate_1s=r1, rate_10s=r10, history=st.history(now),
            last_age_s=st.age(now), latency_ms_p50=p50, latency_ms_p99=p99, gaps=st.gaps,
            checksum_ok=st.checksum_ok, checksum_failed=st.checksum_failed, resyncs=st.resyncs,
            latency_counts=tuple(st.lat_counts), latency_sum=st.lat_sum,
            reconnects=st.reconnects, parse_errors=st.parse_errors, crossed=st.crossed,
            has_book=book is not None, book_state=st.book_state, bids=bids, asks=asks, book_levels=levels,
            book_updates=updates, has_tape=tape is not None, trades=trades, trades_total=st.trades_total,
            stale_after=st.stale_after, version=st.version,
            frames=tuple(reversed(st.frames)) if st.frames else (), has_frames=st.frames is not None,
        )

    def snapshot(self, depth: int | None = None, ntrades: int | None = None, events: int = 500) -> Snapshot:
        depth = self.book_depth if depth is None else depth
        ntrades = self.tape_depth if ntrades is None else ntrades
        self._seq += 1
        rp = self.replay
        evs = tuple(self.events)
        if events < len(evs):
            evs = evs[-events:]
        return Snapshot(
            seq=self._seq, source=self.source, file=self.file, now=self.now, wall=time.time(),
            elapsed_s=time.time() - self._wall0, messages=self.messages, bytes=self.bytes,
            streams=tuple(self.view(st, depth, ntrades) for st in self.streams.values()),
            connections=tuple(c.view() for c in self.conns.values()),
            events=evs, events_total=self.events_total,
            bad_records=tuple(self.bad_records), bad_records_total=self.bad_total, ended=self.ended,
            start=getattr(rp, "start", None), end=getattr(rp, "end", None),
            speed=getattr(rp, "speed", None), paused=getattr(rp, "paused", False),
            loop=getattr(rp, "loop_no", 1), loops=getattr(rp, "loops", 1),
            backlog=getattr(rp if rp is not None else self.live, "backlog", 0), notes=tuple(self.notes),
        )

    def publish(self) -> Snapshot:
        snap = self.snapshot()
        self.latest = snap
        for fn in self.on_publish:
            fn(snap)
        return snap

    def restart_clock(self) -> None:
        """Start the wall-clock ``elapsed_s`` over (a replay was restarted)."""
        self._wall0 = time.time()


def _brief(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"
