"""Backlog with its units: ``backlog_frames`` (live: frames our read loop received and has not yet
processed) and ``replay_behind_s`` (replay: seconds behind the capture's pace), each in the snapshot, the
JSON summary and the header.  Sources tell the engine about themselves through ``SourceStatus`` only."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import time

from conftest import real_feed
from live_util import ENV, ROOT, Served, wstui_cmd
from wstui.core.snapshot import SourceStatus
from wstui.engine import Engine
from wstui.io.live import Live
from wstui.io.replay import Replay
from wstui.io.spec import build_feeds
from wstui.runner import EngineThread, run_source
from wstui.ui.app import header_text


def test_engine_has_no_source_attributes_only_a_status():
    engine = Engine()
    assert not hasattr(engine, "replay") and not hasattr(engine, "live")
    snap = engine.snapshot()
    assert not hasattr(snap, "backlog")
    assert (snap.backlog_frames, snap.replay_behind_s) == (0, 0.0)


def test_live_backlog_is_frames_counted_in_our_read_loop():
    with Served("--sim", "--rate", 3000, "--seed", 3) as srv:
        engine = Engine(stale_after=5, source="live")
        frame = engine.frame

        def slow_frame(*a):  # processing slower than arrival
            frame(*a)
            time.sleep(0.001)

        engine.frame = slow_frame
        src = Live(build_feeds(["kraken:BTC/USD"], {"kraken": srv.url("/v2")}))
        th = EngineThread(engine, src, fps=20)
        th.start()
        peak = 0
        behind = []
        deadline = time.time() + 3
        while time.time() < deadline:
            snap = engine.latest
            if snap is not None:
                peak = max(peak, snap.backlog_frames)
                behind.append(snap.replay_behind_s)
                status = src.status()
                assert isinstance(status, SourceStatus)
            time.sleep(0.05)
        th.stop(5)
        assert not th.is_alive() and th.error is None
    assert peak > 100, peak
    assert set(behind) == {0.0}  # not a replay
    assert src.frames_received >= src.frames > 0
    assert src.status().backlog_frames == 0  # stopped: nothing is waiting any more
    # what was still queued when stopping is counted and noted, never silently lost
    assert src.frames_received == src.frames + src.frames_unprocessed
    if src.frames_unprocessed:
        assert any("frames received but not processed when stopping" in n for n in engine.latest.notes), engine.notes
    assert engine.latest.stream("kraken:BTC/USD:book").checksum_failed == 0


def test_replay_behind_is_seconds_and_no_frames():
    path = real_feed("kraken_v2_btcusd_d10.jsonl.gz")
    engine = Engine(file=str(path))
    frame = engine.frame

    def slow_frame(*a):
        frame(*a)
        time.sleep(0.02)

    engine.frame = slow_frame
    src = Replay(path, speed=100.0)
    seen = []

    async def main():
        task = asyncio.ensure_future(run_source(engine, src, 20))
        deadline = time.time() + 3
        while time.time() < deadline and not task.done():
            await asyncio.sleep(0.05)
            s = engine.latest
            if s is not None:
                seen.append((s.replay_behind_s, s.backlog_frames))
        src.stop()
        await task

    asyncio.run(main())
    assert max(b for b, _ in seen) > 1.0  # seconds, not milliseconds
    assert max(b for b, _ in seen) < 60.0
    assert {f for _, f in seen} == {0}


def test_header_names_the_units():
    snap = Engine(source="live").snapshot()
    live = dataclasses.replace(snap, backlog_frames=1234)
    assert "backlog 1,234 frames" in header_text(live, 200).plain
    rp = dataclasses.replace(Engine().snapshot(), replay_behind_s=2.5, start=0.0, end=10.0)
    assert "behind 2.5 s" in header_text(rp, 200).plain


def test_json_summary_has_both_fields(tmp_path):
    out = subprocess.run(wstui_cmd("replay", real_feed("kraken_v2_btcusd_d10.jsonl.gz"), "--speed", "max",
                                   "--headless", "--json"), cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["backlog_frames"] == 0 and d["replay_behind_s"] == 0.0
    assert "backlog" not in d
