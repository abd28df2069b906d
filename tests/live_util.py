"""Helpers for the live tests: ``wstui serve`` as a subprocess on a free loopback port, and an in-process
live client whose stream states are sampled while it runs.  Everything stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from wstui.engine import Engine
from wstui.io.live import Live
from wstui.io.spec import build_feeds
from wstui.runner import run_source

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")
FAULT = re.compile(r"fault (\S+) at ([0-9.]+) on (\d+) connection")


def wstui_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "wstui", *map(str, args)]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Served:
    """``wstui serve ARGS --port 0`` running; ``port`` parsed from its first line."""

    def __init__(self, *args, timeout: float = 15.0) -> None:
        self.proc = subprocess.Popen(wstui_cmd("serve", "--port", "0", *args), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.port: int | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout) or self.port is None:
            self.stop()
            pytest.fail(f"wstui serve did not start: {self.lines} {self.proc.stderr.read()[-2000:]}")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            m = LISTEN.search(line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def url(self, path: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def faults(self) -> list[tuple[str, float, int]]:
        out = []
        for line in self.lines:
            m = FAULT.search(line)
            if m:
                out.append((m.group(1), float(m.group(2)), int(m.group(3))))
        return out

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Sampled:
    """What an in-process live run left: the engine, the source, and each stream's sampled states."""

    def __init__(self, engine: Engine, source: Live, timeline: list[tuple[float, str, str, int, int]]) -> None:
        self.engine = engine
        self.source = source
        self.timeline = timeline  # (wall time, stream key, state, checksum_ok, checksum_failed)

    def events(self, kind: str, stream: str | None = None):
        return [e for e in self.engine.events if e.kind == kind and (stream is None or e.stream == stream)]

    def states(self, key: str) -> list[tuple[float, str]]:
        return [(t, s) for t, k, s, _ok, _bad in self.timeline if k == key]

    def first_state(self, key: str, state: str, after: float) -> float | None:
        for t, s in self.states(key):
            if t >= after and s == state:
                return t
        return None

    def stream(self, key: str):
        return self.engine.latest.stream(key)

    def checksum_ok_at(self, key: str, t: float) -> int:
        best = 0
        for tt, k, _s, ok, _bad in self.timeline:
            if k == key and tt <= t:
                best = ok
        return best


def run_live(specs, endpoints, *, duration: float, stale_after: float = 1.5, lag_after: float = 1.0,
             overrides: dict | None = None, during=None, **live_kw) -> Sampled:
    """Run a live client in this process for ``duration`` s, sampling stream states every 20 ms.
    ``during(source, engine)`` (a coroutine function) runs alongside, e.g. to remove a stream."""
    engine = Engine(stale_after=stale_after, lag_after=lag_after, stale_overrides=overrides or {}, source="live")
    live_kw.setdefault("ping_interval", 1.0)
    live_kw.setdefault("ping_timeout", 1.0)
    source = Live(build_feeds(specs, endpoints), duration=duration, **live_kw)
    timeline: list[tuple[float, str, str, int, int]] = []

    async def main() -> None:
        async def sample() -> None:
            while True:
                now = time.time()
                for st in list(engine.streams.values()):
                    state = st.compute_state(now)[0]
                    timeline.append((now, st.key, state, st.checksum_ok, st.checksum_failed))
                await asyncio.sleep(0.02)

        sampler = asyncio.ensure_future(sample())
        extra = asyncio.ensure_future(during(source, engine)) if during is not None else None
        try:
            await asyncio.wait_for(run_source(engine, source, 10), duration + 20)
        finally:
            sampler.cancel()
            if extra is not None:
                extra.cancel()

    asyncio.run(main())
    return Sampled(engine, source, timeline)


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text[-3000:]


ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def records(path) -> list[dict]:
    """Every whole record of a capture (a torn or truncated end is tolerated, as the replay does)."""
    from wstui.io.capture import iter_lines

    out = []
    for _n, line, _err in iter_lines(path):
        if line is None:
            break
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue  # a torn last line
    return out


def payloads(recs: list[dict], kind: str = "recv") -> list[str | bytes]:
    return [r["data"] if "data" in r else base64.b64decode(r["b64"]) for r in recs if r["t"] == kind]


def replay_json(path, *extra) -> dict:
    p = subprocess.run(wstui_cmd("replay", path, "--headless", "--json", "--speed", "max", *extra), cwd=ROOT,
                       capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode in (0, 1), p.stderr
    no_traceback(p.stderr)
    doc = json.loads(p.stdout)
    assert p.returncode == (1 if doc["unhealthy"] else 0)  # 1: some stream unhealthy when it ended
    return doc


def book_of(summary: dict, key: str) -> dict:
    return [s for s in summary["streams"] if s["key"] == key][0]
