"""A live session whose books were repaired one at a time (Bitfinex: unsubscribe/subscribe by chanId,
Deribit: public/unsubscribe + public/subscribe) replays to the same result from its recording: the
resubscriptions and fresh snapshots are in the capture, so replay counts the same gaps, failures and
resyncs and ends with the same books."""

from __future__ import annotations

import json
import subprocess

import pytest

from live_util import ENV, ROOT, Served, no_traceback, replay_json, wstui_cmd


@pytest.mark.parametrize("venue,syms", [("bitfinex", ["tBTCUSD", "tETHUSD", "tSOLUSD"]),
                                        ("deribit", ["BTC-PERPETUAL", "ETH-PERPETUAL", "SOL-PERPETUAL"])])
def test_recorded_repairs_replay_to_the_same_books(tmp_path, venue, syms):
    rec = tmp_path / f"{venue}.jsonl.gz"
    with Served("--sim", "--rate", 50, "--seed", 9, "--fault", "gap@0.7s:1", "--fault", "corrupt@1.2s") as srv:
        p = subprocess.run(wstui_cmd("watch", *[f"{venue}:{s}" for s in syms], "--endpoint", f"{venue}={srv.url()}",
                                     "--headless", "--json", "--duration", 3.5, "--record", rec),
                           cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode == 0, p.stderr
    no_traceback(p.stderr)
    live = {s["key"]: s for s in json.loads(p.stdout)["streams"] if s["channel"] == "book"}
    replayed = {s["key"]: s for s in replay_json(rec)["streams"] if s["channel"] == "book"}
    assert set(live) == set(replayed) == {f"{venue}:{s}:book" for s in syms}
    assert sum(s["resyncs"] for s in live.values()) >= 1  # something was repaired
    for key, s in live.items():
        r = replayed[key]
        for field in ("gaps", "checksum_ok", "checksum_failed", "resyncs", "book_state", "book_levels", "book"):
            assert r[field] == s[field], (key, field, r[field], s[field])
