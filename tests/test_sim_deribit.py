"""Deribit live path against ``wstui serve --sim`` on loopback: JSON-RPC subscribe, snapshot then
``change_id``/``prev_change_id`` chain, one book repaired alone after a gap or a garbled frame
(``public/unsubscribe`` then ``public/subscribe`` of that instrument's book), reconnect, mute of one
instrument, and the venue's refusals (an unknown instrument left out of the answer, the subscribe rate
limit)."""

from __future__ import annotations

import asyncio
import gzip
import json
from contextlib import nullcontext

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from live_util import ROOT, Served, run_live
from sim_watch import stale_alone_while_muted, watch_served

SYMS = ["BTC-PERPETUAL", "ETH-PERPETUAL", "SOL-PERPETUAL", "X0001-PERPETUAL"]
BOOKS = [f"deribit:{s}:book" for s in SYMS]


@pytest.fixture(scope="module")
def calm():
    """One simulated market without faults, shared by the tests that need no fault of their own."""
    with Served("--sim", "--rate", 50, "--seed", 5) as srv:
        yield srv


def watch(srv: Served, syms=SYMS, duration: float = 3.0) -> dict:
    return watch_served(srv, "deribit", syms, duration=duration).summary


def books(out: dict) -> dict[str, dict]:
    return {s["key"]: s for s in out["streams"] if s["channel"] == "book"}


def all_in_sync(out: dict, reconnects: int = 0) -> None:
    for key, s in books(out).items():
        assert s["book_state"] == "ok" and s["state"] == "live", (key, s["state"], s["book_state"])
        assert s["reconnects"] == reconnects and min(s["book_levels"]) >= 40, key
        assert s["messages"] > 15, key  # a change notification per 100 ms


def one_hit(out: dict, field: str) -> str:
    bs = books(out)
    hit = [k for k, s in bs.items() if s[field]]
    assert len(hit) == 1, {k: s[field] for k, s in bs.items()}
    for k, s in bs.items():
        if k != hit[0]:
            assert (s["gaps"], s["resyncs"]) == (0, 0), k
    return hit[0]


def test_subscribe_and_every_book_builds_and_chains(calm):
    with nullcontext(calm) as srv:
        out = watch(srv, duration=2.0)
    assert set(books(out)) == set(BOOKS)
    all_in_sync(out)
    for s in out["streams"]:
        assert s["gaps"] == 0 and s["resyncs"] == 0 and s["parse_errors"] == 0 and not s["crossed"], s["key"]
    trades = [s for s in out["streams"] if s["channel"] == "trades"]
    assert sum(s["trades"] for s in trades) > 10
    assert out["connections"][0]["parse_errors"] == 0


def test_a_gap_on_one_book_is_repaired_alone():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "gap@1s:1") as srv:
        out = watch(srv, duration=2.2)
    hit = one_hit(out, "gaps")
    s = books(out)[hit]
    assert (s["gaps"], s["resyncs"]) == (1, 1)
    all_in_sync(out)
    kinds = [(e["kind"], e["stream"]) for e in out["events"]]
    assert ("resubscribe", hit) in kinds and ("resync", hit) in kinds
    assert not any(k == "disconnect" for k, _ in kinds)


def test_a_garbled_change_breaks_the_chain_and_only_that_book_is_repaired():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "corrupt@1s") as srv:
        out = watch(srv, duration=2.2)
    hit = one_hit(out, "gaps")
    assert (books(out)[hit]["gaps"], books(out)[hit]["resyncs"]) == (1, 1)
    all_in_sync(out)


def test_disconnect_reconnects_and_every_book_builds_again():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "disconnect@1s") as srv:
        out = watch(srv, duration=3.0)
    all_in_sync(out, reconnects=1)
    assert all(s["gaps"] == 0 for s in books(out).values())
    assert out["connections"][0]["connects"] == 2


def test_mute_of_one_instrument_leaves_the_others_flowing():
    with Served("--sim", "--rate", 50, "--seed", 5, "--fault", "mute@1s:1.5s:ETH-PERPETUAL") as srv:
        run = run_live([f"deribit:{s}" for s in SYMS], {"deribit": srv.url()}, duration=4.0, stale_after=0.8,
                       overrides={"*:trades": 30.0})
    stale_alone_while_muted(run, srv.faults()[0][1], "deribit:ETH-PERPETUAL:book", BOOKS)
    # the changes sent while it was silent are lost: its chain breaks, and it is repaired alone
    eth = run.stream("deribit:ETH-PERPETUAL:book")
    assert eth.gaps == 1 and eth.resyncs == 1 and eth.book_state == "ok" and eth.state == "live"
    assert all(run.stream(k).reconnects == 0 for k in BOOKS)


