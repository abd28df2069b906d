"""Every fault ``wstui serve`` injects is detected by a live client, through the real websockets client and
server on loopback: the right state and event within the stale threshold plus a second, then recovery
(books rebuilt, checksums matching again) without restarting anything."""

from __future__ import annotations

import pytest

from live_util import Served, run_live

STALE = 1.5
LAG = 1.0
BUDGET = STALE + 1.0  # detection within the stale threshold plus a second
QUIET_TRADES = {"*:trades": 30.0}  # trades are sparse in the sim; only the book's health is under test

KRAKEN = ("kraken:BTC/USD", "kraken", "/v2", "kraken:BTC/USD:book")
FUTURES = ("binance-futures:btcusdt", "binance-futures", "", "binance-futures:BTCUSDT:book")


def serve_and_watch(fault: str, venue=KRAKEN, duration: float = 6.0, rate: int = 100):
    spec, name, path, key = venue
    with Served("--sim", "--rate", rate, "--seed", 11, "--fault", fault) as srv:
        run = run_live([spec], {name: srv.url(path)}, duration=duration, stale_after=STALE, lag_after=LAG,
                       overrides=QUIET_TRADES)
    fired = srv.faults()
    assert len(fired) == 1 and fired[0][2] == 1, srv.lines  # the fault hit our one connection
    return run, fired[0][1], key


def assert_recovered(run, key: str, t_fault: float, *, checksums: bool) -> None:
    st = run.stream(key)
    assert st.state == "live", (st.state, st.reason)
    assert st.book_state == "ok"
    assert not st.crossed
    assert len(st.bids) >= 10 and len(st.asks) >= 10
    if checksums:
        # the book verifies again: many more matching checksums after the fault, the last ones all good
        assert st.checksum_ok > run.checksum_ok_at(key, t_fault) + 50
        t_end = run.timeline[-1][0]
        assert run.checksum_ok_at(key, t_end) > run.checksum_ok_at(key, t_end - 1.0)
        tail = [bad for t, k, _s, _ok, bad in run.timeline if k == key and t >= t_end - 1.0]
        assert tail and min(tail) == max(tail)  # no failure in the last second


def detected(run, kind: str, stream: str, t_fault: float, budget: float = BUDGET):
    evs = [e for e in run.events(kind, stream) if e.ts >= t_fault - 0.05]
    assert evs, f"no {kind} event for {stream}: {[(e.kind, e.stream, e.detail) for e in run.engine.events]}"
    assert evs[0].ts - t_fault <= budget, (kind, evs[0].ts - t_fault)
    return evs[0]


def test_stall_goes_stale_then_recovers():
    run, t, key = serve_and_watch("stall@1.5s:2.5s")
    ev = detected(run, "stale", key, t)
    assert "no data for" in ev.detail
    seen = run.first_state(key, "stale", t)
    assert seen is not None and seen - t <= BUDGET
    rec = detected(run, "recovered", key, t, budget=2.5 + 1.0)
    assert rec.ts >= t + 2.4  # not before the stall ended
    assert run.stream(key).reconnects == 0  # the connection stayed up
    assert_recovered(run, key, t, checksums=True)


def test_hang_is_found_by_ping_timeout_and_reconnects():
    run, t, key = serve_and_watch("hang@1.5s:6s", duration=7.0)
    detected(run, "stale", key, t)
    # found within ping interval + ping timeout + close timeout (1 s each here), plus a second
    down = detected(run, "disconnect", "KRAKEN.ws.1", t, budget=1.0 + 1.0 + 1.0 + 1.0)
    assert "ping timeout" in down.detail
    assert run.stream(key).reconnects == 1
    assert_recovered(run, key, t, checksums=True)


@pytest.mark.parametrize("fault,why", [("disconnect@1.5s", "server closed the connection (code 1012"),
                                       ("disconnect@1.5s:abort", "without a close frame")])
def test_disconnect_goes_down_then_reconnects_and_rebuilds(fault, why):
    run, t, key = serve_and_watch(fault, duration=5.0)
    ev = detected(run, "disconnect", "KRAKEN.ws.1", t)
    assert why in ev.detail
    detected(run, "down", key, t)
    assert run.first_state(key, "down", t) is not None
    st = run.stream(key)
    assert st.reconnects == 1
    assert len(run.events("connect", "KRAKEN.ws.1")) == 2
    assert_recovered(run, key, t, checksums=True)


