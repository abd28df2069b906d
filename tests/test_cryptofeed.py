"""Recordings and cryptofeed (the capture format's reference reader): a Kraken session recorded with
`wstui record` against `wstui serve --sim` is played back by cryptofeed 3.0.1 (in its own Python >= 3.13
environment, made by .ci/cryptofeed-venv), with book and trade callbacks.  cryptofeed 3 reads only its
own pcap capture, so the recording goes through tools/to_cryptofeed.py first; read as it is, cryptofeed
refuses it with a precise error, which this test pins down (the README says the same)."""

from __future__ import annotations

import json
import subprocess

import pytest

from live_util import ENV, ROOT, Served, replay_json, wstui_cmd


def cryptofeed_python() -> str:
    p = subprocess.run(["bash", str(ROOT / ".ci" / "cryptofeed-venv")], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        pytest.fail(f"no cryptofeed 3.0.1 environment (.ci/cryptofeed-venv): {p.stderr[-500:]}")
    return p.stdout.strip().splitlines()[-1]


def test_cryptofeed_plays_back_a_wstui_recording(tmp_path):
    py = cryptofeed_python()
    rec = tmp_path / "kraken.jsonl.gz"
    with Served("--sim", "--seed", 4, "--rate", 50) as srv:
        p = subprocess.run(wstui_cmd("record", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url('/v2')}", "-o", rec,
                                     "--duration", 3), cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode == 0, p.stderr
    out = subprocess.run([py, str(ROOT / "tests" / "cryptofeed_play.py"), str(rec), str(tmp_path / "kraken.pcap")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # the precise limitation: cryptofeed 3 reads its own pcap captures only, not capture format 2
    assert "not a cryptofeed capture" in got["direct"] and "expected nanosecond pcap" in got["direct"]
    # converted, every frame of the recording reaches cryptofeed's Kraken v2 handler
    mine = replay_json(rec)
    book = [s for s in mine["streams"] if s["key"] == "kraken:BTC/USD:book"][0]
    trades = [s for s in mine["streams"] if s["key"] == "kraken:BTC/USD:trades"][0]
    frames = sum(c["messages"] for c in mine["connections"])
    assert got["converted"]["frames"] == got["messages"] == frames
    assert got["books"] >= 10 and got["books"] == book["messages"]  # one callback per book frame
    assert got["trades"] >= 1 and got["trades"] == trades["trades"]  # one callback per trade
    # and cryptofeed ends with the same top of book as wstui's own replay
    assert got["last_top"] == [book["book"]["bids"][0][0], book["book"]["asks"][0][0]]
