"""``wstui serve``: a real WebSocket server (websockets, asyncio API) for offline work and tests.

Capture mode replays a capture's received frames to each client that connects, paced by the capture's
own clock at ``speed`` (``None``: as fast as the socket takes them).  The capture connection served is
the one whose address best matches the client's request path (path, then query), else the first.
Frames the capture received after the client's first ``send`` wait for the client to send something
(its subscription), as the venue did.  When the capture ends the connection stays open (idle) unless
``loop`` starts it over.

Plain HTTP requests on the same port (websockets' ``process_request`` hook) are answered like a
Binance-style REST API: ``/fapi/v1/depth?symbol=...`` from the capture's ``http`` records (the first
answer recorded at or after the replay position, else the last one), or from the simulated market.

Sim mode (``--sim``, :mod:`wstui.io.sim`) serves an endless synthetic market instead.

Faults (``--fault SPEC``, parsed in :mod:`wstui.io.faults`, see its ``FAULT_HELP``) hit every connection open when they fire; their times
count from the first client connection.  Each firing is printed (``wstui serve: fault ...``) with its
wall-clock time, so a test knows exactly when it happened.
"""

from __future__ import annotations

import asyncio
import http
import signal
import sys
import time
from typing import Any, Callable

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..core.text import clean
from .capture_store import CaptureConn, CaptureData
from .faults import BOOK, BOOK_DEEP, CTL, GARBAGE, Fault, KrakenTracker, channel_of, corrupt_frame, frame_kind
from .record import Recorder

# ---------------------------------------------------------------------------------- sessions
class Session:
    """One client connection: every frame to it goes through :meth:`emit`, where faults act."""

    def __init__(self, server: "FeedServer", ws: ServerConnection, sid: int) -> None:
        self.server = server
        self.ws = ws
        self.id = sid
        self.conn = f"SERVE.ws.{sid}"
        self.path = ws.request.path if ws.request is not None else "/"
        self.position: float | None = None  # capture time of the frame last sent (REST answers)
        self.shift = 0.0  # seconds the capture timeline was held back by stalls and trickles
        self.stall_until = 0.0
        self.slow_until = 0.0
        self.slow_fps = 10.0
        self.skip = 0
        self.skip_symbol: str | None = None  # a gap hits one market: the first the skipping meets
        self.mutes: list[tuple[float, str | None, str | None]] = []  # (until, symbol, channel)
        self.first_symbol: str | None = None  # the first market a frame was about (mute's default)
        self.corrupt = 0
        self.corrupter: Callable[[str], str] | None = None  # a protocol's own corruption (default: sizes)
        self.garbage = 0
        self.sent = 0
        self.first_msg = asyncio.Event()
        self.closed = False

    async def emit(self, data: str | bytes, kind: int = CTL, symbol: str | None = None) -> bool:
        """Send one frame, faults applied.  ``symbol``: the market the frame is about, when the sender
        knows it (the simulator).  False once the connection is closed."""
        if self.closed:
            return False
        now = time.monotonic()
        if symbol is not None and self.first_symbol is None:
            self.first_symbol = symbol
        if self.stall_until > now:
            wait = self.stall_until - now
            self.shift += wait
            await asyncio.sleep(wait)
        if self.mutes and self._muted(data, kind, symbol, now):
            return True
        if self.skip and kind in (BOOK, BOOK_DEEP) and (self.skip_symbol is None or symbol == self.skip_symbol):
            if kind == BOOK:
                self.skip -= 1
                if self.skip_symbol is None:
                    self.skip_symbol = symbol
            if not self.skip:
                self.skip_symbol = None
            return True  # deep updates of the same market go along with the top-touching ones
        if self.garbage:
            n, self.garbage = self.garbage, 0
            for _ in range(n):
                if not await self._send(GARBAGE):
                    return False
        if self.corrupt and kind == BOOK and isinstance(data, str):
            bad = (self.corrupter or corrupt_frame)(data)
            if bad != data:
                self.corrupt -= 1
                data = bad
        if self.slow_until > time.monotonic():
            gap = 1.0 / self.slow_fps
            self.shift += gap
            await asyncio.sleep(gap)
        return await self._send(data)

    def _muted(self, data: str | bytes, kind: int, symbol: str | None, now: float) -> bool:
        self.mutes = [m for m in self.mutes if m[0] > now]
        for _until, sym, channel in self.mutes:
            sym = sym or self.first_symbol
            if sym is None or kind == CTL:
                continue
            if channel is not None and channel != channel_of(kind):
                continue
            if symbol is not None:
                if symbol == sym:
                    return True
            elif isinstance(data, str) and f'"{sym}"' in data:
                return True  # a capture's frame: it names the market
        return False

    async def _send(self, data: str | bytes) -> bool:
        try:
            await self.ws.send(data)
        except ConnectionClosed:
            self.closed = True
            return False
        self.sent += 1
        log = self.server.log
        if log is not None:
            log.recv(self.conn, time.time(), data)
        return True

    # ---- faults
    def apply(self, f: Fault) -> None:
        now = time.monotonic()
        if f.kind == "stall":
            self.stall_until = max(self.stall_until, now + f.duration)
        elif f.kind == "hang":
            self.stall_until = max(self.stall_until, now + f.duration)
            transport = self.ws.transport
            try:
                transport.pause_reading()
            except Exception:
                pass
            asyncio.get_running_loop().call_later(f.duration, _resume, transport)
        elif f.kind == "slow":
            self.slow_until = max(self.slow_until, now + f.duration)
            self.slow_fps = f.fps
        elif f.kind == "gap":
            self.skip += f.count
        elif f.kind == "corrupt":
            self.corrupt += f.count
        elif f.kind == "mute":
            self.mutes.append((now + f.duration, f.symbol, f.channel))
        elif f.kind == "garbage":
            self.garbage += f.count
        elif f.kind == "disconnect":
            if f.abort:
                self.ws.transport.abort()
            else:
                asyncio.ensure_future(self.ws.close(1012, "fault: disconnect"))

    async def client_messages(self, on_text: Callable[[str], Any] | None = None) -> None:
        """Read what the client sends until it leaves; answer venue pings."""
        try:
            async for msg in self.ws:
                self.first_msg.set()
                if isinstance(msg, bytes):
                    continue
                reply = pong_for(msg)
                if reply is not None:
                    await self.emit(reply, CTL)
                elif on_text is not None:
                    r = on_text(msg)
                    if asyncio.iscoroutine(r):
                        await r
        except ConnectionClosed:
            pass
        finally:
            self.closed = True


