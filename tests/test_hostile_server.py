"""A hostile server cannot exhaust or fool the monitor: the real ``wstui watch --headless --json`` against
small WebSocket servers on 127.0.0.1 run inside the test.

- unsolicited symbols (tens of thousands of made-up pairs) never become streams: counted per connection,
  one event per new name up to a cap; memory stays flat; no REST request per unsolicited pair, and the
  REST path carries only our own pair;
- a NaN price from the server is rejected and counted, the watch goes on;
- a server that accepts TCP and never finishes the handshake shows its streams at once, then the reason.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from live_util import ENV, ROOT, no_traceback, wstui_cmd


class HostileServer:
    """A WebSocket server in a thread: ``handler(ws, server)`` plays the venue; plain HTTP requests
    (REST) are answered by ``rest(path)`` -> (status, body) and their paths recorded."""

    def __init__(self, handler, rest=None) -> None:
        self.handler = handler
        self.rest = rest or (lambda path: (404, "no"))
        self.paths: list[str] = []
        self.sent = 0
        self.port: int | None = None
        self._ready = threading.Event()
        self._loop = None
        self._stop = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self.port is None:
            pytest.fail("hostile server did not start")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def process_request(connection, request):
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return None
            self.paths.append(request.path)
            status, body = self.rest(request.path)
            return Response(status, "OK" if status == 200 else "Not Found",
                            Headers({"Content-Type": "application/json", "Content-Length": str(len(body))}),
                            body.encode())

        async def handler(ws):
            try:
                await self.handler(ws, self)
            except Exception:
                pass

        async with serve(handler, "127.0.0.1", 0, process_request=process_request, compression=None,
                         max_queue=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            server.close(close_connections=True)

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def watch(spec: str, venue: str, url: str, duration: float, *extra) -> tuple[dict, dict]:
    """``wstui watch --headless --json`` as a user runs it; its summary and (peak RSS MB, CPU s, wall s)."""
    args = wstui_cmd("watch", "--headless", "--json", "--duration", duration, "--endpoint", f"{venue}={url}",
                     *extra, spec)
    t0 = time.time()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    peak = 0
    cpu = 0.0
    tick = 100.0
    while proc.poll() is None:
        if time.time() - t0 > duration + 30:
            proc.kill()
            proc.wait(5)
            pytest.fail(f"watch --duration {duration} still running after {time.time() - t0:.0f} s "
                        f"(peak RSS {peak / 1024:.0f} MB, CPU {cpu:.1f} s)")
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
            with open(f"/proc/{proc.pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
                cpu = (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    out, err = proc.communicate(timeout=30)
    wall = time.time() - t0
    no_traceback(err)
    doc = json.loads(out)
    # exit 0: every stream healthy at the end; 1: some stream is (rightly) not; never a crash
    assert proc.returncode == (1 if doc["unhealthy"] else 0), err[-3000:]
    return doc, {"rss_mb": peak / 1024, "cpu_s": cpu, "wall_s": wall}


# ------------------------------------------------------------------------------------ unsolicited
def bitstamp_rest(path: str):
    if path == "/api/v2/order_book/btcusd":
        return 200, json.dumps({"microtimestamp": "1", "bids": [["100.0", "1"]], "asks": [["101.0", "1"]]})
    return 404, "{}"


async def bitstamp_flood(ws, server: HostileServer) -> None:
    """Answer the subscriptions, then send data for made-up pairs as fast as the client takes it, with
    a real diff for the subscribed pair now and then, and a path-traversal pair."""
    async for text in ws:
        msg = json.loads(text)
        ch = (msg.get("data") or {}).get("channel")
        await ws.send(json.dumps({"event": "bts:subscription_succeeded", "channel": ch, "data": {}}))
        if ch == "live_trades_btcusd":
            break
    evil = ["diff_order_book_../../private/admin?x=1", "diff_order_book_btc usd&x=%2F"]
    i = 0
    mt = 2
    while True:
        batch = []
        for _ in range(200):
            i += 1
            ch = evil[i % 2] if i % 97 == 0 else f"diff_order_book_evil{i}"
            batch.append(json.dumps({"event": "data", "channel": ch,
                                     "data": {"microtimestamp": str(mt), "bids": [["1.0", "1"]], "asks": []}}))
        mt += 1
        batch.append(json.dumps({"event": "data", "channel": "diff_order_book_btcusd",
                                 "data": {"microtimestamp": str(mt), "bids": [["99.0", "1"]], "asks": []}}))
        for b in batch:
            await ws.send(b)
        server.sent += len(batch)
        await asyncio.sleep(0)


def test_unsolicited_pairs_never_become_streams_nor_rest_requests():
    with HostileServer(bitstamp_flood, bitstamp_rest) as srv:
        doc, use = watch("bitstamp:btcusd", "bitstamp", srv.url(), 6)
        paths = list(srv.paths)
        sent = srv.sent
    print(f"\nhostile flood: server sent {sent} frames; client peak RSS {use['rss_mb']:.1f} MB, "
          f"CPU {use['cpu_s']:.1f} s in {use['wall_s']:.1f} s wall")
    keys = {s["key"] for s in doc["streams"]}
    assert keys == {"bitstamp:btcusd:book", "bitstamp:btcusd:trades"}, sorted(keys)[:10]
    conn = doc["connections"][0]
    assert conn["unsolicited"] > 5000, conn  # counted, every one
    unsolicited = [e for e in doc["events"] if e["kind"] == "unsolicited"]
    assert 10 <= len(unsolicited) <= 51, len(unsolicited)  # one per new name, capped
    # REST only for our own pair, built from our symbol: nothing the server chose reached a path
    assert paths and set(paths) == {"/api/v2/order_book/btcusd"}, paths[:5]
    assert len(paths) <= 3
    book = [s for s in doc["streams"] if s["key"] == "bitstamp:btcusd:book"][0]
    assert book["book_state"] == "ok" and book["messages"] > 10
    assert use["rss_mb"] < 120, use


# ------------------------------------------------------------------------------------ NaN from live
async def kraken_nan(ws, server: HostileServer) -> None:
    from wstui.core.book import Book
    from wstui.venues.kraken import book_checksum

    bids = [{"price": "100.0", "qty": "1.0"}, {"price": "99.0", "qty": "2.0"}]
    asks = [{"price": "101.0", "qty": "1.0"}]
    b = Book()
    b.load([(x["price"], x["qty"]) for x in bids], [(x["price"], x["qty"]) for x in asks])
    snap = json.dumps({"channel": "book", "type": "snapshot",
                       "data": [{"symbol": "BTC/USD", "bids": bids, "asks": asks, "checksum": book_checksum(b)}]})
    sent_nan = False
    async for text in ws:
        msg = json.loads(text)
        if msg.get("method") == "ping":
            await ws.send('{"method":"pong"}')
            continue
        if msg.get("method") != "subscribe" or msg["params"].get("channel") != "book":
            continue
        await ws.send(snap)
        if not sent_nan:
            sent_nan = True
            await ws.send(json.dumps({"channel": "book", "type": "update", "data": [
                {"symbol": "BTC/USD", "bids": [{"price": "nan", "qty": "5"}], "asks": [], "checksum": 1}]}))
            await ws.send(json.dumps({"channel": "book", "type": "update", "data": [
                {"symbol": "BTC/USD", "bids": [{"price": "99.0", "qty": "0"}], "asks": [], "checksum": 2}]}))


def test_nan_from_a_live_server_is_rejected_and_the_watch_goes_on():
    with HostileServer(kraken_nan) as srv:
        doc, _ = watch("kraken:BTC/USD", "kraken", srv.url(), 3)
    book = [s for s in doc["streams"] if s["key"] == "kraken:BTC/USD:book"][0]
    assert book["parse_errors"] >= 1
    assert any(e["kind"] == "parse_error" and "nan" in e["detail"] for e in doc["events"])
    assert book["book_state"] == "ok" and book["resyncs"] >= 1  # resubscribed: a fresh snapshot rebuilt it
    assert [p for p, _ in book["book"]["bids"]] == ["100.0", "99.0"]


# ------------------------------------------------------------------------------ handshake never ends
def test_handshake_that_never_finishes_shows_streams_at_once_then_the_reason():
    """A server that accepts TCP and never answers the HTTP upgrade: the streams are declared as
    ``connecting`` at once, go ``stale``, and show ``down`` with the reason once the open times out."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
                held.append(c)  # read nothing, answer nothing
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    from wstui.engine import Engine
    from wstui.io.live import Live
    from wstui.io.spec import build_feeds
    from wstui.runner import run_source

    engine = Engine(stale_after=1.0, source="live")
    seen: list[tuple[float, str, str]] = []

    async def main():
        src = Live(build_feeds(["kraken:BTC/USD"], {"kraken": f"ws://127.0.0.1:{port}"}), duration=4.0,
                   open_timeout=2.5, backoff_base=10, backoff_cap=10)

        async def sample():
            t0 = time.time()
            while True:
                for st in list(engine.streams.values()):
                    seen.append((time.time() - t0, st.key, st.compute_state(time.time())[0]))
                await asyncio.sleep(0.05)

        s = asyncio.ensure_future(sample())
        try:
            await run_source(engine, src, 10)
        finally:
            s.cancel()

    try:
        asyncio.run(main())
    finally:
        stop.set()
        for c in held:
            c.close()
        lsock.close()
    states = [(t, st) for t, k, st in seen if k == "kraken:BTC/USD:book"]
    assert states and states[0][0] < 0.5 and states[0][1] == "connecting", states[:3]
    assert any(st == "stale" and 1.0 < t < 2.5 for t, st in states), states
    assert any(st == "down" and t >= 2.4 for t, st in states), states
    st = engine.streams[("kraken", "BTC/USD", "book")]
    assert st.compute_state(engine.now)[0] == "down"
    downs = [e for e in engine.events if e.kind == "disconnect"]
    assert downs and "handshake" in downs[0].detail.lower() or "timed out" in downs[0].detail.lower(), downs


