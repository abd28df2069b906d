"""permessage-deflate only where the venue documents it: no venue offers it today (none of their docs
say they support it, and some stall with it), and the extension a connection negotiated is shown per
connection (snapshot ``connections[]``, JSON summary, an event in the UI's events panel)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading

from websockets.asyncio.server import serve

from live_util import ENV, ROOT, Served, run_live, wstui_cmd
from wstui.venues import VENUES
from wstui.venues.generic import Generic
from wstui.venues.kraken import KrakenV2

SYMBOL = {"kraken": "BTC/USD", "kraken-v1": "XBT/USD", "coinbase": "BTC-USD", "okx": "BTC-USDT",
          "deribit": "BTC-PERPETUAL", "gemini": "BTCUSD", "bitfinex": "tBTCUSD"}


class HeaderServer:
    """A tiny WebSocket server on loopback that records every handshake request's headers."""

    def __init__(self, compression: str | None) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.compression = compression
        self.port: int | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def record(conn, request):
            self.requests.append((request.path, {k.lower(): v for k, v in request.headers.raw_items()}))

        async def handler(ws):
            async for _msg in ws:
                await ws.send(json.dumps({"hello": 1}))

        async with serve(handler, "127.0.0.1", 0, process_request=record, compression=self.compression) as srv:
            self.port = srv.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> "HeaderServer":
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def test_every_venue_declares_a_compression_and_none_is_on():
    for v in [*VENUES, Generic]:
        assert v.compression in (None, "deflate"), v
        assert v.compression is None, f"{v.name}: enable deflate only with a documented source"


def test_no_venue_offers_permessage_deflate():
    with HeaderServer("deflate") as srv:  # a server that would accept it
        url = f"ws://127.0.0.1:{srv.port}"
        names = [v.name for v in VENUES]
        specs = [f"{n}:{SYMBOL.get(n, 'BTCUSDT')}" for n in names]
        run = run_live(specs, {n: url for n in names}, duration=1.5)
    assert len(srv.requests) >= len(names), srv.requests
    offered = [(path, h["sec-websocket-extensions"]) for path, h in srv.requests if "sec-websocket-extensions" in h]
    assert offered == []
    snap = run.engine.snapshot()
    assert {c.venue for c in snap.connections} == set(names)
    assert all(c.extensions == "" for c in snap.connections)


def test_a_venue_with_deflate_offers_it_and_the_negotiated_extension_is_shown(monkeypatch):
    monkeypatch.setattr(KrakenV2, "compression", "deflate")
    with HeaderServer("deflate") as srv:
        run = run_live(["kraken:BTC/USD"], {"kraken": f"ws://127.0.0.1:{srv.port}"}, duration=1.0)
    assert "permessage-deflate" in srv.requests[0][1]["sec-websocket-extensions"]
    conn = run.engine.snapshot().connections[0]
    assert conn.extensions.startswith("permessage-deflate")
    ev = [e for e in run.engine.events if e.kind == "extension"]
    assert ev and ev[0].detail.startswith("permessage-deflate")


def test_watch_against_serve_shows_no_extension_in_the_json():
    with Served("--sim", "--seed", 2) as srv:
        p = subprocess.run(wstui_cmd("watch", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url('/v2')}",
                                     "--duration", 1.5, "--headless", "--json"), cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env=ENV)
    assert p.returncode == 0, p.stderr
    conns = json.loads(p.stdout)["connections"]
    assert len(conns) == 1 and conns[0]["extensions"] == "" and conns[0]["messages"] > 0