def test_an_unknown_instrument_is_left_out_and_reported_on_its_streams(calm):
    with nullcontext(calm) as srv:
        out = watch(srv, syms=["BTC-PERPETUAL", "NOPE-PERPETUAL"], duration=1.5)
    by = {s["key"]: s for s in out["streams"]}
    for ch in ("book", "trades"):
        assert by[f"deribit:NOPE-PERPETUAL:{ch}"]["parse_errors"] == 1
    errs = {e["stream"]: e["detail"] for e in out["events"] if e["kind"] == "parse_error"}
    assert errs == {"deribit:NOPE-PERPETUAL:book": "deribit did not subscribe book.NOPE-PERPETUAL.100ms "
                                                   "(unknown instrument or channel)",
                    "deribit:NOPE-PERPETUAL:trades": "deribit did not subscribe trades.NOPE-PERPETUAL.100ms "
                                                     "(unknown instrument or channel)"}
    assert by["deribit:BTC-PERPETUAL:book"]["book_state"] == "ok"


def _real_frames() -> list[dict]:
    recs = [json.loads(line) for line in gzip.open(ROOT.parent / "shared" / "real_feeds" / "deribit.jsonl.gz", "rt")]
    return [orjson.loads(r["data"]) for r in recs if r["t"] == "recv"]


def test_wire_shapes_match_the_real_capture(calm):
    real = _real_frames()
    real_ack = next(m for m in real if "result" in m)
    notes = [m["params"]["data"] for m in real if m.get("method") == "subscription"
             and m["params"]["channel"].startswith("book.")]
    real_snap = next(d for d in notes if d["type"] == "snapshot")
    real_change = next(d for d in notes if d["type"] == "change")

    async def talk(port: int) -> list:
        got = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/api/v2") as ws:
            await ws.send('{"jsonrpc":"2.0","id":0,"method":"public/subscribe","params":'
                          '{"channels":["book.BTC-PERPETUAL.100ms","book.NOPE-PERPETUAL.100ms"]}}')
            await ws.send('{"jsonrpc":"2.0","id":5,"method":"public/test","params":{}}')
            await ws.send('{"jsonrpc":"2.0","id":6,"method":"public/subscribe","params":{"channels":"book"}}')
            await ws.send('{"jsonrpc":"2.0","id":7,"method":"public/nope","params":{}}')
            while len(got) < 12:
                got.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        return got

    with nullcontext(calm) as srv:
        got = asyncio.run(talk(srv.port))
    ack = got[0]
    assert set(ack) == set(real_ack) and ack["id"] == 0
    assert ack["result"] == ["book.BTC-PERPETUAL.100ms"]  # the unknown instrument is left out
    snap = got[1]["params"]["data"]
    assert set(snap) == set(real_snap) and snap["type"] == "snapshot"
    assert all(lv[0] == "new" for lv in snap["bids"] + snap["asks"])
    assert snap["bids"][0][1] < snap["asks"][0][1]
    assert got[2]["id"] == 5 and "version" in got[2]["result"]
    assert got[3]["error"] == {"message": "Invalid params", "data": {"reason": "value must be a list",
                                                                      "param": "channels"}, "code": -32602}
    assert got[4]["error"] == {"message": "Method not found", "code": -32601}
    changes = [m["params"]["data"] for m in got[5:] if m.get("method") == "subscription"]
    assert changes and all(set(d) == set(real_change) for d in changes)
    last = snap["change_id"]
    for d in changes:  # the chain: each change names the one before it
        assert d["prev_change_id"] == last and d["change_id"] > last
        last = d["change_id"]
        assert all(lv[0] in ("new", "change", "delete") for lv in d["bids"] + d["asks"])


def test_subscribing_faster_than_the_rate_limit_gets_10028_and_the_connection_closed():
    async def talk(port: int) -> list:
        got = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/api/v2") as ws:
            for i in range(12):
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "public/subscribe",
                                          "params": {"channels": [f"trades.X{i:04d}-PERPETUAL.100ms"]}}))
            with pytest.raises(ConnectionClosed):
                while True:
                    got.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        return got

    with Served("--sim", "--rate", 5, "--seed", 5) as srv:
        got = asyncio.run(talk(srv.port))
    answers = [m for m in got if "id" in m]
    assert [m["id"] for m in answers if "result" in m] == list(range(10))  # a burst of 10 is allowed
    assert answers[10]["error"] == {"message": "too_many_requests", "code": 10028}


