"""Health that tells the truth, at default settings: no false alarm on real captures recorded without
incident (nor in the demo), while every real fault is still caught within its threshold plus a second,
with its cause named."""

from __future__ import annotations

import time

import pytest
from conftest import SAMPLES, read_records, real_feed, replay, write_records

from wstui.core.stream import STALE_AFTER
from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.ui.app import WstuiApp

CAPTURES = ["binance.jsonl.gz", "binance_futures.jsonl.gz", "bitfinex.jsonl.gz", "bitstamp.jsonl.gz",
            "bybit.jsonl.gz", "coinbase.jsonl.gz", "deribit.jsonl.gz", "gemini.jsonl.gz", "kraken.jsonl.gz",
            "kraken_v2_btcusd.jsonl.gz", "kraken_v2_btcusd_d10.jsonl.gz", "okx.jsonl.gz"]


@pytest.mark.parametrize("name", CAPTURES)
def test_real_captures_raise_no_stale_alarm_at_default_settings(name):
    engine, snap = replay(real_feed(name))
    stale = [(e.stream, e.detail) for e in snap.events if e.kind == "stale"]
    assert stale == []
    assert not [e for e in snap.events if e.kind == "out_of_sync"]
    # the quiet ones are shown as quiet (a calm state), with the reason in words
    assert all(s.state == "ended" for s in snap.streams)


def test_quiet_channels_are_quiet_not_stale():
    """Bitfinex's tickers and trades of quiet symbols say nothing for most of the session."""
    path = real_feed("bitfinex.jsonl.gz")
    engine = Engine(file=str(path))
    quiet_seen: dict[str, str] = {}

    import asyncio

    from wstui.runner import run_source

    async def main():
        src = Replay(path, speed=None)
        task = asyncio.ensure_future(run_source(engine, src, fps=200))
        while not task.done():
            for st in engine.streams.values():
                if st.state == "quiet":
                    quiet_seen.setdefault(st.key, st.compute_state(engine.now)[2])
            await asyncio.sleep(0)
        await task

    asyncio.run(main())
    assert "bitfinex:tIOTETH:trades" in quiet_seen
    assert "connection is flowing" in quiet_seen["bitfinex:tIOTETH:trades"]


async def test_the_demo_shows_no_alarm_banner():
    """The demo (the bundled capture looped) under Textual's pilot: the banner never raises an alarm."""
    path = SAMPLES / "binance_futures.jsonl.gz"
    engine = Engine(file=str(path))
    app = WstuiApp(engine, Replay(path, speed=25.0, loops=2), fps=20.0, engine_mode="task")
    seen: set[str] = set()
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (app.snap is not None and app.snap.ended):
            await pilot.pause(0.05)
            seen.add(app.w_banner.classes and " ".join(sorted(app.w_banner.classes)))
            text = str(app.query_one("#banner").render())
            assert "STALE" not in text and "DOWN" not in text and "OUT OF SYNC" not in text, text
        assert app.snap is not None and app.snap.ended and app.snap.loop == 2
    assert not any("-bad" in c or "-warn" in c for c in seen if c), seen


def test_a_thousand_streams_of_random_silences_raise_no_alarm_and_a_muted_one_is_still_caught():
    """Messages of an illiquid market come at random (a Poisson process): the longest of a stream's first
    few dozen silences says little about how long the next may be, and over a thousand streams one of
    them went stale every few minutes (a tmux review at 1,000 symbols).  The silence limit also holds
    the silences' spread: none of 300,000 random silences is an alarm, and a stream that stops for good
    is still flagged, at the limit its reason states."""
    import random

    from wstui.core.stream import Link, Stream

    rng = random.Random(11)
    alarms = []
    for i in range(1000):
        link = Link(0.0)
        st = Stream("v", f"S{i}", "book", now=0.0, stale_explicit=False)
        st.connection_up(0.0, reconnect=False, link=link)
        t = 0.0
        link.last_ts = t
        st.data(t, 10)
        for _ in range(300):
            g = rng.expovariate(1.0)  # one message a second, at random
            if g > st.silence_limit:  # (the engine flags the stream once a silence outlasts its limit)
                alarms.append((i, st.n_gaps, round(g, 2), round(st.silence_limit, 2)))
            t += g
            link.last_ts = t  # (the connection flows)
            st.data(t, 10)
        assert st.n_gaps == 300 and st.state != "stale"
    assert alarms == []
    # the last one stops while its connection flows: stale once the silence passes its limit, not before
    limit = st.silence_limit
    assert 12.0 < limit < 40.0, limit
    for k in range(1, int(limit * 10) + 20):
        link.last_ts = t + k * 0.1
        st.evaluate(t + k * 0.1)
        if k * 0.1 < limit - 0.05:
            assert st.state != "stale", (k * 0.1, limit)
    assert st.state == "stale" and st.cause == "stream_silent" and f"threshold {limit:.1f} s" in st.compute_state(t + limit + 1)[2]


