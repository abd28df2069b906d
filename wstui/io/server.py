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

Faults (``--fault SPEC``, see :data:`FAULT_HELP`) hit every connection open when they fire; their times
count from the first client connection.  Each firing is printed (``wstui serve: fault ...``) with its
wall-clock time, so a test knows exactly when it happened.
"""

from __future__ import annotations

import asyncio
import base64
import http
import math
import re
import signal
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import msgspec
import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..core.book import Book
from ..core.text import clean
from .capture import RECORD_TYPES, iter_lines
from .record import Recorder
from .replay import url_key

FAULT_KINDS = ("stall", "disconnect", "gap", "corrupt", "garbage", "slow", "hang")

FAULT_HELP = """\
fault SPEC: KIND@AT[:ARG[:ARG2]][/EVERY]  (times: 5, 5s, 500ms, 1.5s; counted from the first client
connection; each fault hits every connection open when it fires; repeat with /EVERY)
  stall@AT[:DUR]          send nothing for DUR (default 3s); the connection stays up
  hang@AT[:DUR]           freeze the TCP link for DUR (default 10s): no frames, pings unanswered
  disconnect@AT[:abort]   close the socket (close code 1012); 'abort' drops TCP with no close frame
  gap@AT[:N]              skip the next N book updates (default 3) that touch the top of the book
  corrupt@AT[:N]          change the sizes in the next N book updates (default 1): checksums fail
  garbage@AT[:N]          send N frames (default 1) that are not JSON
  slow@AT[:DUR[:FPS]]     trickle: at most FPS frames per second (default 10) for DUR (default 5s)
examples: --fault stall@5s:3s --fault disconnect@20s/30s --fault gap@8s:5
"""

GARBAGE = "\x1b[31mGARBAGE\x07 <this frame is not JSON> {\"unterminated\": "

# frame kinds: what a fault may touch
CTL = 0  # status, acks, heartbeats, pongs
BOOK = 1  # a book update that changes the top of the book (checksum-visible)
BOOK_DEEP = 2  # a book update below the checksummed levels
TRADE = 3
SNAPSHOT = 4


# ---------------------------------------------------------------------------------- fault specs
def parse_seconds(text: str) -> float:
    t = text.strip().lower()
    mult = 1.0
    if t.endswith("ms"):
        t, mult = t[:-2], 0.001
    elif t.endswith("s"):
        t = t[:-1]
    elif t.endswith("m"):
        t, mult = t[:-1], 60.0
    try:
        v = float(t) * mult
    except ValueError:
        raise ValueError(f"{text!r} is not a time (e.g. 5, 5s, 500ms)") from None
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"{text!r} is not a time (e.g. 5, 5s, 500ms)")
    return v


@dataclass(frozen=True)
class Fault:
    kind: str
    at: float
    duration: float = 0.0
    count: int = 0
    fps: float = 0.0
    abort: bool = False
    every: float | None = None
    spec: str = ""


def parse_fault(spec: str) -> Fault:
    """``stall@5s:3s`` -> Fault("stall", 5.0, duration=3.0).  Raises ValueError with a clear message."""
    s = spec.strip()
    kind, sep, rest = s.partition("@")
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault {spec!r}: unknown kind {kind!r} (one of {', '.join(FAULT_KINDS)})")
    if not sep or not rest:
        raise ValueError(f"fault {spec!r}: expected KIND@AT, e.g. {kind}@5s")
    every = None
    if "/" in rest:
        rest, ev = rest.split("/", 1)
        try:
            every = parse_seconds(ev)
        except ValueError as exc:
            raise ValueError(f"fault {spec!r}: /EVERY {exc}") from None
        if every <= 0:
            raise ValueError(f"fault {spec!r}: /EVERY must be more than 0")
    parts = rest.split(":")
    try:
        at = parse_seconds(parts[0])
        args = parts[1:]
        if len(args) > (2 if kind == "slow" else 1):
            raise ValueError("too many ':' arguments")
        if kind in ("stall", "hang", "slow"):
            dur = parse_seconds(args[0]) if args else {"stall": 3.0, "hang": 10.0, "slow": 5.0}[kind]
            fps = 10.0
            if kind == "slow" and len(args) > 1:
                fps = float(args[1].lower().removesuffix("/s").removesuffix("fps"))
                if not fps > 0 or fps == float("inf"):
                    raise ValueError(f"FPS {args[1]!r} must be a positive number")
            if every is not None and every <= dur:
                raise ValueError("/EVERY must be longer than the duration")
            return Fault(kind, at, duration=dur, fps=fps, every=every, spec=s)
        if kind == "disconnect":
            if args and args[0].lower() != "abort":
                raise ValueError(f"the only option is 'abort', not {args[0]!r}")
            return Fault(kind, at, abort=bool(args), every=every, spec=s)
        n = int(args[0]) if args else (3 if kind == "gap" else 1)
        if n < 1:
            raise ValueError("N must be 1 or more")
        return Fault(kind, at, count=n, every=every, spec=s)
    except ValueError as exc:
        raise ValueError(f"fault {spec!r}: {exc}") from None


# ---------------------------------------------------------------------------------- frame surgery
_KRAKEN_QTY = re.compile(r'("qty":)(\d+(?:\.\d+)?)')
_PAIR_QTY = re.compile(r'(\["[0-9.]+",")([0-9.]+)("\])')


def _bump(num: str) -> str:
    """Change the last digit of a number's text (the value changes, the text stays a valid number)."""
    d = int(num[-1])
    return num[:-1] + str((d + 1) % 10)