def test_a_change_that_fails_half_applied_repairs_that_book_alone_without_reconnecting():
    """A change whose bids applied and whose asks are malformed leaves its book half changed: it is
    marked out of sync and repaired by public/unsubscribe + public/subscribe of that one book, not a
    reconnect of the whole connection (as it was)."""
    from sim_util import ThreadedSim

    from wstui.io.faults import BOOK
    from wstui.io.sim.deribit import DeribitClient

    class BadOnce(DeribitClient):
        sent_bad = False

        def push(self, text, kind, symbol=None):
            if kind == BOOK and symbol == "ETH-PERPETUAL" and not BadOnce.sent_bad and '"bids":[[' in text \
                    and self.book("ETH-PERPETUAL").seq > 1_000_050:
                BadOnce.sent_bad = True
                sep = "" if text[-5] == "[" else ","
                text = text[:-4] + sep + '["new",1.0,"oops"]' + text[-4:]  # the last ask is not a number
            super().push(text, kind, symbol)

    with ThreadedSim({DeribitClient: BadOnce}) as srv:
        run = run_live([f"deribit:{s}" for s in SYMS], {"deribit": srv.url("/ws/api/v2")}, duration=3.0,
                       overrides={"*:trades": 30.0})
    assert BadOnce.sent_bad
    eth = run.stream("deribit:ETH-PERPETUAL:book")
    assert (eth.parse_errors, eth.resyncs, eth.gaps, eth.reconnects) == (1, 1, 0, 0)
    assert eth.book_state == "ok" and not eth.crossed
    for key in BOOKS:
        if key != "deribit:ETH-PERPETUAL:book":
            st = run.stream(key)
            assert (st.parse_errors, st.resyncs, st.gaps, st.reconnects) == (0, 0, 0, 0), key
    assert [e.stream for e in run.events("resubscribe")] == ["deribit:ETH-PERPETUAL:book"]
    assert not run.events("disconnect")


class _FastHeartbeat:
    """A Deribit whose test_request heartbeats come every 0.3 s whatever interval was asked for."""

    @staticmethod
    def make():
        from wstui.io.sim.deribit import DeribitClient

        class Fast(DeribitClient):
            def on_text(self, text):
                super().on_text(text)
                if self.heartbeat_s:
                    self.heartbeat_s = 0.3

        return DeribitClient, Fast


def test_test_requests_are_answered_by_the_live_client_and_the_connection_stays():
    from sim_util import ThreadedSim

    orig, fast = _FastHeartbeat.make()
    with ThreadedSim({orig: fast}) as srv:
        run = run_live(["deribit:BTC-PERPETUAL"], {"deribit": srv.url()}, duration=2.5, overrides={"*:trades": 30.0})
    conn = run.engine.conns["DERIBIT.ws.1"]
    assert conn.heartbeats >= 5 and conn.connects == 1 and conn.up
    assert run.stream("deribit:BTC-PERPETUAL:book").reconnects == 0
    assert not run.events("disconnect")


def test_a_client_that_ignores_test_requests_is_disconnected():
    from sim_util import ThreadedSim

    orig, fast = _FastHeartbeat.make()

    async def talk(port: int) -> tuple[list, float]:
        got = []
        t0 = asyncio.get_running_loop().time()
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/api/v2") as ws:
            await ws.send('{"jsonrpc":"2.0","id":1,"method":"public/set_heartbeat","params":{"interval":10}}')
            with pytest.raises(ConnectionClosed):
                while True:
                    got.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        return got, asyncio.get_running_loop().time() - t0

    with ThreadedSim({orig: fast}) as srv:
        got, took = asyncio.run(talk(srv.port))
    assert got[0]["result"] == "ok"
    assert got[1] == {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
    assert 0.5 < took < 2.0  # closed at the second heartbeat, the first one unanswered


def test_an_instrument_typed_in_lower_case_still_gets_its_book(calm):
    with nullcontext(calm) as srv:
        out = watch(srv, syms=["btc-perpetual"], duration=1.2)
    assert [s["key"] for s in out["streams"]] == ["deribit:BTC-PERPETUAL:book", "deribit:BTC-PERPETUAL:trades"]
    assert books(out)["deribit:BTC-PERPETUAL:book"]["book_state"] == "ok"
