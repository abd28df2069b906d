"""OKX v5 against ``wstui serve --sim`` through ``wstui watch``: books verify by checksum and seqId, one broken
book is repaired alone by unsubscribing and subscribing its book channel (no reconnect)."""

from __future__ import annotations

import asyncio
import json

import orjson
from websockets.asyncio.client import connect

from conftest import read_records, real_feed
from live_util import Served
from sim_watch import all_verified, one_repaired, watch_sim
from wstui.core.book import Book
from wstui.io.sim.okx import OKXClient, corrupt_levels
from wstui.venues.okx import book_checksum

SYMS = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "X0001-USDT"]


def test_the_checksum_the_simulator_sends_verifies_a_real_okx_snapshot():
    for r in read_records(real_feed("okx.jsonl.gz")):
        if r["t"] == "recv" and '"action":"snapshot"' in r["data"] and '"books"' in r["data"]:
            d = json.loads(r["data"])["data"][0]
            break
    book = Book()
    book.load(d["bids"], d["asks"])
    assert book_checksum(book) == d["checksum"]
    bad = json.loads(corrupt_levels(json.dumps(d, separators=(",", ":"))))
    book.load(bad["bids"], bad["asks"])
    assert book_checksum(book) != d["checksum"]  # what --fault corrupt does is seen by the checksum


def test_four_books_subscribe_and_verify():
    w = watch_sim("okx", SYMS, duration=3.0, path="/ws/v5/public")
    all_verified(w, "okx", SYMS, checksums=True)
    for b in w.books_of("okx").values():
        assert (b["gaps"], b["checksum_failed"], b["resyncs"], b["reconnects"]) == (0, 0, 0, 0)
    trades = [s for s in w.streams.values() if s["channel"] == "trades"]
    assert sum(len(s["last_trades"]) for s in trades) > 0


def test_a_gap_on_one_of_four_books_resubscribes_that_book_only():
    w = watch_sim("okx", SYMS, "--fault", "gap@1.5s:1", duration=4.0)
    sym, took = one_repaired(w, "okx", counter="gaps")
    all_verified(w, "okx", SYMS, checksums=True)
    resub = w.events_of("resubscribe")
    assert [e["stream"] for e in resub] == [f"okx:{sym}:book"]
    assert "prevSeqId" in w.events_of("gap")[0]["detail"]
    assert took < 1.0
    print(f"okx: seqId gap -> {sym} rebuilt from its new snapshot in {took * 1000:.0f} ms")


def test_a_checksum_mismatch_on_one_book_resubscribes_that_book_only():
    w = watch_sim("okx", SYMS, "--fault", "corrupt@1.5s", duration=4.0)
    sym, took = one_repaired(w, "okx", counter="checksum_failed")
    all_verified(w, "okx", SYMS, checksums=True)
    assert all(b["gaps"] == 0 for b in w.books_of("okx").values())
    print(f"okx: checksum mismatch -> {sym} rebuilt in {took * 1000:.0f} ms")


def test_disconnect_reconnects_and_every_book_verifies_again():
    w = watch_sim("okx", SYMS, "--fault", "disconnect@1.5s", duration=4.0)
    all_verified(w, "okx", SYMS, checksums=True)
    for b in w.books_of("okx").values():
        assert b["reconnects"] == 1 and b["gaps"] == 0 and b["checksum_failed"] == 0


def test_mute_of_one_instrument_leaves_the_others_flowing():
    w = watch_sim("okx", SYMS, "--fault", "mute@1s:1.5s:ETH-USDT", duration=4.0)
    books = w.books_of("okx")
    eth = books["ETH-USDT"]["messages"]
    others = [books[s]["messages"] for s in SYMS if s != "ETH-USDT"]
    assert eth < 0.8 * min(others), (eth, others)
    # ETH's withheld updates break its own seqId chain: ETH alone is resubscribed
    assert (books["ETH-USDT"]["gaps"], books["ETH-USDT"]["resyncs"]) == (1, 1)
    assert all(books[s]["gaps"] == 0 and books[s]["resyncs"] == 0 for s in SYMS if s != "ETH-USDT")
    assert all(b["reconnects"] == 0 for b in books.values())
    all_verified(w, "okx", SYMS, checksums=True)