def corrupt_frame(text: str) -> str:
    """Every size in a book frame changed by one unit in its last digit (Kraken levels, Binance pairs)."""
    out = _KRAKEN_QTY.sub(lambda m: m.group(1) + _bump(m.group(2)), text)
    if out == text:
        out = _PAIR_QTY.sub(lambda m: m.group(1) + _bump(m.group(2)) + m.group(3), text)
    return out


_kdecode = msgspec.json.Decoder(float_hook=str).decode


class KrakenTracker:
    """Follows a Kraken v2 book through replayed frames to tell updates that touch the checksummed top
    10 levels (a skipped or corrupted one is then certain to fail the next checksum) from deep ones."""

    def __init__(self) -> None:
        self.books: dict[str, Book] = {}
        self.depth = 10

    def kind(self, text: str) -> int:
        if '"channel":"book"' not in text:
            if '"channel":"trade"' in text:
                return TRADE
            m = re.search(r'"depth":(\d+)', text)
            if m and '"method":"subscribe"' in text:
                self.depth = int(m.group(1))
            return CTL
        try:
            msg = _kdecode(text)
            typ = msg.get("type")
            top = False
            for entry in msg.get("data") or ():
                book = self.books.setdefault(entry.get("symbol", ""), Book())
                if typ == "snapshot":
                    book.clear()
                before = _top_keys(book)
                for side, levels in ((book.bids, entry.get("bids") or ()), (book.asks, entry.get("asks") or ())):
                    for lv in levels:
                        p, q = str(lv["price"]), str(lv["qty"])
                        side.set(float(p), p, q, float(q))
                book.truncate(self.depth)
                after = _top_keys(book)
                for side, levels, sign in ((0, entry.get("bids") or (), 1.0), (1, entry.get("asks") or (), -1.0)):
                    for lv in levels:
                        k = float(str(lv["price"])) * sign
                        if k in before[side] or k in after[side]:
                            top = True
            if typ == "snapshot":
                return SNAPSHOT
            return BOOK if top else BOOK_DEEP
        except Exception:
            return CTL


def _top_keys(book: Book, n: int = 10) -> tuple[set[float], set[float]]:
    return set(book.bids.keys[-n:]), set(book.asks.keys[-n:])


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
        self.corrupt = 0
        self.garbage = 0
        self.sent = 0
        self.first_msg = asyncio.Event()
        self.closed = False

    async def emit(self, data: str | bytes, kind: int = CTL) -> bool:
        """Send one frame, faults applied.  False once the connection is closed."""
        if self.closed:
            return False
        now = time.monotonic()
        if self.stall_until > now:
            wait = self.stall_until - now
            self.shift += wait
            await asyncio.sleep(wait)
        if self.skip and kind == BOOK:
            self.skip -= 1
            return True
        if self.skip and kind == BOOK_DEEP:
            return True  # skipped along with the top-touching ones
        if self.garbage:
            n, self.garbage = self.garbage, 0
            for _ in range(n):
                if not await self._send(GARBAGE):
                    return False
        if self.corrupt and kind == BOOK and isinstance(data, str):
            bad = corrupt_frame(data)
            if bad != data:
                self.corrupt -= 1
                data = bad
        if self.slow_until > time.monotonic():
            gap = 1.0 / self.slow_fps
            self.shift += gap
            await asyncio.sleep(gap)
        return await self._send(data)

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


# ---------------------------------------------------------------------------------- capture data
@dataclass
class CaptureConn:
    conn: str
    addr: str
    frames: list[tuple[float, str | bytes]]
    first_send: float | None  # capture time of the client's first send (frames after it wait for one)


def rest_key(path_query: str) -> tuple:
    """Host-free key of a REST request: path and the parameters that pick the data (as replay matches)."""
    return url_key("http://any" + path_query)


