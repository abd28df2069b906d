"""Kraken v2 spoken by `wstui serve --sim`, watched live through the real command."""

from __future__ import annotations

import json
import subprocess

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd


def watch(srv, *args, duration=3) -> dict:
    p = subprocess.run(wstui_cmd("watch", "--headless", "--json", "--endpoint", f"kraken={srv.url()}", "--duration",
                                 duration, *args), cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
    no_traceback(p.stderr)
    return json.loads(p.stdout)


def test_an_unknown_pair_gets_krakens_own_error_and_the_known_ones_verify():
    with Served("--sim", "--rate", "40", "--seed", "2") as srv:
        out = watch(srv, "kraken:BTC/USD", "kraken:NOPE/USD")
    st = {s["key"]: s for s in out["streams"]}
    good = st["kraken:BTC/USD:book"]
    assert good["book_state"] == "ok" and good["checksum_ok"] > 20 and good["checksum_failed"] == 0
    bad = st["kraken:NOPE/USD:book"]
    assert bad["messages"] == 0 and bad["parse_errors"] == 1
    said = [e for e in out["events"] if e["stream"] == "kraken:NOPE/USD:book" and e["kind"] == "parse_error"]
    assert said and "Currency pair not supported NOPE/USD" in said[0]["detail"]