# ---- still caught ---------------------------------------------------------------------------------------
def with_silence(records, at: int, seconds: float):
    """The frames received in ``seconds`` from record ``at`` on are lost: the connection says nothing."""
    t0 = records[at]["ts"]
    return [r for r in records if not (r.get("t") == "recv" and t0 <= r["ts"] < t0 + seconds)]


def test_whole_connection_silent_is_stale_at_the_default_threshold(tmp_path):
    records = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))
    at = 1000
    path = write_records(tmp_path / "silence.jsonl.gz", with_silence(records, at, 8.0))
    engine, snap = replay(path)
    key = "kraken:BTC/USD:book"
    evs = [e for e in snap.events if e.stream == key and e.kind in ("stale", "recovered")]
    assert [e.kind for e in evs] == ["stale", "recovered"]
    assert evs[0].cause == "connection_silent" and "nothing received on its connection" in evs[0].detail
    last_frame = max(r["ts"] for r in records[:at] if r.get("t") == "recv")
    first_after = min(r["ts"] for r in records if r.get("t") == "recv" and r["ts"] >= records[at]["ts"] + 8.0
                      and r["data"].startswith('{"channel":"book"'))
    assert abs(evs[0].ts - (last_frame + STALE_AFTER)) < 1e-6
    assert abs(evs[1].ts - first_after) < 1e-6
    s = snap.stream(key)
    # the lost frames also broke the book (its checksum fails): the latest problem, kept after recovery
    lp = s.last_problem
    assert s.state == "ended" and lp.state == "out_of_sync" and lp.cause == "book_checksum"
    assert lp.since >= first_after  # and it lasted to the end: a replay has no snapshot to rebuild it


def test_one_busy_stream_silent_while_its_connection_flows_is_stale(tmp_path):
    """SUSHIUSDT's book stops (a muted stream) while the other symbols go on: stale, stream_silent,
    within its threshold (5 s for a busy book) plus a second; the others stay healthy."""
    records = read_records(real_feed("binance_futures.jsonl.gz"))
    recv = [r for r in records if r.get("t") == "recv"]
    cut = recv[len(recv) // 3]["ts"]
    muted = [r for r in records if not (r.get("t") == "recv" and r["ts"] >= cut
                                         and '"depthUpdate"' in r["data"] and '"SUSHIUSDT"' in r["data"])]
    engine, snap = replay(write_records(tmp_path / "muted.jsonl.gz", muted))
    key = "binance-futures:SUSHIUSDT:book"
    last = max(r["ts"] for r in muted if r.get("t") == "recv" and '"depthUpdate"' in r["data"]
               and '"SUSHIUSDT"' in r["data"])
    ev = [e for e in snap.events if e.stream == key and e.kind == "stale"]
    assert len(ev) == 1 and ev[0].cause == "stream_silent", [(e.kind, e.stream, e.detail) for e in snap.events]
    assert "while its connection flows" in ev[0].detail
    assert 0 < ev[0].ts - last <= STALE_AFTER + 1.0
    assert not [e for e in snap.events if e.kind == "stale" and e.stream != key]
    lp = snap.stream(key).last_problem  # still stale when the capture ended: what, since when, how long
    assert lp.state == "stale" and lp.cause == "stream_silent" and lp.since == ev[0].ts
    assert abs(lp.lasted - (snap.now - ev[0].ts)) < 1e-6


def test_book_acknowledged_but_never_sent_is_stale(tmp_path):
    """Kraken v2 acknowledges the book subscription; its snapshot never comes (heartbeats do): stale."""
    records = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))
    kept = [r for r in records if not (r.get("t") == "recv" and r["data"].startswith('{"channel":"book"'))]
    ack = next(r["ts"] for r in kept if r.get("t") == "recv" and '"method":"subscribe"' in r["data"])
    engine, snap = replay(write_records(tmp_path / "nobook.jsonl.gz", kept))
    key = "kraken:BTC/USD:book"
    ev = [e for e in snap.events if e.stream == key and e.kind == "stale"]
    assert len(ev) == 1 and ev[0].cause == "stream_silent" and "acknowledged" in ev[0].detail
    assert abs(ev[0].ts - (ack + STALE_AFTER)) < 0.2


def test_explicit_threshold_still_wins():
    """--stale-after (or a config override) is obeyed as given: quiet trades then go stale."""
    engine, snap = replay(real_feed("binance.jsonl.gz"), stale_after=5.0)
    ev = [e for e in snap.events if e.kind == "stale" and e.stream == "binance:RUNEEUR:ticker"]
    assert len(ev) == 1 and ev[0].cause == "stream_silent"
    engine, snap = replay(real_feed("binance.jsonl.gz"), stale_overrides={"*:ticker": 3.0})
    assert [e for e in snap.events if e.kind == "stale" and e.stream.endswith(":ticker")]
    assert not [e for e in snap.events if e.kind == "stale" and not e.stream.endswith(":ticker")]