@pytest.mark.parametrize("fault", ["gap@1.5s:3", "corrupt@1.5s"])
def test_kraken_gap_and_corrupt_fail_the_checksum_and_resubscribe(fault):
    run, t, key = serve_and_watch(fault, duration=5.0)
    ev = detected(run, "checksum_failed", key, t)
    assert "crc32" in ev.detail
    detected(run, "out_of_sync", key, t)
    resub = detected(run, "resubscribe", key, t)
    assert "checksum" in resub.detail
    rebuilt = detected(run, "resync", key, t)
    assert "snapshot" in rebuilt.detail
    st = run.stream(key)
    assert st.checksum_failed == 1 and st.resyncs == 1
    assert st.reconnects == 0  # unsubscribe/subscribe was enough
    assert_recovered(run, key, t, checksums=True)


def test_binance_gap_is_a_sequence_gap_rebuilt_from_rest():
    run, t, key = serve_and_watch("gap@1.5s:5", venue=FUTURES, duration=5.0)
    ev = detected(run, "gap", key, t)
    assert "pu=" in ev.detail
    detected(run, "out_of_sync", key, t)
    rebuilt = detected(run, "resync", key, t)
    assert "REST snapshot" in rebuilt.detail
    st = run.stream(key)
    assert st.gaps == 1 and st.resyncs == 1
    assert_recovered(run, key, t, checksums=False)


def test_garbage_frame_is_a_parse_error_and_nothing_else_breaks():
    run, t, key = serve_and_watch("garbage@1.5s:2", duration=4.0)
    evs = [e for e in run.events("parse_error") if e.ts >= t - 0.05]
    assert len(evs) == 2 and evs[0].ts - t <= BUDGET
    assert "\x1b" not in evs[0].detail and "GARBAGE" in evs[0].detail  # control characters stripped
    assert run.engine.conns["KRAKEN.ws.1"].parse_errors == 2
    st = run.stream(key)
    assert st.checksum_failed == 0 and st.reconnects == 0
    assert_recovered(run, key, t, checksums=True)


def test_slow_trickle_is_lagging_then_recovers():
    run, t, key = serve_and_watch("slow@1.5s:3s:20", duration=6.0)
    ev = detected(run, "lagging", key, t)
    assert "behind" in ev.detail
    rec = [e for e in run.events("recovered", key) if e.ts > ev.ts]
    assert rec, "never recovered from lagging"
    assert run.stream(key).reconnects == 0
    assert_recovered(run, key, t, checksums=True)


def test_second_checksum_failure_within_the_resubscribe_interval_is_resubscribed_later():
    # the second failure comes 1 s after the first, inside RESUB_MIN_INTERVAL_S: it must not be dropped
    spec, name, path, key = KRAKEN
    with Served("--sim", "--rate", 100, "--seed", 11, "--fault", "corrupt@1.5s", "--fault", "corrupt@2.5s") as srv:
        run = run_live([spec], {name: srv.url(path)}, duration=6.5, stale_after=STALE, lag_after=LAG,
                       overrides=QUIET_TRADES)
    fired = srv.faults()
    assert [f[0] for f in fired] == ["corrupt@1.5s", "corrupt@2.5s"], srv.lines
    t2 = fired[1][1]
    st = run.stream(key)
    assert st.checksum_failed == 2
    fails = [e for e in run.events("checksum_failed", key)]
    assert len(fails) == 2 and fails[1].ts >= t2 - 0.05
    resubs = run.events("resubscribe", key)
    assert len(resubs) == 2, [(e.ts, e.detail) for e in resubs]
    assert resubs[1].ts > fails[1].ts  # the throttled one was sent once the interval ran out
    assert st.resyncs == 2 and st.reconnects == 0
    assert_recovered(run, key, t2, checksums=True)
    assert run.first_state(key, "live", t2 + 0.1) is not None


