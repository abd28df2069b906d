"""Deribit on the real capture: change_id chain, books, tampering; heartbeats answered."""

from __future__ import annotations

import json

from conftest import (RecordingTransport, cli_json, later_copy, read_records, real_feed, recv_messages, ref_top,
                      replay, replay_clean, view_top, views, write_records)

from wstui.engine import Engine
from wstui.summary import summary_json
from wstui.venues import venue_for
from wstui.venues.deribit import Deribit

FEED = "deribit.jsonl.gz"
ADDR = "wss://www.deribit.com/ws/api/v2"
BUSY = "BTC-24SEP21-8000-P"  # the instrument with the most changes (30)


def reference(records):
    """Books straight from the capture, and whether every change continued its chain."""
    books = {}
    last = {}
    breaks = 0
    changes = {}
    for m in recv_messages(records):
        if m.get("method") != "subscription" or not m["params"]["channel"].startswith("book."):
            continue
        d = m["params"]["data"]
        sym = d["instrument_name"]
        if d["type"] == "snapshot":
            books[sym] = ({}, {})
        else:
            breaks += d["prev_change_id"] != last[sym]
            changes[sym] = changes.get(sym, 0) + 1
        last[sym] = d["change_id"]
        for side, levels in zip(books[sym], (d["bids"], d["asks"])):
            for action, price, amount in levels:
                if action == "delete":
                    del side[price]
                else:
                    side[price] = amount
    return books, breaks, changes


def test_replay_recognised_and_clean():
    engine, snap = replay_clean(real_feed(FEED), "deribit")
    assert snap.messages == 136
    assert {s.channel for s in snap.streams} == {"book", "trades", "ticker"}
    assert venue_for(ADDR) is Deribit
    assert venue_for("wss://test.deribit.com/ws/api/v2") is Deribit
    assert venue_for("wss://www.deribit.com/den/ws") is not Deribit


def test_change_id_chain_contiguous_and_books_match_reference():
    books, breaks, changes = reference(read_records(real_feed(FEED)))
    assert breaks == 0 and sum(changes.values()) == 36
    engine, snap = replay(real_feed(FEED))
    v = views(snap)
    assert len(books) == 10
    for sym, (bids, asks) in books.items():
        view = v[f"deribit:{sym}:book"]
        assert view.gaps == 0 and view.book_state == "ok"
        assert view.book_levels == (len(bids), len(asks))
        assert view_top(view, 25) == ref_top(bids, asks, 25), sym
        assert view.book_updates == changes.get(sym, 0)
    # the busy book's changes are stamped by the exchange: latency is measured
    assert v[f"deribit:{BUSY}:book"].latency_ms_p50 is not None
    assert v[f"deribit:{BUSY}:ticker"].messages == 31


