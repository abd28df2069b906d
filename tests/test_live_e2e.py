"""The whole live path offline: ``wstui watch --headless --json`` against ``wstui serve`` of a real capture
gives the same final books as ``wstui replay`` of that capture (both as subprocesses, a free port)."""

from __future__ import annotations

import json
import subprocess

from live_util import ENV, ROOT, Served, no_traceback, payloads, records, replay_json, wstui_cmd

LEVELS = "50"


def watch_json(*args) -> dict:
    p = subprocess.run(wstui_cmd("watch", "--headless", "--json", "--levels", LEVELS, *args), cwd=ROOT,
                       capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode in (0, 1), p.stderr  # 1: some stream unhealthy at the end (a capture served fast)
    no_traceback(p.stderr)
    doc = json.loads(p.stdout)
    assert p.returncode == (1 if doc["unhealthy"] else 0)
    return doc


def books(summary: dict) -> dict[str, dict]:
    return {s["key"]: s for s in summary["streams"] if s["channel"] == "book"}


def test_kraken_capture_served_then_watched_equals_replay(real):
    capture = real("kraken_v2_btcusd.jsonl.gz")
    with Served(capture, "--speed", 50) as srv:  # 50 s of traffic in about a second
        live = watch_json("kraken:BTC/USD", "--endpoint", f"kraken={srv.url()}", "--duration", 5)
    rep = replay_json(capture, "--levels", LEVELS)
    key = "kraken:BTC/USD:book"
    lv, rp = books(live)[key], books(rep)[key]
    assert live["source"] == "live" and rep["source"] == "replay"
    assert lv["book"] == rp["book"] and len(lv["book"]["bids"]) == 25
    assert lv["checksum_ok"] == rp["checksum_ok"] == 2052 and lv["checksum_failed"] == 0
    assert lv["messages"] == rp["messages"] and lv["book_state"] == "ok"
    assert lv["reconnects"] == 0 and lv["gaps"] == 0
    # the capture's own timestamps are months old: a clock offset, not a broken book
    assert lv["clock_offset_s"] < -30 * 86400


def test_binance_futures_capture_with_rest_from_the_server_equals_replay(real, tmp_path):
    capture = real("binance_futures.jsonl.gz")
    rec = tmp_path / "live.jsonl.gz"
    symbols = ["sushiusdt", "akrousdt", "keepusdt", "ctkusdt"]
    with Served(capture, "--speed", "max") as srv:
        live = watch_json(*(f"binance-futures:{s}" for s in symbols), "--endpoint",
                          f"binance-futures={srv.url()}", "--duration", 5, "--record", rec)
    rep = replay_json(capture, "--levels", LEVELS)
    lb, rb = books(live), books(rep)
    assert len(lb) == 4
    for key, want in rb.items():
        got = lb[key]
        assert got["book"] == want["book"], key
        assert got["book_levels"] == want["book_levels"], key
        assert got["book_state"] == "ok" and got["gaps"] == 0 and got["resyncs"] == 0, key
        assert got["messages"] == want["messages"], key
    # the REST snapshots came from the server over HTTP, and the recording holds them
    recs = records(rec)
    http = [r for r in recs if r["t"] == "http"]
    assert sorted(r["url"].split("symbol=")[1].split("&")[0] for r in http) == \
        sorted(s.upper() for s in symbols)
    assert all(r["url"].startswith("https://fapi.binance.com/fapi/v1/depth") for r in http)
    assert payloads(recs) == payloads(records(capture))
    # which replays to the same books again
    again = books(replay_json(rec, "--levels", LEVELS))
    for key, want in rb.items():
        assert again[key]["book"] == want["book"], key


def test_an_old_capture_served_at_1x_is_live_with_its_clock_offset_not_lagging(real):
    """The Kraken capture is months old: watched live at its own pace its stamps are months behind our
    clock, a constant offset (shown as clock_offset_s), not lag."""
    capture = real("kraken_v2_btcusd.jsonl.gz")
    with Served(capture) as srv:
        p = subprocess.run(wstui_cmd("watch", "--headless", "--json", "kraken:BTC/USD", "--endpoint",
                                     f"kraken={srv.url()}", "--duration", 4), cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env=ENV)
    no_traceback(p.stderr)
    doc = json.loads(p.stdout)
    book = books(doc)["kraken:BTC/USD:book"]
    assert book["state"] == "live", (book["state"], book["reason"])
    assert book["messages"] > 20 and book["latency_ms_p50"] > 30 * 86400 * 1000  # months by raw latency
    assert book["clock_offset_s"] < -30 * 86400
    assert not [e for e in doc["events"] if e["kind"] in ("lagging", "stale")]
    assert p.returncode == 0 and doc["unhealthy"] == []
