"""``wstui watch --headless`` as a service: no ``--duration`` runs until SIGTERM/SIGINT, which end it within
a second or two, exit 0, with the JSON summary printed.  Driven through the real command on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from live_util import ENV, ROOT, Served, closed_port, no_traceback, wstui_cmd


def start_watch(*args) -> subprocess.Popen:
    return subprocess.Popen(wstui_cmd("watch", *args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)


def stop_and_time(proc: subprocess.Popen, sig: int) -> tuple[float, int, str, str]:
    assert proc.poll() is None, proc.communicate()  # still running: no --duration means no end of its own
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running 10 s after signal {sig}: {err[-2000:]}")
    return time.monotonic() - t0, proc.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_headless_watch_runs_until_a_signal_then_exits_cleanly_with_the_summary(sig):
    with Served("--sim", "--rate", 50, "--seed", 5) as srv:
        proc = start_watch("kraken:BTC/USD", "--endpoint", f"kraken={srv.url('/v2')}", "--headless", "--json")
        time.sleep(3.0)
        took, rc, out, err = stop_and_time(proc, sig)
    no_traceback(err)
    assert rc == 0, err
    assert took < 2.0, took
    summary = json.loads(out)
    book = [s for s in summary["streams"] if s["key"] == "kraken:BTC/USD:book"][0]
    assert book["messages"] > 20 and book["state"] == "live"
    assert summary["elapsed_s"] >= 1.0  # it ran until told to stop (start-up takes a part of the 3 s)


def test_sigterm_ends_a_service_whose_feed_is_down_and_retrying():
    port = closed_port()
    proc = start_watch("kraken:BTC/USD", "--endpoint", f"kraken=ws://127.0.0.1:{port}", "--headless", "--json",
                       "--backoff-max", "30")
    time.sleep(4.0)  # several failed connects: it is waiting out a backoff delay now
    took, rc, out, err = stop_and_time(proc, signal.SIGTERM)
    no_traceback(err)
    assert rc == 0 and took < 2.0, (rc, took, err)
    summary = json.loads(out)
    assert summary["streams"][0]["state"] == "down"
    assert any(e["kind"] == "connect_failed" for e in summary["events"])


def test_a_signal_during_start_up_still_ends_it_cleanly():
    proc = start_watch("kraken:BTC/USD", "--endpoint", f"kraken=ws://127.0.0.1:{closed_port()}", "--headless",
                       "--json")
    time.sleep(1.2)  # inside start-up (setup), before or just as the event loop runs
    took, rc, out, err = stop_and_time(proc, signal.SIGTERM)
    no_traceback(err)
    assert rc == 0 and took < 2.0, (rc, took, err)
    assert json.loads(out)["source"] == "live"
