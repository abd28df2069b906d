"""Connections planned within each venue's documented limits (wstui.io.spec.plan_connections), subscribe
messages paced within the venue's message rate, new connections within its per-window budget."""

import asyncio
import time

import orjson
import pytest

from live_util import Served
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
    # ... up to the 1,000 streams the engine takes from one connection (500 symbols of book and trades)
    kr = build_feeds([f"kraken:X{i:04d}/USD" for i in range(1001)])
    assert [len(f.symbols) for f in kr] == [500, 500, 1]
    assert venue_by_name("deribit").limits.conns_max == 32

    class Tight(venue_by_name("deribit")):
        limits = Limits(streams_per_conn=4, conns_max=3)

    assert plan_connections(Tight, ["A", "B", "C", "D", "E", "F"]) == [["A", "B"], ["C", "D"], ["E", "F"]]
    with pytest.raises(SpecError, match="7 symbols need 4 connections, more than the 3"):
        plan_connections(Tight, list("ABCDEFG"))


def test_1000_kraken_symbols_are_all_watched_none_dropped_past_a_connections_cap():
    """Kraken documents no streams-per-connection limit, and one connection carried every symbol: past the
    1,000 streams the engine takes from one connection, the trades streams were dropped (their data then
    counted as unsolicited) while the banner said all was healthy."""
    out, _lines = watch_fleet("kraken", [f"kraken:X{i:04d}/USD" for i in range(1000)], 5, "0.5")
    streams = out["streams"]
    assert len(streams) == 2000 and sum(s["channel"] == "trades" for s in streams) == 1000
    assert {c["conn"]: c["streams"] for c in out["connections"]} == {"KRAKEN.ws.1": 1000, "KRAKEN.ws.2": 1000}
    assert not [e for e in out["events"] if e["kind"] == "unsolicited"]
    assert not [n for n in out["notes"] if "more than" in n], out["notes"]
    assert sum(b["book_state"] == "ok" for b in books_of(out)) == 1000  # every book verified


def test_a_connection_declaring_more_streams_than_the_engine_takes_says_so():
    from wstui.engine import Engine

    engine = Engine(source="live")
    engine.open("KRAKEN.ws.1", "wss://ws.kraken.com/v2", 1.0, live=True)
    for channel in ("book", "trade"):
        engine.sent("KRAKEN.ws.1", orjson.dumps({"method": "subscribe", "params": {
            "channel": channel, "symbol": [f"X{i:04d}/USD" for i in range(600)]}}).decode(), 1.0)
    snap = engine.snapshot()
    assert len(snap.streams) == 1000
    assert snap.notes == ("KRAKEN.ws.1: more than 1000 streams on one connection: kraken:X0400/USD:trades and "
                          "any after it are not watched",)
    assert any(e.kind == "unsolicited" and "more than 1000 streams" in e.detail for e in snap.events)


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


def watch_fleet(venue: str, specs: list[str], duration: float, rate: str, *pre: str,
                serve: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
    """``wstui watch SPECS --headless --json`` against ``wstui serve --sim``: its JSON and the simulator's
    lines (with the REST answers it counted, said when it stops).  ``pre``: Python run first, in the
    watcher's process (a venue's limits made tighter)."""
    import json
    import subprocess
    import sys

    from live_util import ENV, ROOT, wstui_cmd

    with Served("--sim", "--rate", rate, "--seed", "5", *serve) as srv:
        args = ["watch", *specs, "--headless", "--json", "--duration", duration]
        for v in venue.split(","):
            args += ["--endpoint", f"{v}={srv.url()}"]
        cmd = wstui_cmd(*args) if not pre else [
            sys.executable, "-c", "\n".join([*pre, "import sys", "from wstui.cli import main",
                                              f"sys.exit(main({[str(a) for a in args]!r}))"])]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=duration + 60, env=ENV)
        srv.stop()
        for _ in range(40):  # the reader thread takes the simulator's last lines
            if any("rest answers" in line for line in srv.lines) or srv.proc.stdout.closed:
                break
            time.sleep(0.05)
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    return json.loads(p.stdout), list(srv.lines)


def refused_by_sim(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("wstui serve: rest 429", "wstui serve: rest 418"))]


def books_of(out: dict) -> list[dict]:
    return [s for s in out["streams"] if s["channel"] == "book"]


