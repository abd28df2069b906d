"""Bybit v5 (spot, linear, inverse) through the real commands: ``wstui watch`` against ``wstui serve --sim``
on loopback.  Books verify by Bybit's own rule (update id ``u`` one more each delta); a gap or a damaged
frame on one book resubscribes that book alone (unsubscribe + subscribe, a fresh snapshot); the sim is as
strict as Bybit (unknown topics, spot's 10 args per request)."""

from __future__ import annotations

import json

import orjson
import pytest
from websockets.sync.client import connect

from conftest import read_records, real_feed
from live_util import Served
from sim_watch import assert_verified, muted_alone, reconnected_once, watch_sim

from wstui.engine import Engine
from wstui.venues.bybit import BybitLinear, BybitSpot

SPOT = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "X0001USDT"]


def one_hit(w, symbols, venue="bybit"):
    """The one book a gap-like fault hit (gaps 1, resyncs 1); the others untouched; nobody reconnected."""
    books = w.books()
    assert set(books) == {f"{venue}:{s}:book" for s in symbols}
    hit = [k for k, b in books.items() if b["gaps"]]
    assert len(hit) == 1, {k: b["gaps"] for k, b in books.items()}
    for k, b in books.items():
        assert (b["gaps"], b["resyncs"]) == ((1, 1) if k == hit[0] else (0, 0)), (k, b["gaps"], b["resyncs"])
        assert b["reconnects"] == 0
        assert_verified(b)
    assert w.summary["connections"][0]["connects"] == 1
    return hit[0]


def test_four_spot_books_subscribe_and_verify_and_an_unknown_symbol_gets_bybits_error():
    w = watch_sim("bybit", SPOT + ["NOSUCHUSDT"], duration=2.5)
    assert "simulated bybit" in " ".join(w.server)
    for sym in SPOT:
        b = w.streams[f"bybit:{sym}:book"]
        assert_verified(b)
        assert (b["gaps"], b["resyncs"], b["parse_errors"]) == (0, 0, 0)
        assert b["messages"] >= 50 * 2.5 * 0.6  # one delta per market event (rate 50/s)
        assert w.streams[f"bybit:{sym}:trades"]["messages"] > 0
    # the unknown symbol: Bybit's refusal, on its stream; its own request, so the others were not refused
    bad = w.streams["bybit:NOSUCHUSDT:book"]
    assert bad["parse_errors"] == 1 and bad["book_state"] == "empty"
    ev = w.events_of("parse_error", "bybit:NOSUCHUSDT:book")
    assert ev and "Invalid symbol :[orderbook.200.NOSUCHUSDT]" in ev[0]["detail"]
    assert w.summary["connections"][0]["parse_errors"] == 1  # one request (book + trades), one refusal


@pytest.mark.parametrize("venue,symbols,path", [
    ("bybit-linear", ["BTCUSDT", "ETHUSDT"], "/v5/public/linear"),
    ("bybit-inverse", ["BTCUSD", "ETHUSD"], "/v5/public/inverse"),
])
def test_linear_and_inverse_are_their_own_markets(venue, symbols, path):
    w = watch_sim(venue, symbols, duration=2.0)
    assert f"{path} -> simulated {venue}" in " ".join(w.server)
    for sym in symbols:
        b = w.streams[f"{venue}:{sym}:book"]
        assert_verified(b)
        assert (b["gaps"], b["parse_errors"]) == (0, 0)
    if venue == "bybit-inverse":  # sizes in whole contracts
        assert all("." not in q for _p, q in w.streams["bybit-inverse:BTCUSD:book"]["book"]["bids"])


@pytest.mark.parametrize("fault", ["gap@1.2s:1", "corrupt@1.2s"])
def test_a_broken_sequence_on_one_of_four_books_resubscribes_that_book_alone(fault):
    w = watch_sim("bybit", SPOT, faults=[fault], duration=3.0)
    assert len(w.fired()) == 1
    key = one_hit(w, SPOT)
    gap = w.events_of("gap", key)[0]
    assert "u=" in gap["detail"]
    resub = w.events_of("resubscribe", key)
    assert len(resub) == 1 and "sequence gap" in resub[0]["detail"]
    rebuilt = w.events_of("resync", key)[0]
    assert "snapshot" in rebuilt["detail"]
    assert rebuilt["ts"] - gap["ts"] < 0.5  # unsubscribe + subscribe answered by a snapshot at once
    assert not w.events_of("resubscribe", None)[1:]  # nothing else was resubscribed
    assert not [e for e in w.events if e["kind"] == "disconnect"]


def test_disconnect_reconnects_and_every_book_verifies_again():
    w = watch_sim("bybit-linear", ["BTCUSDT", "ETHUSDT"], faults=["disconnect@1s"], duration=3.5)
    reconnected_once(w, "bybit-linear", ("BTCUSDT", "ETHUSDT"))


def test_mute_of_one_symbol_leaves_the_others_flowing():
    # stale after 0.5 s: the muted book goes stale while the market's other books never do
    w = watch_sim("bybit", SPOT, faults=["mute@1s:1.5s:ETHUSDT"], duration=3.5, extra=["--stale-after", 0.5])
    muted_alone(w, "bybit:ETHUSDT:book", duration=3.5)


def _ask(ws, msg: dict) -> dict:
    """Send ``msg``; the next control frame (market data in between is passed over)."""
    ws.send(json.dumps(msg))
    while True:
        m = json.loads(ws.recv(timeout=5))
        if "topic" not in m:
            return m