# ------------------------------------------------------------------------------------------ replay
def test_replay_creates_streams_from_data_but_bounded(tmp_path):
    """A capture is what it is: its data makes streams, but one connection cannot make more than the cap;
    the rest is counted as unsolicited."""
    from conftest import replay, write_records
    from wstui.engine import STREAMS_PER_CONN

    t0 = 1_700_000_000.0
    recs = [{"t": "connect", "conn": "B1", "ts": t0, "addr": "wss://ws.bitstamp.net"}]
    n = STREAMS_PER_CONN + 500
    for i in range(n):
        recs.append({"t": "recv", "conn": "B1", "ts": t0 + i * 1e-3, "data": json.dumps(
            {"event": "trade", "channel": f"live_trades_p{i}", "data": {"price_str": "1", "amount_str": "1",
                                                                       "type": 0, "microtimestamp": "1"}})})
    engine, snap = replay(write_records(tmp_path / "many.jsonl.gz", recs))
    assert len(snap.streams) == STREAMS_PER_CONN
    conn = snap.connections[0]
    assert conn.unsolicited == 500 and conn.parse_errors == 0
    assert sum(1 for e in snap.events if e.kind == "unsolicited") <= 51


def test_rest_urls_quote_our_symbols():
    from wstui.engine import Engine

    engine = Engine()
    conn = engine.open("b", "wss://stream.binance.com:9443/stream?streams=btcusdt@depth", 1.0)
    url = conn.venue.snapshot_url("A&B/C D")
    assert url.endswith("symbol=A%26B%2FC%20D&limit=100")


