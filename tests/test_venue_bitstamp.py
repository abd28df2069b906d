"""Bitstamp v2 on the real capture: REST snapshot aligned by microtimestamp, diffs, trades."""

from __future__ import annotations

import json

from conftest import cli_json, read_records, real_feed, recv_messages, replay, replay_clean, views, write_records

from wstui.engine import Engine
from wstui.summary import summary_json
from wstui.venues import venue_for
from wstui.venues.bitstamp import BitstampV2

FEED = "bitstamp.jsonl.gz"
CONN = "BITSTAMP.ws.1"


def reference(records):
    """Books built straight from the capture: the REST snapshot, then only the diffs after it."""
    snaps = {}
    for r in records:
        if r["t"] == "http":
            pair = r["url"].rsplit("/", 1)[1]
            snaps[pair] = json.loads(r["data"])
    books = {}
    dropped = {}
    applied = {}
    for pair, s in snaps.items():
        books[pair] = ({p: q for p, q in s["bids"]}, {p: q for p, q in s["asks"]})
        dropped[pair] = applied[pair] = 0
    for m in recv_messages(records):
        if m.get("event") != "data" or not m["channel"].startswith("diff_order_book_"):
            continue
        pair = m["channel"][len("diff_order_book_"):]
        d = m["data"]
        if int(d["microtimestamp"]) <= int(snaps[pair]["microtimestamp"]):
            dropped[pair] += 1
            continue
        applied[pair] += 1
        bids, asks = books[pair]
        for side, levels in ((bids, d["bids"]), (asks, d["asks"])):
            for p, q in levels:
                if float(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
    return snaps, books, dropped, applied


def test_replay_recognised_and_clean():
    engine, snap = replay_clean(real_feed(FEED), "bitstamp")
    assert snap.messages == 747
    assert venue_for("wss://ws.bitstamp.net/") is BitstampV2
    assert venue_for("wss://ws.bitstamp.net") is BitstampV2


def test_books_aligned_with_rest_snapshot():
    records = read_records(real_feed(FEED))
    snaps, books, dropped, applied = reference(records)
    engine, snap = replay(real_feed(FEED))
    adapter = engine.conns[CONN].venue
    v = views(snap)
    assert sum(dropped.values()) == 102  # diffs the snapshot already held: dropped
    assert sum(applied.values()) == 615
    for pair, s in snaps.items():
        sy = adapter.sync[pair]
        assert sy.snapshots == 1
        assert sy.snap_mt == int(s["microtimestamp"])
        assert (sy.dropped, sy.applied) == (dropped[pair], applied[pair]), pair
        view = v[f"bitstamp:{pair}:book"]
        assert view.book_state == "ok"
        assert view.gaps == 0 and not view.crossed
        bids, asks = books[pair]
        # text as the exchange wrote it, top 25 each side
        assert [(p, q) for p, q, _ in view.bids[:25]] == sorted(bids.items(), key=lambda kv: -float(kv[0]))[:25]
        assert [(p, q) for p, q, _ in view.asks[:25]] == sorted(asks.items(), key=lambda kv: float(kv[0]))[:25]
        assert view.book_levels == (len(bids), len(asks))


def test_trades_have_aggressor_side_and_exchange_time():
    records = read_records(real_feed(FEED))
    want = []
    for m in recv_messages(records):
        if m.get("event") == "trade":
            d = m["data"]
            want.append(({0: "buy", 1: "sell"}[d["type"]], d["price_str"], d["amount_str"]))
    assert len(want) == 10 and {s for s, _, _ in want} == {"buy", "sell"}
    engine, snap = replay(real_feed(FEED))
    view = views(snap)["bitstamp:ethusd:trades"]
    assert view.trades_total == 10
    got = [(t.side, t.price, t.size) for t in reversed(view.trades)]  # the view lists newest first
    assert got == want
    assert all(t.exch_ts is not None for t in view.trades)
    assert views(snap)["bitstamp:ethusd:book"].latency_ms_p50 is not None


def test_missing_rest_snapshot_leaves_books_out_of_sync(tmp_path):
    records = [r for r in read_records(real_feed(FEED)) if r["t"] != "http"]
    path = write_records(tmp_path / "no_http.jsonl.gz", records)
    engine, snap = replay(path)
    assert snap.bad_records_total == 0
    view = views(snap)["bitstamp:ethusd:book"]
    assert view.book_state == "out_of_sync"
    assert view.book_levels == (0, 0)  # no diff applied to a book that never had its snapshot
    kinds = {e["kind"] for e in summary_json(snap)["events"] if e["stream"] == "bitstamp:ethusd:book"}
    assert "snapshot_failed" in kinds


def test_live_subscription_declares_book_and_trades():
    engine = Engine()
    conn = engine.open("c1", BitstampV2.url, 1.0)
    assert isinstance(conn.venue, BitstampV2)
    for text in conn.venue.subscribe_messages(["btcusd", "ethusd"]):
        assert json.loads(text)["event"] == "bts:subscribe"
        engine.sent("c1", text, 1.0)
    keys = {s.key for s in engine.streams.values()}
    assert keys == {"bitstamp:btcusd:book", "bitstamp:btcusd:trades", "bitstamp:ethusd:book", "bitstamp:ethusd:trades"}


def test_cli_headless_json():
    doc = cli_json(real_feed(FEED))
    eth = next(s for s in doc["streams"] if s["key"] == "bitstamp:ethusd:book")
    _, books, _, _ = reference(read_records(real_feed(FEED)))
    assert eth["book"]["bids"][0] == list(max(books["ethusd"][0].items(), key=lambda kv: float(kv[0])))
    assert eth["book_state"] == "ok"
