"""Coinbase Advanced Trade on the real capture: level2 books, market_trades, heartbeats, sequence_num."""

from __future__ import annotations

import json

from conftest import RecordingTransport, cli_json, later_copy, read_records, real_feed, replay, views
from reference import RefBook
from venue_support import assert_books_match, feed, recv_records, replay_written, view_book, with_junk

from wstui.engine import Engine
from wstui.venues import venue_for
from wstui.venues.coinbase import Coinbase

PRODUCTS = ("BTC-USD", "ETH-USD")


def apply_l2(books: dict[str, RefBook], m: dict) -> None:
    """One l2_data message applied to the reference books."""
    for ev in m["events"]:
        book = books.setdefault(ev["product_id"], RefBook())
        if ev["type"] == "snapshot":
            book.clear()
        for u in ev["updates"]:
            book.set("bid" if u["side"] == "bid" else "ask", u["price_level"], u["new_quantity"])


def reference_books(records: list[dict]) -> dict[str, RefBook]:
    books: dict[str, RefBook] = {}
    for r in recv_records(records):
        m = json.loads(r["data"])
        if m.get("channel") == "l2_data":
            apply_l2(books, m)
    return books


def test_capture_replays_as_coinbase_with_contiguous_sequence():
    out = cli_json(real_feed("coinbase.jsonl.gz"))
    assert out["bad_records_total"] == 0
    assert [c["venue"] for c in out["connections"]] == ["coinbase"]
    conn = out["connections"][0]
    assert conn["parse_errors"] == 0
    assert conn["heartbeats"] == 25  # the heartbeats channel: keep-alive, not data
    streams = {s["key"]: s for s in out["streams"]}
    for p in PRODUCTS:
        book = streams[f"coinbase:{p}:book"]
        assert book["gaps"] == 0 and book["resyncs"] == 0  # sequence_num 0..1029 without a break
        assert book["book_state"] == "ok" and not book["crossed"]
        assert book["latency_ms_p50"] is not None and abs(book["latency_ms_p50"]) < 2000
        assert streams[f"coinbase:{p}:trades"]["trades"] > 0
        for ch in ("ticker", "candles"):
            assert streams[f"coinbase:{p}:{ch}"]["messages"] > 0
    assert all(s["parse_errors"] == 0 and s["gaps"] == 0 for s in out["streams"])
    # every frame is accounted for: data of some stream, a heartbeat, or one of 5 subscription acks
    assert sum(s["messages"] for s in out["streams"]) + conn["heartbeats"] + 5 == conn["messages"] == 1030


def test_final_books_match_an_independent_reference():
    path = real_feed("coinbase.jsonl.gz")
    ref = reference_books(read_records(path))
    engine, snap = replay(path)
    # the whole book, not only its top: ~46,000 BTC-USD levels from the snapshot onwards
    assert_books_match(snap, {f"coinbase:{p}:book": ref[p] for p in PRODUCTS})
    assert views(snap)["coinbase:BTC-USD:book"].book_levels[1] > 20000


def test_tape_shows_the_aggressor_not_the_maker():
    """market_trades names the maker's side: a trade at the best ask (a buyer lifting it) says SELL."""
    path = real_feed("coinbase.jsonl.gz")
    records = read_records(path)
    ref: dict[str, RefBook] = {}
    expected: dict[tuple[str, str], str] = {}
    for r in recv_records(records):
        m = json.loads(r["data"])
        if m["channel"] == "l2_data":
            apply_l2(ref, m)
        elif m["channel"] == "market_trades":
            for ev in m["events"]:
                for t in ev["trades"] if ev["type"] == "update" else ():
                    book = ref.get(t["product_id"])
                    if book is None or not book.bids:
                        continue
                    bid, ask = book.bids[max(book.bids)][0], book.asks[min(book.asks)][0]
                    if t["price"] == ask:
                        expected[(t["price"], t["size"])] = "buy"
                    elif t["price"] == bid:
                        expected[(t["price"], t["size"])] = "sell"
    engine, snap = replay(path)
    tape = [t for p in PRODUCTS for t in views(snap)[f"coinbase:{p}:trades"].trades]
    checked = [(t.side, expected[(t.price, t.size)]) for t in tape if (t.price, t.size) in expected]
    assert len(checked) >= 40
    assert all(got == want for got, want in checked)
    # the snapshot of past trades sent on subscribing is history: not on the tape
    live_trades = sum(len(ev["trades"]) for r in recv_records(records)
                      for m in [json.loads(r["data"])] if m["channel"] == "market_trades"
                      for ev in m["events"] if ev["type"] == "update")
    assert sum(views(snap)[f"coinbase:{p}:trades"].trades_total for p in PRODUCTS) == live_trades


