"""Live public feeds: one WebSocket per venue, driving the engine exactly as a replay does.

- Each feed (a venue and its symbols) runs in its own asyncio task: connect, subscribe, read every
  frame into the engine (``open``/``sent``/``frame``/``close``), reconnect with capped exponential backoff
  and jitter after a loss.  A reconnect reopens the same connection id, so the engine counts it and every
  book waits for a fresh snapshot; a removed feed stops retrying.
- Keep-alive: WebSocket pings (``ping_interval``/``ping_timeout``) find a dead TCP link in seconds; the
  venue's own ping (``Venue.keepalive()``) is sent too and an unanswered one closes the connection.
- ``tick`` runs every ``TICK_S`` so a silent stream goes stale on time, whether or not frames arrive.
- REST snapshots (``engine.fetcher``): fetched in a daemon thread (urllib), staggered, one request per URL
  in flight, failing URLs backed off; the answer reaches the adapter through ``engine.defer``.  Stopping
  abandons requests still unanswered (noted in the summary) instead of waiting up to ``REST_TIMEOUT_S``.
- Resubscribe (a book known wrong): the venue's unsubscribe/subscribe frames when it has them, else a
  reconnect; at most one per ``RESUB_MIN_INTERVAL_S`` per stream (one asked sooner is sent when the
  interval runs out, never dropped).  A book out of sync for longer than ``resync_timeout``, whatever the
  reason, gets its connection reconnected (the wait doubles while reconnecting does not fix it, to 60 s).
- Every failure (DNS, TLS, refused, HTTP status on the handshake, server close, ping timeout) becomes a
  clear reason on ``engine.close`` (streams ``down``) and an event; never a traceback.
- ``backlog`` (published in the snapshot) is the number of frames received but not yet processed.
- With a :class:`~wstui.io.record.Recorder` every frame is written with its receive time, before the
  engine sees it.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import (ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI)

from ..core.stream import BOOK_BAD, BOOK_OK, Event
from ..core.text import clean
from ..venues import VENUES, venue_by_name
from ..venues.base import Venue
from ..venues.generic import Generic

TICK_S = 0.2  # health evaluation period
MAX_QUEUE = 4096  # frames websockets may buffer before it stops reading the socket
MAX_SIZE = 16 * 2**20  # largest frame accepted (book snapshots can be big)
REST_SPACING_S = 0.25  # at least this long between two REST requests (staggering)
REST_TIMEOUT_S = 10.0
RESUB_MIN_INTERVAL_S = 2.0  # a stream is resubscribed at most this often
YIELD_EVERY = 256  # frames processed between yields to other connections
CLOSE_TIMEOUT_S = 1.0  # wait this long for the close handshake (a dead peer never answers)

CRYPTOFEED_IDS = {"kraken": "KRAKEN", "binance": "BINANCE", "binance-futures": "BINANCE_FUTURES"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SpecError(ValueError):
    """A stream spec, endpoint or option that cannot be used (shown as a clear error, exit 2)."""


def exchange_id(venue: str) -> str:
    """The cryptofeed exchange id for a venue name (used in connection ids: ``KRAKEN.ws.1``)."""
    return CRYPTOFEED_IDS.get(venue, venue.upper().replace("-", "_").replace(".", "_"))


def known_venues() -> list[str]:
    return [v.name for v in VENUES]


def parse_stream(spec: str) -> tuple[type[Venue], str | None, str | None]:
    """``"kraken:BTC/USD"`` -> (KrakenV2, "BTC/USD", None); ``"ws://host/path"`` -> (Generic, None, url)."""
    s = spec.strip()
    if s.startswith(("ws://", "wss://")):
        return Generic, None, check_ws_url(s, "stream")
    venue, sep, symbol = s.partition(":")
    if not sep or not venue or not symbol.strip():
        raise SpecError(f"stream {spec!r} is not VENUE:SYMBOL (e.g. kraken:BTC/USD) or a ws:// address")
    cls = venue_by_name(venue.strip().lower())
    if cls is None:
        raise SpecError(f"unknown venue {venue!r} in {spec!r} (known: {', '.join(known_venues())})")
    return cls, cls.stream_symbol(symbol.strip()), None


def check_ws_url(url: str, what: str) -> str:
    try:
        p = urlsplit(url)  # raises ValueError itself on a broken address ("ws://[::1")
    except ValueError:
        p = None
    if p is None or p.scheme not in ("ws", "wss") or not p.hostname:
        raise SpecError(f"{what}: {url!r} is not a ws:// or wss:// address")
    try:
        p.port
    except ValueError:
        raise SpecError(f"{what}: {url!r} has a bad port") from None
    return url


def parse_endpoint(text: str) -> tuple[str, str]:
    """``"kraken=ws://127.0.0.1:8765"`` -> ("kraken", url)."""
    venue, sep, url = text.partition("=")
    venue = venue.strip().lower()
    if not sep or not venue:
        raise SpecError(f"endpoint {text!r} is not VENUE=URL (e.g. kraken=ws://127.0.0.1:8765)")
    if venue_by_name(venue) is None:
        raise SpecError(f"unknown venue {venue!r} in endpoint {text!r} (known: {', '.join(known_venues())})")
    return venue, check_ws_url(url.strip(), f"endpoint for {venue}")


def override_url(default: str, override: str) -> str:
    """The venue's own URL moved to ``override``'s scheme, host and port; the override's path and query
    replace the default's when it has them (``ws://127.0.0.1:8765`` keeps ``/stream?streams=...``)."""
    d = urlsplit(default)
    o = urlsplit(override)
    path = o.path if o.path not in ("", "/") else d.path
    query = o.query or (d.query if o.path in ("", "/", d.path) else "")
    return urlunsplit((o.scheme, o.netloc, path, query, ""))


