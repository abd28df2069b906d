"""Stream health on the capture's clock: stale within its threshold (also when the first message never
came), recovered when data returns, lagging when exchange time falls behind — never judged by today's clock."""

from __future__ import annotations

import asyncio

from conftest import read_records, real_feed, replay, write_records
from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.runner import run_source

KEY = "kraken:BTC/USD:book"


def with_silence(records, at: int, seconds: float):
    """Shift every record from index ``at`` on by ``seconds``: a silence in the middle of the session."""
    return [dict(r, ts=r["ts"] + seconds) if i >= at and "ts" in r else r for i, r in enumerate(records)]


def test_old_capture_is_not_stale_today():
    engine, snap = replay(real_feed("binance_futures.jsonl.gz"))
    stale = [e for e in snap.events if e.kind == "stale" and e.stream.endswith(":book")]
    assert stale == []
    for s in snap.streams:
        if s.channel == "book":
            assert s.last_age_s is not None and s.last_age_s < 5.0


def test_silence_goes_stale_at_the_threshold_and_recovers(tmp_path):
    records = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))
    at = 1000
    path = write_records(tmp_path / "silence.jsonl.gz", with_silence(records, at, 8.0))
    engine, snap = replay(path, stale_after=5.0)
    evs = [e for e in snap.events if e.stream == KEY and e.kind in ("stale", "recovered")]
    assert [e.kind for e in evs] == ["stale", "recovered"]
    last_before = max(r["ts"] for r in records[:at] if r.get("t") == "recv" and '"book"' in r["data"])
    assert abs(evs[0].ts - (last_before + 5.0)) < 1e-6
    first_after = records[at]["ts"] + 8.0
    assert abs(evs[1].ts - first_after) < 1e-6


def test_stream_that_never_gets_its_first_message_goes_stale():
    engine, snap = replay(real_feed("binance.jsonl.gz"), stale_after=5.0)
    s = snap.stream("binance:RUNEEUR:ticker")
    assert s.messages == 0
    ev = [e for e in snap.events if e.stream == s.key and e.kind == "stale"]
    assert len(ev) == 1 and "no first message" in ev[0].detail
    connect = next(r["ts"] for r in read_records(real_feed("binance.jsonl.gz")) if r.get("t") == "connect")
    assert abs(ev[0].ts - (connect + 5.0)) < 1e-6


def test_lagging_when_exchange_time_falls_behind(tmp_path):
    """Receive time drifts 4 s behind the venue's stamps half way through: lagging, cause exchange_behind."""
    records = read_records(real_feed("binance_futures.jsonl.gz"))
    mid = len(records) // 2
    late = [dict(r, ts=r["ts"] + 4.0) if i >= mid and r.get("t") == "recv" else r for i, r in enumerate(records)]
    engine, snap = replay(write_records(tmp_path / "late.jsonl.gz", late))
    s = snap.stream("binance-futures:SUSHIUSDT:book")
    assert s.latency_ms_p99 > 4000
    ev = [e for e in snap.events if e.kind == "lagging" and e.stream == s.key]
    assert ev and ev[0].cause == "exchange_behind" and "behind its usual offset" in ev[0].detail
    assert ev[0].ts >= late[mid]["ts"] - 1e-6
    # the untouched capture is not lagging
    engine, snap = replay(real_feed("binance_futures.jsonl.gz"))
    assert not any(e.kind == "lagging" for e in snap.events)


def test_a_constant_clock_offset_is_not_lag(tmp_path):
    """Receive stamps months after the venue's own (a replayed capture served as live, a skewed clock):
    reported as the connection's clock offset, never as lagging."""
    months = 120 * 86400.0
    records = read_records(real_feed("binance_futures.jsonl.gz"))
    shifted = [dict(r, ts=r["ts"] + months) if "ts" in r else r for r in records]
    engine, snap = replay(write_records(tmp_path / "skew.jsonl.gz", shifted))
    assert not [e for e in snap.events if e.kind in ("lagging", "stale")]
    s = snap.stream("binance-futures:SUSHIUSDT:book")
    assert abs(s.clock_offset_s + months) < 5.0


def test_paced_replay_flags_stale_during_the_silence_before_data_returns(tmp_path):
    """At 20x an 8 s silence lasts 0.4 s of wall time; the stream must show stale while nothing arrives."""
    records = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))[:400]
    path = write_records(tmp_path / "silence.jsonl.gz", with_silence(records, 200, 8.0))
    engine = Engine(stale_after=2.0, file=str(path))
    source = Replay(path, speed=20.0)
    seen: list[tuple[str, int]] = []

    async def main():
        task = asyncio.ensure_future(run_source(engine, source, fps=50))
        while not task.done():
            snap = engine.latest
            if snap is not None and snap.stream(KEY) is not None:
                s = snap.stream(KEY)
                seen.append((s.state, s.messages))
            await asyncio.sleep(0.01)
        await task

    asyncio.run(main())
    stale_msgs = {m for state, m in seen if state == "stale"}
    assert stale_msgs, "never seen stale during the silence"
    # while stale no new message had arrived, and afterwards it came back live
    assert max(stale_msgs) < engine.latest.stream(KEY).messages
    after = {state for state, m in seen if m > max(stale_msgs)}
    # data flows again (the shifted receive stamps also put it behind exchange time: lagging)
    assert after and after <= {"live", "lagging"}


def test_book_whose_snapshot_never_came_is_not_shown_healthy(tmp_path):
    """Found in review: with its snapshot lost, a book took updates (dropped, rightly) while its row said
    live and the banner 'all streams healthy'.  Past the threshold it is out of sync, with an event."""
    records = read_records(real_feed("bybit.jsonl.gz"))
    spot = next(r["conn"] for r in records if r.get("t") == "connect" and r["addr"].endswith("/spot"))
    snap_line = next(i for i, r in enumerate(records)
                     if r.get("t") == "recv" and r["conn"] == spot
                     and '"orderbook.200.BTCUSDT"' in r["data"] and '"type":"snapshot"' in r["data"])
    lost = records[:snap_line] + records[snap_line + 1:]
    engine, snap = replay(write_records(tmp_path / "nosnap.jsonl.gz", lost), stale_after=5.0)
    s = snap.stream("bybit:BTCUSDT:book")
    assert s.book_state == "empty" and s.messages > 100
    ev = [e for e in snap.events if e.stream == s.key and e.kind == "out_of_sync"]
    assert len(ev) == 1 and "no book snapshot" in ev[0].detail
    # the untouched capture raises no such event
    engine, snap = replay(real_feed("bybit.jsonl.gz"), stale_after=5.0)
    assert not [e for e in snap.events if e.kind == "out_of_sync"]


def test_capture_written_one_connection_after_another_replays_in_time_order():
    """bybit.jsonl.gz holds all linear records, then all spot records (their times overlap).  Played in
    file order the spot streams would start 43 s 'late' and look stale at once; in time order they are
    as healthy as when recorded."""
    engine, snap = replay(real_feed("bybit.jsonl.gz"), stale_after=5.0)
    assert any("time order" in n for n in snap.notes)
    for key in ("bybit:BTCUSDT:book", "bybit-linear:BTCUSDT:book"):
        s = snap.stream(key)
        assert s.messages > 100 and s.book_state == "ok"
        assert not [e for e in snap.events if e.stream == key and e.kind in ("stale", "out_of_sync")]
    spot, linear = snap.stream("bybit:BTCUSDT:book"), snap.stream("bybit-linear:BTCUSDT:book")
    assert abs(spot.last_age_s - linear.last_age_s) < 2.0  # both ran to the end of the session
