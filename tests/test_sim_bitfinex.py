"""Bitfinex v2 live path against ``wstui serve --sim`` on loopback: subscribe and verify (SEQ_ALL and
checksums), one book repaired alone after a gap or a corrupted frame (unsubscribe by channel id, then
subscribe that book), reconnect, mute of one market, and the venue's own refusals (unknown pair,
the 26th channel of a connection)."""

from __future__ import annotations

import asyncio
import gzip
import json
from contextlib import nullcontext

import orjson
import pytest
import websockets

from live_util import ROOT, Served, run_live
from sim_watch import stale_alone_while_muted, watch_served

from wstui.io.sim.bitfinex import BitfinexClient

SYMS = ["tBTCUSD", "tETHUSD", "tSOLUSD", "tX0001USD"]
BOOKS = [f"bitfinex:{s}:book" for s in SYMS]


@pytest.fixture(scope="module")
def calm():
    """One simulated market without faults, shared by the tests that need no fault of their own."""
    with Served("--sim", "--rate", 50, "--seed", 5) as srv:
        yield srv


def watch(srv: Served, syms=SYMS, duration: float = 3.0) -> dict:
    return watch_served(srv, "bitfinex", syms, duration=duration).summary


def books(out: dict) -> dict[str, dict]:
    return {s["key"]: s for s in out["streams"] if s["channel"] == "book"}


def all_verified(out: dict) -> None:
    for key, s in books(out).items():
        assert s["book_state"] == "ok" and s["state"] == "live", (key, s["state"], s["book_state"])
        assert s["checksum_ok"] > 20, key
        assert s["reconnects"] == 0 and s["book_levels"] == [25, 25], key


def test_subscribe_and_every_book_verifies(calm):
    with nullcontext(calm) as srv:
        out = watch(srv, duration=2.0)
    assert set(books(out)) == set(BOOKS)
    all_verified(out)
    for s in out["streams"]:
        assert s["gaps"] == 0 and s["checksum_failed"] == 0 and s["resyncs"] == 0 and s["parse_errors"] == 0, s["key"]
    trades = [s for s in out["streams"] if s["channel"] == "trades"]
    assert sum(s["trades"] for s in trades) > 10
    conn = out["connections"][0]
    assert conn["parse_errors"] == 0 and conn["connects"] == 1


def test_a_gap_on_one_book_is_repaired_alone():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "gap@1s:1") as srv:
        out = watch(srv, duration=2.2)
    assert len(srv.faults()) == 1
    bs = books(out)
    hit = [k for k, s in bs.items() if s["gaps"]]
    assert len(hit) == 1, {k: s["gaps"] for k, s in bs.items()}
    assert (bs[hit[0]]["gaps"], bs[hit[0]]["resyncs"], bs[hit[0]]["checksum_failed"]) == (1, 1, 0)
    for k, s in bs.items():
        if k != hit[0]:
            assert (s["gaps"], s["resyncs"], s["checksum_failed"]) == (0, 0, 0), k
    all_verified(out)
    kinds = [(e["kind"], e["stream"]) for e in out["events"]]
    assert ("resubscribe", hit[0]) in kinds and ("resync", hit[0]) in kinds
    assert not any(k == "disconnect" for k, _ in kinds)


def test_a_corrupted_frame_fails_one_checksum_and_only_that_book_is_repaired():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "corrupt@1s") as srv:
        out = watch(srv, duration=2.2)
    bs = books(out)
    hit = [k for k, s in bs.items() if s["checksum_failed"]]
    assert len(hit) == 1, {k: s["checksum_failed"] for k, s in bs.items()}
    assert (bs[hit[0]]["checksum_failed"], bs[hit[0]]["resyncs"], bs[hit[0]]["gaps"]) == (1, 1, 0)
    for k, s in bs.items():
        if k != hit[0]:
            assert (s["gaps"], s["resyncs"], s["checksum_failed"]) == (0, 0, 0), k
    all_verified(out)


def test_disconnect_reconnects_and_every_book_verifies_again():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "disconnect@1s") as srv:
        out = watch(srv, duration=3.0)
    for key, s in books(out).items():
        assert s["reconnects"] == 1 and s["book_state"] == "ok" and s["state"] == "live", key
        assert s["gaps"] == 0 and s["checksum_failed"] == 0, key
    assert out["connections"][0]["connects"] == 2
    # sequence numbers start over at 1 on the new connection: not a gap


