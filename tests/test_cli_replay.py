"""The headless JSON summary through the real command line: the contract scripts rely on."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import SAMPLES, real_feed

REQUIRED = {"venue", "symbol", "channel", "state", "messages", "bytes", "rate_1s", "rate_10s", "last_age_s",
            "latency_ms_p50", "gaps", "checksum_ok", "checksum_failed", "resyncs", "parse_errors", "crossed"}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wstui", *args], capture_output=True, text=True, timeout=timeout)


def test_replay_headless_json_contract():
    path = real_feed("kraken_v2_btcusd.jsonl.gz")
    p = run_cli("replay", str(path), "--headless", "--json", "--speed", "max")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # exactly one JSON object on stdout
    assert out["source"] == "replay" and out["file"] == str(path)
    assert out["messages"] == 2104 and out["bad_records"] == []
    assert isinstance(out["elapsed_s"], float)
    (book,) = [s for s in out["streams"] if s["channel"] == "book"]
    assert REQUIRED <= set(book)
    assert (book["venue"], book["symbol"], book["state"]) == ("kraken", "BTC/USD", "ended")
    assert book["messages"] == 2052 and book["checksum_ok"] == 2052 and book["checksum_failed"] == 0
    # top 10 levels per side, best first, prices and sizes as the exchange wrote them
    assert book["book"]["bids"][0] == ["63418.3", "0.10493453"]
    assert book["book"]["asks"][0] == ["63418.4", "1.05908243"]
    assert len(book["book"]["bids"]) == 10 and len(book["book"]["asks"]) == 10
    bids = [float(p) for p, _ in book["book"]["bids"]]
    asks = [float(p) for p, _ in book["book"]["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert isinstance(book["latency_ms_p50"], float)
    assert all({"ts", "stream", "kind", "detail"} <= set(e) for e in out["events"])


def test_replay_headless_text_summary_on_the_bundled_sample():
    p = run_cli("replay", str(SAMPLES / "binance_futures.jsonl.gz"), "--headless", "--speed", "max")
    assert p.returncode == 0, p.stderr
    assert "binance-futures:SUSHIUSDT:book" in p.stdout
    assert "0 bad records" in p.stdout


def test_bad_arguments_are_clear_errors():
    p = run_cli("replay", "x.jsonl", "--speed", "fast-ish")
    assert p.returncode == 2 and "speed must be a positive number or 'max'" in p.stderr
    p = run_cli("replay", "x.jsonl", "--stale-after", "-1")
    assert p.returncode == 2 and "positive number" in p.stderr


def test_trades_channel_counts_trades_in_summary():
    p = run_cli("replay", str(SAMPLES / "binance_futures.jsonl.gz"), "--headless", "--json", "--speed", "max")
    out = json.loads(p.stdout)
    tr = [s for s in out["streams"] if s["channel"] == "trades"]
    assert len(tr) == 4
    assert sum(s["trades"] for s in tr) == sum(s["messages"] for s in tr) > 0
    assert all(t["side"] in ("buy", "sell") for s in tr for t in s["last_trades"])


def test_summary_into_a_closed_pipe_is_no_traceback():
    cmd = (f"{sys.executable} -m wstui replay {SAMPLES / 'binance_futures.jsonl.gz'} --headless --speed max"
           " | head -1")
    p = subprocess.run(["bash", "-c", cmd + "; echo rc=${PIPESTATUS[0]}"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr
    assert p.stdout.startswith("replay ") and "rc=0" in p.stdout
