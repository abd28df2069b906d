"""Nothing grows with the length of a session: a looped replay notes a capture's quirk once (not once a
pass), and a feed keeps only its latest connect attempts and backoff delays (with counters for the rest)."""

from __future__ import annotations

import json
import random

from conftest import replay
from live_util import closed_port, run_live
from wstui.io import spec


def test_a_looped_replay_notes_a_monotonic_clock_once(tmp_path):
    t0 = 1_700_000_000.0
    recs = [{"t": "header", "format": 2, "exchange": "X", "config": {}},
            {"t": "connect", "conn": "c", "ts": t0, "addr": "ws://feed.example/x"},
            {"t": "recv", "conn": "c", "ts": t0 + 0.1, "data": '{"a":1}'},
            {"t": "recv", "conn": "c", "ts": 5000.0, "data": '{"a":2}'},  # seconds since boot
            {"t": "recv", "conn": "c", "ts": 5000.5, "data": '{"a":3}'}]
    path = tmp_path / "mono.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    engine, snap = replay(path, loops=5)
    assert snap.loop == 5
    mono = [n for n in snap.notes if "monotonic clock" in n]
    assert len(mono) == 1, snap.notes
    assert snap.messages == 15


def test_a_feed_keeps_its_latest_attempts_and_delays_only(monkeypatch):
    monkeypatch.setattr(spec, "FEED_HISTORY", 8)
    port = closed_port()
    run = run_live(["kraken:BTC/USD"], {"kraken": f"ws://127.0.0.1:{port}"}, duration=1.5,
                   backoff_base=0.005, backoff_cap=0.01, rng=random.Random(1).random)
    f = run.source.feeds[0]
    assert f.attempts > 20  # counted in full
    assert f.delays_total == f.attempts or f.delays_total == f.attempts - 1
    assert len(f.attempt_times) == 8 and len(f.delays) == 8  # but only the latest kept
    assert list(f.attempt_times) == sorted(f.attempt_times)
