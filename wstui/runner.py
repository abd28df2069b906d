"""Running a source against the engine: in the caller's event loop (headless) or in a thread (the UI).

The engine publishes a snapshot every ``1/fps`` seconds of wall time.  In the UI the engine lives in its
own thread with its own event loop, so ingestion never waits for drawing and drawing never handles a
message: it only reads ``engine.latest``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .engine import Engine


async def run_source(engine: Engine, source: Any, fps: float = 10.0) -> None:
    """Run ``source.run(engine)`` to its end, publishing snapshots at ``fps`` meanwhile."""
    task = asyncio.ensure_future(source.run(engine))
    period = 1.0 / max(0.5, fps)
    try:
        while not task.done():
            engine.publish()
            await asyncio.wait({task}, timeout=period)
        task.result()
    finally:
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        engine.focus = None  # the last snapshot is whole: every book (the summary prints them)
        engine.publish()


GRACE_S = 1.0  # a stopping source's time to close its connections politely before it is cancelled


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop`` as ``asyncio.run`` would: its tasks still pending (a socket's close handshake cut
    short) are cancelled and run to their end first, so none is destroyed pending (a warning on stderr
    when the TUI quits)."""
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except BaseException:  # (closing anyway)
        pass
    finally:
        loop.close()


class EngineThread(threading.Thread):
    """The engine and its source on a background thread (daemon: it never holds the app open)."""

    def __init__(self, engine: Engine, source: Any, fps: float = 10.0) -> None:
        super().__init__(name="wstui-engine", daemon=True)
        self.engine = engine
        self.source = source
        self.fps = fps
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self._task = self.loop.create_task(run_source(self.engine, self.source, self.fps))
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # shown by the UI, never a traceback on the screen
            self.error = exc
        finally:
            _finish(self.loop)

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the source to stop and give it a moment to close its sockets politely (``GRACE_S``); then
        cancel what is left."""
        stop = getattr(self.source, "stop", None)
        if stop is not None:
            stop()
            self.join(min(timeout, GRACE_S))
            if not self.is_alive():
                return
        loop = self.loop
        if loop is not None and self._task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:
                pass
        self.join(timeout)