def test_mute_of_one_market_leaves_the_others_flowing():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "mute@1s:1.5s:tETHUSD") as srv:
        run = run_live([f"bitfinex:{s}" for s in SYMS], {"bitfinex": srv.url()}, duration=4.0, stale_after=0.8,
                       overrides={"*:trades": 30.0})
    stale_alone_while_muted(run, srv.faults()[0][1], "bitfinex:tETHUSD:book", BOOKS)
    # the muted book lost the changes made while it was silent: its next checksum fails, and it is repaired
    eth = run.stream("bitfinex:tETHUSD:book")
    assert eth.checksum_failed == 1 and eth.resyncs == 1 and eth.book_state == "ok" and eth.state == "live"
    assert all(run.stream(k).reconnects == 0 for k in BOOKS)


def test_an_unknown_pair_gets_bitfinex_error_and_the_rest_flows(calm):
    with nullcontext(calm) as srv:
        out = watch(srv, syms=["tBTCUSD", "tNOPEUSD"], duration=1.5)
    nope = {s["key"]: s for s in out["streams"]}["bitfinex:tNOPEUSD:book"]
    assert nope["parse_errors"] == 1 and nope["book_state"] == "empty"
    errs = [e for e in out["events"] if e["kind"] == "parse_error" and e["stream"] == "bitfinex:tNOPEUSD:book"]
    assert errs and errs[0]["detail"] == "bitfinex error 10300: symbol: invalid"
    assert books(out)["bitfinex:tBTCUSD:book"]["book_state"] == "ok"
    assert books(out)["bitfinex:tBTCUSD:book"]["checksum_ok"] > 10


def test_the_26th_channel_of_a_connection_is_refused_with_10305(calm):
    """Bitfinex's documented 25 channels per connection: the 26th subscribe gets its error 10305 (the
    socket stays open and the 25 keep flowing)."""
    async def talk(port: int) -> list:
        got = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/2") as ws:
            for i in range(26):
                await ws.send(json.dumps({"event": "subscribe", "channel": "trades", "symbol": f"tX{i:04d}USD"}))
            await ws.send('{"event":"ping","cid":1}')
            while not any(isinstance(m, dict) and m.get("event") == "pong" for m in got):
                got.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        return got

    got = asyncio.run(talk(calm.port))
    events = [m for m in got if isinstance(m, dict)]
    assert sum(m.get("event") == "subscribed" for m in events) == 25
    assert [m for m in events if m.get("event") == "error"] == [
        {"channel": "trades", "symbol": "tX0025USD", "pair": "X0025USD", "event": "error", "msg": "subscribe: limit",
         "code": 10305}]
    assert BitfinexClient.MAX_CHANNELS == 25


def test_wire_shapes_match_the_real_capture(calm):
    """The simulator's frames have the real venue's shapes (the capture: conf SEQ_ALL, book P0, trades)."""
    real = [json.loads(line) for line in gzip.open(ROOT.parent / "shared" / "real_feeds" / "bitfinex.jsonl.gz", "rt")]
    real = [orjson.loads(r["data"]) for r in real if r["t"] == "recv"]
    real_info = next(m for m in real if isinstance(m, dict) and m.get("event") == "info")
    real_book = next(m for m in real if isinstance(m, dict) and m.get("event") == "subscribed"
                     and m["channel"] == "book")

    async def talk(port: int) -> list:
        got = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/2") as ws:
            await ws.send('{"event":"conf","flags":65536}')
            await ws.send('{"event":"subscribe","channel":"book","symbol":"tBTCUSD","prec":"P0","freq":"F0","len":"25"}')
            await ws.send('{"event":"ping","cid":42}')
            while len(got) < 12:
                got.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        return got

    with nullcontext(calm) as srv:
        got = asyncio.run(talk(srv.port))
    assert set(got[0]) == set(real_info) and got[0]["event"] == "info"
    assert got[1] == {"event": "conf", "status": "OK", "flags": 65536}
    ack = got[2]
    assert set(ack) == set(real_book) and ack["channel"] == "book" and ack["symbol"] == "tBTCUSD"
    snap = got[3]
    assert snap[0] == ack["chanId"] and snap[-1] == 1 and len(snap[1]) == 50  # 25 bids, 25 asks, then seq 1
    assert all(a > 0 for _p, _c, a in snap[1][:25]) and all(a < 0 for _p, _c, a in snap[1][25:])
    assert snap[1][0][0] < snap[1][25][0]  # best bid below best ask
    arrays = [m for m in got[4:] if isinstance(m, list)]
    assert [m[-1] for m in arrays] == list(range(2, 2 + len(arrays)))  # SEQ_ALL: numbered from 1, every array
    assert all(len(m) == 3 and len(m[1]) == 3 for m in arrays)  # [chanId, [price, count, amount], seq]
    pong = next(m for m in got if isinstance(m, dict) and m.get("event") == "pong")
    assert pong["cid"] == 42 and isinstance(pong["ts"], int)