def test_600_usdm_symbols_sync_every_book_within_the_rest_weight_budget():
    # one URL with 1,200 stream names was refused (HTTP 414); planned, the streams go in SUBSCRIBE messages
    # on 2 connections, and 600 snapshots (limit=50, weight 2: 1,200 of the 2,400 a minute) are scheduled
    # within the budget: all books in sync in seconds, not one 429 (at limit=1000, weight 20, the budget
    # let 120 books a minute start, and REST requests 0.25 s apart had 80 of 600 synced after 20 s); all
    # synced in ~10 s on an idle machine (bench/fleet_sync.py), 25 s leaves room for a loaded one
    out, lines = watch_fleet("binance-futures", [f"binance-futures:X{i:04d}USDT" for i in range(600)], 25, "2")
    conns = out["connections"]
    assert len(conns) == 2 and all(c["streams"] <= c["streams_limit"] == 1024 for c in conns)
    assert sum(c["streams"] for c in conns) == 1200 and all(c["connects"] == 1 for c in conns)
    books = books_of(out)
    assert len(books) == 600
    assert all(b["book_state"] == "ok" and b["state"] in ("live", "quiet") for b in books), \
        [(b["key"], b["state"], b["reason"]) for b in books if b["book_state"] != "ok"][:5]
    assert sum(b["gaps"] + b["resyncs"] + b["parse_errors"] for b in books) == 0  # U/u bridged, gap-free
    assert not out["unhealthy"]
    (rest,) = out["rest"]
    assert rest["budget_per_min"] == 2400 and rest["requests"] == 600 and rest["weight"] == 1200
    assert rest["rate_limited"] == 0 and rest["errors"] == 0 and rest["peak_weight_per_min"] <= rest["cap_per_min"]
    assert not refused_by_sim(lines)  # the simulator never had to refuse a request (429) or ban (418)
    assert "wstui serve: rest answers: 600 x HTTP 200" in lines, lines[-3:]
    assert not [e for e in out["events"] if e["kind"] in ("snapshot_failed", "disconnect", "connect_failed")]


def test_200_bitfinex_and_300_okx_symbols_sync_and_verify():
    # one watcher, one simulator port speaking both protocols: Bitfinex on connections of at most 25 channels
    # (24: a symbol's book and trades stay together), OKX on one connection (no channel limit documented)
    out, lines = watch_fleet("bitfinex,okx", [f"bitfinex:tX{i:04d}USD" for i in range(200)]
                             + [f"okx:X{i:04d}-USDT" for i in range(300)], 5, "5")
    bfx = [c for c in out["connections"] if c["venue"] == "bitfinex"]
    assert len(bfx) == 17 and all(c["streams"] <= 24 and c["streams_limit"] == 25 for c in bfx)
    assert sum(c["streams"] for c in bfx) == 400
    (okx,) = [c for c in out["connections"] if c["venue"] == "okx"]
    assert okx["streams"] == 600 and okx["subscribes"] <= 480
    assert all(c["connects"] == 1 and not c["disconnects"] for c in out["connections"])  # 17 of 20 a minute
    books = books_of(out)
    assert len(books) == 500 and sum(b["venue"] == "okx" for b in books) == 300
    # verified: every book's checksum (CRC32) matched at least once, none ever failed; no gap, no resync
    assert all(b["book_state"] == "ok" and b["checksum_ok"] >= 1 for b in books), \
        [(b["key"], b["state"], b["reason"]) for b in books if b["book_state"] != "ok" or not b["checksum_ok"]][:5]
    assert sum(b["checksum_failed"] + b["gaps"] + b["resyncs"] for b in books) == 0
    assert not out["unhealthy"] and not refused_by_sim(lines)


def test_books_beyond_the_weight_budget_wait_their_turn_and_say_so():
    # a budget of 20 weight a minute (16 with our headroom) starts 8 snapshots of weight 2 now; the other
    # 4 books wait for the next minute, in order, each saying where it stands: no request goes over
    tight = ["import dataclasses, wstui.venues.binance as b",
             "b.BinanceFutures.limits = dataclasses.replace(b.BinanceFutures.limits, rest_weight_per_min=20)"]
    out, lines = watch_fleet("binance-futures", [f"binance-futures:X{i:04d}USDT" for i in range(12)], 4, "5",
                             *tight)
    books = books_of(out)
    ok = [b for b in books if b["book_state"] == "ok"]
    waiting = sorted((b for b in books if b["book_state"] == "empty"), key=lambda b: b["reason"])
    assert len(ok) == 8 and len(waiting) == 4
    import re

    got = [re.fullmatch(r"snapshot queued: (\d+) ahead, ~(\d+) s", b["reason"]) for b in waiting]
    assert all(got), [b["reason"] for b in waiting]
    assert [int(m.group(1)) for m in got] == [0, 1, 2, 3]
    assert all(50 <= int(m.group(2)) <= 61 for m in got), [b["reason"] for b in waiting]  # the minute's end
    assert all(b["state"] == "connecting" for b in waiting)  # planned, not an alarm
    assert not out["unhealthy"]
    (rest,) = out["rest"]
    assert (rest["requests"], rest["weight"], rest["abandoned"], rest["rate_limited"]) == (8, 16, 4, 0)
    assert not refused_by_sim(lines)
    assert any("4 REST request(s) still unanswered when stopping" in n for n in out["notes"])