def _resume(transport) -> None:
    try:
        transport.resume_reading()
    except Exception:
        pass


def iso(t: float) -> str:
    """``2026-08-02T03:35:51.661460Z`` for epoch seconds ``t`` (the venues' timestamp text)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def iso_now() -> str:
    return iso(time.time())


def pong_for(text: str) -> str | None:
    """The answer to a venue-level ping: Kraken v2, OKX, Bybit styles."""
    t = text.strip()
    if t == "ping":
        return "pong"
    if '"ping"' not in t:
        return None
    try:
        msg = orjson.loads(t)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict):
        return None
    if msg.get("method") == "ping":
        out: dict[str, Any] = {"method": "pong"}
        if "req_id" in msg:
            out["req_id"] = msg["req_id"]
        out["time_in"] = out["time_out"] = iso_now()
        return orjson.dumps(out).decode()
    if msg.get("op") == "ping":
        return orjson.dumps({"success": True, "ret_msg": "pong", "op": "ping"}).decode()
    return None


# ---------------------------------------------------------------------------------- the server
class FeedServer:
    def __init__(self, *, capture: CaptureData | None = None, sim: Any = None, speed: float | None = 1.0,
                 loop: bool = False, faults: list[Fault] | None = None, log: Recorder | None = None,
                 out=None) -> None:
        self.capture = capture
        self.sim = sim
        self.speed = speed
        self.loop = loop
        self.faults = list(faults or [])
        self.log = log
        self.out = out or sys.stdout
        self.sessions: dict[int, Session] = {}
        self._sid = 0
        self.first_connect = asyncio.Event()
        self.rest_counts: dict[int, int] = {}  # REST answers sent, by HTTP status
        self.t0: float | None = None  # monotonic time of the first connection
        self.trackers = any(f.kind in ("gap", "corrupt") for f in self.faults)

    def say(self, text: str) -> None:
        try:
            print(f"wstui serve: {text}", file=self.out, flush=True)
        except (OSError, ValueError):
            pass

    # ---- HTTP on the same port
    def process_request(self, connection: ServerConnection, request) -> Any:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        path = request.path
        body = None
        if self.capture is not None:
            pos = max((s.position for s in self.sessions.values() if s.position is not None), default=None)
            body = self.capture.answer(path, pos)
        elif self.sim is not None:
            body = self.sim.rest(path)
        if body is not None and not isinstance(body, str):  # a simulated venue's own status (429, 418...)
            self.rest_counts[body.status] = self.rest_counts.get(body.status, 0) + 1
            if body.status in (429, 418):  # a client went over a REST limit: said, so tests can count it
                self.say(f"rest {body.status} {clean(path, 80)} (Retry-After "
                         f"{clean(body.headers.get('Retry-After', '-'), 12)})")
            resp = connection.respond(http.HTTPStatus(body.status), body.body)
            for k, v in body.headers.items():
                resp.headers[k] = v
            del resp.headers["Content-Type"]
            resp.headers["Content-Type"] = "application/json"
            return resp
        if body is None:
            status = http.HTTPStatus.NOT_FOUND if "depth" not in path else http.HTTPStatus.BAD_REQUEST
            resp = connection.respond(status, orjson.dumps({"code": -1121, "msg": "Invalid symbol."}).decode())
        else:
            resp = connection.respond(http.HTTPStatus.OK, body)
            self.rest_counts[200] = self.rest_counts.get(200, 0) + 1
            if self.log is not None:
                self.log.http("SERVE.http.0", time.time(), "http://wstui-serve" + path, body)
        del resp.headers["Content-Type"]
        resp.headers["Content-Type"] = "application/json"
        return resp

    # ---- WebSocket clients
    async def handler(self, ws: ServerConnection) -> None:
        self._sid += 1
        s = Session(self, ws, self._sid)
        self.sessions[s.id] = s
        if self.t0 is None:
            self.t0 = time.monotonic()
            self.first_connect.set()
        if self.log is not None:
            host, port = ws.local_address[:2]
            self.log.connect(s.conn, time.time(), f"ws://{host}:{port}{s.path}")
        try:
            if self.sim is not None:
                await self.sim.serve_session(s)
            else:
                await self._play_capture(s)
        except ConnectionClosed:
            pass
        finally:
            s.closed = True
            self.sessions.pop(s.id, None)
            if self.log is not None:
                self.log.disconnect(s.conn, time.time(), "client gone")

    async def _play_capture(self, s: Session) -> None:
        c = self.capture.pick(s.path) if self.capture is not None else None
        if c is None:
            await s.ws.close(1011, "the capture holds no frames")
            return
        peer = s.ws.remote_address
        self.say(f"connection {s.id} from {peer[0]}:{peer[1]} {clean(s.path, 80)} -> {c.conn}")
        reader = asyncio.ensure_future(s.client_messages())
        tracker = KrakenTracker() if self.trackers else None
        try:
            while not s.closed:
                await self._pass(s, c, tracker)
                if not self.loop:
                    break
            if not s.closed:
                await reader  # idle: the connection stays open until the client leaves
        finally:
            reader.cancel()

    async def _pass(self, s: Session, c: CaptureConn, tracker: KrakenTracker | None) -> None:
        speed = self.speed
        base = c.frames[0][0]
        start = time.monotonic()
        s.shift = 0.0
        waited = c.first_send is None
        for i, (ts, data) in enumerate(c.frames):
            if not waited and ts >= c.first_send:
                t = time.monotonic()
                try:
                    await asyncio.wait_for(s.first_msg.wait(), 2.0)
                except asyncio.TimeoutError:
                    pass
                s.shift += time.monotonic() - t
                waited = True
            if speed is not None:
                due = start + (ts - base) / speed + s.shift
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 64 == 63:
                await asyncio.sleep(0)
            s.position = ts
            kind = tracker.kind(data) if (tracker is not None and isinstance(data, str)) else frame_kind(data)
            if not await s.emit(data, kind):
                return

    # ---- faults
    async def run_faults(self) -> None:
        if not self.faults:
            return
        await self.first_connect.wait()
        t0 = self.t0
        due = [(f.at, i, f) for i, f in enumerate(self.faults)]
        while due:
            due.sort()
            at, i, f = due.pop(0)
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            targets = list(self.sessions.values())
            for s in targets:
                s.apply(f)
            self.say(f"fault {f.spec} at {time.time():.3f} on {len(targets)} connection(s)")
            if f.every is not None:
                due.append((at + f.every, i, f))


async def run_server(*, host: str = "127.0.0.1", port: int = 0, capture: str | None = None, sim: Any = None,
                     speed: float | None = 1.0, loop: bool = False, faults: list[Fault] | None = None,
                     log_path: str | None = None, out=None, ready: Callable[[int], Any] | None = None,
                     stop: asyncio.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop``).  Prints ``listening on ws://HOST:PORT`` first."""
    data = CaptureData(capture) if capture is not None else None
    if data is not None:
        data.report_bad(sys.stderr)
    if data is not None and not data.conns:
        raise ValueError(f"{capture}: the capture holds no received frames to serve")
    log = Recorder(log_path, exchange="WSTUI_SERVE", config={"capture": capture, "sim": sim is not None}) \
        if log_path else None
    srv = FeedServer(capture=data, sim=sim, speed=speed, loop=loop, faults=faults, log=log, out=out)
    stop = stop or asyncio.Event()
    aloop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            aloop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        async with serve(srv.handler, host, port, process_request=srv.process_request, compression=None,
                         max_size=2**24, ping_interval=20, ping_timeout=20) as server:
            bound = server.sockets[0].getsockname()[1]
            what = f"capture {capture} at {'max' if speed is None else f'{speed:g}x'} speed" if data else "a simulated market"
            srv.say(f"listening on ws://{host}:{bound} serving {what}" + (
                f" (REST answers: {sum(len(v) for v in data.http.values())})" if data else ""))
            if ready is not None:
                ready(bound)
            if sim is not None:
                sim.start()
            faults_task = asyncio.ensure_future(srv.run_faults())
            await stop.wait()
            faults_task.cancel()
            if srv.rest_counts:
                srv.say("rest answers: " + ", ".join(f"{n} x HTTP {k}" for k, n in sorted(srv.rest_counts.items())))
            if sim is not None:
                sim.stop()
    finally:
        if log is not None:
            log.close()
    return 0
