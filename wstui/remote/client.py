"""``wstui attach ws://HOST:PORT ...``: viewers of running monitors, merged into one engine-like view.

:class:`AttachSource` is a source (``run(engine)``, ``stop()``, ``status()``) that keeps one WebSocket per
monitor, rebuilds each monitor's snapshot from the protocol's full state and diffs, and reconnects with
backoff when one is lost.  :class:`RemoteEngine` is what the views read: ``latest`` is the merge of every
monitor's state, published at the viewer's fps, and ``focus`` (set by the TUI) goes to each monitor so only
those books and tapes travel.

While a monitor cannot be reached its streams stay in the view, down, with the reason (their age keeps
growing); the reconnection's full state brings them back.  A message a monitor gets wrong (a hostile or
broken monitor) is counted, reported (an event and a note), and the connection is made again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections import deque
from typing import Any, Callable
from urllib.parse import urlsplit

from ..core.snapshot import ConnView, Snapshot, SourceStatus, StreamView
from ..core.stream import Event
from ..core.text import clean
from ..io.backoff import Backoff
from . import protocol as P

SILENT_S = 5.0  # a monitor that sent nothing for this long is lost (it publishes several times a second)
MAX_MESSAGE = 64 << 20  # bytes: a first state of many streams with their books is large (2,000: 1 MB)
MAX_STREAMS = 200_000  # streams one monitor may declare
EVENTS_MAX = 5000  # merged events kept
BACKOFF_CAP = 10.0
FINAL_WAIT_S = 3.0


class Refused(Exception):
    """The monitor refused us for good (another protocol major version): no retry."""


class Monitor:
    """One monitor as this viewer knows it: its rebuilt state and its connection's health."""

    def __init__(self, url: str, label: str) -> None:
        self.url = url
        self.label = label
        self.top: dict[str, Any] = {}
        self.streams: dict[str, StreamView] = {}
        self.conns: dict[str, ConnView] = {}
        self.events_total = 0  # the monitor's count, as of its last message
        self.identity: Any = None  # (host, pid, started) from its hello: a restarted monitor is another one
        self.connected = False
        self.ever = False  # reached at least once
        self.connects = 0
        self.down_since: float | None = None
        self.down_reason = "not yet reached"
        self.last_wall = 0.0  # wall time of its last message
        self.bad_messages = 0
        self.last_bad = ""
        self.refused = ""  # a refusal for good
        self.sent_focus: Any = ...  # what it was last told (... = nothing yet)
        self.got = 0  # state messages applied
        self.version = ""
        self.ws: Any = None


