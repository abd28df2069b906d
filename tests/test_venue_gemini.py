"""Gemini v2 on the real capture: l2 snapshot + updates, trades, heartbeats."""

from __future__ import annotations

import json

from conftest import cli_json, read_records, real_feed, recv_messages, replay, replay_clean, views

from wstui.engine import Engine
from wstui.venues import venue_for
from wstui.venues.gemini import GeminiV2

FEED = "gemini.jsonl.gz"
ADDR = "wss://api.gemini.com/v2/marketdata/"


def reference(records):
    """Books (text as sent) straight from the capture: each symbol's first l2_updates is its snapshot."""
    books = {}
    updates = {}
    trades = []
    heartbeats = 0
    for m in recv_messages(records):
        if m["type"] == "l2_updates":
            sym = m["symbol"]
            if sym not in books:
                books[sym] = ({}, {})
            else:
                updates[sym] = updates.get(sym, 0) + 1
            for side, price, qty in m["changes"]:
                levels = books[sym][0 if side == "buy" else 1]
                if float(qty) == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = qty
        elif m["type"] == "trade":
            trades.append((m["symbol"], m["side"], m["price"], m["quantity"]))
        elif m["type"] == "heartbeat":
            heartbeats += 1
    return books, updates, trades, heartbeats


def test_replay_recognised_and_clean():
    engine, snap = replay_clean(real_feed(FEED), "gemini")
    assert snap.messages == 563
    _, _, _, hbs = reference(read_records(real_feed(FEED)))
    assert snap.connections[0].heartbeats == hbs == 2
    assert venue_for(ADDR) is GeminiV2
    assert venue_for("wss://api.gemini.com/v1/marketdata/BTCUSD") is not GeminiV2  # v1 is another API


def test_books_match_reference():
    books, updates, _, _ = reference(read_records(real_feed(FEED)))
    engine, snap = replay(real_feed(FEED))
    v = views(snap)
    assert len(books) == 10
    for sym, (bids, asks) in books.items():
        view = v[f"gemini:{sym}:book"]
        assert view.book_state == "ok" and not view.crossed and view.gaps == 0
        assert view.book_levels == (len(bids), len(asks))
        assert view.book_updates == updates.get(sym, 0)
        assert [(p, q) for p, q, _ in view.bids[:25]] == sorted(bids.items(), key=lambda kv: -float(kv[0]))[:25]
        assert [(p, q) for p, q, _ in view.asks[:25]] == sorted(asks.items(), key=lambda kv: float(kv[0]))[:25]


def test_trades_go_to_the_tape_with_aggressor_side():
    _, _, trades, _ = reference(read_records(real_feed(FEED)))
    assert len(trades) == 2
    engine, snap = replay(real_feed(FEED))
    view = views(snap)["gemini:BTCUSD:trades"]
    assert view.trades_total == 2  # the snapshot's trade history is not counted as live trades
    assert [("BTCUSD", t.side, t.price, t.size) for t in reversed(view.trades)] == trades
    assert view.latency_ms_p50 is None  # a trade's timestamp is its match time: no latency from it (issue 10)


def test_a_new_connection_starts_from_its_snapshot():
    engine = Engine()
    engine.open("g", ADDR, 1.0)
    snap = {"type": "l2_updates", "symbol": "BTCUSD", "changes": [["buy", "100", "1"], ["sell", "101", "2"]],
            "trades": [], "auction_events": []}
    engine.frame("g", json.dumps(snap), 1.1)
    engine.frame("g", json.dumps({"type": "l2_updates", "symbol": "BTCUSD", "changes": [["buy", "100", "0"]]}), 1.2)
    st = engine.streams[("gemini", "BTCUSD", "book")]
    assert (len(st.book.bids), len(st.book.asks)) == (0, 1)
    engine.open("g", ADDR, 2.0)  # reconnect: the first message is a snapshot again, replacing the book
    engine.frame("g", json.dumps(dict(snap, changes=[["buy", "99", "5"]])), 2.1)
    assert [lv[0] for lv in st.book.bids.top(5)] == ["99"] and len(st.book.asks) == 0
    assert st.book_state == "ok"


def test_live_subscription_messages():
    engine = Engine()
    conn = engine.open("g", GeminiV2.url, 1.0)
    for text in conn.venue.subscribe_messages(["BTCUSD"]):
        assert json.loads(text) == {"type": "subscribe", "subscriptions": [{"name": "l2", "symbols": ["BTCUSD"]}]}
        engine.sent("g", text, 1.0)
    assert {s.key for s in engine.streams.values()} == {"gemini:BTCUSD:book", "gemini:BTCUSD:trades"}


def test_cli_headless_json():
    doc = cli_json(real_feed(FEED))
    assert {c["venue"] for c in doc["connections"]} == {"gemini"}
    btc = next(s for s in doc["streams"] if s["key"] == "gemini:BTCUSD:book")
    books, _, _, _ = reference(read_records(real_feed(FEED)))
    assert btc["book"]["asks"][0] == list(min(books["BTCUSD"][1].items(), key=lambda kv: float(kv[0])))
