"""Binance spot and USD-M against ``wstui serve --sim`` through ``wstui watch``: books verify, one broken book
is rebuilt alone from its own REST snapshot (no reconnect), and the simulator is as strict as Binance
(unknown symbols, stream and message limits, REST weight: 429 + Retry-After, then 418)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import threading

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd
from sim_watch import all_verified, one_repaired, watch_sim
from wstui.io.sim import Sim
from wstui.io.sim.binance import BinanceClient, futures_depth_weight, spot_depth_weight
from wstui.io.sim.proto import RestAnswer, WeightBudget

SYMS = ["btcusdt", "ethusdt", "solusdt", "x0001usdt"]
UP = [s.upper() for s in SYMS]


@pytest.mark.parametrize("venue", ["binance", "binance-futures"])
def test_four_books_subscribe_and_verify(venue):
    w = watch_sim(venue, SYMS, duration=3.0)
    all_verified(w, venue, UP)
    for b in w.books_of(venue).values():
        assert (b["gaps"], b["resyncs"], b["reconnects"], b["parse_errors"]) == (0, 0, 0, 0)
    trades = [s for s in w.streams.values() if s["channel"] == "trades"]
    assert sum(len(s["last_trades"]) for s in trades) > 0


@pytest.mark.parametrize("venue", ["binance", "binance-futures"])
def test_a_gap_on_one_of_four_books_is_rebuilt_from_its_own_rest_snapshot(venue):
    w = watch_sim(venue, SYMS, "--fault", "gap@1.5s:1", duration=4.0)
    sym, took = one_repaired(w, venue, counter="gaps")
    all_verified(w, venue, UP)
    assert took < 1.5, took
    gap = w.events_of("gap", f"{venue}:{sym}:book")[0]
    assert ("pu=" if venue == "binance-futures" else "missing 1 updates") in gap["detail"]
    assert not w.events_of("resubscribe")  # nothing sent on the socket: a REST snapshot did it
    print(f"{venue}: gap -> book rebuilt from REST in {took * 1000:.0f} ms")


def test_corrupt_frame_fails_half_applied_and_only_that_book_is_rebuilt():
    w = watch_sim("binance", SYMS, "--fault", "corrupt@1.5s", duration=4.0)
    sym, took = one_repaired(w, "binance", counter="parse_errors")
    all_verified(w, "binance", UP)
    assert took < 1.5, took
    print(f"binance: half-applied frame -> book rebuilt from REST in {took * 1000:.0f} ms")


def test_disconnect_reconnects_and_every_book_verifies_again():
    w = watch_sim("binance-futures", SYMS, "--fault", "disconnect@1.5s", duration=4.5)
    all_verified(w, "binance-futures", UP)
    for b in w.books_of("binance-futures").values():
        assert b["reconnects"] == 1 and b["gaps"] == 0


def test_mute_of_one_symbol_leaves_the_others_flowing():
    w = watch_sim("binance", SYMS, "--fault", "mute@1s:2s:ETHUSDT", duration=4.0)
    books = w.books_of("binance")
    eth = books["ETHUSDT"]["messages"]
    others = [books[s]["messages"] for s in ("BTCUSDT", "SOLUSDT", "X0001USDT")]
    assert eth < 0.7 * min(others), (eth, others)
    # the diffs lost while muted are a gap in ETH's update ids: that book alone is rebuilt from REST
    assert (books["ETHUSDT"]["gaps"], books["ETHUSDT"]["resyncs"]) == (1, 1)
    assert all(books[s]["gaps"] == 0 for s in ("BTCUSDT", "SOLUSDT", "X0001USDT"))
    all_verified(w, "binance", UP)


def test_unknown_symbol_gets_binances_error_and_the_others_verify():
    w = watch_sim("binance", ["btcusdt", "nosuchusdt"], duration=2.0)
    errs = [e["detail"] for e in w.events_of("parse_error")]
    assert any("binance error 2" in d and "NOSUCHUSDT" in d for d in errs), errs
    assert w.books_of("binance")["BTCUSDT"]["book_state"] == "ok"
    assert w.books_of("binance")["NOSUCHUSDT"]["messages"] == 0


# ---------------------------------------------------------------------------- the simulator's limits
class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def answered(a) -> bool:
    """A depth snapshot answered (HTTP 200, with the weight used so far)."""
    return isinstance(a, RestAnswer) and a.status == 200 and "lastUpdateId" in a.body \
        and int(a.headers["X-MBX-USED-WEIGHT-1M"]) > 0


def test_rest_weight_budget_429_with_retry_after_then_418_for_a_client_that_keeps_going():
    sim = Sim(rate=10, seed=1)
    clock = Clock()
    sim.budgets["binance"] = WeightBudget(6000, ban_after=2, clock=clock)
    ok = [BinanceClient.rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=1000") for _ in range(120)]
    assert all(answered(a) for a in ok)  # 120 x weight 50 = 6,000
    # each answer counts the weight used this minute, as Binance's X-MBX-USED-WEIGHT-1M does
    assert [int(a.headers["X-MBX-USED-WEIGHT-1M"]) for a in ok] == [50 * (i + 1) for i in range(120)]
    refused = BinanceClient.rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=1000")
    assert isinstance(refused, RestAnswer) and refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61 and '"code":-1003' in refused.body
    assert BinanceClient.rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=5").status == 429
    banned = BinanceClient.rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=5")
    assert banned.status == 418 and int(banned.headers["Retry-After"]) > 60
    clock.t += 61  # the minute has passed, but the ban has not
    assert BinanceClient.rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=5").status == 418
    clock.t += 120
    assert answered(BinanceClient.rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=5"))


def test_rest_weights_unknown_symbols_and_futures_budget():
    assert [spot_depth_weight(n) for n in (5, 100, 101, 500, 1000, 5000)] == [5, 5, 25, 25, 50, 250]
    assert [futures_depth_weight(n) for n in (5, 50, 100, 500, 1000)] == [2, 2, 5, 10, 20]
    sim = Sim(rate=10, seed=1)
    bad = BinanceClient.rest(sim, "/api/v3/depth?symbol=NOSUCHUSDT&limit=1000")
    assert bad.status == 400 and json.loads(bad.body) == {"code": -1121, "msg": "Invalid symbol."}
    for _ in range(120):  # 2,400 / 20
        assert answered(BinanceClient.rest(sim, "/fapi/v1/depth?symbol=BTCUSDT&limit=1000"))
    assert BinanceClient.rest(sim, "/fapi/v1/depth?symbol=BTCUSDT&limit=1000").status == 429
    assert answered(BinanceClient.rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=1000"))  # spot's own


async def _messages_then_close(url: str, frames: list[str], gap: float) -> tuple[list[str], int | None]:
    got: list[str] = []
    code = None
    async with connect(url, compression=None) as ws:
        try:
            for f in frames:
                await ws.send(f)
                await asyncio.sleep(gap)
            while True:
                got.append(await asyncio.wait_for(ws.recv(), 1.0))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
        except asyncio.TimeoutError:
            pass
    return got, code


class _Req:
    def __init__(self, host: str) -> None:
        self.headers = {"Host": host}


class _WS:
    def __init__(self, host: str) -> None:
        self.request = _Req(host)
        self.closed_with = None

    async def close(self, code, reason):
        self.closed_with = (code, reason)


class _Session:
    def __init__(self, path: str, host: str) -> None:
        self.id = 1
        self.path = path
        self.ws = _WS(host)
        self.closed = False


def test_a_spot_connection_is_closed_beyond_5_messages_a_second():
    async def main():
        s = _Session("/ws", "stream.binance.com:9443")
        c = BinanceClient(Sim(rate=1, seed=1), s)
        assert c.msg_limit == 5
        sub = orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}).decode()
        for _ in range(6):
            c.on_text(sub)
        await asyncio.sleep(0)
        return s

    s = asyncio.run(main())
    assert s.closed and s.ws.closed_with == (1008, "Too many requests")


def test_more_than_10_messages_a_second_close_a_usdm_or_loopback_connection():
    sub = [orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": i}).decode() for i in range(11)]
    with Served("--sim", "--rate", 10) as srv:
        _, usdm = asyncio.run(_messages_then_close(srv.url("/market/ws"), sub, 0.01))
        got, ten = asyncio.run(_messages_then_close(srv.url("/ws"), sub[:10], 0.01))
        _, loop = asyncio.run(_messages_then_close(srv.url("/ws"), sub, 0.01))
    assert usdm == 1008 and loop == 1008
    assert ten is None and sum('"result":null' in g for g in got) == 10


def test_more_than_1024_streams_are_refused():
    # (1,025 names do not fit in a URL a WebSocket server takes: the SUBSCRIBE way is the one to test)
    with Served("--sim", "--rate", 10) as srv:
        sub = orjson.dumps({"method": "SUBSCRIBE", "params": [f"x{i:04d}usdt@aggTrade" for i in range(1025)],
                            "id": 1}).decode()
        got, code2 = asyncio.run(_messages_then_close(srv.url("/ws"), [sub], 0))
    assert code2 is None and any("too many streams" in g for g in got), got[:3]


# ---------------------------------------------------------------------------- the client obeys 429
class InProcessSim:
    """``FeedServer`` with a simulated market whose REST budgets a test sets, served from a thread."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.port: int | None = None
        self._ready = threading.Event()
        self._stop = None
        self._loop = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10) and self.port

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        from wstui.io.server import FeedServer

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        srv = FeedServer(sim=self.sim, out=io.StringIO())
        async with serve(srv.handler, "127.0.0.1", 0, process_request=srv.process_request,
                         compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.sim.start()
            self._ready.set()
            await self._stop.wait()
            self.sim.stop()
            server.close(close_connections=True)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def test_watch_honours_retry_after_and_is_never_banned():
    sim = Sim(rate=50, seed=5)
    budget = sim.budgets["binance-futures"] = WeightBudget(4, ban_after=2)  # two snapshots (weight 2) a minute
    srv = InProcessSim(sim)
    try:
        p = subprocess.run(wstui_cmd("watch", *[f"binance-futures:{s}" for s in SYMS], "--endpoint",
                                     f"binance-futures=ws://127.0.0.1:{srv.port}", "--headless", "--json",
                                     "--duration", 4),
                           cwd=ROOT, capture_output=True, text=True, timeout=40, env=ENV)
    finally:
        srv.close()
    assert p.returncode == 1, p.stderr  # it ended with books still waiting: not all healthy (exit status 1)
    no_traceback(p.stderr)
    out = json.loads(p.stdout)
    from wstui.io.rest import MAX_INFLIGHT

    # asked once too many (twice when the next request was already on its way: at most MAX_INFLIGHT are),
    # then waited: nothing more was sent during Retry-After ...
    assert 1 <= budget.answers_429 <= MAX_INFLIGHT == 2
    assert budget.answers_418 == 0  # ... and never banned
    books = [s for s in out["streams"] if s["channel"] == "book"]
    # two books got their snapshot; the ones refused and any after them wait out Retry-After
    assert sum(b["book_state"] == "ok" for b in books) == 2
    assert all(b["reconnects"] == 0 for b in books)  # waiting for REST does not reconnect
    failed = [e["detail"] for e in out["events"] if e["kind"] == "snapshot_failed"]
    assert len(failed) == budget.answers_429 and all("429" in f and "Retry-After" in f for f in failed), failed
    (host,) = out["rest"]  # the watcher counted them too
    assert host["rate_limited"] == budget.answers_429 and host["requests"] == 2 + budget.answers_429


def test_live_snapshot_older_than_the_first_diff_is_fetched_again_without_a_gap(monkeypatch):
    """The first REST answer predates every diff buffered: Binance says fetch it again, and that is all."""
    sim = Sim(rate=50, seed=5)
    answers: list[int] = []
    real = BinanceClient.rest.__func__

    def stale_once(cls, sim_, path_query):
        ans = real(cls, sim_, path_query)
        if isinstance(ans, RestAnswer) and ans.status == 200 and "/depth" in path_query:
            d = json.loads(ans.body)
            if not answers:
                d["lastUpdateId"] -= 1000  # long before the diffs the client has buffered
            answers.append(d["lastUpdateId"])
            return RestAnswer(200, json.dumps(d), ans.headers)
        return ans

    monkeypatch.setattr(BinanceClient, "rest", classmethod(stale_once))
    srv = InProcessSim(sim)
    try:
        p = subprocess.run(wstui_cmd("watch", "binance:btcusdt", "--endpoint", f"binance=ws://127.0.0.1:{srv.port}",
                                     "--headless", "--json", "--duration", 2.5),
                           cwd=ROOT, capture_output=True, text=True, timeout=40, env=ENV)
    finally:
        srv.close()
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    book = [s for s in out["streams"] if s["key"] == "binance:BTCUSDT:book"][0]
    assert len(answers) == 2  # fetched again, once
    assert (book["book_state"], book["gaps"], book["resyncs"]) == ("ok", 0, 0)
    assert not [e for e in out["events"] if e["kind"] in ("gap", "out_of_sync")]