class RemoteEngine:
    """The engine-like object the views read when attached to monitors."""

    def __init__(self, *, book_depth: int = 50, tape_depth: int = 100, events_max: int = EVENTS_MAX,
                 prefix_keys: bool = True) -> None:
        self.latest: Snapshot | None = None
        self.focus: frozenset[str] | None = frozenset()
        self.book_depth = book_depth
        self.tape_depth = tape_depth
        self.on_publish: list[Callable[[Snapshot], None]] = []
        self.events: deque[Event] = deque(maxlen=events_max)
        self.events_total = 0
        self.monitors: list[Monitor] = []
        self.prefix_keys = prefix_keys
        self.source = "live"
        self.ended = False
        self._seq = 0
        self._wall0 = time.time()
        self._cache: dict[int, dict[str, tuple[StreamView, StreamView]]] = {}  # per monitor: key -> (got, shown)
        self._index_keys: tuple[str, ...] = ()
        self._index: dict[str, int] = {}
        self._keymap: dict[str, tuple[Monitor, str]] = {}

    # ------------------------------------------------------------ names
    def key(self, m: Monitor, key: str) -> str:
        return f"{m.label}/{key}" if self.prefix_keys else key

    def event(self, ev: Event) -> None:
        self.events.append(ev)
        self.events_total += 1

    def monitor_focus(self, m: Monitor) -> frozenset[str] | None:
        """The engine's focus as monitor ``m`` names its streams."""
        focus = self.focus
        if focus is None:
            return None
        out = []
        for k in focus:
            hit = self._keymap.get(k)
            if hit is not None:
                if hit[0] is m:
                    out.append(hit[1])
            elif not self.prefix_keys and k in m.streams:
                out.append(k)
        return frozenset(out)

    # ------------------------------------------------------------ the merged snapshot
    def _shown(self, m: Monitor, v: StreamView, now: float) -> StreamView:
        """``v`` as this viewer shows it: its key and connection named after the monitor, down while the
        monitor cannot be reached."""
        ch: dict[str, Any] = {"monitor": m.label}
        if self.prefix_keys:
            ch["key"] = f"{m.label}/{v.key}"
            if v.conn:
                ch["conn"] = f"{m.label}/{v.conn}"
        if not m.connected:
            since = m.down_since or now
            age = None if v.last_age_s is None else v.last_age_s + max(0.0, now - m.last_wall)
            ch.update(state="down", cause="link_down", state_since=since, rate_1s=0.0, rate_10s=0.0,
                      last_age_s=age, reason=f"monitor {m.label} unreachable: {m.down_reason}")
        return dataclasses.replace(v, **ch)

    def snapshot(self) -> Snapshot:
        now_wall = time.time()
        self._seq += 1
        streams: list[StreamView] = []
        conns: list[ConnView] = []
        keymap: dict[str, tuple[Monitor, str]] = {}
        notes: list[str] = []
        tops = []
        rests: list[dict] = []
        bad_records: list = []
        for m in self.monitors:
            cache = self._cache.setdefault(id(m), {})
            fresh: dict[str, tuple[StreamView, StreamView]] = {}
            for k, v in m.streams.items():
                hit = cache.get(k)
                if hit is not None and hit[0] is v and m.connected:
                    shown = hit[1]
                else:
                    shown = self._shown(m, v, now_wall)
                fresh[k] = (v, shown)
                streams.append(shown)
                keymap[shown.key] = (m, k)
            self._cache[id(m)] = fresh
            if not m.streams and not m.connected:  # never reached (or it had no streams): not silently absent
                ph = placeholder(m, now_wall)
                streams.append(ph)
                keymap[ph.key] = (m, "")
            for c in m.conns.values():
                ch: dict[str, Any] = {}
                if self.prefix_keys:
                    ch["conn"] = f"{m.label}/{c.conn}"
                if not m.connected:
                    ch["up"] = False
                conns.append(dataclasses.replace(c, **ch) if ch else c)
            if m.top:
                tops.append(m.top)
                for h in m.top.get("rest", ()):
                    if isinstance(h, dict):
                        rests.append(dict(h, host=f"{m.label}/{h.get('host', '')}") if self.prefix_keys else h)
                bad_records.extend(m.top.get("bad_records", ()))
                notes.extend(m.top.get("notes", ()))
            if not m.connected:
                if m.refused:
                    notes.append(f"monitor {m.label} refused: {m.refused}")
                elif not m.ever:
                    notes.append(f"monitor {m.label} not reached: {m.down_reason}")
                else:
                    notes.append(f"monitor {m.label} unreachable since {time.strftime('%H:%M:%S', time.gmtime(m.down_since or now_wall))} UTC: {m.down_reason}")
            if m.bad_messages:
                notes.append(f"monitor {m.label}: {m.bad_messages} bad message(s), the last: {m.last_bad}")
        self._keymap = keymap

        def total(name: str, default: Any = 0) -> Any:
            vals = [t[name] for t in tops if name in t]
            return sum(vals) if vals else default

        top: dict[str, Any] = {}
        if len(tops) == 1:
            top.update(tops[0])
        elif tops:  # fields this viewer does not know (another helper's): numbers add up, else the first's
            for name in P.SNAPSHOT_FIELDS:
                vals = [t[name] for t in tops if name in t]
                if not vals:
                    continue
                if all(type(x) in (int, float) for x in vals):
                    top[name] = sum(vals)
                else:
                    top[name] = vals[0]
        top.update(
            seq=self._seq, source=self.source, file=None, wall=now_wall,
            now=max([t.get("now", 0.0) for t in tops] or [now_wall]),
            elapsed_s=max([t.get("elapsed_s", 0.0) for t in tops] or [now_wall - self._wall0]),
            messages=total("messages"), bytes=total("bytes"), bad_records=tuple(bad_records),
            bad_records_total=total("bad_records_total"), ended=self.ended, notes=tuple(dict.fromkeys(notes)),
            backlog_frames=total("backlog_frames"), recording_dropped=total("recording_dropped"),
            rest=merge_rest(rests),
            streams=tuple(streams), connections=tuple(conns), events=tuple(self.events),
            events_total=self.events_total,
            # (where the Snapshot has them) the events counted but not kept, here or by a monitor; a lone
            # monitor's first events stay at the front while this viewer's own bound has not cut in
            events_dropped=max(0, self.events_total - len(self.events)),
            events_head=(top.get("events_head", 0) if len(self.monitors) == 1
                         and len(self.events) < (self.events.maxlen or 0) else 0),
        )
        for name in ("start", "end", "speed"):
            top.pop(name, None)
        keys = tuple(s.key for s in streams)
        if keys != self._index_keys:  # the same streams in the same order keep one index (see changed_rows)
            self._index_keys = keys
            index: dict[str, int] = {}
            for i, k in enumerate(keys):
                index.setdefault(k, i)  # (a key twice: the first, as a scan finds it)
            self._index = index
        top["index"] = self._index
        names = {f.name for f in dataclasses.fields(Snapshot)}
        return Snapshot(**{k: v for k, v in top.items() if k in names})

    def publish(self) -> Snapshot:
        snap = self.snapshot()
        self.latest = snap
        for fn in self.on_publish:
            fn(snap)
        return snap


