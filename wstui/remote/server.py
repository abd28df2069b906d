"""``watch --headless --listen HOST:PORT``: a running monitor's snapshots served to viewers over a WebSocket.

Per viewer: a first full state, then only what changed since what *that* viewer last got, built from the
engine's latest snapshot when the previous frame has been written (``send`` waits while the socket's
write buffer is above ``WRITE_LIMIT``).  A slow viewer gets fewer frames; nothing queues up, and the
monitor's ingestion never waits for a viewer (a frame is built in one go between two engine steps).

Books and trades travel only for the streams the viewer names in its focus; the engine's own focus is
the union of its viewers' (so it builds full views only for what someone looks at).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import socket
import sys
import time
from typing import Any

from websockets.exceptions import ConnectionClosed

from .. import __version__
from ..core.snapshot import Snapshot
from . import protocol as P

WRITE_LIMIT = 64 * 1024  # bytes a viewer's socket may hold unsent before its next frame waits
HELLO_TIMEOUT = 10.0  # a viewer says hello within this
MAX_VIEWERS = 64
MAX_FOCUS = 20_000  # stream keys a viewer may focus
MAX_DEPTH = 1000  # book levels / trades a viewer may ask for
MAX_FPS = 30.0
CLOSE_UNAUTHORIZED = 4401  # close codes: a wrong or missing token
CLOSE_VERSION = 4426  # another major version of the protocol
CLOSE_PROTOCOL = 1002  # a message that does not follow the protocol


class ListenError(ValueError):
    """A ``--listen`` address or token file that cannot be used."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[::1]:PORT``, ``:PORT`` or ``PORT`` (the last two: 127.0.0.1) -> (host, port)."""
    t = text.strip()
    host, sep, port = t.rpartition(":")
    if not sep:
        host, port = "", t
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenError(f"--listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:9781)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The token in ``path`` (its first line, stripped); a missing, unreadable or empty file is an error."""
    try:
        with open(path, encoding="utf-8") as f:
            tok = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ListenError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(tok) < 8:
        raise ListenError(f"the token file {path} holds no token of at least 8 characters")
    return tok


def check_bind(host: str, token: str | None) -> None:
    """Anything but loopback needs a token: a monitor's state is not for the whole network."""
    if token is None and not is_loopback(host):
        raise ListenError(f"--listen on {host} (not loopback) needs --token-file: viewers must present a token "
                          "(or listen on 127.0.0.1 and reach it through an SSH tunnel)")


def token_ok(given: Any, token: str) -> bool:
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8"))


class Viewer:
    """One attached viewer: what it asked for and what it last got (the base of its next diff)."""

    def __init__(self, ws: Any, fps: float, focus: frozenset[str] | None, book_depth: int, tape_depth: int,
                 peer: str) -> None:
        self.ws = ws
        self.fps = fps
        self.focus = focus
        self.book_depth = book_depth
        self.tape_depth = tape_depth
        self.peer = peer
        self.wake = asyncio.Event()
        self.streams: dict[str, tuple[Any, bool]] = {}  # key -> (view sent, focused then)
        self.conns: dict[str, Any] = {}
        self.top: dict[str, Any] = {}
        self.events_seen = 0
        self.full_sent = False
        self.last_seq = -1
        self.frames = 0
        self.bytes = 0
        self.skipped = 0  # snapshots published while this viewer was still being written to

    def frame(self, snap: Snapshot) -> dict[str, Any]:
        """The next state message: everything the first time, then what changed since the last one."""
        full = not self.full_sent
        self.full_sent = True
        focus = self.focus
        sent = self.streams
        streams = []
        for s in snap.streams:
            f = focus is None or s.key in focus
            prev = sent.get(s.key)
            if prev is None:
                streams.append(P.stream_dict(s, f))
            else:
                pv, pf = prev
                if pv is s and pf == f:
                    continue
                d = P.stream_delta(pv, pf, s, f)
                if d is not None:
                    streams.append(d)
            sent[s.key] = (s, f)
        removed: list[str] = []
        if len(sent) != len(snap.streams):
            live = {s.key for s in snap.streams}
            removed = [k for k in sent if k not in live]
            for k in removed:
                del sent[k]
        conns = []
        seen_conns = self.conns
        for c in snap.connections:
            prev = seen_conns.get(c.conn)
            if prev is None:
                conns.append({f: getattr(c, f) for f in P.CONN_FIELDS})
            elif prev is not c:
                d = P.obj_delta(prev, c, P.CONN_FIELDS, "conn")
                if d is not None:
                    conns.append(d)
            seen_conns[c.conn] = c
        conns_removed: list[str] = []
        if len(seen_conns) != len(snap.connections):
            live = {c.conn for c in snap.connections}
            conns_removed = [k for k in seen_conns if k not in live]
            for k in conns_removed:
                del seen_conns[k]
        top = {}
        last = self.top
        for name in P.SNAPSHOT_FIELDS:
            v = getattr(snap, name)
            if full or name not in last or not (last[name] is v or last[name] == v):
                top[name] = v
                last[name] = v
        new = snap.events_total - self.events_seen
        if full:
            events = list(snap.events)
        elif new > 0:
            evs = snap.events
            events = list(evs)[-min(new, len(evs)):] if new < len(evs) else list(evs)
        else:
            events = []
        self.events_seen = snap.events_total
        msg: dict[str, Any] = {"type": "state", "full": full, "seq": snap.seq, "snapshot": top, "streams": streams,
                               "connections": conns, "events": events, "events_total": snap.events_total}
        if removed:
            msg["removed"] = removed
        if conns_removed:
            msg["connections_removed"] = conns_removed
        return msg


class ViewerServer:
    """Serves ``engine``'s snapshots on ``host:port`` (start() in the engine's event loop)."""

    def __init__(self, engine: Any, host: str = "127.0.0.1", port: int = 0, token: str | None = None, *,
                 write_limit: int = WRITE_LIMIT, log: Any = None) -> None:
        check_bind(host, token)
        self.engine = engine
        self.host = host
        self.port = port
        self.token = token
        self.write_limit = write_limit
        self.viewers: set[Viewer] = set()
        self.server: Any = None
        self.base_focus = engine.focus  # the monitor's own (headless: none)
        self.base_depth = (engine.book_depth, engine.tape_depth)
        self.refused = 0
        self.log = log if log is not None else sys.stderr
        self.started = time.time()
        engine.on_publish.append(self._published)

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> "ViewerServer":
        from websockets.asyncio.server import serve

        self.server = await serve(
            self._handler, self.host, self.port, process_request=self._process_request,
            compression=None, write_limit=self.write_limit, max_size=1 << 20, max_queue=4,
            ping_interval=10, ping_timeout=20, close_timeout=2, open_timeout=HELLO_TIMEOUT,
            logger=_quiet_logger(),
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close(close_connections=True)
            try:
                await asyncio.wait_for(self.server.wait_closed(), 3.0)
            except (asyncio.TimeoutError, Exception):
                pass
        try:
            self.engine.on_publish.remove(self._published)
        except ValueError:
            pass

    def _published(self, snap: Snapshot) -> None:
        for v in self.viewers:
            v.wake.set()

    def _say(self, text: str) -> None:
        try:
            print(f"wstui: {text}", file=self.log, flush=True)
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------ a viewer
    def _process_request(self, connection: Any, request: Any) -> Any:
        """A token in the ``Authorization: Bearer`` header is checked before the upgrade (401 if wrong);
        without one, the viewer's hello must carry it."""
        if self.token is None:
            return None
        auth = request.headers.get("Authorization")
        if auth is None:
            return None
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not token_ok(given.strip(), self.token):
            self.refused += 1
            self._say(f"viewer {_peer(connection)} refused: wrong token")
            return connection.respond(401, "wrong token\n")
        return None

    async def _handler(self, ws: Any) -> None:
        peer = _peer(ws)
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):  # (not wait_for: in 3.11 it can swallow a cancel)
                raw = await ws.recv()
            hello = P.loads(raw)
            if hello.get("type") != "hello":
                raise P.ProtocolError("the first message must be a hello")
        except (asyncio.TimeoutError, P.ProtocolError) as exc:
            await _refuse(ws, CLOSE_PROTOCOL, f"expected a hello: {exc}")
            return
        except Exception:
            return
        major = P.major_of(hello.get("protocol"))
        if major != P.MAJOR:
            await _refuse(ws, CLOSE_VERSION, f"protocol {str(hello.get('protocol'))[:20]!r} not supported: this "
                          f"monitor speaks {P.VERSION} (wstui {__version__})")
            return
        if self.token is not None and ws.request.headers.get("Authorization") is None \
                and not token_ok(hello.get("token"), self.token):
            self.refused += 1
            self._say(f"viewer {peer} refused: {'wrong' if hello.get('token') else 'no'} token")
            await _refuse(ws, CLOSE_UNAUTHORIZED, "a valid token is required")
            return
        if len(self.viewers) >= MAX_VIEWERS:
            await _refuse(ws, 1013, f"too many viewers (at most {MAX_VIEWERS})")
            return
        try:
            v = Viewer(ws, 10.0, None, self.base_depth[0], self.base_depth[1], peer)
            self._apply(v, hello)
        except P.ProtocolError as exc:
            await _refuse(ws, CLOSE_PROTOCOL, str(exc))
            return
        self.viewers.add(v)
        self._refocus()
        self._say(f"viewer {peer} attached ({len(self.viewers)} attached)")
        reader = asyncio.ensure_future(self._read(v))
        try:
            await ws.send(P.dumps({"type": "hello", "protocol": P.VERSION, "wstui": __version__,
                                   "monitor": {"host": socket.gethostname(), "pid": os.getpid(),
                                               "source": getattr(self.engine, "source", ""),
                                               "started": self.started}}), text=True)
            await self._send_loop(v, reader)
        except ConnectionClosed:
            pass  # the viewer went away (or its socket failed): nothing of the monitor's business
        except Exception as exc:  # a bug here must not take the monitor down: said, and this viewer dropped
            self._say(f"viewer {peer} dropped: {type(exc).__name__}: {exc}")
        finally:
            reader.cancel()
            last = getattr(self.engine.latest, "seq", v.last_seq)
            if v.last_seq >= 0 and last > v.last_seq:
                v.skipped += last - v.last_seq  # published after its last frame: never built for it
            self.viewers.discard(v)
            self._refocus()
            self._say(f"viewer {peer} detached after {v.frames} frames, {v.bytes:,} bytes "
                      f"({v.skipped} snapshots skipped while it was slow)")

    async def _send_loop(self, v: Viewer, reader: asyncio.Future) -> None:
        ws = v.ws
        engine = self.engine
        while not reader.done():
            try:
                async with asyncio.timeout(1.0):
                    await v.wake.wait()
            except TimeoutError:
                pass
            v.wake.clear()
            snap = engine.latest
            if snap is None or snap.seq == v.last_seq:
                continue
            if v.last_seq >= 0 and snap.seq > v.last_seq + 1:
                v.skipped += snap.seq - v.last_seq - 1
            v.last_seq = snap.seq
            t0 = time.monotonic()
            data = P.dumps(v.frame(snap))
            v.frames += 1
            v.bytes += len(data)
            await ws.send(data, text=True)  # returns once the write buffer is under the limit
            rest = 1.0 / v.fps - (time.monotonic() - t0)
            if rest > 0:
                await asyncio.sleep(rest)

    async def _read(self, v: Viewer) -> None:
        """The viewer's later messages: a new focus (and fps, depths)."""
        async for raw in v.ws:
            try:
                msg = P.loads(raw)
                if msg["type"] in ("focus", "hello"):
                    self._apply(v, msg)
                    self._refocus()
                    v.wake.set()
            except P.ProtocolError as exc:
                await _refuse(v.ws, CLOSE_PROTOCOL, str(exc))
                return

    def _apply(self, v: Viewer, msg: dict[str, Any]) -> None:
        if "focus" in msg:
            f = msg["focus"]
            if f is None:
                v.focus = None
            elif isinstance(f, list) and len(f) <= MAX_FOCUS and all(isinstance(k, str) for k in f):
                v.focus = frozenset(f)
            else:
                raise P.ProtocolError(f"focus is null or an array of at most {MAX_FOCUS} stream keys")
        if "fps" in msg:
            fps = msg["fps"]
            if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not 0 < fps:
                raise P.ProtocolError("fps is a positive number")
            v.fps = min(MAX_FPS, float(fps))
        for name in ("book_depth", "tape_depth"):
            if name in msg:
                d = msg[name]
                if type(d) is not int or d < 0:
                    raise P.ProtocolError(f"{name} is a whole number")
                setattr(v, name, min(MAX_DEPTH, d))

    def _refocus(self) -> None:
        """The engine builds full views (books, trades) for the union of what its viewers look at."""
        engine = self.engine
        if getattr(engine, "ended", False):
            return  # the last snapshot is whole already
        focus = self.base_focus
        depth, tape = self.base_depth
        for v in self.viewers:
            depth, tape = max(depth, v.book_depth), max(tape, v.tape_depth)
            if focus is None or v.focus is None:
                focus = None
            else:
                focus = focus | v.focus
        engine.focus = focus
        engine.book_depth, engine.tape_depth = depth, tape


async def _refuse(ws: Any, code: int, why: str) -> None:
    try:
        await ws.send(P.dumps({"type": "error", "code": code, "error": why}), text=True)
        await ws.close(code, why[:120])
    except Exception:
        pass


def _peer(conn: Any) -> str:
    try:
        addr = conn.remote_address
        return f"{addr[0]}:{addr[1]}"
    except Exception:
        return "?"


def _quiet_logger() -> Any:
    import logging

    lg = logging.getLogger("wstui.remote.server")
    lg.propagate = False
    lg.addHandler(logging.NullHandler())
    return lg
