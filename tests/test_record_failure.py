"""A recording that cannot be written (disk full, I/O error) is reported at once, not at exit: an engine
event and note, the snapshot's ``recording_error`` (the TUI's banner, the JSON summary), a non-zero exit
for a headless run.  Nothing is buffered without bound meanwhile, and what was lost is counted."""

from __future__ import annotations

import errno
import json
import subprocess
import threading
import time

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd
from wstui.engine import Engine
from wstui.io.record import Recorder
from wstui.ui.app import banner_text


def _full(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _wait(cond, timeout=5.0):
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.01)
    return cond()


def test_a_full_disk_stops_buffering_and_counts_what_is_lost(tmp_path):
    rec = Recorder(tmp_path / "r.jsonl", flush_every=0.02)
    rec.connect("c", 1.0, "ws://x")
    assert _wait(lambda: rec.bytes_written > 0)
    rec._fh.write = _full  # the disk fills up
    for i in range(100):
        rec.recv("c", 2.0 + i, f'{{"i":{i}}}')
    assert _wait(lambda: rec.error is not None), "the writer's failure was not seen"
    assert "No space left on device" in rec.error
    for i in range(10_000):  # the session goes on: nothing more is kept in memory
        rec.recv("c", 200.0 + i, '{"more":1}')
    assert rec.buffered_bytes == 0 and not rec._buf
    assert rec.dropped == 10_100  # the 100 the writer could not write, and every one after
    rec.close()
    assert "No space left on device" in rec.error


def test_a_slow_disk_bounds_the_buffer(tmp_path, monkeypatch):
    rec = Recorder(tmp_path / "r.jsonl", flush_every=0.02, max_buffer=10_000)
    gate = threading.Event()
    real_write = rec._fh.write

    def slow(b):
        gate.wait(5)
        return real_write(b)

    rec._fh.write = slow
    rec.connect("c", 1.0, "ws://x")
    time.sleep(0.1)  # the writer is now stuck in write()
    for i in range(1000):
        rec.recv("c", 2.0 + i, "x" * 100)
    assert rec.buffered_bytes <= 10_000
    assert rec.dropped > 800
    assert rec.error is None
    assert rec.overflow_note() is not None and "dropped" in rec.overflow_note()
    gate.set()
    rec.close()
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(lines) == 2 + 1000 - rec.dropped  # header, connect, the frames kept


def test_banner_shows_a_failed_recording():
    import dataclasses

    snap = dataclasses.replace(Engine(source="live").snapshot(), recording_error="recording to x failed: disk full",
                               recording_dropped=42)
    text, level = banner_text(snap)
    assert level == "bad"
    assert "RECORDING FAILED" in text.plain and "disk full" in text.plain and "42" in text.plain


def test_watch_record_to_a_full_device_fails_at_once_and_exits_non_zero():
    with Served("--sim", "--seed", 5) as srv:
        t0 = time.time()
        p = subprocess.run(wstui_cmd("watch", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url('/v2')}",
                                     "--record", "/dev/full", "--duration", 3, "--headless", "--json"),
                           cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode == 1, (p.returncode, p.stderr)
    no_traceback(p.stderr)
    out = json.loads(p.stdout)
    assert "No space left on device" in out["recording_error"]
    assert out["recording_dropped"] > 0
    ev = [e for e in out["events"] if e["kind"] == "record_failed"]
    assert len(ev) == 1 and "No space left on device" in ev[0]["detail"]
    assert ev[0]["ts"] - t0 < 2.0  # at once, not at exit (3 s)
    assert any("recording" in n and "failed" in n for n in out["notes"])
    assert "No space left on device" in p.stderr
    # the live view itself carried on
    book = [s for s in out["streams"] if s["key"] == "kraken:BTC/USD:book"][0]
    assert book["book_state"] == "ok" and book["messages"] > 10


def test_record_to_a_full_device_exits_non_zero():
    with Served("--sim", "--seed", 5) as srv:
        p = subprocess.run(wstui_cmd("record", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url('/v2')}",
                                     "-o", "/dev/full", "--duration", 2), cwd=ROOT, capture_output=True, text=True,
                           timeout=60, env=ENV)
    assert p.returncode == 1, (p.returncode, p.stderr)
    no_traceback(p.stderr)
    assert "No space left on device" in p.stderr and "dropped" in p.stderr