def _next(ws, topic: str) -> dict:
    while True:
        m = json.loads(ws.recv(timeout=5))
        if m.get("topic") == topic:
            return m


def test_the_sim_is_as_strict_as_bybit():
    with Served("--sim", "--rate", 20) as srv:
        with connect(srv.url("/v5/public/spot"), compression=None) as ws:
            eleven = [f"publicTrade.X{i:04d}USDT" for i in range(11)]
            ack = _ask(ws, {"op": "subscribe", "args": eleven, "req_id": "a"})
            assert ack == {"success": False, "ret_msg": "args size >10", "conn_id": ack["conn_id"],
                           "req_id": "a", "op": "subscribe"}
            # one unknown topic refuses the whole request: the good one is not subscribed either
            ack = _ask(ws, {"op": "subscribe", "args": ["orderbook.50.BTCUSDT", "orderbook.50.FOOUSDT"]})
            assert ack["success"] is False and ack["ret_msg"] == "Invalid symbol :[orderbook.50.FOOUSDT]"
            ack = _ask(ws, {"op": "subscribe", "args": eleven[:10]})
            assert ack["success"] is True and ack["ret_msg"] == "subscribe"
            ack = _ask(ws, {"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
            assert ack["success"] is True
            snap = _next(ws, "orderbook.50.BTCUSDT")
            assert snap["type"] == "snapshot"
            assert len(snap["data"]["b"]) == len(snap["data"]["a"]) == 50
            delta = _next(ws, "orderbook.50.BTCUSDT")
            assert delta["type"] == "delta" and delta["data"]["u"] == snap["data"]["u"] + 1
            # a second depth of the same symbol: its own snapshot and its own u sequence
            assert _ask(ws, {"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]})["success"] is True
            top = _next(ws, "orderbook.1.BTCUSDT")
            assert top["type"] == "snapshot" and len(top["data"]["b"]) == len(top["data"]["a"]) == 1
            last = {"orderbook.1.BTCUSDT": top["data"]["u"], "orderbook.50.BTCUSDT": delta["data"]["u"]}
            count = dict.fromkeys(last, 0)
            while min(count.values()) < 3:
                m = json.loads(ws.recv(timeout=5))
                if m.get("topic") in last:
                    assert m["type"] == "delta" and m["data"]["u"] == last[m["topic"]] + 1, m
                    last[m["topic"]] = m["data"]["u"]
                    count[m["topic"]] += 1
            again = _ask(ws, {"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
            assert again["ret_msg"] == "error:already subscribed,topic:orderbook.50.BTCUSDT"
            pong = _ask(ws, {"op": "ping"})
            assert pong["op"] == "ping" and pong["ret_msg"] == "pong"
        with connect(srv.url("/v5/public/linear"), compression=None) as ws:
            ack = _ask(ws, {"op": "subscribe", "args": [f"publicTrade.X{i:04d}USDT" for i in range(11)]})
            assert ack["success"] is True and ack["ret_msg"] == ""  # futures: no args limit
            ack = _ask(ws, {"op": "subscribe", "args": ["orderbook.25.BTCUSDT"]})  # no such depth
            assert ack["ret_msg"] == "error:handler not found,topic:orderbook.25.BTCUSDT"
        with connect(srv.url("/v5/public/inverse"), compression=None) as ws:
            ack = _ask(ws, {"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})  # inverse lists BTCUSD
            assert ack["success"] is False and "orderbook.50.BTCUSDT" in ack["ret_msg"]


def _shape(text: str) -> tuple:
    m = json.loads(text)
    d = m.get("data")
    inner = sorted(d) if isinstance(d, dict) else sorted(d[0]) if isinstance(d, list) and d else None
    return m.get("topic", "").split(".")[0], m.get("type"), tuple(sorted(m)), tuple(inner or ())


def test_sim_frames_have_the_shapes_of_the_real_capture():
    real = {}
    for r in read_records(real_feed("bybit.jsonl.gz")):
        if r.get("t") == "recv" and r["conn"] == "BYBIT.ws.2" and r.get("data"):
            s = _shape(r["data"])
            if s[0] in ("orderbook", "publicTrade"):
                real[s[:2]] = s
    seen = {}
    with Served("--sim", "--rate", 100) as srv:
        with connect(srv.url("/v5/public/linear"), compression=None) as ws:
            ws.send('{"op":"subscribe","args":["orderbook.200.BTCUSDT","publicTrade.BTCUSDT"]}')
            while len(seen) < 3:
                s = _shape(ws.recv(timeout=5))
                if s[0]:
                    seen[s[:2]] = s
    assert seen == real  # the same keys, envelope and data, for snapshot, delta and trade


def test_adapter_subscribes_per_symbol_and_resubscribes_one_book():
    engine = Engine()
    conn = engine.open("b1", BybitSpot.url, 1.0)
    msgs = conn.venue.subscribe_messages([f"X{i:04d}USDT" for i in range(7)])
    assert len(msgs) == 7 and all(len(orjson.loads(m)["args"]) <= 10 for m in msgs)
    for m in msgs:
        engine.sent("b1", m, 1.0)
    st = conn.streams["bybit:X0003USDT:book"]
    assert [orjson.loads(m) for m in conn.venue.resubscribe_messages(st)] == [
        {"op": "unsubscribe", "args": ["orderbook.200.X0003USDT"]},
        {"op": "subscribe", "args": ["orderbook.200.X0003USDT"]}]
    assert conn.venue.resubscribe_messages(conn.streams["bybit:X0003USDT:trades"]) is None
    assert BybitLinear.stream_symbol("btcusdt") == "BTCUSDT"
