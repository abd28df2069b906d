"""Coinbase Advanced Trade against ``wstui serve --sim`` through ``wstui watch``.  Its ``sequence_num`` is one
counter per connection across channels: a lost message could be any product's, so a gap resubscribes
``level2`` for every book of the connection in one unsubscribe/subscribe pair (no reconnect); a frame that
fails half-applied resubscribes its one product."""

from __future__ import annotations

import asyncio

import orjson
from websockets.asyncio.client import connect

from live_util import Served
from sim_watch import all_verified, one_repaired, watch_sim
from wstui.io.sim.coinbase import CoinbaseClient

SYMS = ["BTC-USD", "ETH-USD", "SOL-USD", "X0001-USD"]


def test_four_books_subscribe_and_verify():
    w = watch_sim("coinbase", SYMS, duration=3.0)
    all_verified(w, "coinbase", SYMS)
    for b in w.books_of("coinbase").values():
        assert (b["gaps"], b["resyncs"], b["reconnects"], b["parse_errors"]) == (0, 0, 0, 0)
    trades = [s for s in w.streams.values() if s["channel"] == "trades"]
    assert sum(len(s["last_trades"]) for s in trades) > 0
    assert w.summary["connections"][0]["parse_errors"] == 0


def test_a_sequence_gap_resubscribes_level2_for_the_connections_books_in_one_pair():
    w = watch_sim("coinbase", SYMS, "--fault", "gap@1.5s:1", duration=4.0)
    t = w.fault_time()
    books = w.books_of("coinbase")
    for s, b in books.items():  # nothing tells which product lost the message: each book is rebuilt
        assert (b["gaps"], b["resyncs"], b["reconnects"]) == (1, 1, 0), (s, b)
    resub = w.events_of("resubscribe")
    assert len(resub) == 1 and "sequence gap" in resub[0]["detail"]  # one unsubscribe/subscribe pair
    rebuilt = max(e["ts"] for e in w.events_of("resync"))
    assert rebuilt - t < 1.0
    trades = [s for s in w.streams.values() if s["channel"] == "trades"]
    assert all(s["gaps"] == 0 and s["reconnects"] == 0 for s in trades)
    all_verified(w, "coinbase", SYMS)
    print(f"coinbase: sequence gap -> 4 books rebuilt from level2 snapshots in {(rebuilt - t) * 1000:.0f} ms")


def test_a_frame_failing_half_applied_resubscribes_only_its_product():
    w = watch_sim("coinbase", SYMS, "--fault", "corrupt@1.5s", duration=4.0)
    sym, took = one_repaired(w, "coinbase", counter="parse_errors")
    assert all(b["gaps"] == 0 for b in w.books_of("coinbase").values())
    all_verified(w, "coinbase", SYMS)
    print(f"coinbase: half-applied frame on {sym} -> rebuilt in {took * 1000:.0f} ms")


def test_disconnect_reconnects_and_every_book_verifies_again():
    w = watch_sim("coinbase", SYMS, "--fault", "disconnect@1.5s", duration=4.0)
    all_verified(w, "coinbase", SYMS)
    for b in w.books_of("coinbase").values():
        assert b["reconnects"] == 1 and b["gaps"] == 0


def test_mute_of_one_product_leaves_the_others_flowing():
    w = watch_sim("coinbase", SYMS, "--fault", "mute@1s:1.5s:ETH-USD", duration=4.0)
    books = w.books_of("coinbase")
    eth = books["ETH-USD"]["messages"]
    others = [books[s]["messages"] for s in SYMS if s != "ETH-USD"]
    assert eth < 0.8 * min(others), (eth, others)
    # ETH's withheld updates are lost messages of the connection: every book is rebuilt (level2 again),
    # none by reconnecting, and all verify once ETH flows again
    assert all(b["gaps"] >= 1 and b["resyncs"] >= 1 and b["reconnects"] == 0 for b in books.values())
    trades = [s for s in w.streams.values() if s["channel"] == "trades" and s["symbol"] != "ETH-USD"]
    assert all(s["messages"] > 0 and s["reconnects"] == 0 for s in trades)
    all_verified(w, "coinbase", SYMS)


def test_unknown_product_gets_coinbases_error():
    w = watch_sim("coinbase", ["NOPE-USD"], duration=1.5)
    errs = [e["detail"] for e in w.events_of("parse_error")]
    assert errs and all("coinbase error: Failure to subscribe: invalid product_id NOPE-USD" in d for d in errs)
    assert w.books_of("coinbase")["NOPE-USD"]["messages"] == 0


def test_sniffed_on_the_shared_path_and_client_messages_limited_to_8_a_second():
    assert CoinbaseClient.claims("/") and CoinbaseClient.claims("")
    assert CoinbaseClient.sniff('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}')
    assert not CoinbaseClient.sniff('{"event":"bts:subscribe","data":{"channel":"order_book_btcusd"}}')
    sub = orjson.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "heartbeats"}).decode()

    async def run(url):
        got = []
        async with connect(url, compression=None) as ws:
            for _ in range(10):
                await ws.send(sub)
            try:
                while True:
                    got.append(await asyncio.wait_for(ws.recv(), 0.5))
            except asyncio.TimeoutError:
                pass
        return got

    with Served("--sim", "--rate", 10) as srv:
        got = asyncio.run(run(srv.url("/")))
    assert sum('"channel":"subscriptions"' in g for g in got) == 8
    assert sum("rate limit exceeded" in g for g in got) == 2
    seqs = [orjson.loads(g)["sequence_num"] for g in got if "sequence_num" in g]
    assert seqs == list(range(len(seqs)))  # one counter per connection, from 0