def test_a_huge_symbol_is_no_stream(tmp_path):
    from conftest import replay, write_records

    t0 = 1_700_000_000.0
    recs = [{"t": "connect", "conn": "B1", "ts": t0, "addr": "wss://ws.bitstamp.net"},
            {"t": "recv", "conn": "B1", "ts": t0 + 1, "data": json.dumps(
                {"event": "trade", "channel": "live_trades_" + "x" * 100_000,
                 "data": {"price_str": "1", "amount_str": "1", "type": 0, "microtimestamp": "1"}})}]
    _, snap = replay(write_records(tmp_path / "huge.jsonl.gz", recs))
    assert snap.streams == () and snap.connections[0].parse_errors == 1


def test_an_unsolicited_entry_does_not_drop_the_subscribed_entries_after_it():
    """Kraken v2 book frames carry a list of entries: the unsolicited one is counted, the rest applied."""
    from wstui.engine import Engine

    engine = Engine(source="live")

    class T:
        def send(self, conn, text): pass
        def resubscribe(self, conn, stream, reason): pass

    conn = engine.open("k", "wss://ws.kraken.com/v2", 1.0, live=True, transport=T())
    for m in conn.venue.subscribe_messages(["BTC/USD"]):
        engine.sent("k", m, 1.0)
    entry = {"symbol": "BTC/USD", "bids": [{"price": "100.0", "qty": "1.0"}], "asks": []}
    evil = {"symbol": "EVIL/USD", "bids": [{"price": "1.0", "qty": "1.0"}], "asks": []}
    engine.frame("k", json.dumps({"channel": "book", "type": "snapshot", "data": [evil, entry]}), 1.1)
    st = engine.streams[("kraken", "BTC/USD", "book")]
    assert st.book_state == "ok" and st.book.bids.top(1)[0][0] == "100.0", list(engine.events)
    assert conn.unsolicited == 1 and ("kraken", "EVIL/USD", "book") not in engine.streams
