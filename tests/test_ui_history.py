"""What a viewer that arrives late is shown of the past, the way a user meets it: the detail screen
(Enter on a stream) of the TUI replaying an hour of a real Kraken book at full speed shows that hour's
rate and latency as sparklines over a time axis, a state strip with the minute it was stale, and its
state changes; the events log and the JSON summary say how many events the bounded log dropped, and the
session's first events are still there."""

from __future__ import annotations

import asyncio

import pytest
from conftest import real_feed
from hour_capture import BURST, SILENCE, SLOW, hour_capture, schedule
from test_ui_app import ended, make_app, until

from wstui import engine as engine_mod
from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.runner import run_source
from wstui.summary import summary_json
from wstui.ui import fmt
from wstui.ui.app import WstuiApp
from wstui.ui.widgets.detail import StreamDetail
from wstui.ui.widgets.events import EventsScreen
from wstui.ui.widgets.streams import StreamsTable

KEY = "kraken:BTC/USD:book"


async def test_the_detail_screen_shows_the_last_hour_in_80_columns(tmp_path):
    path, t0 = hour_capture(tmp_path)
    app = make_app(path, speed=None, stale_after=5.0)
    async with app.run_test(size=(80, 60)) as pilot:
        assert await until(pilot, lambda: ended(app))
        app.query_one(StreamsTable).select(KEY)
        await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, StreamDetail) and screen.key == KEY
        s = app.snap.stream(KEY)
        assert s.checksum_failed == 0 and s.checksum_ok == 2052  # the real book, re-timed, intact
        h = s.hour
        assert h is not None and len(h.rate) == 3600 and sum(h.rate) > 1500
        lines = screen.text.splitlines()
        at = next(i for i, ln in enumerate(lines) if ln.startswith(" last 1h 00m (per minute"))
        section = lines[at:at + 9]
        assert all(len(ln) <= 78 for ln in section), section  # readable in 80 columns
        rate, lat, strip = (section[k].split("│", 1)[-1] for k in (1, 2, 3))
        axis = section[4]
        assert section[1].startswith(" msg/s  │") and section[2].startswith(" lat ms │")
        assert section[3].startswith(" state  │") and section[4].startswith("        └")
        assert len(rate) == len(lat) == len(strip) == 60  # a column a minute

        def col(rel: float) -> int:  # the column of a time relative to the first book frame
            return int((t0 + rel - h.start) // 60)

        # the burst is the tallest part of the rate line, the silent minute is blank
        burst = range(col(BURST[0]) + 1, col(BURST[1]))
        assert all(rate[c] == "█" for c in burst), rate
        assert all(rate[c] in "▁▂▃" for c in range(col(BURST[1]) + 1, col(SILENCE[0]) - 1)), rate
        assert " " in rate[col(SILENCE[0]):col(SILENCE[1]) + 1]
        # the slow spell is the tallest part of the latency line
        assert all(lat[c] == "█" for c in range(col(SLOW[0]) + 1, col(SLOW[1]))), lat
        assert lat[col(SLOW[1]) + 2] in "▁▂"
        # the state strip: stale exactly in the minutes of the silence, live elsewhere
        last = max(x for x in schedule(s.messages) if x < SILENCE[0])  # the last frame before the silence
        stale_cols = [c for c, g in enumerate(strip) if g == "S"]
        assert stale_cols and stale_cols[0] == col(last + 5.0) and stale_cols[-1] == col(SILENCE[1])
        assert set(strip) == {"─", "S"}, strip
        assert fmt.clock(h.start, 0)[:5] in axis and fmt.clock(h.end, 0)[:5] in axis
        # the figures, with the times they happened
        text = "\n".join(lines)
        assert "peak 5/s at " in text
        peak_at = lines[at + 5].split("peak 5/s at ")[1][:8]
        assert fmt.clock(t0 + BURST[0], 0) <= peak_at < fmt.clock(t0 + BURST[1], 0)
        assert " median 30 ms, max 390 ms at " in lines[at + 6]  # 30 and 400 ms, within the 3 % of a code
        worst_at = lines[at + 6].split(" at ")[1][:8]
        assert fmt.clock(t0 + SLOW[0], 0) <= worst_at < fmt.clock(t0 + SLOW[1], 0)
        # the state changes: the stale spell, when and how long, and the live one since
        stale = next(tr for tr in h.states if tr.state == "stale")
        assert stale.ts == pytest.approx(t0 + last + 5.0, abs=0.01)  # when the 5-s threshold ran out
        row = next(ln for ln in lines if "STALE (connection silent)" in ln and fmt.clock(stale.ts) in ln)
        assert "lasted 1m 0" in row
        assert any("● live" in ln and "lasted 30m" in ln for ln in lines)


def _looped(events_max: int, loops: int = 30):
    engine = Engine(stale_after=5.0, events_max=events_max)
    src = Replay(real_feed("deribit.jsonl.gz"), speed=None, loops=loops)
    return engine, src


def test_the_json_summary_counts_the_events_dropped_and_keeps_the_first(monkeypatch):
    monkeypatch.setattr(engine_mod, "EVENTS_FIRST", 3)
    engine, src = _looped(events_max=10)
    asyncio.run(run_source(engine, src, fps=20))
    out = summary_json(engine.latest)
    total = out["events_total"]
    assert total >= 30 + 1  # a connect each pass, and the end
    assert out["events_head"] == 3 and len(out["events"]) == 13
    assert out["events_dropped"] == total - 13
    first = out["events"][:3]
    assert first[0]["kind"] == "connect"
    # the first events are the session's very first (the first pass's connect), the rest the latest
    assert first == [{"ts": round(e.ts, 6), "stream": e.stream, "kind": e.kind, "cause": e.cause,
                      "detail": e.detail} for e in engine.events_first[:3]]
    assert out["events"][-1]["kind"] == "ended"
    assert out["events"][3]["ts"] >= first[-1]["ts"]
    # with nothing dropped, nothing is said
    engine, src = _looped(events_max=1000, loops=2)
    asyncio.run(run_source(engine, src, fps=20))
    out = summary_json(engine.latest)
    assert out["events_dropped"] == 0 and out["events_head"] == 0 and len(out["events"]) == out["events_total"]


async def test_the_events_log_says_how_many_were_dropped_and_where(monkeypatch):
    monkeypatch.setattr(engine_mod, "EVENTS_FIRST", 3)
    engine, src = _looped(events_max=10)
    app = WstuiApp(engine, src, fps=20.0)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        snap = app.snap
        dropped = snap.events_dropped
        assert dropped == snap.events_total - 13 and dropped > 10
        await pilot.press("e")
        await pilot.pause(0.1)
        assert isinstance(app.screen, EventsScreen)
        log = app.screen.events_log
        rows = log.rows_text
        assert f"{snap.events_total:,} total, {dropped:,} dropped" in rows[0]
        # the marker sits between the latest 10 and the first 3
        marker = next(i for i, r in enumerate(rows) if "earlier events dropped" in r)
        events = [i for i, r in enumerate(rows) if r[1:3].isdigit()]  # (not a long detail's next lines)
        assert sum(1 for i in events if i < marker) == 10, rows
        assert f"{dropped:,} earlier events dropped between the first 3 and the latest" in rows[marker]
        first = [rows[i] for i in events if i > marker]
        for row, ev in zip(first, reversed(snap.events[:3])):  # the session's first
            assert fmt.clock(ev.ts) in row and ev.kind in row and ev.stream[:30] in row, (row, ev)
        assert len(first) == 3 and "connect" in first[2]  # the very first: the first pass's connection
        assert "ended" in rows[1]  # and the newest on top


@pytest.mark.parametrize("width", [80, 120])
def test_the_hour_charts_fit_the_width(tmp_path, width):
    from conftest import replay

    from wstui.ui.widgets.detail import detail_text

    path, _t0 = hour_capture(tmp_path)
    _engine, snap = replay(path, stale_after=5.0)
    lines = detail_text(snap, KEY, width).plain.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith(" last 1h 00m"))
    assert all(len(ln) <= width - 2 for ln in lines[at:at + 9]), lines[at:at + 9]
    cols = len(lines[at + 1].split("│", 1)[1])
    assert cols == (60 if width == 80 else 90)


def test_the_axis_of_a_short_history_never_glues_two_clock_labels():
    """Seen in tmux at 80x24: 16 s of history gave '└05:51:2605:51:42'; the end's label wins, alone."""
    import re

    from wstui.ui.widgets.detail import _axis

    for n in range(8, 40):
        axis = _axis(1796183486, 1, n)
        assert not re.search(r"\d\d:\d\d:\d\d\d", axis), (n, axis)
        assert axis.endswith(f"{(1796183486 + n) // 60 % 60:02d}:{(1796183486 + n) % 60:02d}"), (n, axis)