def merge_rest(hosts: list[dict]) -> tuple[dict, ...]:
    """Several monitors' REST hosts as one list: the same host (workers of one process, one address)
    adds up, its waits and latency the longest of them."""
    out: dict[str, dict] = {}
    for h in hosts:
        key = str(h.get("host", ""))
        have = out.get(key)
        if have is None:
            out[key] = dict(h)
            continue
        for name, v in h.items():
            if type(v) not in (int, float):
                continue
            w = have.get(name)
            if type(w) not in (int, float):
                have[name] = v
            elif name in ("next_eta_s", "latency_ms"):
                have[name] = max(w, v)
            else:
                have[name] = w + v
    return tuple(out.values())


class AttachSource:
    """Viewer connections to ``urls``, each kept up (reconnected with backoff) until stopped."""

    def __init__(self, urls: list[str], token: str | None = None, *, prefix_keys: bool = True,
                 duration: float | None = None, fps: float = 10.0, final_full: bool = False,
                 log: Any = None, names: list[str] | None = None) -> None:
        if not urls:
            raise ValueError("attach needs at least one ws://HOST:PORT")
        self.urls = list(urls)
        self.token = token
        self.prefix_keys = prefix_keys
        self.duration = duration
        self.fps = fps
        self.final_full = final_full  # at the end, ask every monitor for every book (the headless summary)
        self.log = log
        if names is not None and (len(names) != len(self.urls) or len(set(names)) != len(names)):
            raise ValueError("names: one distinct name per URL")
        # each monitor's name (HOST:PORT unless given, e.g. "worker 1"): its streams' monitor field and prefix
        self.monitors = [Monitor(u, lab) for u, lab in zip(self.urls, names or labels(self.urls))]
        self._stop: asyncio.Event | None = None
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.engine: RemoteEngine | None = None

    def status(self) -> SourceStatus:
        return SourceStatus()

    def stop(self) -> None:
        self._stopped = True
        loop, ev = self._loop, self._stop
        if loop is not None and ev is not None:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:
                pass

    async def run(self, engine: RemoteEngine) -> None:
        self.engine = engine
        engine.prefix_keys = self.prefix_keys
        engine.monitors = self.monitors
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopped:
            self._stop.set()
        tasks = [asyncio.ensure_future(self._keep(m)) for m in self.monitors]
        try:
            try:
                async with asyncio.timeout(self.duration):
                    await self._stop.wait()
            except TimeoutError:
                pass
            if self.final_full:
                await self._final()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=5.0)  # a connection's close handshake is bounded (close_timeout)

    async def _final(self) -> None:
        """Every monitor still up is asked for all its books; wait for its answer (briefly)."""
        engine = self.engine
        assert engine is not None
        engine.focus = None
        waits = []
        for m in self.monitors:
            if m.connected and m.ws is not None:
                waits.append((m, m.got))
                await self._send_focus(m)
        deadline = time.monotonic() + FINAL_WAIT_S
        while waits and time.monotonic() < deadline:
            waits = [(m, g) for m, g in waits if m.connected and m.got < g + 2]
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------ one monitor
    async def _keep(self, m: Monitor) -> None:
        backoff = Backoff(0.25, BACKOFF_CAP)
        while not self._stopped:
            why = ""
            try:
                await self._session(m, backoff)
                why = "the monitor closed the connection"
            except asyncio.CancelledError:
                raise
            except Refused as exc:
                m.refused = str(exc)
                self._lost(m, str(exc))
                self._say(f"monitor {m.label} refused: {exc}")
                return
            except P.ProtocolError as exc:
                m.bad_messages += 1
                m.last_bad = clean(str(exc), 200)
                why = f"bad message: {m.last_bad}"
            except Exception as exc:
                why = describe(exc)
            self._lost(m, why)
            await asyncio.sleep(backoff.next())

    def _lost(self, m: Monitor, why: str) -> None:
        m.ws = None
        was = m.connected
        m.connected = False
        m.down_reason = clean(why, 200)
        if was:
            m.down_since = time.time()
            engine = self.engine
            if engine is not None:
                engine.event(Event(m.down_since, m.label, "monitor_down", m.down_reason, "link_down"))

    async def _session(self, m: Monitor, backoff: Backoff) -> None:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        async with connect(m.url, proxy=None, additional_headers=headers, compression=None,
                           max_size=MAX_MESSAGE, open_timeout=10, ping_interval=10, ping_timeout=20,
                           close_timeout=2) as ws:
            engine = self.engine
            assert engine is not None
            focus = engine.monitor_focus(m)
            await ws.send(P.dumps({"type": "hello", "protocol": P.VERSION, "fps": self.fps,
                                   "focus": None if focus is None else sorted(focus),
                                   "book_depth": engine.book_depth, "tape_depth": engine.tape_depth}).decode())
            m.sent_focus = focus
            async with asyncio.timeout(SILENT_S * 2):  # (not wait_for: in 3.11 it can swallow a cancel)
                hello = P.loads(await ws.recv())
            if hello["type"] == "error":
                raise RuntimeError(f"refused: {clean(str(hello.get('error')), 200)} (code {clean(str(hello.get('code')), 10)})")
            if hello["type"] != "hello":
                raise P.ProtocolError(f"expected a hello, got {clean(hello['type'], 40)!r}")
            if P.major_of(hello.get("protocol")) != P.MAJOR:
                raise Refused(f"it speaks protocol {clean(str(hello.get('protocol')), 20)!r}, this viewer {P.VERSION}")
            m.version = clean(str(hello.get("protocol")), 20)
            ident = hello.get("monitor")
            ident = (ident.get("host"), ident.get("pid"), ident.get("started")) if isinstance(ident, dict) else None
            if ident != m.identity:
                m.events_total = 0  # another process: its events are all news
                m.identity = ident
            first = True
            silent = max(SILENT_S, 3.0 / self.fps)  # a slow frame rate is not a silent monitor
            while True:
                async with asyncio.timeout(silent):
                    raw = await ws.recv()
                msg = P.loads(raw)
                if msg["type"] == "error":
                    raise RuntimeError(f"the monitor said: {clean(str(msg.get('error')), 200)}")
                if msg["type"] != "state":
                    continue  # a newer minor version's message: not ours to read
                if first and msg.get("full") is not True:
                    raise P.ProtocolError("the first state is not full")
                self._apply(m, msg)
                if first:
                    first = False
                    m.ws = ws
                    m.connected = True
                    m.connects += 1
                    if m.ever:
                        engine.event(Event(time.time(), m.label, "monitor_up", f"reconnected to {m.url}"))
                    m.ever = True
                    backoff.reset()
                    self._say(f"attached to {m.url}")
                m.got += 1
                m.last_wall = time.time()
                f = engine.monitor_focus(m)
                if f != m.sent_focus:
                    await self._send_focus(m, f)

    async def _send_focus(self, m: Monitor, focus: Any = ...) -> None:
        engine = self.engine
        assert engine is not None
        if focus is ...:
            focus = engine.monitor_focus(m)
        ws = m.ws
        if ws is None:
            return
        m.sent_focus = focus
        try:
            await ws.send(P.dumps({"type": "focus", "focus": None if focus is None else sorted(focus),
                                   "book_depth": engine.book_depth, "tape_depth": engine.tape_depth}).decode())
        except Exception:
            pass  # the session notices the loss

    def _apply(self, m: Monitor, msg: dict[str, Any]) -> None:
        """A state message into ``m``'s rebuilt snapshot (all of it checked before anything changes)."""
        full = msg.get("full") is True
        streams = _list(msg, "streams")
        conns = _list(msg, "connections")
        removed = _list(msg, "removed")
        conns_removed = _list(msg, "connections_removed")
        top = msg.get("snapshot", {})
        if type(top) is not dict:
            raise P.ProtocolError("snapshot is an object")
        top = P.convert_fields(Snapshot, {k: v for k, v in top.items() if k not in P.PARTS and k not in P.LOCAL})
        events = P.decode_events(msg.get("events", []))
        total = msg.get("events_total")
        if type(total) is not int or total < 0:
            raise P.ProtocolError("events_total is a whole number")
        base_streams = {} if full else m.streams
        new_streams: dict[str, StreamView] = {}
        for d in streams:
            if type(d) is not dict or type(d.get("key")) is not str:
                raise P.ProtocolError("a stream is an object with a key")
            k = d["key"]
            old = new_streams.get(k) or base_streams.get(k)
            new_streams[k] = P.patch(old, d) if old is not None else P.decode_stream(d)
        new_conns: dict[str, ConnView] = {}
        base_conns = {} if full else m.conns
        for d in conns:
            if type(d) is not dict or type(d.get("conn")) is not str:
                raise P.ProtocolError("a connection is an object with a conn")
            k = d["conn"]
            old = new_conns.get(k) or base_conns.get(k)
            new_conns[k] = P.patch(old, d) if old is not None else P.decode_conn(d)
        # checked: now change
        if full:
            m.streams = new_streams
            m.conns = new_conns
            m.top = top
        else:
            m.streams.update(new_streams)
            m.conns.update(new_conns)
            m.top.update(top)
            for k in removed:
                if isinstance(k, str):
                    m.streams.pop(k, None)
            for k in conns_removed:
                if isinstance(k, str):
                    m.conns.pop(k, None)
        if len(m.streams) > MAX_STREAMS:
            raise P.ProtocolError(f"more than {MAX_STREAMS} streams")
        engine = self.engine
        assert engine is not None
        new = total - m.events_total
        if new > 0:
            fresh = events[-min(new, len(events)):] if events else []
            engine.events_total += new - len(fresh)  # raised there but not kept (its bound): counted as dropped
            pre = self.prefix_keys
            merged = [e._replace(stream=f"{m.label}/{e.stream}") if pre else e for e in fresh]
            if full and engine.events:  # a late viewer's history: in time order with what it holds
                everything = sorted([*engine.events, *merged], key=lambda e: e.ts)
                engine.events.clear()
                engine.events.extend(everything)
                engine.events_total += len(merged)
            else:
                for e in merged:
                    engine.event(e)
        m.events_total = total

    def _say(self, text: str) -> None:
        if self.log is not None:
            try:
                print(f"wstui: {text}", file=self.log, flush=True)
            except (OSError, ValueError):
                pass


