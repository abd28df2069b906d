"""``wstui watch ... --workers N``: the plant spread over N worker processes, merged for one screen.

Each worker is ``wstui watch <the same streams> --headless --listen 127.0.0.1:PORT --worker I/N``: it keeps
its share of the connections (:mod:`wstui.io.share`) in its own engine, on its own core.  This process
supervises them (:class:`~wstui.io.workers.WorkerPool`: a worker that dies is reported and restarted on the
same port) and attaches to them (:class:`~wstui.remote.client.AttachSource` without key prefixes: streams and
connections are named as one process names them), so the TUI, ``--metrics``, ``--events`` and the summary
read one merged snapshot.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from .core.stream import Event
from .io.workers import WorkerPool, free_ports, last_words, worker_argv
from .remote.client import AttachSource, RemoteEngine, run_headless_view


class WorkersSource:
    """A source (``run(engine)``, ``stop()``, ``status()``): the worker pool and the viewer of its workers."""

    def __init__(self, pool: WorkerPool, attach: AttachSource) -> None:
        self.pool = pool
        self.attach = attach
        self.engine: RemoteEngine | None = None

    def status(self):
        return self.attach.status()

    def stop(self) -> None:
        self.attach.stop()

    def report(self, kind: str, who: str, detail: str) -> None:
        engine = self.engine
        if engine is not None:
            engine.event(Event(time.time(), who, kind, detail, "link_down" if kind == "worker_died" else ""))
        if kind == "worker_died":
            print(f"wstui: {who} {detail}", file=sys.stderr, flush=True)

    async def run(self, engine: RemoteEngine) -> None:
        self.engine = engine
        pool = asyncio.ensure_future(self.pool.run())
        try:
            await self.attach.run(engine)  # until --duration or stop(); then every book, for the summary
        finally:
            self.pool.stop()
            await asyncio.gather(pool, return_exceptions=True)


def refuse(args) -> str | None:
    """Options that do not go with --workers (a clear error rather than a silent half-feature)."""
    if getattr(args, "record", None):
        return "--record does not go with --workers (record with one process, or one recording per worker)"
    if getattr(args, "listen", None):
        return "--listen does not go with --workers (the workers listen; attach to this process's view is not served)"
    if getattr(args, "worker", None):
        return "--worker is set by --workers itself"
    return None


def cmd_workers(args: Any) -> int:
    from .cli import run_tui
    from .io.spec import SpecError

    bad = refuse(args)
    if bad:
        print(f"wstui: error: {bad}", file=sys.stderr)
        return 2
    try:
        from .cli import live_setup

        _engine, whole, _rec = live_setup(args)  # the checks one process makes, before any worker starts
    except SpecError as exc:
        print(f"wstui: error: {exc}", file=sys.stderr)
        return 2
    items = sum(len(f.symbols) or 1 for f in whole.feeds)  # what can be dealt: symbols and raw addresses
    n = min(args.workers, items)
    if n < args.workers:
        print(f"wstui: {items} stream group(s) to deal: {n} worker(s), not {args.workers}", file=sys.stderr)
    ports = free_ports(n)
    pool = WorkerPool([worker_argv(args, i, n, p) for i, p in enumerate(ports)], ports)
    attach = AttachSource(pool.urls, prefix_keys=False, duration=args.duration, fps=args.fps,
                          final_full=args.headless, log=None, names=[w.name for w in pool.workers])
    source = WorkersSource(pool, attach)
    pool.report = source.report
    engine = RemoteEngine(prefix_keys=False)
    if not args.headless:
        return run_tui(engine, source, args)

    by_name = {w.name: w for w in pool.workers}
    return run_headless_view(engine, source, attach.monitors, args, "no worker could be reached",
                             lambda m: last_words(by_name[m.label].stderr) if m.label in by_name else "")