def test_the_venues_own_weight_count_holds_the_queue_before_a_429():
    """Another program on our address spent the minute's weight: the venue says so in the first answer
    (X-MBX-USED-WEIGHT-1M), and the other books wait their turn, saying so, instead of meeting a 429."""
    import json
    import subprocess
    import urllib.request

    from live_util import ENV, ROOT, wstui_cmd

    with Served("--sim", "--rate", "5", "--seed", "6") as srv:
        for _ in range(96):  # 96 snapshots of depth 1000 (weight 20): 1,920 of USD-M's 2,400 a minute
            with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
                assert r.status == 200 and int(r.headers["X-MBX-USED-WEIGHT-1M"]) > 0
        p = subprocess.run(wstui_cmd("watch", *[f"binance-futures:X{i:04d}USDT" for i in range(6)], "--endpoint",
                                     f"binance-futures={srv.url()}", "--headless", "--json", "--duration", 5),
                           cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
        lines = list(srv.lines)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    out = json.loads(p.stdout)
    (rest,) = out["rest"]
    # what we sent before the first answer came (at most two at once), then held by the venue's own count
    assert 1 <= rest["requests"] <= 2 and rest["venue_holds"] >= 1, rest
    assert 1920 < rest["venue_used_weight"] <= 1924 and rest["weight_last_min"] <= 4, rest
    assert rest["rate_limited"] == 0 and not refused_by_sim(lines)
    books = books_of(out)
    waiting = [b for b in books if b["book_state"] == "empty"]
    assert len(books) == 6 and len(waiting) == 6 - rest["requests"]
    assert all(b["state"] == "connecting" and b["reason"].startswith("snapshot queued: ") for b in waiting), waiting


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


def test_a_mass_disconnect_reconnects_staggered_within_the_venues_connection_window():
    # 5 Bitfinex connections, a window made tight (3 new connections per 2 s): the simulator drops them all
    # at once; they come back with jittered backoff and never more than 3 in any 2 s, initial ones included
    tight = ["import dataclasses, wstui.venues.bitfinex as b",
             "b.BitfinexV2.limits = dataclasses.replace(b.BitfinexV2.limits, conns_per_window=(3, 2.0))"]
    out, lines = watch_fleet("bitfinex", [f"bitfinex:tX{i:04d}USD" for i in range(60)], 9, "5", *tight,
                             serve=("--fault", "disconnect@4s"))
    conns = out["connections"]
    assert len(conns) == 5 and all(c["connects"] == 2 for c in conns), [(c["conn"], c["connects"]) for c in conns]
    assert all(len(c["disconnects"]) == 1 for c in conns)
    opens = sorted(e["ts"] for e in out["events"] if e["kind"] == "connect")
    assert len(opens) == 10
    assert all(b - a >= 1.9 for a, b in zip(opens, opens[3:])), [round(t - opens[0], 2) for t in opens]
    queued = [e["detail"] for e in out["events"] if e["kind"] == "connect_queued"]  # said, with the wait
    assert len(queued) == 4 and all("bitfinex's connection budget (3 new connections per 2 s)" in q for q in queued)
    again = opens[5:]  # the reconnects: spread, not one burst
    assert again[-1] - again[0] >= 1.0, [round(t - opens[0], 2) for t in opens]
    books = books_of(out)
    assert all(b["book_state"] == "ok" and b["reconnects"] == 1 for b in books)


async def test_the_tui_shows_a_queued_snapshot_in_the_streams_table_ladder_and_detail(monkeypatch):
    import dataclasses
    import re

    from test_ui_app import until

    from wstui.engine import Engine
    from wstui.ui.app import WstuiApp
    from wstui.ui.widgets.detail import StreamDetail
    from wstui.ui.widgets.ladder import LadderView
    from wstui.ui.widgets.streams import StreamsTable
    from wstui.venues.binance import BinanceFutures

    # 20 weight a minute (16 with headroom): 8 snapshots of weight 2 now, the other 4 books wait their turn
    monkeypatch.setattr(BinanceFutures, "limits", dataclasses.replace(BinanceFutures.limits, rest_weight_per_min=20))
    queued = re.compile(r"snapshot queued: (\d+) ahead, ~(\d+) s")
    with Served("--sim", "--rate", "5", "--seed", "5") as srv:
        feeds = build_feeds([f"binance-futures:X{i:04d}USDT" for i in range(12)], {"binance-futures": srv.url()})
        app = WstuiApp(Engine(source="live"), Live(feeds, duration=60), fps=20.0, engine_mode="thread")
        async with app.run_test(size=(160, 40)) as pilot:
            def waiting():
                snap = app.snap
                return [s for s in snap.streams if s.has_book and queued.search(s.reason)] if snap else []

            assert await until(pilot, lambda: len(waiting()) == 4 and sum(
                s.book_state == "ok" for s in app.snap.streams) == 8)
            first = min(waiting(), key=lambda s: int(queued.search(s.reason).group(1)))
            table = app.query_one(StreamsTable)
            table.select(first.key)
            await pilot.pause(0.2)
            why = table.cell(first.key, "why")
            m = queued.search(why)
            assert m and m.group(1) == "0" and 45 <= int(m.group(2)) <= 61, why
            assert table.cell(first.key, "state").endswith("connecting")  # planned: no alarm badge
            assert "snapshot queued: 0 ahead" in app.query_one(LadderView).rows_text[0]
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert isinstance(app.screen, StreamDetail) and "why: snapshot queued: 0 ahead, ~" in app.screen.text
            # the connections view shows the REST host's minute: its budget, what it spent, what waits
            await pilot.press("escape", "n")
            await pilot.pause(0.3)
            lines = app.screen.text.splitlines()
            at = [i for i, ln in enumerate(lines) if ln.startswith(" REST ")]
            assert len(at) == 1, lines
            rest = lines[at[0]:at[0] + 3]  # three lines, each within 80 columns
            assert rest[0] == " REST fapi.binance.com: 8 requests, weight 16 · 0 rate-limited (429/418)", rest
            assert rest[1].startswith("   last minute 16 of 20 (we keep to 16) · the venue counts 16"), rest
            assert re.fullmatch(r"   [1-4] queued, the last in ~\d+ s", rest[2]), rest
            assert max(len(ln) for ln in rest) <= 80, rest
            await pilot.press("escape", "q")


def test_the_weight_scheduler_keeps_a_minute_within_80_percent_and_estimates_each_wait():
    from wstui.io.rest import BUDGET_WINDOW_S, RestClient, _Request

    rc = RestClient()
    # a budget learnt after the host was first seen still applies, with the venue's own count beside it
    rc.host("https://api.binance.com/api/v3/depth")
    spot = rc.host("https://api.binance.com/api/v3/depth", 3000, "X-MBX-USED-WEIGHT-1M", 6000)
    assert (spot.per_min, spot.cap, spot.used_header, spot.address_cap) == (3000, 2400, "X-MBX-USED-WEIGHT-1M", 4800)
    h = rc.host("https://fapi.binance.com/fapi/v1/depth", 100)  # 100 a minute: 80 spent at most
    assert h.cap == 80 and h.spacing == 0.01
    for i in range(16):
        h.spend(1000.0 + i, 5)
    assert h.used == 80 and h.free_at(1016.0, 5) == 1000.0 + BUDGET_WINDOW_S  # the first leaves the window
    assert h.free_at(1016.0, 10) == 1001.0 + BUDGET_WINDOW_S  # a heavier one waits for two to leave
    for sym in "ABC":
        h.queue.append(_Request(f"u{sym}", f"r{sym}", "c", 5, print, waiters=[sym]))
    got = [(r.waiters[0], r.ahead, r.eta) for r in rc.estimate(now=1016.0)]
    assert [(w, a) for w, a, _ in got] == [("A", 0), ("B", 1), ("C", 2)]
    assert [round(eta - 1000.0, 2) for _, _, eta in got] == [61.0, 62.0, 63.0]  # as each old one leaves
    h.hold = 1070.0  # a 429's Retry-After holds them all
    assert [round(r.eta, 2) for r in rc.estimate(now=1016.0)] == [1070.0, 1070.01, 1070.02]