def _tampered(records):
    """The capture with one mid-stream change of the busy book removed."""
    idx = [i for i, r in enumerate(records)
           if r["t"] == "recv" and f'book.{BUSY}.raw' in r["data"] and '"change"' in r["data"]]
    drop = idx[len(idx) // 2]
    return records[:drop] + records[drop + 1:]


def test_dropped_change_is_a_gap(tmp_path):
    records = read_records(real_feed(FEED))
    path = write_records(tmp_path / "dropped.jsonl.gz", _tampered(records))
    engine, snap = replay(path)
    s = views(snap)[f"deribit:{BUSY}:book"]
    assert s.gaps == 1 and s.book_state == "out_of_sync"
    events = [e for e in summary_json(snap)["events"] if e["kind"] == "gap"]
    assert [e["stream"] for e in events] == [f"deribit:{BUSY}:book"]
    assert "prev_change_id" in events[0]["detail"]
    # the other books are untouched
    assert sum(x.gaps for x in snap.streams) == 1
    # a second pass: its snapshot resyncs the book, then the same change is missing again
    engine, snap = replay(path, loops=2)
    s = views(snap)[f"deribit:{BUSY}:book"]
    assert (s.gaps, s.resyncs, s.book_state) == (2, 1, "out_of_sync")


def test_gap_repaired_by_later_snapshot(tmp_path):
    records = read_records(real_feed(FEED))
    path = write_records(tmp_path / "dropped_then_reconnect.jsonl.gz", _tampered(records) + later_copy(records))
    engine, snap = replay(path, loops=2)
    assert snap.bad_records_total == 0
    s = views(snap)[f"deribit:{BUSY}:book"]
    assert s.gaps == 2 and s.resyncs >= 1 and s.book_state == "ok"
    books, _, _ = reference(records)
    assert view_top(s, 25) == ref_top(*books[BUSY], 25)
    kinds = [e["kind"] for e in summary_json(snap)["events"]]
    assert "gap" in kinds and "resync" in kinds


def _live():
    engine = Engine()
    tr = RecordingTransport()
    engine.open("d", ADDR, 1.0, live=True, transport=tr)
    # a live connection carries only what it subscribed (issue 9)
    for m in engine.conns["d"].venue.subscribe_messages(["BTC-PERPETUAL"]):
        engine.sent("d", m, 1.0)
    return engine, tr


def test_gap_asks_for_resubscription_live():
    engine, tr = _live()
    snap = {"type": "snapshot", "timestamp": 1000, "instrument_name": "BTC-PERPETUAL", "change_id": 10,
            "bids": [["new", 100.5, 1.0]], "asks": [["new", 101.0, 2.0]]}
    chg = {"type": "change", "timestamp": 1001, "instrument_name": "BTC-PERPETUAL", "prev_change_id": 12,
           "change_id": 13, "bids": [["change", 100.5, 3.0]], "asks": []}
    for d in (snap, chg):
        engine.frame("d", json.dumps({"jsonrpc": "2.0", "method": "subscription",
                                      "params": {"channel": "book.BTC-PERPETUAL.100ms", "data": d}}), 1.1)
    st = engine.streams[("deribit", "BTC-PERPETUAL", "book")]
    assert st.gaps == 1 and tr.resubscribed == [("deribit:BTC-PERPETUAL:book", "change_id gap")]


def test_trades_and_heartbeats():
    engine, tr = _live()
    trades = [{"trade_seq": 1, "trade_id": "1", "timestamp": 1626993724000, "price": 32000.5, "amount": 10.0,
               "direction": "sell", "instrument_name": "BTC-PERPETUAL"},
              {"trade_seq": 2, "trade_id": "2", "timestamp": 1626993724001, "price": 32001, "amount": 20.0,
               "direction": "buy", "instrument_name": "BTC-PERPETUAL"}]
    engine.frame("d", json.dumps({"jsonrpc": "2.0", "method": "subscription",
                                  "params": {"channel": "trades.BTC-PERPETUAL.100ms", "data": trades}}), 1626993724.2)
    st = engine.streams[("deribit", "BTC-PERPETUAL", "trades")]
    assert st.messages == 1 and st.trades_total == 2
    assert [(t.side, t.price, t.size) for t in st.tape] == [("sell", "32000.5", "10.0"), ("buy", "32001", "20.0")]
    assert st.latency_ms()[0] is None  # trade timestamps are match times: no latency from them (issue 10)
    engine.frame("d", '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}', 1626993725.0)
    assert engine.conns["d"].heartbeats == 1
    assert [json.loads(t)["method"] for t in tr.sent] == ["public/test"]  # Deribit requires the answer


def test_live_subscription_messages():
    engine, tr = _live()
    v = engine.conns["d"].venue
    msgs = [json.loads(t) for t in v.subscribe_messages(["BTC-PERPETUAL"])]
    assert msgs[0]["method"] == "public/set_heartbeat"
    assert msgs[1]["params"]["channels"] == ["book.BTC-PERPETUAL.100ms", "trades.BTC-PERPETUAL.100ms"]
    for m in msgs:
        engine.sent("d", json.dumps(m), 1.0)
    assert {s.key for s in engine.streams.values()} == {"deribit:BTC-PERPETUAL:book", "deribit:BTC-PERPETUAL:trades"}


def test_cli_headless_json():
    doc = cli_json(real_feed(FEED))
    busy = next(s for s in doc["streams"] if s["key"] == f"deribit:{BUSY}:book")
    assert busy["gaps"] == 0 and busy["book_state"] == "ok"
    books, _, _ = reference(read_records(real_feed(FEED)))
    assert [[float(p), float(q)] for p, q in busy["book"]["asks"]] == [list(x) for x in ref_top(*books[BUSY], 10)[1]]


def test_resubscribe_messages_unsubscribe_then_subscribe_the_one_book_channel():
    engine, tr = _live()
    v = engine.conns["d"].venue
    for m in v.subscribe_messages(["BTC-PERPETUAL", "ETH-PERPETUAL"]):
        engine.sent("d", m, 1.0)
    st = engine.streams[("deribit", "BTC-PERPETUAL", "book")]
    msgs = [json.loads(m) for m in v.resubscribe_messages(st)]
    assert [(m["method"], m["params"]["channels"]) for m in msgs] == [
        ("public/unsubscribe", ["book.BTC-PERPETUAL.100ms"]), ("public/subscribe", ["book.BTC-PERPETUAL.100ms"])]
    assert msgs[0]["id"] != msgs[1]["id"]
    assert v.resubscribe_messages(engine.streams[("deribit", "BTC-PERPETUAL", "trades")]) is None


def test_a_channel_left_out_of_the_subscribe_answer_is_reported_on_its_stream():
    engine, tr = _live()
    engine.sent("d", json.dumps({"jsonrpc": "2.0", "id": 2, "method": "public/subscribe",
                                 "params": {"channels": ["book.BTC-PERPETUAL.100ms", "book.NOPE-PERPETUAL.100ms"]}}),
                1.0)
    engine.frame("d", '{"jsonrpc":"2.0","id":2,"result":["book.BTC-PERPETUAL.100ms"],"testnet":false}', 1.1)
    nope = engine.streams[("deribit", "NOPE-PERPETUAL", "book")]
    ok = engine.streams[("deribit", "BTC-PERPETUAL", "book")]
    assert (nope.parse_errors, ok.parse_errors) == (1, 0)
    assert [e.detail for e in engine.events if e.kind == "parse_error"] == [
        "deribit did not subscribe book.NOPE-PERPETUAL.100ms (unknown instrument or channel)"]
    # an error answer to a subscribe request lands on the streams it asked for, with Deribit's reason
    engine.sent("d", json.dumps({"jsonrpc": "2.0", "id": 3, "method": "public/subscribe",
                                 "params": {"channels": ["book.ETH-PERPETUAL.100ms"]}}), 1.2)
    engine.frame("d", '{"jsonrpc":"2.0","id":3,"error":{"message":"Invalid params","data":{"reason":"bad",'
                      '"param":"channels"},"code":-32602}}', 1.3)
    eth = engine.streams[("deribit", "ETH-PERPETUAL", "book")]
    assert eth.parse_errors == 1
    assert engine.events[-1].detail == "deribit error -32602: Invalid params (reason: bad, param: channels)"


def test_odd_request_ids_are_not_a_crash():
    engine, tr = _live()
    engine.sent("d", '{"jsonrpc":"2.0","id":[1],"method":"public/subscribe","params":{"channels":["book.X-Y.100ms"]}}',
                1.0)
    engine.frame("d", '{"jsonrpc":"2.0","id":{"a":1},"result":["book.X-Y.100ms"]}', 1.1)
    engine.frame("d", '{"jsonrpc":"2.0","id":[1],"error":{"code":1,"message":"no"}}', 1.2)
    assert engine.conns["d"].parse_errors == 1  # the error answer only; nothing failed
    assert [e.detail for e in engine.events if e.kind == "parse_error"] == ["deribit error 1: no"]
