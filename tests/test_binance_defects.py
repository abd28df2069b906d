"""Binance defects of issue 8, each shown the way a user meets it (a replayed capture, the adapter's REST
request), and the client's REST scheduler against Binance's rate limit answers (429 + Retry-After, 418)."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time

import pytest

from conftest import replay, write_records
from wstui.io.rest import RestClient
from wstui.venues.binance import BinanceFutures, BinanceSpot

T0 = 1785641750.0


def rec(t, ts, **kw):
    return {"t": t, "conn": kw.pop("conn", "B.ws.1"), "ts": T0 + ts, **kw}


def depth(U, u, b=(), a=(), sym="ABCUSDT"):
    ev = {"e": "depthUpdate", "E": int((T0 + 1) * 1000), "s": sym, "U": U, "u": u, "pu": U - 1,
          "b": [list(x) for x in b], "a": [list(x) for x in a]}
    return json.dumps({"stream": f"{sym.lower()}@depth@100ms", "data": ev})


def snapshot(last, bid="1.10", ask="1.20"):
    return json.dumps({"lastUpdateId": last, "bids": [[bid, "5"]], "asks": [[ask, "5"]]})


class FakeCtx:
    live = True
    conn_id = "X.ws.1"

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.fetched: list[str] = []

    def fetch(self, url, callback, stream=None):
        self.fetched.append(url)

    def stream(self, symbol, channel, *, book=False, tape=False, venue=None, frames=False):
        from wstui.core.stream import Stream

        return Stream("binance", symbol, channel, book=book, tape=tape)

    def parse_error(self, detail, ts, stream=None):
        raise AssertionError(detail)

    def resubscribe(self, stream, reason):
        pass


@pytest.mark.parametrize("cls,addr,rest", [
    (BinanceSpot, "wss://stream.binance.us:9443/stream?streams=btcusd@depth", "https://api.binance.us/api/v3/depth"),
    (BinanceSpot, "wss://stream.binance.com:9443/ws/btcusdt@depth", "https://api.binance.com/api/v3/depth"),
    (BinanceSpot, "wss://data-stream.binance.vision/stream?streams=btcusdt@depth",
     "https://data-api.binance.vision/api/v3/depth"),
    (BinanceSpot, "wss://stream.testnet.binance.vision/ws/btcusdt@depth", "https://testnet.binance.vision/api/v3/depth"),
    (BinanceFutures, "wss://fstream.binance.com/stream?streams=btcusdt@depth", "https://fapi.binance.com/fapi/v1/depth"),
    (BinanceFutures, "wss://dstream.binance.com/ws/btcusd_perp@depth", "https://dapi.binance.com/dapi/v1/depth"),
    (BinanceFutures, "wss://fstream.binancefuture.com/ws/btcusdt@depth",
     "https://testnet.binancefuture.com/fapi/v1/depth"),
    (BinanceFutures, "wss://dstream.binancefuture.com/ws/btcusd_perp@depth",
     "https://testnet.binancefuture.com/dapi/v1/depth"),
    # a local server (--endpoint): the market's main host, which the transport then moves
    (BinanceSpot, "ws://127.0.0.1:9/stream?streams=btcusdt@depth", "https://api.binance.com/api/v3/depth"),
])
def test_rest_host_follows_the_stream_host(cls, addr, rest):
    ctx = FakeCtx(addr)
    v = cls(ctx)
    v.on_frame(depth(11, 11, sym="BTCUSDT"), T0)
    # the deepest limit of the cheapest weight bracket (spot 100 levels: weight 5; USD-M 50: weight 2)
    assert ctx.fetched == [f"{rest}?symbol=BTCUSDT&limit={100 if cls is BinanceSpot else 50}"]
    assert cls.limits.snapshot_weight == (5 if cls is BinanceSpot else 2)


def test_binance_us_capture_replays_with_its_own_rest_answers(tmp_path):
    """A Binance.US recording holds api.binance.us answers: before the fix the adapter asked for
    api.binance.com, found no answer, and the book never synced."""
    recs = [rec("connect", 0, addr="wss://stream.binance.us:9443/stream?streams=abcusdt@depth@100ms"),
            rec("recv", 1.0, data=depth(11, 12, b=[("1.11", "2")])),
            rec("http", 1.1, conn="B.http.0", url="https://api.binance.us/api/v3/depth?symbol=ABCUSDT&limit=1000",
                data=snapshot(11)),
            rec("recv", 1.2, data=depth(13, 13, a=[("1.19", "3")]))]
    engine, snap = replay(write_records(tmp_path / "us.jsonl.gz", recs))
    s = snap.stream("binance:ABCUSDT:book")
    assert (s.book_state, s.gaps) == ("ok", 0)
    assert s.bids[0][0] == "1.11" and s.asks[0][0] == "1.19"


def test_replay_matches_rest_on_path_and_query_when_the_host_differs(tmp_path):
    """Recorded through a local server (REST host 127.0.0.1) but the adapter asks api.binance.com."""
    recs = [rec("connect", 0, addr="wss://stream.binance.com:9443/stream?streams=abcusdt@depth@100ms"),
            rec("recv", 1.0, data=depth(11, 12, b=[("1.11", "2")])),
            rec("http", 1.1, conn="B.http.0", url="http://127.0.0.1:8765/api/v3/depth?symbol=ABCUSDT&limit=1000",
                data=snapshot(11))]
    engine, snap = replay(write_records(tmp_path / "local.jsonl.gz", recs))
    s = snap.stream("binance:ABCUSDT:book")
    assert (s.book_state, s.gaps) == ("ok", 0)


def test_snapshot_older_than_the_first_diff_is_fetched_again_not_a_gap(tmp_path):
    """Binance: "if lastUpdateId < U of the first buffered event, fetch the snapshot again": no gap."""
    url = "https://api.binance.com/api/v3/depth?symbol=ABCUSDT&limit=1000"
    recs = [rec("connect", 0, addr="wss://stream.binance.com:9443/stream?streams=abcusdt@depth@100ms"),
            rec("recv", 1.0, data=depth(20, 21, b=[("1.11", "2")])),
            rec("http", 1.1, conn="B.http.0", url=url, data=snapshot(5)),  # older than U=20
            rec("http", 1.2, conn="B.http.0", url=url, data=snapshot(20)),
            rec("recv", 1.3, data=depth(22, 22, a=[("1.19", "3")]))]
    engine, snap = replay(write_records(tmp_path / "old.jsonl.gz", recs))
    s = snap.stream("binance:ABCUSDT:book")
    assert s.gaps == 0
    assert not [e for e in snap.events if e.kind == "gap"]
    assert s.book_state == "ok" and s.resyncs == 0
    assert s.bids[0][0] == "1.11" and s.asks[0][0] == "1.19"


def test_resubscribe_of_one_book_fetches_its_snapshot_and_sends_nothing():
    ctx = FakeCtx("wss://stream.binance.com:9443/stream?streams=abcusdt@depth/defusdt@depth")
    v = BinanceSpot(ctx)
    v.on_connect(T0)
    st = v.declare("ABCUSDT", "book")
    assert v.resubscribe_messages(st) == []
    assert ctx.fetched == ["https://api.binance.com/api/v3/depth?symbol=ABCUSDT&limit=100"]
    assert v.resubscribe_messages(st) == [] and len(ctx.fetched) == 1  # one request in flight at a time


# ---------------------------------------------------------------------------- 429 + Retry-After
class _Limited(http.server.BaseHTTPRequestHandler):
    """429 with Retry-After: 1 for the first request, then 200; every request's time is kept."""

    times: list[float] = []

    def do_GET(self):  # noqa: N802
        self.times.append(time.time())
        if len(self.times) == 1:
            self.send_response(429)
            self.send_header("Retry-After", "1")
            body = b'{"code":-1003,"msg":"Too much request weight used"}'
        else:
            self.send_response(200)
            body = b'{"lastUpdateId":1,"bids":[],"asks":[]}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_rest_client_holds_the_host_for_retry_after_after_a_429():
    _Limited.times = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Limited)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    answers: list[tuple[str, str | None, str | None]] = []

    async def main():
        rc = RestClient(spacing=0.05)
        done = asyncio.Event()

        def deliver(cb, body, err):
            answers.append((cb, body, err))
            if len(answers) == 3:
                done.set()

        rc.get("c", "u1", f"{base}/api/v3/depth?symbol=A", "a", deliver)
        await asyncio.sleep(0.3)  # the 429 is in; B and C are asked for during the hold
        rc.get("c", "u2", f"{base}/api/v3/depth?symbol=B", "b", deliver)
        rc.get("c", "u3", f"{base}/api/v3/depth?symbol=C", "c", deliver)
        await asyncio.wait_for(done.wait(), 10)
        return rc

    rc = asyncio.run(main())
    srv.shutdown()
    t = _Limited.times
    assert len(t) == 3  # nothing retried in between: one 429, then one request each for B and C
    assert t[1] - t[0] >= 0.95 and t[2] - t[0] >= 0.95  # nobody asked before Retry-After ran out
    assert rc.rate_limited == 1
    by = {cb: (body, err) for cb, body, err in answers}
    assert by["a"][0] is None and "429" in by["a"][1] and "Retry-After" in by["a"][1]
    assert by["b"][0] is not None and by["c"][0] is not None