@dataclass
class Feed:
    """One connection: a venue, its symbols, where to connect."""

    venue: type[Venue]
    symbols: list[str]
    url: str
    conn_id: str
    override: str | None = None  # --endpoint for this venue
    rest_base: str | None = None  # scheme://host:port REST requests go to instead of the venue's host
    venue_url: str = ""  # the venue's own address for these symbols (what a recording names)
    send: list[str] = field(default_factory=list)  # frames sent after connecting (any ws:// feed: --send)
    removed: bool = False
    # runtime
    attempts: int = 0
    attempt_times: list[float] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    sessions: int = 0
    ws: Any = None
    last_rx: float = 0.0
    close_reason: str | None = None
    last_error: str | None = None
    resub_at: dict[str, float] = field(default_factory=dict)  # last resubscribe sent, per stream key
    resub_later: dict[str, asyncio.TimerHandle] = field(default_factory=dict)  # throttled, sent when due
    bad_since: dict[str, float] = field(default_factory=dict)  # book out of sync on this session since
    bad_reconnects: dict[str, int] = field(default_factory=dict)  # reconnects for it since it was last ok
    wake: asyncio.Event | None = None
    task: asyncio.Task | None = None
    predeclared: bool = False  # its streams were declared before the first connect finished

    def retarget(self) -> None:
        """Work out the addresses for the current symbols (venues may name streams in the URL)."""
        if self.venue is Generic:
            self.venue_url = self.url
            return
        self.venue_url = self.url = self.venue.endpoint(self.symbols)
        if self.override:
            self.url = override_url(self.url, self.override)
            o = urlsplit(self.override)
            self.rest_base = urlunsplit(("https" if o.scheme == "wss" else "http", o.netloc, "", "", ""))

    @property
    def label(self) -> str:
        return f"{self.venue.name}:{','.join(self.symbols)}" if self.symbols else self.url


def build_feeds(specs: Iterable[str], endpoints: dict[str, str] | None = None,
                send: Iterable[str] = ()) -> list[Feed]:
    """Group stream specs into one feed per venue (plus one per raw ws:// address, which sends ``send``
    after connecting: the subscribe message a feed that is no known venue may need)."""
    endpoints = endpoints or {}
    by_venue: dict[str, tuple[type[Venue], list[str]]] = {}
    raw: list[str] = []
    for spec in specs:
        cls, sym, url = parse_stream(spec)
        if url is not None:
            if url not in raw:
                raw.append(url)
            continue
        ent = by_venue.setdefault(cls.name, (cls, []))
        if sym not in ent[1]:
            ent[1].append(sym)
    feeds = []
    for name, (cls, syms) in by_venue.items():
        feeds.append(Feed(cls, syms, "", f"{exchange_id(name)}.ws.1", override=endpoints.get(name)))
    for i, url in enumerate(raw, 1):
        host = (urlsplit(url).hostname or "ws").upper()
        feeds.append(Feed(Generic, [], url, f"{host}.ws.{i}", send=list(send)))
    for f in feeds:
        f.retarget()
    return feeds


