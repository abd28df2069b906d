"""Replay a capture through the engine, on the capture's own clock, at any speed.

- Frames go through the same venue adapters as live traffic (``Engine.frame``).
- REST snapshot requests are answered from the capture's ``http`` records, matched by URL (host, path
  and the ``symbol`` parameter; ``limit`` may differ; path and query alone when no answer of that host is
  left) and handed out in the order they were recorded.
- The engine clock is the capture's clock: stats and staleness are what they were when recorded.
  Captures whose receive stamps switch to a monotonic clock (seconds since boot, far below any
  wall-clock epoch) are rebased onto the wall clock of the record before, with a note.
- Looping continues the clock (each pass is shifted past the previous one), so rates stay sane.
- Controls (``pause``, ``resume``, ``set_speed``, ``restart``) may be called from another thread.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import re
import time
from math import isfinite
from collections import defaultdict, deque
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import orjson

from ..core.snapshot import SourceStatus
from ..core.text import clean
from .capture import RECORD_TYPES, CaptureError, iter_lines

_loads = orjson.loads
EPOCH_MIN = 1e9  # receive stamps below this are not wall-clock epoch seconds (2001-09-09)
SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 100.0, None)  # None = max
YIELD_EVERY = 256
DISORDER_S = 1.0  # a record this much earlier than one before it means the file is not in time order
WINDOW_RECORDS = 20_000  # records held at once to put a disordered stretch back in time order
MERGE_MAX = 32  # connections merged stream by stream (one reader each); more: one windowed pass


def url_key(url: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """Key under which a REST answer matches a request: host, path and the parameters that pick the
    data (``symbol`` and friends), ignoring ``limit`` and request timestamps."""
    p = urlsplit(url)
    params = tuple(sorted((k, v) for k, v in parse_qsl(p.query) if k.lower() not in ("limit", "timestamp", "_")))
    return (p.hostname or "", p.path.rstrip("/"), params)


class HttpIndex:
    """The capture's ``http`` records by URL, each answer handed out once, in recorded order."""

    def __init__(self) -> None:
        self._all: dict[tuple, list[str]] = defaultdict(list)
        self._queues: dict[tuple, deque[str]] = {}
        self.reset()

    def add(self, url: str, body: str) -> None:
        self._all[url_key(url)].append(body)

    def reset(self) -> None:
        self._queues = {k: deque(v) for k, v in self._all.items()}

    def take(self, url: str) -> str | None:
        """The next answer recorded for ``url``; when the capture holds none for its host, the next one
        recorded for the same path and query on another host (a recording made through a local server,
        or one whose REST host was derived differently)."""
        key = url_key(url)
        q = self._queues.get(key)
        if q:
            return q.popleft()
        for k, other in self._queues.items():
            if other and k[1:] == key[1:]:
                return other.popleft()
        return None

    def __len__(self) -> int:
        return sum(len(v) for v in self._all.values())