def placeholder(m: Monitor, now: float) -> StreamView:
    """A row standing for a monitor this viewer has no stream of yet: down, with the reason."""
    why = f"monitor {m.label} {'refused' if m.refused else 'not reached'}: {m.refused or m.down_reason}"
    return StreamView(
        key=f"{m.label}/monitor", venue="monitor", symbol=m.label, channel="-", state="down", state_since=now,
        reason=why, messages=0, bytes=0, last_size=0, rate_1s=0.0, rate_10s=0.0, history=(), last_age_s=None,
        latency_ms_p50=None, latency_ms_p99=None, latency_counts=(), latency_sum=0.0, gaps=0, checksum_ok=0,
        checksum_failed=0, resyncs=0, reconnects=0, parse_errors=0, crossed=False, has_book=False,
        book_state="", bids=(), asks=(), book_levels=(0, 0), book_updates=0, has_tape=False, trades=(),
        trades_total=0, stale_after=0.0, frames=(), has_frames=False, version=0, cause="link_down",
        monitor=m.label)


def _list(msg: dict[str, Any], name: str) -> list:
    v = msg.get(name, [])
    if type(v) is not list:
        raise P.ProtocolError(f"{name} is an array")
    return v


def labels(urls: list[str]) -> list[str]:
    """Each monitor's name: its HOST:PORT (told apart by #N when the same one is named twice)."""
    out: list[str] = []
    for u in urls:
        p = urlsplit(u)
        lab = p.netloc or u
        base, n = lab, 2
        while lab in out:
            lab = f"{base}#{n}"
            n += 1
        out.append(lab)
    return out


