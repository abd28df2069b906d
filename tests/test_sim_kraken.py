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


FOUR = ("kraken:BTC/USD", "kraken:ETH/USD", "kraken:SOL/USD", "kraken:XRP/USD")


def books(out: dict) -> dict[str, dict]:
    return {s["symbol"]: s for s in out["streams"] if s["channel"] == "book"}


def test_a_gap_on_one_of_four_books_resubscribes_that_book_alone():
    with Served("--sim", "--rate", "40", "--seed", "3", "--fault", "gap@1.5s:1", "--fault", "corrupt@3s:1") as srv:
        out = watch(srv, *FOUR, duration=5)
    b = books(out)
    hit = [s for s, v in b.items() if v["checksum_failed"]]
    assert 1 <= len(hit) <= 2, {s: v["checksum_failed"] for s, v in b.items()}  # the gap's book, the corrupt's
    for sym, v in b.items():
        assert v["book_state"] == "ok" and v["reconnects"] == 0, (sym, v["book_state"], v["reconnects"])
        assert v["resyncs"] == v["checksum_failed"], (sym, v["resyncs"], v["checksum_failed"])
        assert v["checksum_ok"] > 50
    assert sum(v["checksum_failed"] for v in b.values()) == 2
    kinds = [e["kind"] for e in out["events"]]
    assert kinds.count("resubscribe") == 2 and "disconnect" not in kinds


def test_mute_silences_one_market_while_the_rest_flows():
    with Served("--sim", "--rate", "40", "--seed", "4", "--fault", "mute@1s:30s:ETH/USD") as srv:
        out = watch(srv, *FOUR, duration=4)
    b = books(out)
    assert b["ETH/USD"]["last_age_s"] > 2.0
    for sym in ("BTC/USD", "SOL/USD", "XRP/USD"):
        assert b[sym]["last_age_s"] < 1.0 and b[sym]["checksum_ok"] > 50


def test_a_disconnect_reconnects_and_every_book_verifies_again():
    with Served("--sim", "--rate", "40", "--seed", "5", "--fault", "disconnect@1.5s") as srv:
        out = watch(srv, *FOUR, duration=5)
    for sym, v in books(out).items():
        assert v["reconnects"] == 1 and v["book_state"] == "ok" and v["checksum_failed"] == 0, sym