class Replay:
    """A capture file as a source for the engine."""

    def __init__(self, path: str | Path, *, speed: float | None = 1.0, loops: int = 1) -> None:
        self.path = Path(path)
        self.speed = speed  # None = as fast as possible
        self.loops = loops  # 0 = forever
        self.loop_no = 0
        self.paused = False
        self.http = HttpIndex()
        self.start: float | None = None  # capture time of the first record (this pass, shifted)
        self.end: float | None = None  # capture time of the last record (this pass, shifted)
        self.position: float | None = None
        self.records = 0
        self.behind_s = 0.0  # seconds behind the capture's pace (a slow machine)
        self.done = False
        self._restart = False
        self._stop = False
        self._anchor: tuple[float, float] | None = None  # (capture ts, monotonic) for pacing
        self._span = 0.0
        self._first_ts: float | None = None
        self._last_ts: float | None = None
        self._prescanned = False
        self._disorder = 0
        self._noted_mono = False
        self._conns: dict[bytes, int] = {}  # connection id -> its records, as the prescan saw them
        self.held_peak = 0  # most records held at once to replay the file in time order
        self._held = 0

    def status(self) -> SourceStatus:
        return SourceStatus(position=self.position, start=self.start, end=self.end, speed=self.speed,
                            paused=self.paused, loop=self.loop_no, loops=self.loops,
                            replay_behind_s=self.behind_s)

    # ---------------------------------------------------------------- controls (any thread)
    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._anchor = None

    def toggle_pause(self) -> bool:
        if self.paused:
            self.resume()
        else:
            self.pause()
        return self.paused

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self._anchor = None

    def step_speed(self, up: bool) -> float | None:
        cur = self.speed
        idx = len(SPEEDS) - 1 if cur is None else min(range(len(SPEEDS) - 1), key=lambda i: abs(SPEEDS[i] - cur))
        idx = max(0, min(len(SPEEDS) - 1, idx + (1 if up else -1)))
        self.set_speed(SPEEDS[idx])
        return self.speed

    def restart(self) -> None:
        self._restart = True
        self.paused = False

    def stop(self) -> None:
        self._stop = True

    # ---------------------------------------------------------------- running
    def prescan(self) -> None:
        """One cheap pass: index the ``http`` answers, find the capture's time span, and whether its
        records are in time order (a file may hold one connection after another: Bybit's spot records
        follow all of its linear ones)."""
        first = last = running = None
        mono_first = mono_last = None
        disorder = 0
        conns = self._conns
        for _n, line, _err in iter_lines(self.path):
            if line is None:
                continue
            if len(conns) <= MERGE_MAX:
                c = _conn_of(line)
                conns[c] = conns.get(c, 0) + 1
            if b'"http"' in line:
                try:
                    rec = _loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and rec.get("t") == "http" and "url" in rec and "data" in rec:
                    self.http.add(str(rec["url"]), str(rec["data"]))
                    continue
            ts = _stamp(line)
            if ts is None:
                continue
            if ts < EPOCH_MIN:  # a monotonic clock (see _play): its span counts from the first such stamp
                if mono_first is None:
                    mono_first = ts
                mono_last = ts
                continue
            if first is None or ts < first:
                first = ts
            if last is None or ts > last:
                last = ts
            if running is None or ts > running:
                running = ts
            elif ts < running - DISORDER_S:
                disorder += 1
        if first is not None and mono_first is not None:
            last = max(last, first + (mono_last - mono_first))
        self._first_ts = first
        self._last_ts = last
        self._disorder = disorder if mono_first is None else 0
        self._prescanned = True

    async def run(self, engine) -> None:
        engine.set_source(self)
        engine.fetcher = self._fetch
        if not self._prescanned:
            self.prescan()
        offset = 0.0
        try:
            while not self._stop:
                self.loop_no += 1
                self.http.reset()
                engine.set_exch_offset(offset)
                span = await self._play(engine, offset)
                if self._restart:
                    self._restart = False
                    self.loop_no = 0
                    engine.restart_clock()
                    span = 0.0  # the cut-short pass still moves the clock on: the next starts after it
                elif self.loops and self.loop_no >= self.loops:
                    break
                offset = engine.now - (self._first_ts or engine.now) + 1.0 if span is not None else offset
        finally:
            self.done = True
            engine.end()

    def _fetch(self, conn, url: str, callback, stream=None) -> None:
        body = self.http.take(url)
        if body is None:
            conn.engine.defer(callback, None, f"the capture holds no (further) REST answer for {clean(url, 200)}")
        else:
            conn.engine.defer(callback, body, None)

    async def _play(self, engine, offset: float) -> float | None:
        """One pass over the file.  Returns the pass's span in capture seconds (None if empty)."""
        fname = str(self.path)
        if self._disorder and self.loop_no <= 1 and not any("time order" in n for n in engine.notes):
            engine.notes.append(
                f"{self.path.name}: {self._disorder} records are earlier than a record before them in the "
                f"file (connections written one after another); replayed in time order")
        clock_shift = 0.0  # added to monotonic stamps to rebase them (see module doc)
        last_wall: float | None = None
        first_ts: float | None = None
        self.start = (self._first_ts + offset) if self._first_ts is not None else None
        self.end = (self._last_ts + offset) if self._last_ts is not None else None
        self._anchor = None
        count = 0
        frame = engine.frame
        bad = engine.bad
        for line_no, line, err in (self._time_ordered() if self._disorder else iter_lines(self.path)):
            if line is None:
                bad(err or "unreadable", line_no, fname)
                continue
            try:
                rec = _loads(line)
                t = rec["t"]
            except orjson.JSONDecodeError as exc:
                bad(f"line is not JSON ({exc}): {line[:80]!r}", line_no, fname)
                continue
            except (KeyError, TypeError):
                bad(f"record has no type field 't': {line[:80]!r}", line_no, fname)
                continue
            if t == "http" or t == "header":
                continue
            if type(t) is not str or t not in RECORD_TYPES:
                bad(f"unknown record type {clean(t, 40)!r}", line_no, fname)
                continue
            ts = rec.get("ts")
            conn = rec.get("conn")
            if type(ts) is not float:
                try:
                    ts = float(ts)  # ints, and numbers written as text
                except (TypeError, ValueError):
                    ts = None
            if ts is None or not isfinite(ts) or type(conn) is not str:
                bad(f"{t} record without a valid 'ts' (a finite number) and 'conn' (a string)", line_no, fname)
                continue
            data = rec.get("data")
            if t == "recv":
                if type(data) is not str:
                    data = self._binary(rec, data)
                    if type(data) is str:  # an error message
                        bad(data, line_no, fname)
                        continue
            elif t == "connect":
                addr = rec.get("addr", "")
                if type(addr) is not str:
                    bad("connect record whose 'addr' is not a string", line_no, fname)
                    continue
            elif t == "send" and type(data) is not str:
                bad("send record whose 'data' is not text", line_no, fname)
                continue
            # clock: rebase monotonic stamps, shift by loop offset
            if ts < EPOCH_MIN:
                if last_wall is not None and clock_shift == 0.0:
                    clock_shift = last_wall - ts
                    if not self._noted_mono:  # the same file each pass (loops, restarts): noted once
                        self._noted_mono = True
                        engine.notes.append(
                            f"{self.path.name}: receive stamps switch to a monotonic clock at line {line_no}; "
                            f"rebased onto the wall clock of the record before")
                ts += clock_shift
            else:
                last_wall = ts
            ts += offset
            if first_ts is None:
                first_ts = ts
            self.records += 1
            count += 1
            engine.line = line_no
            # pacing
            if self.speed is None:
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                    if self.paused or self._restart or self._stop:
                        if not await self._hold(engine):
                            return None
            elif not await self._pace(engine, ts):
                return None
            self.position = ts
            if t == "recv":
                frame(conn, data, ts)
            elif t == "connect":
                engine.open(conn, addr, ts)
            elif t == "send":
                addr = rec.get("addr")
                engine.sent(conn, data, ts, addr if type(addr) is str else None)
            else:  # disconnect / close
                engine.close(conn, ts, clean(rec.get("reason", "closed in capture"), 200))
        engine.line = None
        if first_ts is None:
            return None
        return engine.now - first_ts

    def _time_ordered(self):
        """The file's lines in receive-time order, in bounded memory (the whole file was once sorted in
        memory: 183 MB for a 77 MB file with one record stamped 100 s ahead).

        A file written one connection after another (each in order, their times overlapping) is merged
        connection by connection: one reader per connection (up to MERGE_MAX), each through a window of
        WINDOW_RECORDS records that puts a local disorder (a record stamped ahead) back in place.  With
        more connections, one pass through one such window.  Ties and lines without a time keep their
        place after the line before them; a record later than the window can mend goes out late (the
        engine's clock never runs backwards)."""
        conns = [c for c in self._conns if c is not None]
        if 1 < len(conns) <= MERGE_MAX:
            groups = [self._windowed(self._lines_of(c)) for c in conns]
            groups.append(self._windowed(self._lines_of(None)))
            for _ts, n, line, err in heapq.merge(*groups):
                yield n, line, err
        else:
            for _ts, n, line, err in self._windowed(self._lines_of(...)):
                yield n, line, err

    def _lines_of(self, conn):
        """``(ts, line_no, line, err)`` for the lines of connection ``conn`` (None: lines naming none;
        ``...``: every line); a line without a time takes the time of the one before it."""
        last = 0.0
        for n, line, err in iter_lines(self.path):
            if conn is not ...:
                c = _conn_of(line) if line is not None else None
                if c not in self._conns:
                    c = None
                if c != conn:
                    continue
            ts = _stamp(line) if line is not None else None
            if ts is None or not isfinite(ts):
                ts = last
            last = ts
            yield ts, n, line, err

    def _windowed(self, items):
        """``items`` sorted within a sliding window of WINDOW_RECORDS (a heap)."""
        heap: list = []
        push = heapq.heappush
        pushpop = heapq.heappushpop
        for it in items:
            if len(heap) >= WINDOW_RECORDS:
                yield pushpop(heap, it)
            else:
                push(heap, it)
                self._held += 1
                if self._held > self.held_peak:
                    self.held_peak = self._held
        while heap:
            self._held -= 1
            yield heapq.heappop(heap)

    @staticmethod
    def _binary(rec: dict, data: object) -> bytes | str:
        """The payload of a recv record that has no text ``data``: its ``b64`` bytes, or an error text."""
        if data is not None:
            return "recv record whose 'data' is not text"
        b64 = rec.get("b64")
        if type(b64) is not str:
            return "recv record with neither text 'data' nor 'b64'"
        try:
            return base64.b64decode(b64, validate=True)
        except ValueError as exc:
            return f"recv record with bad base64: {exc}"

    async def _hold(self, engine) -> bool:
        """Wait while paused; False when the pass must end (restart/stop)."""
        while self.paused and not (self._restart or self._stop):
            await asyncio.sleep(0.05)
        self._anchor = None
        return not (self._restart or self._stop)

    async def _pace(self, engine, ts: float) -> bool:
        """Sleep until ``ts`` is due at the current speed, ticking the clock meanwhile."""
        while True:
            if self._restart or self._stop:
                return False
            if self.paused:
                if not await self._hold(engine):
                    return False
                continue
            speed = self.speed
            if speed is None:
                return True
            now = time.monotonic()
            if self._anchor is None:
                base = self.position if self.position is not None else ts
                self._anchor = (min(base, ts), now)
            cap0, wall0 = self._anchor
            due = wall0 + (ts - cap0) / speed
            delay = due - now
            self.behind_s = 0.0
            if delay <= 0.0005:
                if delay < -1.0:
                    # behind by more than a second (a slow machine): measure it, do not pretend
                    self.behind_s = round(-delay, 3)
                return True
            await asyncio.sleep(min(delay, 0.1))
            if self.paused or self._restart or self._stop:
                continue  # paused during the wait: the clock stops where the pause found it
            # the capture clock moves on during the wait: staleness is judged on it
            pos = cap0 + (time.monotonic() - wall0) * speed
            if pos > ts:
                pos = ts
            if pos > engine.now:
                engine.advance(pos)
            self.position = pos