def test_unknown_instrument_gets_okxs_error_and_the_others_verify():
    w = watch_sim("okx", ["BTC-USDT", "NOPE-USDT"], duration=2.0)
    errs = [e["detail"] for e in w.events_of("parse_error")]
    assert any("okx error 60018" in d and "NOPE-USDT" in d for d in errs), errs
    assert w.books_of("okx")["BTC-USDT"]["book_state"] == "ok"
    assert w.books_of("okx")["NOPE-USDT"]["messages"] == 0


def test_ping_is_answered_pong_and_each_subscription_acknowledged():
    assert OKXClient.claims("/ws/v5/public") and not OKXClient.claims("/v2")
    sub = orjson.dumps({"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT"}]}).decode()

    async def run(url):
        got = []
        async with connect(url, compression=None) as ws:
            await ws.send("ping")
            for _ in range(5):
                await ws.send(sub)
            try:
                while True:
                    got.append(await asyncio.wait_for(ws.recv(), 0.5))
            except asyncio.TimeoutError:
                pass
        return got

    with Served("--sim", "--rate", 10) as srv:
        got = asyncio.run(run(srv.url("/ws/v5/public")))
    assert got[0] == "pong"
    acks = [orjson.loads(g) for g in got if '"event":"subscribe"' in g]
    assert len(acks) == 5 and acks[0]["arg"] == {"channel": "trades", "instId": "BTC-USDT"} and acks[0]["connId"]


def test_more_than_480_subscription_requests_an_hour_are_refused():
    from wstui.io.sim import Sim

    class S:
        id = 1
        corrupter = None
        closed = False

    c = OKXClient(Sim(rate=1, seed=1), S())
    sub = orjson.dumps({"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT"}]}).decode()
    for _ in range(481):
        c.on_text(sub)
    frames = [t for t, _k, _s in c.q]
    assert sum('"event":"subscribe"' in f for f in frames) == 480
    assert json.loads(frames[-1]) == {"event": "error", "code": "60014", "msg": "Requests too frequent.",
                                      "connId": "00000001"}


def test_a_frame_failing_half_applied_resubscribes_only_its_instrument():
    from conftest import RecordingTransport
    from wstui.engine import Engine
    from wstui.venues.okx import OKX

    def snap(inst, seq):
        return json.dumps({"arg": {"channel": "books", "instId": inst}, "action": "snapshot", "data": [{
            "asks": [["101", "1", "0", "1"]], "bids": [["99", "1", "0", "1"]], "ts": "1", "checksum": 0,
            "prevSeqId": -1, "seqId": seq}]})

    t = RecordingTransport()
    engine = Engine()
    conn = engine.open("o1", OKX.url, 1.0, live=True, transport=t, venue=OKX)
    engine.sent("o1", conn.venue.subscribe_messages(["BTC-USDT", "ETH-USDT"])[0], 1.0)
    engine.frame("o1", snap("BTC-USDT", 10), 1.1)
    engine.frame("o1", snap("ETH-USDT", 20), 1.1)
    half = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update", "data": [{
        "asks": [], "bids": [["98", "2", "0", "1"], ["97", "2.5.5", "0", "1"]], "ts": "2", "checksum": 0,
        "prevSeqId": 10, "seqId": 11}]}
    engine.frame("o1", json.dumps(half), 1.2)
    btc, eth = conn.streams["okx:BTC-USDT:book"], conn.streams["okx:ETH-USDT:book"]
    assert btc.book_state == "out_of_sync" and eth.book_state == "ok"
    # only its instrument (the size "2.5.5" is no number: rejected, the book marked, resubscribed)
    assert [k for k, _why in t.resubscribed] == ["okx:BTC-USDT:book"]
    msgs = [json.loads(m) for m in conn.venue.resubscribe_messages(btc)]
    assert msgs == [{"op": op, "args": [{"channel": "books", "instId": "BTC-USDT"}]}
                    for op in ("unsubscribe", "subscribe")]
