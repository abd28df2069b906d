"""``watch --workers N``: N worker processes, each a headless monitor of its share of the plant
(:mod:`wstui.io.share`) serving its state on a loopback port (``--listen``); this process supervises them and
merges them for the screen, the metrics and the summary through the attach protocol.

A worker that dies is reported (an event naming it, its exit status and its last words on stderr) and
started again after a backoff, on the same port: the viewer side reconnects to it, its streams show down
meanwhile, and its books rebuild from fresh snapshots.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .backoff import Backoff

STDERR_KEPT = 20  # last lines of a worker's stderr kept (why it died)
STOP_GRACE_S = 5.0  # a worker told to stop has this long before it is killed


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free TCP ports on ``host`` (bound together, then released for the workers)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Worker:
    index: int  # 0-based
    argv: list[str]
    port: int
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    exits: deque[tuple[float, int | None, str]] = field(default_factory=lambda: deque(maxlen=10))
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_KEPT))

    @property
    def name(self) -> str:
        return f"worker {self.index + 1}"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


class WorkerPool:
    """Runs the workers until :meth:`stop`; ``report(kind, worker, detail)`` hears of starts and deaths."""

    def __init__(self, argvs: list[list[str]], ports: list[int], *,
                 report: Callable[[str, str, str], None] | None = None, backoff_cap: float = 10.0) -> None:
        self.workers = [Worker(i, argv, port) for i, (argv, port) in enumerate(zip(argvs, ports))]
        self.report = report or (lambda kind, who, detail: None)
        self.backoff_cap = backoff_cap
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    @property
    def urls(self) -> list[str]:
        return [w.url for w in self.workers]

    async def run(self) -> None:
        self._tasks = [asyncio.ensure_future(self._keep(w)) for w in self.workers]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self._terminate()

    def stop(self) -> None:
        self._stopping = True
        for t in self._tasks:
            t.cancel()

    async def _keep(self, w: Worker) -> None:
        backoff = Backoff(base=0.5, cap=self.backoff_cap)
        while not self._stopping:
            started = time.monotonic()
            await self._spawn(w)
            assert w.proc is not None
            readers = asyncio.ensure_future(self._read(w, w.proc))
            code = await w.proc.wait()
            await asyncio.wait({readers}, timeout=1.0)
            if self._stopping:
                return
            last = last_words(w.stderr)
            w.exits.append((time.time(), code, last))
            if time.monotonic() - started > 30.0:
                backoff.reset()
            delay = backoff.next()
            why = _exit_text(code) + (f": {last}" if last else "")
            self.report("worker_died", w.name, f"{why}; restarting in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _spawn(self, w: Worker) -> None:
        w.stderr.clear()
        w.proc = await asyncio.create_subprocess_exec(
            *w.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)  # stdin never written: its end tells
        # the worker we are gone
        w.starts += 1
        self.report("worker_started", w.name, f"pid {w.proc.pid} on {w.url}" + (" (restart)" if w.starts > 1 else ""))

    @staticmethod
    async def _read(w: Worker, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").strip()
            if text:
                w.stderr.append(text[:300])

    async def _terminate(self) -> None:
        procs = [w.proc for w in self.workers if w.proc is not None and w.proc.returncode is None]
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        if procs:
            _done, pending = await asyncio.wait({asyncio.ensure_future(p.wait()) for p in procs},
                                                timeout=STOP_GRACE_S)
            for p in procs:
                if p.returncode is None:
                    try:
                        p.kill()
                    except ProcessLookupError:
                        pass
            if pending:
                await asyncio.wait(pending, timeout=2.0)


def last_words(lines) -> str:
    """The latest line of a worker's stderr that says what went wrong (not its routine notices)."""
    for line in reversed(lines):
        low = line.lower()
        if "error" in low or "traceback" in low or "fatal" in low or "exception" in low:
            return line
    return ""


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def worker_argv(args, index: int, n: int, port: int) -> list[str]:
    """The command line of worker ``index`` (0-based): the parent's streams and health options, headless,
    serving its state on ``port`` (loopback), its share chosen by ``--worker I/N``."""
    argv = [sys.executable, "-m", "wstui", "watch", *args.streams]
    if args.config:
        argv += ["--config", os.path.abspath(args.config)]
    for e in args.endpoint:
        argv += ["--endpoint", e]
    for s in args.send:
        argv += ["--send", s]
    for opt in ("stale_after", "lag_after", "ping_interval", "ping_timeout", "backoff_max", "fps"):
        v = getattr(args, opt, None)
        if v is not None:
            argv += [f"--{opt.replace('_', '-')}", f"{v:g}" if isinstance(v, float) else str(v)]
    argv += ["--headless", "--listen", f"127.0.0.1:{port}", "--worker", f"{index + 1}/{n}"]
    return argv


def stop_with_parent(stop: Callable[[], None]) -> None:
    """In a worker: call ``stop`` (thread-safe) when standard input ends, i.e. when the process that started
    it is gone, even killed: a worker never outlives its parent as an orphan holding connections."""

    def wait() -> None:
        try:
            while os.read(0, 4096):  # unbuffered: no lock held at interpreter exit
                pass
        except (OSError, ValueError):
            pass
        stop()

    threading.Thread(target=wait, name="wstui-parent-watch", daemon=True).start()
