"""Gemini v2 through the real commands: ``wstui watch`` against ``wstui serve --sim`` on loopback.  Gemini numbers
nothing; its ``l2`` stream covers the whole book, so an update deleting a level the book does not hold betrays
a lost or garbled update, and that symbol alone is unsubscribed and subscribed again (a new snapshot)."""

from __future__ import annotations

import json

from websockets.sync.client import connect

from conftest import RecordingTransport, read_records, real_feed
from live_util import Served
from sim_watch import assert_verified, muted_alone, reconnected_once, watch_sim

from wstui.engine import Engine
from wstui.venues.gemini import GeminiV2

SYMBOLS = ["BTCUSD", "ETHUSD", "SOLUSD", "X0001USDT"]


def test_four_books_subscribe_and_stay_consistent_and_an_unknown_symbol_gets_geminis_error():
    w = watch_sim("gemini", ["btcusd", "ETHUSD", "SOLUSD", "X0001USDT", "NOSUCHCOIN"], duration=2.5)  # any case
    assert "/v2/marketdata -> simulated gemini" in " ".join(w.server)
    for sym in SYMBOLS:
        b = w.streams[f"gemini:{sym}:book"]
        assert_verified(b)
        assert (b["gaps"], b["resyncs"], b["parse_errors"]) == (0, 0, 0)
        assert b["messages"] >= 50 * 2.5 * 0.6
        assert w.streams[f"gemini:{sym}:trades"]["messages"] > 0
    errs = w.events_of("parse_error", "GEMINI.ws.1")
    assert len(errs) == 1 and "InvalidSymbol" in errs[0]["detail"] and "NOSUCHCOIN" in errs[0]["detail"]
    assert w.streams["gemini:NOSUCHCOIN:book"]["book_state"] == "empty"


def _one_resubscribed(w):
    books = w.books()
    hit = [k for k, b in books.items() if b["gaps"]]
    assert len(hit) == 1, {k: b["gaps"] for k, b in books.items()}
    for k, b in books.items():
        assert (b["gaps"], b["resyncs"], b["reconnects"]) == ((1, 1, 0) if k == hit[0] else (0, 0, 0)), k
        assert_verified(b)
    assert w.summary["connections"][0]["connects"] == 1
    gap = w.events_of("gap", hit[0])[0]
    assert "does not hold" in gap["detail"]
    assert len(w.events_of("resubscribe")) == 1 and w.events_of("resubscribe", hit[0])
    rebuilt = w.events_of("resync", hit[0])[0]
    assert "snapshot" in rebuilt["detail"] and rebuilt["ts"] - gap["ts"] < 0.5
    return hit[0]


def test_a_lost_update_on_one_of_four_books_resubscribes_that_symbol_alone():
    w = watch_sim("gemini", SYMBOLS, faults=["gap@1.2s:1"], duration=3.0)
    assert len(w.fired()) == 1
    _one_resubscribed(w)


def test_a_garbled_update_is_found_and_repaired_the_same_way():
    w = watch_sim("gemini", SYMBOLS, faults=["corrupt@1.2s"], duration=3.0)
    _one_resubscribed(w)


def test_disconnect_reconnects_and_every_book_starts_over():
    w = watch_sim("gemini", ["BTCUSD", "ETHUSD"], faults=["disconnect@1s"], duration=3.5)
    reconnected_once(w, "gemini", ("BTCUSD", "ETHUSD"))


def test_mute_of_one_symbol_leaves_the_others_flowing():
    # stale after 0.5 s: the muted book goes stale while the market's other books never do
    w = watch_sim("gemini", SYMBOLS, faults=["mute@1s:1s:ETHUSD"], duration=3.5, extra=["--stale-after", 0.5])
    muted_alone(w, "gemini:ETHUSD:book", duration=3.5)


def _shape(text: str) -> tuple:
    m = json.loads(text)
    first = "trades" in m
    return m.get("type"), first, tuple(sorted(m))


def test_sim_frames_have_the_shapes_of_the_real_capture_and_heartbeats_come():
    real = {}
    for r in read_records(real_feed("gemini.jsonl.gz")):
        if r.get("t") == "recv":
            s = _shape(r["data"])
            real[s[:2]] = s
    seen = {}
    import wstui.io.sim.gemini as g

    with Served("--sim", "--rate", 100) as srv:
        with connect(srv.url("/v2/marketdata"), compression=None) as ws:
            ws.send('{"type":"subscribe","subscriptions":[{"name":"l2","symbols":["BTCUSD"]}]}')
            while len(seen) < 4:  # the first l2 message, updates, trades and a heartbeat (every 5 s)
                s = _shape(ws.recv(timeout=g.HEARTBEAT_S + 3))
                seen[s[:2]] = s
    assert seen == real


def test_adapter_resubscribes_one_symbol_and_ignores_updates_until_its_snapshot():
    engine = Engine()
    tr = RecordingTransport()
    conn = engine.open("g1", GeminiV2.url, 1.0, live=True, transport=tr)
    for m in conn.venue.subscribe_messages(["BTCUSD", "ETHUSD"]):
        engine.sent("g1", m, 1.0)

    def first(sym, bid):
        return json.dumps({"auction_events": [], "changes": [["buy", bid, "1"], ["sell", "200.0", "1"]],
                           "symbol": sym, "trades": [], "type": "l2_updates"})

    def upd(sym, *changes):
        return json.dumps({"changes": [list(c) for c in changes], "symbol": sym, "type": "l2_updates"})

    engine.frame("g1", first("BTCUSD", "100.0"), 2.0)
    engine.frame("g1", first("ETHUSD", "100.0"), 2.0)
    engine.frame("g1", upd("ETHUSD", ("buy", "99.0", "0")), 2.1)  # 99.0 was never there: an update was lost
    eth, btc = conn.streams["gemini:ETHUSD:book"], conn.streams["gemini:BTCUSD:book"]
    assert eth.gaps == 1 and eth.book_state == "out_of_sync" and btc.book_state == "ok"
    assert tr.resubscribed == [("gemini:ETHUSD:book", "sequence gap: an update deletes the bid 99.0 the book "
                                                       "does not hold: an update was lost")]
    msgs = [json.loads(m) for m in conn.venue.resubscribe_messages(eth)]
    assert msgs == [{"type": "unsubscribe", "subscriptions": [{"name": "l2", "symbols": ["ETHUSD"]}]},
                    {"type": "subscribe", "subscriptions": [{"name": "l2", "symbols": ["ETHUSD"]}]}]
    engine.frame("g1", upd("ETHUSD", ("buy", "98.0", "0")), 2.2)  # in flight: ignored, no second gap
    engine.frame("g1", upd("ETHUSD", ("buy", "97.0", "x")), 2.25)  # nor does a broken one count meanwhile
    engine.frame("g1", first("ETHUSD", "101.0"), 2.3)
    assert eth.book_state == "ok" and eth.resyncs == 1 and eth.gaps == 1 and eth.book.best_bid() == 101.0
    engine.frame("g1", upd("BTCUSD", ("buy", "100.0", "0"), ("buy", "99.5", "2")), 2.4)
    assert btc.gaps == 0 and btc.resyncs == 0 and conn.connects == 1
    assert conn.venue.resubscribe_messages(conn.streams["gemini:BTCUSD:trades"]) is None
    assert GeminiV2.stream_symbol("btcusd") == "BTCUSD"