_TS = re.compile(rb'"ts":\s*(-?[0-9][0-9.eE+-]*)')
_CONN = re.compile(rb'"conn":\s*"((?:[^"\\]|\\.)*)"')


def _conn_of(line: bytes) -> bytes | None:
    """The record's ``conn`` read without decoding the line (None when it names none)."""
    m = _CONN.search(line)
    return m.group(1) if m is not None else None


def _stamp(line: bytes) -> float | None:
    """The record's ``ts`` read without decoding the line (a ``"ts":`` inside the escaped frame text
    cannot match: its quotes are backslashed)."""
    m = _TS.search(line)
    if m is None:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return None


def check_readable(path: str | Path) -> None:
    """Raise :class:`CaptureError` early when ``path`` cannot be read at all."""
    p = Path(path)
    if not p.exists():
        raise CaptureError(f"no such capture file: {p}")
    if p.is_dir():
        raise CaptureError(f"{p} is a folder, not a capture file")
    check_capture(p)


SNIFF_LINES = 50  # lines read to decide whether a file is a capture at all


def check_capture(p: Path) -> None:
    """Raise :class:`CaptureError` for a file that is not a capture (no line among its first
    ``SNIFF_LINES`` is a typed record) or holds no records at all.  A capture with some bad lines among
    good ones is fine: those are reported as bad records while it replays."""
    seen = 0
    first_bad: tuple[int, str] | None = None
    kinds: set[str] = set()
    for n, line, err in iter_lines(p):
        if line is None:
            if seen == 0 and not kinds:
                raise CaptureError(f"{p} is not a readable capture: {err}")
            break
        seen += 1
        try:
            rec = _loads(line)
        except orjson.JSONDecodeError:
            rec = None
        t = rec.get("t") if isinstance(rec, dict) else None
        if isinstance(t, str) and t in RECORD_TYPES:
            kinds.add(t)
            if t != "header":
                return
        elif first_bad is None:
            first_bad = (n, clean(line[:60].decode("utf-8", "replace"), 60))
        if seen >= SNIFF_LINES:
            break
    if first_bad is not None and not kinds:
        n, text = first_bad
        raise CaptureError(
            f"{p} is not a capture: line {n} ({text!r}) is not a capture record. A capture (format 2) is "
            "JSON Lines of typed records such as {\"t\":\"recv\",\"conn\":...,\"ts\":...,\"data\":...}, "
            "as written by 'wstui record' or cryptofeed (.jsonl, .jsonl.gz, .jsonl.zst)")
    if seen == 0:
        raise CaptureError(f"{p} is empty: the capture holds no records")
    if kinds == {"header"}:
        raise CaptureError(f"{p} is empty: the capture holds a header but no recorded frames")