def describe(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError):
        return f"no message for {SILENT_S:.0f} s"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return "refused: wrong token (HTTP 401)"
    if status is not None:
        return f"refused: HTTP {status}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}"
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return f"closed: {rcvd.code} {rcvd.reason}".strip()
    text = str(exc)
    return f"{name}: {text}" if text else name


def check_url(u: str) -> str | None:
    p = urlsplit(u)
    if p.scheme not in ("ws", "wss") or not p.hostname:
        return f"{u!r} is not a ws://HOST:PORT address"
    try:
        p.port
    except ValueError:
        return f"{u!r} has a bad port"
    return None


def cmd_attach(args: Any) -> int:
    """``wstui attach URL ... [--token-file F] [--headless [--json] [--duration S]]``."""
    from ..cli import run_tui
    from .server import ListenError, read_token

    for u in args.urls:
        bad = check_url(u)
        if bad:
            print(f"wstui: error: {bad}", file=sys.stderr)
            return 2
    try:
        token = read_token(args.token_file) if args.token_file else None
    except ListenError as exc:
        print(f"wstui: error: {exc}", file=sys.stderr)
        return 2
    engine = RemoteEngine()
    source = AttachSource(args.urls, token, duration=args.duration, fps=args.fps, final_full=args.headless,
                          log=sys.stderr if args.headless else None)
    if not args.headless:
        return run_tui(engine, source, args)
    return run_headless_view(engine, source, source.monitors, args, "could not attach to any monitor")