def test_a_book_out_of_sync_without_any_resubscribe_is_reconnected_after_the_resync_timeout():
    # whatever made the book wrong (here: marked directly, no resubscribe asked), it does not stay wrong
    spec, name, path, key = KRAKEN
    marked: list[float] = []

    async def spoil(source, engine):
        import asyncio
        import time
        while True:
            await asyncio.sleep(0.05)
            st = next((s for s in engine.streams.values() if s.key == key), None)
            if st is not None and st.book_state == "ok" and st.checksum_ok > 20:
                marked.append(time.time())
                st.mark_out_of_sync("spoiled by the test", marked[0])
                return

    with Served("--sim", "--rate", 100, "--seed", 11) as srv:
        run = run_live([spec], {name: srv.url(path)}, duration=5.0, stale_after=STALE, lag_after=LAG,
                       overrides=QUIET_TRADES, during=spoil, resync_timeout=1.5)
    assert marked
    st = run.stream(key)
    down = [e for e in run.events("disconnect", "KRAKEN.ws.1") if e.ts >= marked[0]]
    assert down and "out of sync" in down[0].detail and "spoiled by the test" in down[0].detail
    assert 1.4 <= down[0].ts - marked[0] <= 1.5 + 1.0
    assert st.reconnects == 1 and st.resyncs == 1
    assert_recovered(run, key, marked[0], checksums=True)


def test_the_out_of_sync_wait_doubles_while_reconnecting_does_not_fix_the_book():
    from types import SimpleNamespace

    from wstui.io.resync import ResyncWatchdog

    st = SimpleNamespace(stale_after=1.5)
    assert [ResyncWatchdog(2.0).timeout(st, n) for n in range(7)] == [2, 4, 8, 16, 32, 60, 60]
    assert ResyncWatchdog().timeout(st) == 3.0 and ResyncWatchdog().timeout(SimpleNamespace(stale_after=8)) == 8


# ---- at default settings (no --stale-after): what a user who sets nothing sees ---------------------------
DEFAULT_STALE = 5.0  # wstui.core.stream.STALE_AFTER


def watch_defaults(fault: str, duration: float, **live_kw):
    spec, name, path, key = KRAKEN
    with Served("--sim", "--rate", 100, "--seed", 11, "--fault", fault) as srv:
        run = run_live([spec], {name: srv.url(path)}, duration=duration, stale_after=None, lag_after=LAG,
                       **live_kw)
    fired = srv.faults()
    assert len(fired) == 1 and fired[0][2] == 1, srv.lines
    return run, fired[0][1], key


def test_default_stall_is_a_silent_connection_within_the_threshold_plus_a_second():
    run, t, key = watch_defaults("stall@1.5s:6.5s", duration=9.0)
    for k in (key, "kraken:BTC/USD:trades"):  # the whole connection: every stream on it, quiet ones too
        ev = detected(run, "stale", k, t, budget=DEFAULT_STALE + 1.0)
        assert ev.cause == "connection_silent" and "nothing received on its connection" in ev.detail
    rec = detected(run, "recovered", key, t, budget=6.5 + 1.0)
    assert rec.ts - t >= 6.4
    st = run.stream(key)
    assert st.reconnects == 0 and st.last_problem.state == "stale" and st.last_problem.cause == "connection_silent"
    assert 1.0 <= st.last_problem.lasted <= 2.0  # stale from 5 s to 6.5 s after the stall began
    assert_recovered(run, key, t, checksums=True)


def test_default_hang_is_stale_or_down_in_time_and_down_names_the_dead_link():
    run, t, key = watch_defaults("hang@1.5s:8s", duration=8.0, ping_interval=3.0, ping_timeout=3.0)
    first = min((e for e in run.engine.events if e.stream == key and e.kind in ("stale", "down") and e.ts >= t),
                key=lambda e: e.ts)
    assert first.ts - t <= DEFAULT_STALE + 1.0
    down = detected(run, "down", key, t, budget=3.0 + 3.0 + 1.0 + 1.0)
    assert down.cause == "link_down" and "ping timeout" in down.detail


def test_default_slow_trickle_is_lagging_behind_the_usual_offset():
    run, t, key = watch_defaults("slow@1.5s:3s:20", duration=6.0)
    ev = detected(run, "lagging", key, t)
    assert ev.cause == "exchange_behind" and "behind its usual offset" in ev.detail
    assert [e for e in run.events("recovered", key) if e.ts > ev.ts], "never recovered from lagging"
    assert not run.events("stale", key)  # a trickle is not a silence
