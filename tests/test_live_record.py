"""Recording loses nothing: every frame the server sent is in the file, in order, byte for byte, across
reconnects; a clean stop or SIGTERM finishes the file; after kill -9 at most the last second is missing
and the file still replays.  ``wstui serve`` and ``wstui record`` run as subprocesses on loopback."""

from __future__ import annotations

import gzip
import io
import json
import signal
import subprocess
import time

import orjson
import zstandard

from live_util import ENV, ROOT, Served, book_of, no_traceback, payloads, records, replay_json, wstui_cmd

KRAKEN = "kraken_v2_btcusd.jsonl.gz"


def test_record_round_trip_across_a_reconnect(tmp_path, real):
    capture = real(KRAKEN)
    log = tmp_path / "served.jsonl.gz"
    out = tmp_path / "rec.jsonl.zst"
    with Served(capture, "--speed", 40, "--fault", "disconnect@0.6s", "--log", log) as srv:
        p = subprocess.run(wstui_cmd("record", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url()}", "-o", out,
                                     "--duration", 4), cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode == 0, p.stderr
    no_traceback(p.stderr)
    assert srv.faults() and srv.faults()[0][2] == 1
    sent = payloads(records(log))
    recs = records(out)
    got = payloads(recs)
    # every frame the server sent, in order, the same bytes; the second connection replayed it all
    src = payloads(records(capture))
    assert got == sent
    assert len(src) < len(got) < 2 * len(src) and got[-len(src):] == src
    assert f"{len(got)} frames" in p.stderr
    # the file: header first, two connections, subscriptions sent on each, a disconnect between
    assert recs[0]["t"] == "header" and recs[0]["format"] == 2 and recs[0]["exchange"] == "KRAKEN"
    assert recs[0]["config"]["l2_book"] == ["BTC-USD"]
    kinds = [r["t"] for r in recs]
    assert kinds.count("connect") == 2 and kinds.count("disconnect") >= 1
    assert all(r["conn"] == "KRAKEN.ws.1" for r in recs[1:])
    assert "code 1012" in [r for r in recs if r["t"] == "disconnect"][0]["reason"]
    assert sum(1 for r in recs if r["t"] == "send" and '"subscribe"' in r["data"]) == 4
    ts = [r["ts"] for r in recs[1:]]
    assert ts == sorted(ts)  # receive times, in order
    # cryptofeed reads it the way its CaptureReader does (zstandard.open, header line first)
    with io.BufferedReader(zstandard.open(str(out), "rb")) as fh:
        head = json.loads(fh.readline())
        rest = [json.loads(line) for line in fh if line.strip()]
    assert head["t"] == "header" and head["format"] == 2 and isinstance(head["config"], dict)
    assert sum(1 for r in rest if r["t"] == "recv") == len(got)
    # and it replays to the same final book as the original capture
    mine, orig = replay_json(out), replay_json(capture)
    key = "kraken:BTC/USD:book"
    assert book_of(mine, key)["book"] == book_of(orig, key)["book"]
    assert book_of(mine, key)["checksum_failed"] == 0
    assert book_of(mine, key)["checksum_ok"] > book_of(orig, key)["checksum_ok"]  # one pass and a part
    assert mine["bad_records"] == []


def _record_sim(tmp_path, stop_signal: int, after: float = 3.0):
    log = tmp_path / "served.jsonl.gz"
    out = tmp_path / "rec.jsonl.gz"
    with Served("--sim", "--rate", 200, "--seed", 2, "--log", log) as srv:
        p = subprocess.Popen(wstui_cmd("record", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url()}", "-o", out),
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        deadline = time.time() + 15
        while time.time() < deadline and not (out.exists() and out.stat().st_size > 2000):
            time.sleep(0.1)
        time.sleep(after)
        t_stop = time.time()
        p.send_signal(stop_signal)
        _o, err = p.communicate(timeout=20)
    return p.returncode, err, t_stop, records(log), out


def test_sigterm_leaves_everything_received_on_disk(tmp_path):
    rc, err, _t, served, out = _record_sim(tmp_path, signal.SIGTERM)
    assert rc == 0, err
    no_traceback(err)
    with gzip.open(out, "rb") as fh:  # a complete gzip file (trailer written)
        lines = fh.read().splitlines()
    recs = [orjson.loads(x) for x in lines]
    got = payloads(recs)
    assert f"{len(got)} frames" in err  # everything received is in the file
    sent = payloads(served)
    assert len(got) > 300 and got == sent[:len(got)]  # in order, same bytes, nothing missing in between


def test_kill_9_loses_at_most_the_last_second_and_still_replays(tmp_path):
    rc, err, t_kill, served, out = _record_sim(tmp_path, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    got = payloads(records(out))
    sent = payloads(served)
    assert got == sent[:len(got)]
    # every frame the server sent more than a second before the kill is in the file
    sent_ts = [r["ts"] for r in served if r["t"] == "recv"]
    due = sum(1 for t in sent_ts if t <= t_kill - 1.0)
    assert len(got) >= due > 300
    summary = replay_json(out)
    book = book_of(summary, "kraken:BTC/USD:book")
    assert book["checksum_ok"] > 300 and book["checksum_failed"] == 0
    assert summary["messages"] == len(got)
    # the truncated end is reported, not fatal (a torn last line too, when there is one)
    assert all("truncated" in b["error"] or "not JSON" in b["error"] for b in summary["bad_records"])
