"""The simulated market served in this process (a thread), with one protocol swapped for a test's subclass
(e.g. one that sends a frame that fails half-applied), for the live client to meet on loopback."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest


class ThreadedSim:
    """``with ThreadedSim({DeribitClient: BadDeribit}) as srv: ... srv.url("/ws/api/v2")``."""

    OPEN_TIMEOUT = 10.0  # seconds a client's opening handshake may take (websockets' default)

    def __init__(self, swap: dict[type, type], rate: float = 50, seed: int = 3) -> None:
        self.swap = swap
        self.rate = rate
        self.seed = seed
        self.port: int | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        from wstui.io import sim as simmod
        from wstui.io.server import FeedServer

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        srv = FeedServer(sim=simmod.Sim(rate=self.rate, seed=self.seed), out=io.StringIO())
        async with serve(srv.handler, "127.0.0.1", 0, process_request=self.process_request(srv),
                         compression=None, open_timeout=self.OPEN_TIMEOUT) as server:
            self.port = server.sockets[0].getsockname()[1]
            srv.sim.start()
            self._ready.set()
            await self._stop.wait()
            srv.sim.stop()
            server.close(close_connections=True)

    def process_request(self, srv):
        """What answers plain HTTP (REST) before the WebSocket handshake: the simulator's own."""
        return srv.process_request

    def url(self, path: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "ThreadedSim":
        from wstui.io import sim as simmod

        self._saved = list(simmod.PROTOCOLS)
        simmod.PROTOCOLS[:] = [self.swap.get(p, p) for p in simmod.PROTOCOLS]
        self._thread.start()
        if not self._ready.wait(10) or self.port is None:
            pytest.fail("the in-process simulator did not start")
        return self

    def __exit__(self, *exc) -> None:
        from wstui.io import sim as simmod

        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
        simmod.PROTOCOLS[:] = self._saved


class HangingRest(ThreadedSim):
    """The simulated market in this process, except that every plain HTTP request (a REST snapshot) is
    accepted and never answered: the WebSocket side works, REST hangs."""

    OPEN_TIMEOUT = 30.0  # longer than the watcher's run: its REST request is left hanging, not closed

    def __init__(self) -> None:
        super().__init__({})
        self.requests = 0

    def process_request(self, srv):
        async def never_answer(connection, request):
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return None
            self.requests += 1
            await asyncio.sleep(60)  # the server's own handshake timeout ends it first

        return never_answer
