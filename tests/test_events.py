"""``--events FILE``: every event as one JSON line, flushed at once, none lost; through the real commands (a
headless service over ``wstui serve --sim`` with a stall, a replay to stdout, the TUI in tmux)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from live_util import ENV, ROOT, Served, closed_port, no_traceback, wstui_cmd
from service_util import Service, value
from test_ui_e2e import WSTUI, tmux  # noqa: F401  (the fixture)
from wstui.core.stream import Event
from wstui.engine import Engine
from wstui.eventlog import EventLog

KEYS = {"ts", "stream", "kind", "cause", "detail", "seq"}
BOOK = "kraken:BTC/USD:book"


def read_lines(path) -> list[dict]:
    if not path.exists():
        return []
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "a line was left half written"
    return [json.loads(line) for line in text.splitlines()]


def wait_lines(path, pred, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    lines: list[dict] = []
    while time.monotonic() < deadline:
        lines = read_lines(path)
        if pred(lines):
            return lines
        time.sleep(0.05)
    raise AssertionError(f"the events file never showed it: {lines}")


def test_a_headless_service_writes_each_event_as_it_happens_and_loses_none(tmp_path):
    log = tmp_path / "events.jsonl"
    with Served("--sim", "--rate", 50, "--seed", 3, "--fault", "stall@2s:2s") as srv, \
            Service("watch", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url('/v2')}", "--headless", "--json",
                    "--stale-after", "1", "--events", str(log)) as svc:
        wait_lines(log, lambda ls: any(e["kind"] == "connect" for e in ls))
        stale = wait_lines(log, lambda ls: any(e["kind"] == "stale" and e["stream"] == BOOK for e in ls))
        seen_at = time.time()
        ev = [e for e in stale if e["kind"] == "stale" and e["stream"] == BOOK][0]
        # on disk within moments of the stream going stale (flushed at once, not at exit)
        assert seen_at - ev["ts"] < 2.5, seen_at - ev["ts"]
        assert "no data for" in ev["detail"]
        wait_lines(log, lambda ls: any(e["kind"] == "recovered" and e["stream"] == BOOK for e in ls))
        svc.wait_for(lambda m: value(m, "wstui_stream_state", state="live", venue="kraken", channel="book") == 1)
        rc, out = svc.stop(signal.SIGTERM)
    assert rc == 0
    summary = json.loads(out)
    lines = read_lines(log)
    assert all(set(e) == KEYS for e in lines)
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert len(lines) == summary["events_total"]  # every event the engine raised, none lost
    assert not any(e["kind"] == "events_dropped" for e in lines)
    tail = summary["events"]
    assert [(e["kind"], e["stream"], e["detail"]) for e in lines[-len(tail):]] == \
        [(e["kind"], e["stream"], e["detail"]) for e in tail]


def test_events_to_stdout_from_a_replay_at_full_speed(tmp_path):
    p = subprocess.run(wstui_cmd("replay", ROOT / "sample_feeds" / "binance_futures.jsonl.gz", "--headless",
                                 "--json", "--speed", "max", "--events", "-"), cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env=ENV)
    assert p.returncode == 0, p.stderr
    no_traceback(p.stderr)
    *events, summary = [json.loads(line) for line in p.stdout.splitlines()]
    assert summary["events_total"] == len(events) >= 2  # every event the engine raised, before the summary
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["kind"] == "connect" and events[-1]["kind"] == "ended"
    assert all(set(e) == KEYS for e in events)


def test_an_overflowing_burst_is_reported_not_silently_lost(tmp_path):
    engine = Engine(events_max=10)
    log = EventLog(engine, str(tmp_path / "ev.jsonl"))
    for i in range(4):
        engine.event(Event(float(i), "s", "gap", f"n{i}"))
    engine.publish()
    for i in range(4, 29):  # 25 events between two writes, the buffer keeps 10
        engine.event(Event(float(i), "s", "gap", f"n{i}"))
    engine.publish()
    engine.publish()  # nothing new: nothing written
    log.close()
    lines = read_lines(tmp_path / "ev.jsonl")
    assert [e["detail"] for e in lines[:4]] == ["n0", "n1", "n2", "n3"]
    drop = lines[4]
    assert drop["kind"] == "events_dropped" and drop["detail"].startswith("15 event(s) lost") and drop["seq"] == 19
    assert [e["detail"] for e in lines[5:]] == [f"n{i}" for i in range(19, 29)]
    assert [e["seq"] for e in lines[5:]] == list(range(20, 30))
    assert log.written == 14 and log.dropped == 15


def test_a_cause_on_events_is_written_when_the_health_model_gives_one(tmp_path):
    from typing import NamedTuple

    class CausedEvent(NamedTuple):
        ts: float
        stream: str
        kind: str
        detail: str
        cause: str

    engine = Engine()
    log = EventLog(engine, str(tmp_path / "ev.jsonl"))
    engine.event(CausedEvent(1.0, "k", "stale", "no data", "feed_silent"))
    engine.event(Event(2.0, "k", "recovered", "data again"))
    log.close()
    a, b = read_lines(tmp_path / "ev.jsonl")
    assert a["cause"] == "feed_silent" and b["cause"] == ""


def test_an_unwritable_events_file_is_a_clear_error(tmp_path):
    p = subprocess.run(wstui_cmd("watch", "kraken:BTC/USD", "--headless", "--events", tmp_path / "no" / "ev.jsonl"),
                       cwd=ROOT, capture_output=True, text=True, timeout=30, env=ENV)
    assert p.returncode == 2 and "cannot write events to" in p.stderr, p.stderr
    no_traceback(p.stderr)
    # stdout belongs to the TUI's screen: events there only with --headless
    p = subprocess.run(wstui_cmd("replay", ROOT / "sample_feeds" / "binance.jsonl.gz", "--events", "-"), cwd=ROOT,
                       capture_output=True, text=True, timeout=30, env=ENV)
    assert p.returncode == 2 and "needs --headless" in p.stderr and p.stdout == "", (p.stdout, p.stderr)


def test_metrics_and_events_alongside_the_tui(tmux, tmp_path):  # noqa: F811
    log = tmp_path / "events.jsonl"
    port = closed_port()
    with Served("--sim", "--rate", 20, "--seed", 9) as srv:
        tmux("respawn-pane", "-k", "-t", "e2e",
             f"sh -c 'TERM=xterm-256color {WSTUI} watch kraken:BTC/USD --endpoint kraken={srv.url('/v2')} "
             f"--metrics 127.0.0.1:{port} --events {log}; echo WSTUI_EXIT=$?; sleep 60'")
        tmux.wait_for(lambda s: "kraken" in s and "live" in s, timeout=30)
        from service_util import http_get, parse

        deadline = time.monotonic() + 10
        while True:
            try:
                status, _ct, body = http_get(f"http://127.0.0.1:{port}/metrics")
                m = parse(body)
                if value(m, "wstui_stream_messages_total", venue="kraken", channel="book") > 10:
                    break
            except (OSError, AssertionError):
                pass
            assert time.monotonic() < deadline, "no metrics from the TUI"
            time.sleep(0.2)
        assert value(m, "wstui_connection_up", conn="KRAKEN.ws.1", venue="kraken") == 1
        wait_lines(log, lambda ls: any(e["kind"] == "connect" for e in ls))
        tmux("send-keys", "-t", "e2e", "q")
        screen = tmux.wait_for("WSTUI_EXIT=", timeout=15)
    assert "WSTUI_EXIT=0" in screen and "Traceback" not in screen, screen