class Backoff:
    """Capped exponential backoff with "equal jitter": the n-th delay after consecutive failures lies
    in ``[c/2, c]`` with ``c = min(cap, base * factor**n)``."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, factor: float = 2.0,
                 rng=random.random) -> None:
        if not (0 < base <= cap) or factor < 1:
            raise SpecError(f"backoff needs 0 < base <= cap and factor >= 1 (base={base}, cap={cap})")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.n = 0
        self._rng = rng

    def bounds(self, n: int) -> tuple[float, float]:
        c = min(self.cap, self.base * self.factor ** min(n, 64))
        return c / 2.0, c

    def next(self) -> float:
        lo, hi = self.bounds(self.n)
        self.n += 1
        return lo + (hi - lo) * self._rng()

    def reset(self) -> None:
        self.n = 0


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


# ---------------------------------------------------------------------------------- REST
def http_get(url: str, timeout: float = REST_TIMEOUT_S) -> str:
    """GET ``url`` (run in a thread).  Raises ``RuntimeError`` with a clear message on failure."""
    host = urlsplit(url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={"User-Agent": "wstui", "Accept": "application/json"})
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(200).decode("utf-8", "replace")
        except Exception:
            body = ""
        raise RuntimeError(f"HTTP {exc.code} {exc.reason} from {host}" + (f": {clean(body, 120)}" if body else "")) from None
    except urllib.error.URLError as exc:
        r = exc.reason
        if isinstance(r, socket.gaierror):
            raise RuntimeError(f"DNS lookup failed for {host}") from None
        raise RuntimeError(f"REST request to {host} failed: {clean(r, 160)}") from None
    except (TimeoutError, socket.timeout):
        raise RuntimeError(f"REST request to {host} timed out after {timeout:g} s") from None
    except OSError as exc:
        raise RuntimeError(f"REST request to {host} failed: {clean(exc, 160)}") from None


async def get_in_thread(url: str) -> str:
    """:func:`http_get` in a daemon thread of its own.  Unlike ``asyncio.to_thread`` (whose worker
    ``asyncio.run`` and the interpreter wait for at exit) a request that hangs never delays stopping:
    cancelling the await abandons it, and an answer arriving after the loop closed is dropped."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def deliver(body: str | None, exc: BaseException | None) -> None:
        if not fut.done():
            if exc is None:
                fut.set_result(body)
            else:
                fut.set_exception(exc)

    def work() -> None:
        body = exc = None
        try:
            body = http_get(url)
        except Exception as e:
            exc = e
        try:
            loop.call_soon_threadsafe(deliver, body, exc)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this answer any more

    threading.Thread(target=work, name="wstui-rest", daemon=True).start()
    return await fut


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
    ) -> None:
        self.feeds: list[Feed] = list(feeds)
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
        self.frames = 0
        self.backlog_peak = 0  # most frames ever seen waiting (sampled every tick)
        self.started: float | None = None
        self._stopping = False
        self._stop_ev: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_conn: dict[str, Feed] = {f.conn_id: f for f in self.feeds}
        self._inflight: dict[str, list] = {}
        self._rest_next = 0.0
        self._rest_fail: dict[str, tuple[int, float]] = {}
        self._tasks: set[asyncio.Task] = set()  # sends and closes (waited for, briefly, when stopping)
        self._fetches: set[asyncio.Task] = set()  # REST requests (abandoned when stopping)
        self._fetching: dict[str, int] = {}  # connection id -> its REST requests in flight

    # ---------------------------------------------------------------- controls (any thread)
    @property
    def backlog(self) -> int:
        """Frames received from the sockets but not yet processed."""
        n = 0
        for f in self.feeds:
            ws = f.ws
            if ws is not None:
                try:
                    n += len(ws.recv_messages.frames)
                except (AttributeError, TypeError):
                    pass
        return n

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
        engine.live = self
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
                engine.notes.append(f"live: {sum(c.messages for c in engine.conns.values())} frames in "
                                    f"{now - self.started:.1f} s; peak backlog {self.backlog_peak} frames")
                if self.recorder is not None:
                    self.recorder.close()
                self.done = True

    async def _shutdown(self) -> None:
        """Abandon REST requests still unanswered, close every socket politely (bounded), then let the
        feed tasks finish."""
        if self._inflight:
            self.engine.notes.append(
                f"live: {len(self._inflight)} REST request(s) still unanswered when stopping: "
                + ", ".join(clean(u, 120) for u in list(self._inflight)[:3]))
        for t in list(self._fetches):
            t.cancel()
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
            self._check_resyncs(now)
            b = self.backlog
            if b > self.backlog_peak:
                self.backlog_peak = b

    async def _run_feed(self, f: Feed) -> None:
        engine = self.engine
        backoff = Backoff(self.backoff_base, self.backoff_cap, rng=self._rng)
        declared = False
        while not (f.removed or self._stopping):
            f.attempts += 1
            t0 = time.time()
            f.attempt_times.append(t0)
            host = urlsplit(f.url).hostname or ""
            if not declared:
                # declared before connecting: a handshake that never ends still shows its streams,
                # connecting, then stale, then down with the reason (issue 9)
                _conn, subs = self._open_in_engine(f, t0)
                for text in subs:
                    engine.sent(f.conn_id, text, t0)
                declared = True
                f.predeclared = True
            try:
                ws = await connect(
                    f.url, open_timeout=self.open_timeout, ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout, close_timeout=CLOSE_TIMEOUT_S, max_queue=MAX_QUEUE,
                    max_size=MAX_SIZE, user_agent_header="wstui", **({"proxy": None} if host in LOOPBACK else {}),
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
        f.last_rx = ts
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
            frame = engine.frame
            async for msg in ws:
                t = time.time()
                f.last_rx = t
                if rec is not None:
                    rec.recv(cid, t, msg)
                frame(cid, msg, t)
                n += 1
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
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
        self._spawn(self._send_quiet(ws, text))

    @staticmethod
    async def _send_quiet(ws, text: str) -> None:
        try:
            await ws.send(text)
        except ConnectionClosed:
            pass  # the reader sees the close and reports it

    # ---------------------------------------------------------------- transport (Conn calls these)
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
        if not msgs:
            self.engine.event(Event(now, key, "resubscribe", f"reconnecting: {clean(reason, 160)}"))
            self._reconnect(f, f"resubscribe {key}: {reason}")
            return
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

    def _resync_timeout(self, stream, tries: int = 0) -> float:
        """How long a book may stay out of sync on one connection before it is reconnected: the resync
        timeout, doubled for each reconnect that did not fix it (at most 60 s, at least the timeout)."""
        base = self.resync_timeout if self.resync_timeout is not None else max(3.0, stream.stale_after)
        return max(base, min(60.0, base * 2 ** min(tries, 8)))

    def _check_resyncs(self, now: float) -> None:
        """Reconnect a feed one of whose books stays out of sync longer than the resync timeout, whatever
        the reason (a resubscribe that was not answered, a snapshot that never came, a lost one).  The
        clock does not run while a REST request of the feed is in flight."""
        for f in self.feeds:
            conn = self.engine.conns.get(f.conn_id)
            if f.ws is None or conn is None or f.close_reason is not None:
                continue
            for key, st in conn.streams.items():
                if st.book is None:
                    continue
                if st.book_state is not BOOK_BAD:
                    f.bad_since.pop(key, None)
                    if st.book_state is BOOK_OK:
                        f.bad_reconnects.pop(key, None)
                    continue
                if self._fetching.get(f.conn_id):
                    f.bad_since[key] = now  # a REST snapshot is on its way: reconnecting would abandon it
                    continue
                since = f.bad_since.setdefault(key, now)
                tries = f.bad_reconnects.get(key, 0)
                wait = self._resync_timeout(st, tries)
                if now - since < wait:
                    continue
                f.bad_reconnects[key] = tries + 1
                self._reconnect(f, f"{key} still out of sync after {now - since:.1f} s "
                                   f"({clean(st.out_of_sync_reason, 120)}): reconnecting")
                break

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

    def _fetch(self, conn, url: str, callback) -> None:
        if self._stopping:
            return  # no new requests once stopping (an answer could not be used)
        f = self._by_conn.get(conn.conn_id)
        real = self.rest_url(f, url)
        waiting = self._inflight.get(real)
        if waiting is not None:
            waiting.append(callback)  # one request per URL in flight; every caller gets its answer
            return
        self._inflight[real] = [callback]
        t = asyncio.ensure_future(self._do_fetch(conn.conn_id, url, real))
        self._fetches.add(t)
        t.add_done_callback(self._fetches.discard)

    async def _do_fetch(self, conn_id: str, url: str, real: str) -> None:
        body = err = None
        self._fetching[conn_id] = self._fetching.get(conn_id, 0) + 1
        try:
            now = time.time()
            fails, until = self._rest_fail.get(real, (0, 0.0))
            start = max(now, self._rest_next, until)
            self._rest_next = start + self.rest_spacing
            if start > now:
                await asyncio.sleep(start - now)
            body = await get_in_thread(real)
            self._rest_fail.pop(real, None)
        except asyncio.CancelledError:
            err = "cancelled"
            raise
        except Exception as exc:
            err = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
            fails, _ = self._rest_fail.get(real, (0, 0.0))
            self._rest_fail[real] = (fails + 1, time.time() + min(30.0, 0.5 * 2 ** fails))
        finally:
            self._fetching[conn_id] -= 1
            cbs = self._inflight.pop(real, [])
            if body is not None and self.recorder is not None:
                self.recorder.http(f"{conn_id.split('.ws.')[0]}.http.0", time.time(), url, body)
            if self.engine is not None and not (err == "cancelled"):
                for cb in cbs:
                    self.engine.defer(cb, body, None if body is not None else clean(err, 200))
