"""Replay behaviour a user meets: unknown venues still count, trades reach the tape, crossed books are
flagged, connections closing show as down, pacing follows --speed, pause holds the position."""

from __future__ import annotations

import asyncio
import json
import time

from conftest import read_records, real_feed, replay, write_records
from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.runner import run_source

T0 = 1785641750.0


def rec(t, ts, **kw):
    return {"t": t, "conn": kw.pop("conn", "X.ws.1"), "ts": T0 + ts, **kw}


def test_unknown_venue_still_counts_as_a_stream(tmp_path):
    recs = [{"t": "header", "format": 2, "exchange": "ACME"},
            rec("connect", 0.0, addr="wss://feed.example.test/v1/quotes")]
    recs += [rec("recv", 0.5 + i * 0.1, data=json.dumps({"q": i})) for i in range(20)]
    recs += [rec("recv", 10.0, data="tick")]  # after a 7.6 s silence
    engine, snap = replay(write_records(tmp_path / "acme.jsonl.gz", recs), stale_after=5.0)
    (s,) = snap.streams
    assert (s.venue, s.symbol, s.channel) == ("feed.example.test", "/v1/quotes", "raw")
    assert s.messages == 21 and s.bytes == sum(len(r["data"]) for r in recs[2:])
    kinds = [e.kind for e in snap.events if e.stream == s.key]
    assert kinds[:2] == ["stale", "recovered"]
    assert snap.bad_records_total == 0


def test_kraken_trades_reach_the_tape_with_their_side(tmp_path):
    recs = [rec("connect", 0, addr="wss://ws.kraken.com/v2"),
            rec("send", 0, data=json.dumps({"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"]}}))]
    frame = ('{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell","price":63401.10,'
             '"qty":0.00500000,"ord_type":"market","trade_id":1,"timestamp":"2026-08-02T03:35:50.900000Z"},'
             '{"symbol":"BTC/USD","side":"buy","price":63401.2,"qty":1.25000000,"ord_type":"limit","trade_id":2,'
             '"timestamp":"2026-08-02T03:35:50.950000Z"}]}')
    recs.append(rec("recv", 1.0, data=frame))
    engine, snap = replay(write_records(tmp_path / "trades.jsonl.gz", recs))
    s = snap.stream("kraken:BTC/USD:trades")
    assert s.trades_total == 2
    newest, older = s.trades[0], s.trades[1]
    assert (newest.side, newest.price, newest.size) == ("buy", "63401.2", "1.25000000")
    assert (older.side, older.price, older.size) == ("sell", "63401.10", "0.00500000")
    assert s.latency_ms_p50 is None  # a trade carries only its match time: no latency from it (issue 10)


def test_crossed_book_is_flagged(tmp_path):
    url = "https://api.binance.com/api/v3/depth?symbol=ABCUSDT&limit=1000"
    snapshot = {"lastUpdateId": 10, "bids": [["1.10", "5"]], "asks": [["1.20", "5"]]}
    ev = {"e": "depthUpdate", "E": int((T0 + 1) * 1000), "s": "ABCUSDT", "U": 11, "u": 11,
          "b": [["1.25", "3"]], "a": []}
    recs = [rec("http", 0.5, conn="B.http", url=url, data=json.dumps(snapshot)),
            rec("connect", 0, addr="wss://stream.binance.com:9443/stream?streams=abcusdt@depth@100ms"),
            rec("recv", 1.0, data=json.dumps({"stream": "abcusdt@depth@100ms", "data": ev}))]
    engine, snap = replay(write_records(tmp_path / "crossed.jsonl.gz", recs))
    s = snap.stream("binance:ABCUSDT:book")
    assert s.crossed is True
    assert any(e.kind == "crossed" and e.stream == s.key for e in snap.events)


def test_connection_closed_in_capture_shows_down(tmp_path):
    recs = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))[:300]
    recs.append(rec("disconnect", recs[-1]["ts"] - T0 + 0.5, conn="KRAKEN.ws.1", reason="server closed 1006"))
    path = write_records(tmp_path / "closed.jsonl.gz", recs)
    engine = Engine(file=str(path))
    asyncio.run(run_source(engine, Replay(path, speed=None), fps=20))
    downs = [e for e in engine.events if e.kind in ("disconnect", "down")]
    assert [e.kind for e in downs] == ["disconnect", "down"]
    assert "1006" in downs[0].detail


def test_speed_paces_the_replay_and_pause_holds_the_position(tmp_path):
    recs = [rec("connect", 0, addr="wss://feed.example.test/x")]
    recs += [rec("recv", 0.2 * i, data=f"m{i}") for i in range(1, 21)]  # 4 s of capture time
    path = write_records(tmp_path / "paced.jsonl.gz", recs)
    engine = Engine(file=str(path))
    source = Replay(path, speed=4.0)  # about 1 s of wall time
    positions = []

    async def main():
        t = time.monotonic()
        task = asyncio.ensure_future(run_source(engine, source, fps=20))
        await asyncio.sleep(0.4)
        source.pause()
        await asyncio.sleep(0.1)
        held = engine.messages
        for _ in range(5):
            positions.append(source.position)
            await asyncio.sleep(0.1)
        assert engine.messages == held  # nothing more was played while paused
        source.resume()
        await task
        return time.monotonic() - t

    wall = asyncio.run(main())
    assert len(set(positions)) == 1
    assert engine.messages == 20
    # 4 s at 4x plus a 0.5 s pause: well over the 0.5 s it would take unpaced, well under 1x speed
    assert 1.2 < wall < 4.2


def test_frame_failing_halfway_marks_its_book_out_of_sync(tmp_path):
    """Found in review: a Bybit delta whose asks are malformed was half applied (bids changed), its
    sequence number taken, and the book still shown as fine."""
    addr = "wss://stream.bybit.com/v5/public/spot"

    def ob(typ, u, b, a):
        return json.dumps({"topic": "orderbook.50.BTCUSDT", "type": typ, "ts": int((T0 + u) * 1000),
                           "data": {"s": "BTCUSDT", "b": b, "a": a, "u": u, "seq": u}, "cts": int((T0 + u) * 1000)})

    recs = [rec("connect", 0, addr=addr),
            rec("send", 0, addr=addr, data=json.dumps({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})),
            rec("recv", 1, data=ob("snapshot", 10, [["100", "1"], ["99", "2"]], [["101", "1"], ["102", "3"]])),
            rec("recv", 2, data=ob("delta", 11, [["100", "0"], ["98", "5"]], [["101.5"]])),
            rec("recv", 3, data=ob("delta", 12, [["97", "1"]], []))]
    engine, snap = replay(write_records(tmp_path / "half.jsonl.gz", recs))
    s = snap.stream("bybit:BTCUSDT:book")
    assert s.book_state == "out_of_sync"
    assert s.parse_errors == 1
    # the malformed ask is an invalid level (issue 9): rejected on this stream, the half-applied book marked
    assert any(e.kind == "out_of_sync" and "invalid value rejected" in e.detail and "101.5" in e.detail
               for e in snap.events)
    assert snap.bad_records_total == 1