class CaptureData:
    """A capture loaded for serving: its connections and REST answers.  A bad line is skipped and kept
    in ``bad`` (line number, why), the way a replay reports it; the good lines around it are served."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conns: list[CaptureConn] = []
        self.http: dict[tuple, list[tuple[float, str]]] = defaultdict(list)
        self.bad: list[tuple[int, str]] = []
        by_id: dict[str, CaptureConn] = {}
        for n, line, err in iter_lines(self.path):
            why = self._load(line, err, by_id) if line is not None else (err or "unreadable")
            if why is not None:
                self.bad.append((n, clean(why, 200)))
        self.conns = [c for c in self.conns if c.frames]

    def _load(self, line: bytes, err: str | None, by_id: dict[str, CaptureConn]) -> str | None:
        """Take one record in; the reason it cannot be used, else None."""
        try:
            rec = orjson.loads(line)
            t = rec["t"]
        except orjson.JSONDecodeError as exc:
            return f"line is not JSON ({exc}): {line[:80]!r}"
        except (KeyError, TypeError):
            return f"record has no type field 't': {line[:80]!r}"
        if not isinstance(t, str) or t not in RECORD_TYPES:
            return f"unknown record type {clean(t, 40)!r}"
        if t not in ("http", "connect", "send", "recv"):
            return None
        try:
            ts = float(rec["ts"])
        except (KeyError, TypeError, ValueError):
            return f"{t} record without a valid 'ts'"
        if not math.isfinite(ts):
            return f"{t} record without a valid 'ts'"
        if t == "http":
            u = urlsplit(str(rec.get("url", "")))
            self.http[rest_key(u.path + ("?" + u.query if u.query else ""))].append((ts, str(rec.get("data", ""))))
            return None
        cid = rec.get("conn")
        if not isinstance(cid, str):
            return f"{t} record without a valid 'conn'"
        c = by_id.get(cid)
        if c is None:
            c = by_id[cid] = CaptureConn(cid, "", [], None)
            self.conns.append(c)
        if t == "connect":
            c.addr = c.addr or str(rec.get("addr", ""))
        elif t == "send":
            if c.first_send is None:
                c.first_send = ts
            c.addr = c.addr or str(rec.get("addr", ""))
        else:
            data = rec.get("data")
            if data is None:
                if "b64" not in rec:
                    return "recv record with neither 'data' nor 'b64'"
                try:
                    data = base64.b64decode(rec["b64"])
                except (ValueError, TypeError) as exc:
                    return f"recv record with bad base64: {exc}"
            c.frames.append((ts, data))
        return None

    def report_bad(self, out, most: int = 20) -> None:
        """The bad lines on ``out`` (stderr): ``bad record: FILE:LINE: why``, the first ``most`` of them."""
        try:
            for n, why in self.bad[:most]:
                print(f"wstui serve: bad record: {self.path}:{n}: {why}", file=out)
            if self.bad:
                more = f" ({len(self.bad) - most} more not shown)" if len(self.bad) > most else ""
                print(f"wstui serve: {len(self.bad)} bad records skipped in {self.path}{more}", file=out, flush=True)
        except (OSError, ValueError):
            pass

    def pick(self, request_path: str) -> CaptureConn | None:
        """The connection whose address best matches the client's path (then query), else the first."""
        if not self.conns:
            return None
        want = urlsplit(request_path)
        best, score = self.conns[0], (-1, -1)
        for c in self.conns:
            have = urlsplit(c.addr)
            s = (int(have.path.rstrip("/") == want.path.rstrip("/")),
                 _common_prefix(have.path + "?" + have.query, want.path + "?" + want.query))
            if s > score:
                best, score = c, s
        return best

    def answer(self, path_query: str, position: float | None) -> str | None:
        answers = self.http.get(rest_key(path_query))
        if not answers:
            return None
        if position is not None:
            for ts, body in answers:
                if ts >= position:
                    return body
            return answers[-1][1]
        return answers[0][1]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


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
        if body is None:
            status = http.HTTPStatus.NOT_FOUND if "depth" not in path else http.HTTPStatus.BAD_REQUEST
            resp = connection.respond(status, orjson.dumps({"code": -1121, "msg": "Invalid symbol."}).decode())
        else:
            resp = connection.respond(http.HTTPStatus.OK, body)
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
            kind = tracker.kind(data) if (tracker is not None and isinstance(data, str)) else _kind_of(data)
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


def _kind_of(data: str | bytes) -> int:
    """Frame kind from its text, without parsing (capture frames when no tracker is needed)."""
    if not isinstance(data, str):
        return CTL
    if '"depthUpdate"' in data:
        return BOOK
    if '"channel":"book"' in data:
        return SNAPSHOT if '"type":"snapshot"' in data else BOOK
    if "trade" in data[:80].lower():
        return TRADE
    return CTL


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
            if sim is not None:
                sim.stop()
    finally:
        if log is not None:
            log.close()
    return 0