def _drop_one_update(records: list[dict]) -> tuple[list[dict], int]:
    """The capture without one l2_data update frame from its middle; returns its sequence_num."""
    recv = [i for i, r in enumerate(records) if r["t"] == "recv" and '"l2_data"' in r["data"]
            and '"update"' in r["data"]]
    i = recv[len(recv) // 2]
    seq = json.loads(records[i]["data"])["sequence_num"]
    return records[:i] + records[i + 1:], seq


def test_a_dropped_frame_is_a_gap_on_every_book_and_the_next_snapshot_rebuilds(tmp_path):
    records = read_records(real_feed("coinbase.jsonl.gz"))
    tampered, seq = _drop_one_update(records)
    snap, views = replay_written(tmp_path, "dropped.jsonl.gz", tampered, loops=2)
    for p in PRODUCTS:
        v = views[f"coinbase:{p}:book"]
        # the loss is seen in each pass; the second pass's snapshot repaired the first pass's damage
        assert v.gaps == 2
        assert v.resyncs == 1
        assert v.book_state == "out_of_sync"  # the same frame is missing again at the end of pass 2
    gaps = [e for e in snap.events if e.kind == "gap"]
    assert gaps and f"sequence_num {seq + 1} after {seq - 1}" in gaps[0].detail
    assert any(e.kind == "resync" for e in snap.events)
    assert snap.bad_records_total == 0


def test_a_reconnect_after_a_gap_rebuilds_the_books_exactly(tmp_path):
    records = read_records(real_feed("coinbase.jsonl.gz"))
    tampered, _ = _drop_one_update(records)
    snap, views = replay_written(tmp_path, "reconnect.jsonl.gz", tampered + later_copy(records))
    ref = reference_books(records)
    for p in PRODUCTS:
        v = views[f"coinbase:{p}:book"]
        assert (v.gaps, v.resyncs, v.book_state) == (1, 1, "ok")
        assert view_book(v, 50) == ref[p].top(50)


def test_a_gap_resubscribes_every_book_when_live():
    records = read_records(real_feed("coinbase.jsonl.gz"))
    tampered, _ = _drop_one_update(records)
    transport = RecordingTransport()
    snap = feed(Engine(), tampered, transport)
    assert sorted(k for k, _ in transport.resubscribed) == [f"coinbase:{p}:book" for p in PRODUCTS]
    assert all("sequence gap" in why for _, why in transport.resubscribed)
    assert snap.bad_records_total == 0


def test_address_matching_and_live_subscriptions():
    assert venue_for("wss://advanced-trade-ws.coinbase.com") is Coinbase
    assert venue_for("wss://ws-feed.exchange.coinbase.com") is not Coinbase  # the older Exchange API
    engine = Engine()
    conn = engine.open("c1", Coinbase.url, 1.0, venue=venue_for(Coinbase.url))
    msgs = conn.venue.subscribe_messages(["BTC-USD", "SOL-USD"])
    assert {json.loads(m)["channel"] for m in msgs} == {"level2", "market_trades", "heartbeats"}
    for m in msgs:
        engine.sent("c1", m, 1.0)
    assert {k for k in conn.streams} == {f"coinbase:{p}:{ch}" for p in ("BTC-USD", "SOL-USD")
                                         for ch in ("book", "trades")}


def test_junk_frames_are_counted_and_nothing_else_is_lost():
    records = read_records(real_feed("coinbase.jsonl.gz"))
    junk = ["not json", '{"channel":"l2_data","sequence_num":"x"}', "[1,2]",
            '{"channel":"l2_data","events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid"}]}]}',
            '{"type":"error","message":"Failed to subscribe \\u001b[31m"}']
    snap = feed(Engine(), with_junk(records, junk))
    assert snap.connections[0].parse_errors == len(junk)
    assert any("coinbase error: Failed to subscribe" in e.detail for e in snap.events)
    ref = reference_books(records)
    for p in PRODUCTS:
        v = views(snap)[f"coinbase:{p}:book"]
        assert (v.gaps, v.book_state) == (0, "ok")
        assert view_book(v, 20) == ref[p].top(20)
