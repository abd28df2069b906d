"""Connections planned within each venue's documented limits (wstui.io.spec.plan_connections), subscribe
messages paced within the venue's message rate, new connections within its per-window budget."""

import asyncio
import time

import orjson
import pytest

from tests.live_util import Served, run_live
from wstui.io.live import Live
from wstui.io.spec import SpecError, build_feeds, plan_connections
from wstui.venues import venue_by_name
from wstui.venues.base import Limits


def test_symbols_spread_over_connections_within_the_streams_limit():
    fut = build_feeds([f"binance-futures:X{i:04d}USDT" for i in range(600)])
    assert [(f.conn_id, len(f.symbols)) for f in fut] == [("BINANCE_FUTURES.ws.1", 512), ("BINANCE_FUTURES.ws.2", 88)]
    assert all(2 * len(f.symbols) <= 1024 for f in fut)
    bfx = build_feeds([f"bitfinex:tX{i:04d}USD" for i in range(200)])
    assert len(bfx) == 17 and max(len(f.symbols) for f in bfx) == 12  # 24 of 25 channels each
    assert len(build_feeds(["kraken:BTC/USD", "kraken:ETH/USD"])) == 1  # no documented limit: one connection
    assert venue_by_name("deribit").limits.conns_max == 32

    class Tight(venue_by_name("deribit")):
        limits = Limits(streams_per_conn=4, conns_max=3)

    assert plan_connections(Tight, ["A", "B", "C", "D", "E", "F"]) == [["A", "B"], ["C", "D"], ["E", "F"]]
    with pytest.raises(SpecError, match="7 symbols need 4 connections, more than the 3"):
        plan_connections(Tight, list("ABCDEFG"))


def test_a_long_binance_stream_list_is_subscribed_by_messages_not_an_ever_longer_url():
    (small,) = build_feeds(["binance:btcusdt", "binance:ethusdt"])
    assert small.url.endswith("?streams=btcusdt@depth@100ms/btcusdt@aggTrade/ethusdt@depth@100ms/ethusdt@aggTrade")
    big = build_feeds([f"binance-futures:X{i:04d}USDT" for i in range(600)])
    for f in big:
        assert "?" not in f.url and len(f.url) < 100
        ad = f.venue(type("Ctx", (), {"addr": f.url, "live": True})())
        msgs = [orjson.loads(m) for m in ad.subscribe_messages(f.symbols)]
        names = [n for m in msgs for n in m["params"]]
        assert all(m["method"] == "SUBSCRIBE" and len(m["params"]) <= 200 for m in msgs)
        assert len(names) == 2 * len(f.symbols) == len(set(names))


def test_frames_sent_are_paced_within_the_venue_rate():
    (f,) = build_feeds(["binance:btcusdt"])  # 5 messages/s documented: one every 0.24 s with headroom
    waits = [Live._pace(f) for _ in range(6)]
    assert waits[0] == 0.0
    assert all(abs(b - a - 0.24) < 0.01 for a, b in zip(waits, waits[1:])), waits


def test_new_connections_wait_for_the_venue_window():
    (f,) = build_feeds(["okx:BTC-USDT"])  # 3 connections per second
    src = Live([f])

    async def main():
        t0 = time.monotonic()
        for _ in range(7):
            await src._connect_slot(f)
        return time.monotonic() - t0

    took = asyncio.run(main())
    assert 1.9 <= took <= 2.6, took  # 3 at once, 3 after 1 s, the 7th after 2 s


def test_600_usdm_symbols_connect_and_flow_against_the_simulator():
    # one URL with 1,200 stream names was refused (HTTP 414); planned, the streams go in SUBSCRIBE messages
    syms = [f"binance-futures:X{i:04d}USDT" for i in range(600)]
    with Served("--sim", "--rate", "2", "--seed", "5") as srv:
        run = run_live(syms, {"binance-futures": srv.url()}, duration=4.0, stale_after=30)
    books = [st for st in run.engine.streams.values() if st.channel == "book"]
    assert len(books) == 600 and len(run.engine.conns) == 2
    assert sum(1 for st in books if st.messages > 0) >= 590, sum(1 for st in books if st.messages > 0)
    assert not run.events("disconnect") and not run.events("connect_failed")


def test_connections_view_and_json_show_each_connection_against_its_venues_limits():
    import json
    import subprocess

    from live_util import ENV, ROOT, wstui_cmd

    syms = [f"bitfinex:tX{i:04d}USD" for i in range(30)]  # 3 connections of 12, 12 and 6 symbols
    with Served("--sim", "--rate", "5", "--seed", "6", "--fault", "disconnect@1.5s") as srv:
        p = subprocess.run(wstui_cmd("watch", *syms, "--headless", "--json", "--duration", 4, "--endpoint",
                                     f"bitfinex={srv.url()}"), cwd=ROOT, capture_output=True, text=True,
                           timeout=60, env=ENV)
    out = json.loads(p.stdout)
    conns = out["connections"]
    assert [c["conn"] for c in conns] == ["BITFINEX.ws.1", "BITFINEX.ws.2", "BITFINEX.ws.3"]
    assert [c["streams"] for c in conns] == [24, 24, 12] and all(c["streams_limit"] == 25 for c in conns)
    assert all(c["warning"] == "24 of 25 streams" for c in conns[:2]) and conns[2]["warning"] == ""
    assert all(c["connects"] == 2 and c["disconnects"] and "1012" in c["disconnects"][0]["reason"] for c in conns)
    assert all(c["subscribes"] >= 2 * c["streams"] // 2 for c in conns)