def run_headless_view(engine: RemoteEngine, source: Any, monitors: list[Monitor], args: Any, none_reached: str,
                      why: Callable[[Monitor], str] | None = None) -> int:
    """Run ``source`` (attached to ``monitors``) headless until --duration or a signal, with --metrics and
    --events beside it, then print the summary.  Exit 0 all healthy, 1 some stream unhealthy or a monitor
    lost at the end (0 for a service stopped when told), 2 when no monitor was ever reached."""
    import signal

    import orjson

    from ..cli import exit_status, serving, write_out
    from ..runner import run_source
    from ..summary import summary_json, summary_text

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: source.stop())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, source.stop)
        await run_source(engine, source, args.fps)

    with serving(engine, args):
        asyncio.run(main())
    snap = engine.latest or engine.publish()
    if not any(m.ever for m in monitors):
        told = "; ".join(f"{m.label}: {(why(m) if why else '') or m.refused or m.down_reason}" for m in monitors)
        print(f"wstui: error: {none_reached} ({told})", file=sys.stderr)
        return 2
    text = orjson.dumps(summary_json(snap, args.levels)).decode() if args.json else summary_text(snap)
    write_out(text + "\n")
    status = exit_status(snap)
    if any(not m.connected for m in monitors):
        status = max(status, 1)  # a monitor not reached (or lost) at the end is not healthy
    if args.duration is None and status == 1:
        return 0  # a service stopped when told
    return status