def test_a_frame_that_fails_while_applied_repairs_that_book_alone_without_reconnecting():
    """A book frame the adapter cannot apply marks its book out of sync; the repair is the venue's
    unsubscribe + subscribe of that one book, not a reconnect of the whole connection (as it was)."""
    import re

    from sim_util import ThreadedSim

    from wstui.io.faults import BOOK
    from wstui.io.sim.bitfinex import BitfinexClient

    class BadOnce(BitfinexClient):
        sent_bad = False

        def push(self, text, kind, symbol=None):
            if kind == BOOK and symbol == "tETHUSD" and not BadOnce.sent_bad and self.book("tETHUSD").seq > 1_000_050:
                BadOnce.sent_bad = True
                text = re.sub(r",(-?[0-9.]+)\]\]$", ',"oops"]]', text)  # an amount that is not a number
            super().push(text, kind, symbol)

    with ThreadedSim({BitfinexClient: BadOnce}) as srv:
        run = run_live([f"bitfinex:{s}" for s in SYMS], {"bitfinex": srv.url()}, duration=3.0,
                       overrides={"*:trades": 30.0})
    assert BadOnce.sent_bad
    eth = run.stream("bitfinex:tETHUSD:book")
    assert (eth.parse_errors, eth.resyncs, eth.gaps, eth.reconnects) == (1, 1, 0, 0)
    assert eth.book_state == "ok" and eth.checksum_ok > 20 and eth.checksum_failed == 0
    for key in BOOKS:
        if key != "bitfinex:tETHUSD:book":
            st = run.stream(key)
            assert (st.parse_errors, st.resyncs, st.gaps, st.checksum_failed, st.reconnects) == (0, 0, 0, 0, 0), key
    assert [e.stream for e in run.events("resubscribe")] == ["bitfinex:tETHUSD:book"]
    assert not run.events("disconnect")


def test_heartbeats_are_numbered_with_the_rest_and_counted_as_keep_alive():
    from sim_util import ThreadedSim

    from wstui.io.sim.bitfinex import BitfinexClient

    class Fast(BitfinexClient):
        HEARTBEAT_S = 0.2

    with ThreadedSim({BitfinexClient: Fast}) as srv:
        run = run_live(["bitfinex:tBTCUSD", "bitfinex:tETHUSD"], {"bitfinex": srv.url()}, duration=2.0,
                       overrides={"*:trades": 30.0})
    conn = run.engine.conns["BITFINEX.ws.1"]
    assert conn.heartbeats >= 4 * 5  # four channels, a heartbeat each every 0.2 s
    for key in ("bitfinex:tBTCUSD:book", "bitfinex:tETHUSD:book"):
        st = run.stream(key)
        assert st.gaps == 0 and st.checksum_failed == 0 and st.checksum_ok > 20 and st.book_state == "ok"


def test_the_pairs_the_simulated_bitfinex_lists():
    from wstui.io.sim.bitfinex import pair_of

    assert [pair_of(s) for s in ("tBTCUSD", "BTCUSD", "tBTCUST", "tBTCF0:USTF0", "tX0001USD")] == [
        "BTCUSD", "BTCUSD", "BTCUST", "BTCF0:USTF0", "X0001USD"]
    assert [pair_of(s) for s in ("tNOPEUSD", "tbtcusd", "t", "tUST", "tBTCF0:NOPEF0", "tBTC")] == [None] * 6


def test_a_symbol_typed_without_the_t_prefix_still_gets_its_book(calm):
    """Found with the simulator: `watch bitfinex:BTCUSD` declared a stream BTCUSD while the venue acked and
    sent tBTCUSD, so the book the user asked for stayed empty.  Symbols are spelled the venue's way."""
    from wstui.venues.bitfinex import BitfinexV2

    assert [BitfinexV2.stream_symbol(s) for s in ("BTCUSD", "btcusd", "BTC/USD", "tBTCUSD", "tBTCF0:USTF0", "fUSD")] \
        == ["tBTCUSD", "tBTCUSD", "tBTCUSD", "tBTCUSD", "tBTCF0:USTF0", "fUSD"]
    with nullcontext(calm) as srv:
        out = watch(srv, syms=["btcusd"], duration=1.2)
    assert [s["key"] for s in out["streams"]] == ["bitfinex:tBTCUSD:book", "bitfinex:tBTCUSD:trades"]
    assert books(out)["bitfinex:tBTCUSD:book"]["book_state"] == "ok"
