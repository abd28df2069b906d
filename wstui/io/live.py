"""Live public feeds: one WebSocket per venue, driving the engine exactly as a replay does.

- Each feed (a venue and its symbols) runs in its own asyncio task: connect, subscribe, read every
  frame into the engine (``open``/``sent``/``frame``/``close``), reconnect with capped exponential backoff
  and jitter after a loss.  A reconnect reopens the same connection id, so the engine counts it and every
  book waits for a fresh snapshot; a removed feed stops retrying.
- Keep-alive: WebSocket pings (``ping_interval``/``ping_timeout``) find a dead TCP link in seconds; the
  venue's own ping (``Venue.keepalive()``) is sent too and an unanswered one closes the connection.
- ``tick`` runs every ``TICK_S`` so a silent stream goes stale on time, whether or not frames arrive.
- REST snapshots (``engine.fetcher``) go through :class:`~wstui.io.rest.RestClient`, scheduled within
  each venue's REST weight budget (``Limits``); the answer reaches the adapter through ``engine.defer``.
  A book whose snapshot waits its turn shows "snapshot queued: N ahead, ~S s" (updated every tick).
  Stopping abandons requests still unanswered (noted in the summary).
- Resubscribe (a book known wrong): the venue's unsubscribe/subscribe frames when it has them, else a
  reconnect; at most one per ``RESUB_MIN_INTERVAL_S`` per stream (one asked sooner is sent when the
  interval runs out, never dropped).  A book out of sync for longer than ``resync_timeout`` gets its
  connection reconnected (:class:`~wstui.io.resync.ResyncWatchdog`).
- Every failure (DNS, TLS, refused, HTTP status on the handshake, server close, ping timeout) becomes a
  clear reason on ``engine.close`` (streams ``down``) and an event; never a traceback.
- ``backlog_frames`` (published in the snapshot) is the number of frames our read loop took off the
  sockets and has not yet processed (a reader task per connection queues them, stamped on arrival).
- With a :class:`~wstui.io.record.Recorder` every frame is written with its receive time, before the
  engine sees it.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
from collections import deque
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import (ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI)

from ..core.snapshot import SourceStatus
from ..core.stream import BOOK_OK, Event
from ..core.text import clean
from ..venues.generic import Generic
from .backoff import Backoff
from .resync import ResyncWatchdog
from .rest import LOOPBACK, REST_SPACING_S, RestClient
from .spec import Feed, SpecError, parse_stream

TICK_S = 0.2  # health evaluation period
MAX_QUEUE = 4096  # frames websockets may buffer before it stops reading the socket
MAX_SIZE = 16 * 2**20  # largest frame accepted (book snapshots can be big)
RESUB_MIN_INTERVAL_S = 2.0  # a stream is resubscribed at most this often
YIELD_EVERY = 256  # frames processed between yields to other connections
CLOSE_TIMEOUT_S = 1.0  # wait this long for the close handshake (a dead peer never answers)


# ---------------------------------------------------------------------------------- error text
def describe_error(exc: BaseException, url: str) -> str:
    """One clear line for a failure to open ``url``."""
    p = urlsplit(url)
    host = p.hostname or url
    where = f"{host}:{p.port}" if p.port else host
    if isinstance(exc, InvalidStatus):
        r = exc.response
        body = clean(bytes(r.body or b"").decode("utf-8", "replace"), 120) if r.body else ""
        return f"HTTP {r.status_code} {clean(r.reason_phrase, 60)} from {where} during the WebSocket handshake" + (
            f": {body}" if body else "")
    if isinstance(exc, InvalidURI):
        return f"bad WebSocket address {clean(url, 200)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {where} not trusted: {clean(exc.verify_message or exc, 160)}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {clean(exc.reason or exc, 160)}"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed for {host}: {clean(exc.strerror or exc, 120)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(exc, ConnectionResetError):
        tls = " (during the TLS handshake: is it really a wss:// server?)" if p.scheme == "wss" else ""
        return f"connection reset by {where}{tls}"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return f"timed out opening the connection to {where}"
    if isinstance(exc, InvalidHandshake):
        return f"WebSocket handshake with {where} failed: {clean(exc, 160)}"
    if isinstance(exc, OSError):
        return f"network error reaching {where}: {clean(exc.strerror or exc, 160)}"
    return f"{type(exc).__name__}: {clean(exc, 160)}"


def describe_close(exc: ConnectionClosed | None, ws: Any, ping_timeout: float | None) -> str:
    rcvd = exc.rcvd if exc is not None else getattr(getattr(ws, "protocol", None), "close_rcvd", None)
    sent = exc.sent if exc is not None else getattr(getattr(ws, "protocol", None), "close_sent", None)
    if rcvd is not None:
        reason = f" {clean(rcvd.reason, 120)}" if rcvd.reason else ""
        return f"server closed the connection (code {int(rcvd.code)}{reason})"
    if sent is not None and "keepalive ping timeout" in (sent.reason or ""):
        return f"no pong within {ping_timeout:g} s: the connection is dead (WebSocket ping timeout)"
    if sent is not None:
        return f"closed by us (code {int(sent.code)} {clean(sent.reason, 120)})"
    return "connection lost without a close frame (reset or EOF)"


# ---------------------------------------------------------------------------------- the source
class Live:
    """Live WebSocket feeds as a source for the engine (``run(engine)``, like :class:`Replay`)."""

    def __init__(
        self,
        feeds: Sequence[Feed],
        *,
        duration: float | None = None,
        recorder: Any = None,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
        open_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        resync_timeout: float | None = None,
        rest_spacing: float = REST_SPACING_S,
        rng=random.random,
        share: float = 1.0,
    ) -> None:
        self.feeds: list[Feed] = list(feeds)
        # this process's part of each venue's per-address budgets (new connections per window, REST weight
        # per minute): 1/N in each of ``watch --workers N``'s workers, which share one address
        self.share = min(1.0, max(0.0, share)) or 1.0
        self.duration = duration
        self.recorder = recorder
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.resync_timeout = resync_timeout
        self.rest_spacing = rest_spacing
        self._rng = rng
        self.engine: Any = None
        self.done = False
        self.frames = 0  # frames processed (handed to the engine)
        self.frames_received = 0  # frames our read loops took from the sockets
        self.frames_unprocessed = 0  # frames still queued when their session ended (stopping)
        self._rec_reported = False  # the recorder's failure was told (event, note)
        self._rec_overflow = False
        self.backlog_peak = 0  # most frames ever seen waiting (sampled every tick)
        self.started: float | None = None
        self._stopping = False
        self._stop_ev: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_conn: dict[str, Feed] = {f.conn_id: f for f in self.feeds}
        self.rest = RestClient(rest_spacing, recorder)
        self._queued: set = set()  # streams shown waiting for a queued REST snapshot
        self._connect_times: dict[str, deque[float]] = {}  # venue -> recent connection attempts
        self.watchdog = ResyncWatchdog(resync_timeout)
        self._tasks: set[asyncio.Task] = set()  # sends and closes (waited for, briefly, when stopping)

    # ---------------------------------------------------------------- controls (any thread)
    @property
    def backlog_frames(self) -> int:
        """Frames our read loops received and have not yet processed (counted by us, per feed)."""
        return sum(len(f.queued) for f in self.feeds if f.queued is not None)

    def status(self) -> SourceStatus:
        rec = self.recorder
        return SourceStatus(backlog_frames=self.backlog_frames,
                            recording_error=getattr(rec, "error", None),
                            recording_dropped=getattr(rec, "dropped", 0),
                            rest=tuple(self.rest.stats()))

    def stop(self) -> None:
        self._stopping = True
        self._call(lambda: self._stop_ev.set() if self._stop_ev is not None else None)

    def remove(self, what: str) -> bool:
        """Stop a feed for good: ``what`` is a connection id, a venue name or a stream spec.  Removing
        one symbol of several reconnects the feed without it.  True when something matched."""
        hit = False
        for f in self.feeds:
            if f.removed:
                continue
            if what in (f.conn_id, f.venue.name, f.url, f.label):
                hit = True
                self._call(lambda f=f: self._drop(f))
                continue
            try:
                cls, sym, _url = parse_stream(what)
            except SpecError:
                continue
            if cls is f.venue and sym in f.symbols:
                hit = True
                self._call(lambda f=f, sym=sym: self._drop_symbol(f, sym))
        return hit

    def _drop_symbol(self, f: Feed, sym: str) -> None:
        if sym not in f.symbols:
            return
        f.symbols.remove(sym)
        if not f.symbols:
            self._drop(f)
            return
        f.retarget()
        self._reconnect(f, f"{f.venue.name}:{sym} removed; reconnecting without it")

    def _call(self, fn) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            fn()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def _drop(self, f: Feed) -> None:
        f.removed = True
        f.close_reason = "stream removed"
        if f.wake is not None:
            f.wake.set()
        if f.ws is not None:
            self._spawn(self._close_ws(f.ws, 1000, "stream removed"))

    # ---------------------------------------------------------------- running
    async def run(self, engine) -> None:
        self.engine = engine
        engine.set_source(self)
        engine.fetcher = self._fetch
        self._loop = asyncio.get_running_loop()
        self._stop_ev = asyncio.Event()
        if self._stopping:
            self._stop_ev.set()
        self.started = time.time()
        for f in self.feeds:
            f.wake = asyncio.Event()
            f.task = asyncio.create_task(self._run_feed(f), name=f"wstui-{f.conn_id}")
        ticker = asyncio.create_task(self._ticker(), name="wstui-tick")
        try:
            if self.duration is not None:
                try:
                    await asyncio.wait_for(self._stop_ev.wait(), self.duration)
                except asyncio.TimeoutError:
                    pass
            else:
                await self._stop_ev.wait()
        finally:
            self._stopping = True
            ticker.cancel()
            try:
                await self._shutdown()
            finally:  # even when cancelled meanwhile (EngineThread.stop cancels): the file is complete
                for f in self.feeds:
                    if f.task is not None:
                        f.task.cancel()
                    if f.ws is not None:
                        f.ws.transport.abort()
                now = time.time()
                engine.tick(now)
                unprocessed = self.frames_unprocessed + self.backlog_frames  # sessions cancelled just now
                engine.notes.append(f"live: {sum(c.messages for c in engine.conns.values())} frames in "
                                    f"{now - self.started:.1f} s; peak backlog {self.backlog_peak} frames"
                                    + (f"; {unprocessed} frames received but not processed when "
                                       f"stopping" if unprocessed else ""))
                if self.recorder is not None:
                    self.recorder.close()
                    self._check_recorder(time.time())
                    note = self.recorder.overflow_note()
                    if note:
                        engine.notes.append(note)
                self.done = True

    async def _shutdown(self) -> None:
        """Abandon REST requests still unanswered, close every socket politely (bounded), then let the
        feed tasks finish."""
        left = self.rest.abandon()
        if left:
            self.engine.notes.append(f"live: {len(left)} REST request(s) still unanswered when stopping: "
                                     + ", ".join(clean(u, 120) for u in left[:3]))
        for f in self.feeds:
            if f.wake is not None:
                f.wake.set()
        closing = [asyncio.ensure_future(self._close_ws(f.ws, 1000, "client stopping"))
                   for f in self.feeds if f.ws is not None]
        if closing:
            await asyncio.wait(closing, timeout=2.0)
        for f in self.feeds:
            if f.task is not None:
                f.task.cancel()
        await asyncio.gather(*(f.task for f in self.feeds if f.task is not None), return_exceptions=True)
        for _ in range(3):  # sends, closes and fetches still running (finishing tasks may start closes)
            if not self._tasks:
                break
            await asyncio.wait(list(self._tasks), timeout=CLOSE_TIMEOUT_S + 0.5)
        for t in list(self._tasks):
            t.cancel()

    async def _ticker(self) -> None:
        engine = self.engine
        while True:
            await asyncio.sleep(TICK_S)
            now = time.time()
            engine.tick(now)
            self.watchdog.check(self.feeds, engine.conns, now, self.rest.pending, self._reconnect)
            if self._queued or self.rest.inflight:
                self._show_queue()
            b = self.backlog_frames
            if b > self.backlog_peak:
                self.backlog_peak = b
            if self.recorder is not None:
                self._check_recorder(now)

    def _check_recorder(self, now: float) -> None:
        """A recording that stopped being written (disk full, I/O error) or fell behind: said at once."""
        rec = self.recorder
        err = getattr(rec, "error", None)
        if err and not self._rec_reported:
            self._rec_reported = True
            self.engine.event(Event(now, "recorder", "record_failed", clean(err, 200)))
            self.engine.notes.append(f"{clean(err, 200)}: nothing more is recorded (records dropped are counted)")
        note = rec.overflow_note() if hasattr(rec, "overflow_note") else None
        if note and not self._rec_overflow:
            self._rec_overflow = True
            self.engine.event(Event(now, "recorder", "record_dropping", clean(note, 200)))

    async def _run_feed(self, f: Feed) -> None:
        engine = self.engine
        backoff = Backoff(self.backoff_base, self.backoff_cap, rng=self._rng)
        declared = False
        while not (f.removed or self._stopping):
            await self._connect_slot(f)
            if f.removed or self._stopping:
                break
            f.attempts += 1
            t0 = time.time()
            f.attempt_times.append(t0)
            host = urlsplit(f.url).hostname or ""
            if not declared:
                # declared before connecting: a handshake that never ends still shows its streams,
                # connecting, then stale, then down with the reason (issue 9)
                _conn, subs = self._open_in_engine(f, t0)
                for text in subs:
                    engine.sent(f.conn_id, text, t0, sent=False)  # declared now, counted when sent
                declared = True
                f.predeclared = True
            try:
                ws = await connect(
                    f.url, open_timeout=self.open_timeout, ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout, close_timeout=CLOSE_TIMEOUT_S, max_queue=MAX_QUEUE,
                    max_size=MAX_SIZE, user_agent_header="wstui", compression=f.venue.compression,
                    **({"proxy": None} if host in LOOPBACK else {}),
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure becomes a reason, never a traceback
                reason = f"connect failed: {describe_error(exc, f.url)}"
                ts = time.time()
                f.predeclared = False
                conn = engine.conns.get(f.conn_id)
                if conn is not None and conn.up:
                    engine.close(f.conn_id, ts, reason)
                else:
                    engine.event(Event(ts, f.conn_id, "connect_failed", clean(reason, 200)))
                f.last_error = reason
            else:
                declared = True
                if f.removed or self._stopping:
                    await self._close_ws(ws, 1000, "stream removed")
                    break
                got_data = await self._session(f, ws)
                if got_data:
                    backoff.reset()
            if f.removed or self._stopping:
                break
            delay = backoff.next()
            f.delays.append(delay)
            f.delays_total += 1
            f.wake.clear()
            try:
                await asyncio.wait_for(f.wake.wait(), delay)
            except asyncio.TimeoutError:
                pass

    def _open_in_engine(self, f: Feed, ts: float):
        if f.predeclared:  # the first session uses the connection declared before connecting
            f.predeclared = False
            conn = self.engine.conns.get(f.conn_id)
            if conn is not None and conn.up:
                return conn, f.send if f.venue is Generic else conn.venue.subscribe_messages(f.symbols)
        conn = self.engine.open(f.conn_id, f.url, ts, live=True, transport=self, venue=f.venue)
        return conn, f.send if f.venue is Generic else conn.venue.subscribe_messages(f.symbols)

    async def _session(self, f: Feed, ws) -> bool:
        """One connection from open to close.  True when it carried stream data."""
        engine = self.engine
        rec = self.recorder
        cid = f.conn_id
        f.sessions += 1
        f.close_reason = None
        ts = time.time()
        conn, subs = self._open_in_engine(f, ts)
        f.ws = ws
        ext = getattr(getattr(ws, "response", None), "headers", {}).get("Sec-WebSocket-Extensions") or ""
        conn.extensions = clean(ext, 120)
        if ext:
            engine.event(Event(ts, cid, "extension", conn.extensions))
        f.last_rx = ts
        f.send_at = 0.0
        self._cancel_resubs(f)
        f.bad_since.clear()
        if rec is not None:
            rec.connect(cid, ts, f.venue_url or f.url, f.url)
        ka_task = None
        exc_closed: ConnectionClosed | None = None
        n = 0
        base: dict[str, int] = {}
        try:
            for text in subs:
                wait = self._pace(f)  # within the venue's messages-per-second limit
                if wait:
                    await asyncio.sleep(wait)
                t = time.time()
                if rec is not None:
                    rec.send(cid, t, f.venue_url or f.url, text)
                engine.sent(cid, text, t)  # declared even if the send fails: the streams show why
                await ws.send(text)
            base = {k: st.messages for k, st in conn.streams.items()}
            ka = None
            try:
                ka = conn.venue.keepalive()
            except Exception:
                ka = None
            if ka:
                ka_task = asyncio.create_task(self._keepalive(f, ws, float(ka[0]), str(ka[1])))
            # a reader task takes frames off the socket (stamped and recorded on arrival) into our own
            # queue; this loop processes them: the queue's length is the backlog, in frames
            frame = engine.frame
            q: deque = deque()
            f.queued = q
            more = asyncio.Event()
            room = asyncio.Event()
            reader = asyncio.create_task(self._read(f, ws, q, more, room))
            try:
                while True:
                    if not q:
                        if reader.done():
                            break
                        more.clear()
                        await more.wait()
                        continue
                    t, msg = q.popleft()
                    frame(cid, msg, t)
                    n += 1
                    if n % YIELD_EVERY == 0:
                        room.set()
                        await asyncio.sleep(0)
                    elif not room.is_set() and len(q) < MAX_QUEUE // 2:
                        room.set()
                reader.result()  # the reason the socket ended (ConnectionClosed, ...)
            finally:
                reader.cancel()
        except ConnectionClosed as exc:
            exc_closed = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a transport bug must not kill the feed
            f.close_reason = f.close_reason or f"read failed: {type(exc).__name__}: {clean(exc, 160)}"
        finally:
            if ka_task is not None:
                ka_task.cancel()
            f.ws = None
            if f.queued:
                self.frames_unprocessed += len(f.queued)  # stopping: received (and recorded), not shown
            f.queued = None
            self.frames += n
            t = time.time()
            if not self._stopping or f.removed:
                reason = f.close_reason or describe_close(exc_closed, ws, self.ping_timeout)
                engine.close(cid, t, reason)
                if rec is not None:
                    rec.disconnect(cid, t, reason)
            elif rec is not None:
                rec.disconnect(cid, t, "client stopped")
            if ws.state is not websockets.protocol.State.CLOSED:
                self._spawn(self._close_ws(ws, 1000, "bye"))
        return any(st.messages > base.get(k, 0) for k, st in conn.streams.items())

    async def _read(self, f: Feed, ws, q: deque, more: asyncio.Event, room: asyncio.Event) -> None:
        """Take frames off the socket into ``q`` (at most ``MAX_QUEUE`` waiting: then the socket waits)."""
        rec = self.recorder
        cid = f.conn_id
        try:
            async for msg in ws:
                t = time.time()
                f.last_rx = t
                if rec is not None:
                    rec.recv(cid, t, msg)
                q.append((t, msg))
                self.frames_received += 1
                more.set()
                if len(q) >= MAX_QUEUE:
                    room.clear()
                    await room.wait()
        finally:
            more.set()

    async def _keepalive(self, f: Feed, ws, interval: float, text: str) -> None:
        """Send the venue's ping every ``interval``; nothing received since the last one: dead."""
        sent_at = None
        while True:
            await asyncio.sleep(interval)
            if sent_at is not None and f.last_rx < sent_at:
                f.close_reason = f"no answer to the venue's keep-alive ping within {interval:g} s"
                ws.transport.abort()
                return
            sent_at = time.time()
            self._send_text(f, ws, text, subscription=False)

    async def _close_ws(self, ws, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(ws.close(code, reason[:120]), 3.0)
        except Exception:
            try:
                ws.transport.abort()
            except Exception:
                pass

    def _spawn(self, coro) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _send_text(self, f: Feed, ws, text: str, subscription: bool) -> None:
        t = time.time()
        if self.recorder is not None:
            self.recorder.send(f.conn_id, t, f.venue_url or f.url, text)
        if subscription:
            self.engine.sent(f.conn_id, text, t)
        self._spawn(self._send_quiet(ws, text, self._pace(f)))

    @staticmethod
    def _pace(f: Feed) -> float:
        """Seconds to wait before the next frame sent on ``f``: its venue's messages-per-second limit, with
        20% headroom for the WebSocket pings some venues count too.  Frames keep their order."""
        rate = f.venue.limits.msgs_per_s
        if not rate:
            return 0.0
        now = time.monotonic()
        at = max(now, f.send_at)
        f.send_at = at + 1.2 / rate
        return at - now

    async def _connect_slot(self, f: Feed) -> None:
        """Wait until the venue's new-connections-per-window limit allows one more (reconnects of many
        connections are staggered by it too)."""
        lim = f.venue.limits.conns_per_window
        if lim is None:
            return
        count, window = lim
        count = max(1, int(count * self.share))
        q = self._connect_times.setdefault(f.venue.name, deque())
        said = False
        while True:
            now = time.monotonic()
            while q and now - q[0] >= window:
                q.popleft()
            if len(q) < count:
                q.append(now)
                return
            wait = q[0] + window - now
            if not said and self.engine is not None:  # said once: why this connection is not back yet
                said = True
                self.engine.event(Event(time.time(), f.conn_id, "connect_queued",
                                        f"waiting {wait:.1f} s for {f.venue.name}'s connection budget "
                                        f"({count} new connections per {window:g} s)"))
            await asyncio.sleep(wait)

    @staticmethod
    async def _send_quiet(ws, text: str, delay: float = 0.0) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            await ws.send(text)
        except ConnectionClosed:
            pass  # the reader sees the close and reports it

    # ---------------------------------------------------------------- transport (Conn calls these)
    def rtt(self, conn_id: str) -> float | None:
        """The latest WebSocket ping round trip of a connection, in ms (None before the first pong)."""
        f = self._by_conn.get(conn_id)
        ws = f.ws if f is not None else None
        lat = getattr(ws, "latency", 0.0) if ws is not None else 0.0
        return lat * 1000.0 if lat else None

    def send(self, conn, text: str) -> None:
        f = self._by_conn.get(conn.conn_id)
        if f is not None and f.ws is not None:
            self._send_text(f, f.ws, text, subscription=False)

    def resubscribe(self, conn, stream, reason: str) -> None:
        f = self._by_conn.get(conn.conn_id)
        if f is None or f.ws is None:
            return
        now = time.time()
        key = stream.key
        last = f.resub_at.get(key)
        if last is not None and now - last < RESUB_MIN_INTERVAL_S:
            # too soon after the last one: send it when the interval runs out (once), never drop it
            if key not in f.resub_later and self._loop is not None:
                f.resub_later[key] = self._loop.call_later(
                    last + RESUB_MIN_INTERVAL_S - now, self._resubscribe_due, f, f.ws, conn, stream, reason)
            return
        f.resub_at[key] = now
        try:
            msgs = conn.venue.resubscribe_messages(stream)
        except Exception:
            msgs = None
        if msgs is None:
            self.engine.event(Event(now, key, "resubscribe", f"reconnecting: {clean(reason, 160)}"))
            self._reconnect(f, f"resubscribe {key}: {reason}")
            return
        if not msgs:
            return  # the adapter repairs the book itself (a new REST snapshot): nothing to send
        self.engine.event(Event(now, key, "resubscribe", clean(reason, 160)))
        for text in msgs:
            self._send_text(f, f.ws, text, subscription=True)

    def _resubscribe_due(self, f: Feed, ws, conn, stream, reason: str) -> None:
        f.resub_later.pop(stream.key, None)
        if f.ws is ws and stream.book_state is not BOOK_OK:  # a new session asks for its own snapshots
            self.resubscribe(conn, stream, reason)

    @staticmethod
    def _cancel_resubs(f: Feed) -> None:
        for h in f.resub_later.values():
            h.cancel()
        f.resub_later.clear()

    def _reconnect(self, f: Feed, reason: str) -> None:
        ws = f.ws
        if ws is None:
            return
        f.close_reason = reason
        self._spawn(self._close_ws(ws, 1000, "reconnecting"))

    # ---------------------------------------------------------------- REST (engine.fetcher)
    def rest_url(self, f: Feed | None, url: str) -> str:
        if f is None or f.rest_base is None:
            return url
        p = urlsplit(url)
        b = urlsplit(f.rest_base)
        return urlunsplit((b.scheme, b.netloc, p.path, p.query, ""))

    def _fetch(self, conn, url: str, callback, stream=None) -> None:
        if self._stopping:
            return  # no new requests once stopping (an answer could not be used)
        f = self._by_conn.get(conn.conn_id)
        venue = getattr(conn, "venue", None) or (f.venue if f is not None else None)
        lim = getattr(venue, "limits", None)
        self.rest.get(conn.conn_id, url, self.rest_url(f, url), callback, self._deliver,
                      weight=getattr(lim, "snapshot_weight", None) or 1,
                      per_min=self._budget(getattr(lim, "rest_weight_per_min", None)), waiter=stream,
                      used_header=getattr(lim, "rest_used_weight_header", None),
                      address_per_min=getattr(lim, "rest_weight_per_min", None))

    def _budget(self, per_min: int | None) -> int | None:
        """A venue's REST weight per minute, this process's part of it."""
        return None if per_min is None else max(1, int(per_min * self.share))

    def _show_queue(self) -> None:
        """Books whose REST snapshot waits its turn show their place and the estimated wait (``snapshot
        queued: 37 ahead, ~12 s``); a book whose request was sent (or dropped) no longer does."""
        now = time.time()
        shown = set()
        for req in self.rest.estimate(now):
            for st in req.waiters:
                q = (req.ahead, req.eta)
                old = st.snap_queue
                if old is None or old[0] != q[0] or round(old[1] - now) != round(q[1] - now):
                    st.version += 1  # its row's text changes
                st.snap_queue = q
                shown.add(st)
        for st in self._queued - shown:
            st.snap_queue = None
            st.version += 1
        self._queued = shown

    def _deliver(self, callback, body: str | None, err: str | None) -> None:
        if self.engine is not None:
            self.engine.defer(callback, body, err)
