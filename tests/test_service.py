"""``wstui watch --headless`` as a service: no ``--duration`` runs until SIGTERM/SIGINT, which end it within
a second or two, exit 0, with the JSON summary printed.  Driven through the real command on loopback; the
service is known to be up when its ``--metrics`` address is printed (a loaded machine can take seconds to
start Python), so no test guesses with a fixed sleep."""

from __future__ import annotations

import json
import signal
import time

import pytest

from live_util import Served, closed_port, no_traceback
from service_util import Service, value


def stop_and_time(svc: Service, sig: int) -> tuple[float, int, str, str]:
    rc, out = svc.stop(sig)
    return svc.stopped_in, rc, out, "\n".join(svc.err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_headless_watch_runs_until_a_signal_then_exits_cleanly_with_the_summary(sig):
    with Served("--sim", "--rate", 50, "--seed", 5) as srv:
        svc = Service("watch", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url('/v2')}", "--headless", "--json")
        svc.wait_for(lambda m: value(m, "wstui_stream_messages_total", venue="kraken", channel="book") > 20)
        time.sleep(1.0)
        took, rc, out, err = stop_and_time(svc, sig)
    no_traceback(err)
    assert rc == 0, err
    assert took < 2.0, took
    summary = json.loads(out)
    book = [s for s in summary["streams"] if s["key"] == "kraken:BTC/USD:book"][0]
    assert book["messages"] > 20 and book["state"] == "live"


def test_sigterm_ends_a_service_whose_feed_is_down_and_retrying():
    port = closed_port()
    svc = Service("watch", "kraken:BTC/USD", "--endpoint", f"kraken=ws://127.0.0.1:{port}", "--headless", "--json",
                  "--backoff-max", "30")
    svc.wait_for(lambda m: value(m, "wstui_connection_reconnects_total", conn="KRAKEN.ws.1", venue="kraken") == 0
                 and value(m, "wstui_events_total") >= 6)  # connect, down x2, retries failed: in a backoff now
    took, rc, out, err = stop_and_time(svc, signal.SIGTERM)
    no_traceback(err)
    assert rc == 0 and took < 2.0, (rc, took, err)
    summary = json.loads(out)
    assert summary["streams"][0]["state"] == "down"
    assert any(e["kind"] == "connect_failed" for e in summary["events"])


def test_a_signal_during_start_up_still_ends_it_cleanly():
    # signalled the moment it is set up: before, or just as, its event loop starts
    svc = Service("watch", "kraken:BTC/USD", "--endpoint", f"kraken=ws://127.0.0.1:{closed_port()}", "--headless",
                  "--json")
    took, rc, out, err = stop_and_time(svc, signal.SIGTERM)
    no_traceback(err)
    assert rc == 0 and took < 2.0, (rc, took, err)
    assert json.loads(out)["source"] == "live"
