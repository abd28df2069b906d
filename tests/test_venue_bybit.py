"""Bybit v5 on the real capture: spot and linear books (u continuity), trades, tickers, candles."""

from __future__ import annotations

import json

from conftest import RecordingTransport, cli_json, later_copy, read_records, real_feed, replay, views
from reference import RefBook
from venue_support import assert_books_match, feed, recv_records, replay_written, view_book, with_junk

from wstui.engine import Engine
from wstui.venues import venue_for
from wstui.venues.bybit import BybitInverse, BybitLinear, BybitSpot

VENUE_OF_CONN = {"BYBIT.ws.2": "bybit-linear", "BYBIT.ws.3": "bybit"}
BOOKS = [("bybit-linear", s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT")] + \
        [("bybit", s) for s in ("BTCUSDT", "ETHUSDT")]


def reference(records: list[dict]) -> tuple[dict[tuple[str, str], RefBook], int]:
    """Books per (venue, symbol), truncated to 200 as subscribed; and the number of u breaks seen."""
    books: dict[tuple[str, str], RefBook] = {}
    last: dict[tuple[str, str], int] = {}
    breaks = 0
    for r in recv_records(records):
        m = json.loads(r["data"])
        if not m.get("topic", "").startswith("orderbook.200."):
            continue
        key = (VENUE_OF_CONN[r["conn"]], m["data"]["s"])
        book = books.setdefault(key, RefBook())
        d = m["data"]
        if m["type"] == "snapshot":
            book.clear()
        elif d["u"] != last[key] + 1:
            breaks += 1
        last[key] = d["u"]
        for p, q in d["b"]:
            book.set("bid", p, q)
        for p, q in d["a"]:
            book.set("ask", p, q)
        book.truncate(200)
    return books, breaks


def test_capture_replays_spot_and_linear_as_distinct_venues_with_contiguous_u():
    out = cli_json(real_feed("bybit.jsonl.gz"))
    assert out["bad_records_total"] == 0
    assert {c["conn"]: c["venue"] for c in out["connections"]} == VENUE_OF_CONN
    streams = {s["key"]: s for s in out["streams"]}
    for venue, sym in BOOKS:
        b = streams[f"{venue}:{sym}:book"]
        assert (b["gaps"], b["resyncs"], b["book_state"], b["crossed"]) == (0, 0, "ok", False)
        assert b["book_levels"] == [200, 200]
        assert b["latency_ms_p50"] is not None and 0 < b["latency_ms_p50"] < 1000
        assert streams[f"{venue}:{sym}:trades"]["trades"] > 0
        assert streams[f"{venue}:{sym}:ticker"]["messages"] > 0
        assert streams[f"{venue}:{sym}:candles"]["messages"] > 0
    # the same symbol on two markets: two books with their own prices
    assert streams["bybit:BTCUSDT:book"]["book"] != streams["bybit-linear:BTCUSDT:book"]["book"]
    assert all(s["parse_errors"] == 0 for s in out["streams"])
    # 24 subscription acknowledgements are control frames; everything else is some stream's data
    assert sum(s["messages"] for s in out["streams"]) + 24 == sum(c["messages"] for c in out["connections"]) == 3227


def test_final_books_match_an_independent_reference():
    path = real_feed("bybit.jsonl.gz")
    ref, breaks = reference(read_records(path))
    assert breaks == 0
    engine, snap = replay(path)
    assert_books_match(snap, {f"{venue}:{sym}:book": ref[(venue, sym)] for venue, sym in BOOKS})


def test_trades_carry_the_takers_side():
    path = real_feed("bybit.jsonl.gz")
    raw = [t for r in recv_records(read_records(path)) if r["conn"] == "BYBIT.ws.2"
           for m in [json.loads(r["data"])] if m.get("topic") == "publicTrade.SOLUSDT" for t in m["data"]]
    engine, snap = replay(path)
    v = views(snap)["bybit-linear:SOLUSDT:trades"]
    assert v.trades_total == len(raw)
    want = [(t["S"].lower(), t["p"], t["v"]) for t in raw][-len(v.trades):]
    assert [(t.side, t.price, t.size) for t in reversed(v.trades)] == want
    assert {t.side for t in v.trades} == {"buy", "sell"}


def _drop_delta(records: list[dict], conn: str = "BYBIT.ws.2", topic: str = "orderbook.200.BTCUSDT"):
    idx = [i for i, r in enumerate(records) if r["t"] == "recv" and r["conn"] == conn
           and f'"topic":"{topic}"' in r["data"] and '"delta"' in r["data"]]
    i = idx[len(idx) // 2]
    return records[:i] + records[i + 1:], json.loads(records[i]["data"])["data"]["u"]


def test_a_dropped_delta_is_a_gap_and_the_next_snapshot_rebuilds(tmp_path):
    records = read_records(real_feed("bybit.jsonl.gz"))
    tampered, u = _drop_delta(records)
    snap, views = replay_written(tmp_path, "dropped.jsonl.gz", tampered, loops=2)
    v = views["bybit-linear:BTCUSDT:book"]
    assert (v.gaps, v.resyncs, v.book_state) == (2, 1, "out_of_sync")  # seen each pass; pass 2 rebuilt pass 1
    gap = next(e for e in snap.events if e.kind == "gap")
    assert gap.stream == "bybit-linear:BTCUSDT:book" and f"u={u + 1} after u={u - 1} (missing 1)" in gap.detail
    assert any(e.kind == "resync" and e.stream == "bybit-linear:BTCUSDT:book" for e in snap.events)
    # spot BTCUSDT is another market: untouched
    assert views["bybit:BTCUSDT:book"].gaps == 0 and views["bybit:BTCUSDT:book"].book_state == "ok"


def test_a_reconnect_after_a_gap_rebuilds_the_book_exactly(tmp_path):
    records = read_records(real_feed("bybit.jsonl.gz"))
    tampered, _ = _drop_delta(records)
    snap, views = replay_written(tmp_path, "reconnect.jsonl.gz", tampered + later_copy(records))
    ref, _ = reference(records)
    v = views["bybit-linear:BTCUSDT:book"]
    assert (v.gaps, v.resyncs, v.book_state) == (1, 1, "ok")
    assert view_book(v, 50) == ref[("bybit-linear", "BTCUSDT")].top(50)


def test_a_gap_resubscribes_the_book_when_live():
    records = read_records(real_feed("bybit.jsonl.gz"))
    tampered, _ = _drop_delta(records, "BYBIT.ws.3", "orderbook.200.ETHUSDT")
    transport = RecordingTransport()
    feed(Engine(), tampered, transport)
    assert [k for k, _ in transport.resubscribed] == ["bybit:ETHUSDT:book"]


def test_u_equal_1_is_a_service_restart_that_replaces_the_book():
    records = read_records(real_feed("bybit.jsonl.gz"))
    ts = records[-1]["ts"]
    restart = {"topic": "orderbook.200.SOLUSDT", "type": "delta", "ts": 1786310900000,
               "data": {"s": "SOLUSDT", "b": [["77.100", "5.0"], ["77.000", "1.5"]], "a": [["77.300", "2.0"]],
                        "u": 1, "seq": 1}, "cts": 1786310900000}
    after = {"topic": "orderbook.200.SOLUSDT", "type": "delta", "ts": 1786310900100,
             "data": {"s": "SOLUSDT", "b": [["77.000", "0"]], "a": [["77.200", "4.0"]], "u": 2, "seq": 2}}
    extra = [{"t": "recv", "conn": "BYBIT.ws.2", "ts": ts + 1, "data": json.dumps(restart)},
             {"t": "recv", "conn": "BYBIT.ws.2", "ts": ts + 2, "data": json.dumps(after)}]
    snap = feed(Engine(), records + extra)
    v = views(snap)["bybit-linear:SOLUSDT:book"]
    assert (v.gaps, v.book_state) == (0, "ok")
    assert view_book(v, 10) == {"bids": [["77.100", "5.0"]], "asks": [["77.200", "4.0"], ["77.300", "2.0"]]}


def test_the_book_is_truncated_to_the_subscribed_depth():
    """Bybit may leave a level that fell below the top 200 undeleted: the book keeps only 200."""
    records = read_records(real_feed("bybit.jsonl.gz"))
    ref, _ = reference(records)
    last = max(json.loads(r["data"])["data"]["u"] for r in recv_records(records) if r["conn"] == "BYBIT.ws.3"
               and '"orderbook.200.ETHUSDT"' in r["data"])
    bids = ref[("bybit", "ETHUSDT")].sorted_bids()
    better = f"{float(bids[0][0]) + 0.01:.2f}"
    delta = {"topic": "orderbook.200.ETHUSDT", "type": "delta", "ts": 1786310900000,
             "data": {"s": "ETHUSDT", "b": [[better, "1.5"]], "a": [], "u": last + 1, "seq": 1}}
    snap = feed(Engine(), records + [{"t": "recv", "conn": "BYBIT.ws.3", "ts": records[-1]["ts"] + 1,
                                      "data": json.dumps(delta)}])
    v = views(snap)["bybit:ETHUSDT:book"]
    assert v.book_levels == (200, 200) and v.gaps == 0
    assert v.bids[0][:2] == (better, "1.5")
    assert [(p, q) for p, q, _ in v.bids[:50]] == [(better, "1.5")] + bids[:49]  # the rest moved down one


def test_address_matching_and_live_subscriptions():
    assert venue_for("wss://stream.bybit.com/v5/public/spot") is BybitSpot
    assert venue_for("wss://stream.bybit.com/v5/public/linear") is BybitLinear
    assert venue_for("wss://stream.bybit.com/v5/public/inverse") is BybitInverse
    assert venue_for("wss://stream.bybit.com/v5/private").name == "generic"
    engine = Engine()
    conn = engine.open("b1", BybitLinear.url, 1.0)
    for m in conn.venue.subscribe_messages(["BTCUSDT"]):
        engine.sent("b1", m, 1.0)
    assert set(conn.streams) == {"bybit-linear:BTCUSDT:book", "bybit-linear:BTCUSDT:trades"}
    assert conn.venue.sync["orderbook.200.BTCUSDT"].depth == 200


def test_junk_frames_are_counted_and_nothing_else_is_lost():
    records = read_records(real_feed("bybit.jsonl.gz"))
    junk = ["not json", "[]", '{"topic":"orderbook.200.BTCUSDT","type":"delta","data":{"b":[["1"]]}}',
            '{"success":false,"ret_msg":"error:handler not found","op":"subscribe"}']
    pongs = ['{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}',  # spot's answer to a ping
             '{"req_id":"","op":"pong","args":["1786310900000"],"conn_id":"x"}']  # linear's
    snap = feed(Engine(), with_junk(records, junk + pongs))
    assert sum(c.parse_errors for c in snap.connections) == len(junk)
    assert sum(c.heartbeats for c in snap.connections) == 2
    assert any("bybit subscribe failed: error:handler not found" in e.detail for e in snap.events)
    ref, _ = reference(records)
    for venue, sym in BOOKS:
        v = views(snap)[f"{venue}:{sym}:book"]
        assert (v.gaps, v.book_state) == (0, "ok")
        assert view_book(v, 20) == ref[(venue, sym)].top(20)


def test_live_keepalive_is_bybit_op_ping():
    from wstui.venues.bybit import BybitLinear, BybitSpot

    for cls in (BybitSpot, BybitLinear):
        interval, text = cls.keepalive(cls.__new__(cls))
        assert json.loads(text) == {"op": "ping"} and interval <= 20