# ---- the headless exit status, as scripts meet it ------------------------------------------------------
def wstui(*args, timeout=60):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "wstui", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_headless_exit_status_says_whether_the_run_ended_healthy(tmp_path):
    import json

    ok = wstui("replay", real_feed("bybit.jsonl.gz"), "--headless", "--json", "--speed", "max")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["unhealthy"] == []
    # an explicit 3 s threshold: quiet channels are stale when the capture ends -> 1, and named
    bad = wstui("replay", real_feed("binance.jsonl.gz"), "--headless", "--json", "--speed", "max",
                "--stale-after", "3")
    assert bad.returncode == 1, bad.stderr
    doc = json.loads(bad.stdout)
    s = {x["key"]: x for x in doc["streams"]}["binance:RUNEEUR:ticker"]
    assert s["key"] in doc["unhealthy"] and s["state"] == "ended" and s["state_at_end"] == "stale"
    assert s["last_problem"]["state"] == "stale" and s["last_problem"]["cause"] == "stream_silent"
    assert any(e["kind"] == "stale" and e["cause"] == "stream_silent" for e in doc["events"])
    # could not run: a bad argument, a missing capture, a bad config -> 2
    assert wstui("replay", real_feed("binance.jsonl.gz"), "--headless", "--stale-after", "-1").returncode == 2
    assert wstui("replay", tmp_path / "missing.jsonl.gz", "--headless").returncode == 2
    cfg = tmp_path / "bad.toml"
    cfg.write_text('stale_after = "soon"\n')
    p = wstui("replay", real_feed("binance.jsonl.gz"), "--headless", "--config", cfg)
    assert p.returncode == 2 and "stale_after must be a positive number" in p.stderr and "Traceback" not in p.stderr


def test_replay_takes_the_watch_config_thresholds(tmp_path):
    import json

    cfg = tmp_path / "feeds.toml"
    cfg.write_text('streams = ["binance:btcusdt"]\n[stale]\n"binance:*:ticker" = 3\n')
    p = wstui("replay", real_feed("binance.jsonl.gz"), "--headless", "--json", "--speed", "max", "--config", cfg)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    by = {s["key"]: s for s in doc["streams"]}
    assert by["binance:RUNEEUR:ticker"]["stale_after"] == 3 and by["binance:RUNEEUR:ticker"]["stale_after_explicit"]
    assert not by["binance:RUNEEUR:trades"]["stale_after_explicit"]
    stale = {e["stream"] for e in doc["events"] if e["kind"] == "stale"}
    assert stale and all(k.endswith(":ticker") for k in stale)


# ---- the model alone ------------------------------------------------------------------------------------
def test_lag_caused_by_our_own_backlog_is_named_backlog():
    from wstui.core.stream import BACKLOG_FRAMES, Link, Stream

    link = Link(0.0)
    st = Stream("v", "S", "book", now=0.0, stale_explicit=False)
    st.connection_up(0.0, reconnect=False, link=link)
    t = 0.0
    for i in range(200):  # 20 s at 10/s; 0.05 s latency, then 4 s behind from 10 s on
        t = i * 0.1
        link.last_ts = t
        st.data(t, 100, t - (0.05 if t < 10 else 4.05))
        st.evaluate(t)
    assert st.state == "lagging" and st.cause == "exchange_behind"
    link.backlog = BACKLOG_FRAMES + 1
    st.evaluate(t + 0.01)
    assert st.state == "lagging" and st.cause == "backlog"
    assert "frames received and not yet processed" in st.compute_state(t + 0.01)[2]
    assert abs(st.clock_offset() + 0.05) < 1e-9  # exchange clock minus ours: minus the baseline latency


def test_a_quiet_kind_needs_a_long_silence_even_when_it_was_busy():
    """A trades stream that traded every 0.2 s, then stops while its connection flows: quiet for the
    first 30 s (6 x the threshold), stale (stream_silent) after."""
    from wstui.core.stream import Link, Stream

    link = Link(0.0)
    st = Stream("v", "S", "trades", now=0.0, stale_explicit=False)
    st.connection_up(0.0, reconnect=False, link=link)
    for i in range(50):
        st.data(i * 0.2, 50)
    last = 49 * 0.2
    for k in range(1, 400):
        t = last + k * 0.1
        link.last_ts = t  # other channels keep the connection flowing
        st.evaluate(t)
        if t < last + 29.9:
            assert st.state in ("live", "quiet"), (t - last, st.state)
    assert st.state == "stale" and st.cause == "stream_silent"
    assert abs(st.state_since - (last + 30.0)) < 1e-6
