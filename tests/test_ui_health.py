"""Faults stay visible in the TUI (Textual pilot): a problem that came and went is held on its row and
then kept as "last problem"; the banner counts every unhealthy state; the events log opens full screen
(key e), scrolls back to the first event kept and filters by kind and stream."""

from __future__ import annotations

import dataclasses

from conftest import SAMPLES, later_copy, read_records, real_feed, replay, write_records
from test_ui_app import ended, make_app, until

from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.ui.app import WstuiApp, banner_text
from wstui.ui import fmt
from wstui.ui.widgets.events import ALARMS, EventsScreen
from wstui.ui.widgets.streams import StreamsTable

KEY = "kraken:BTC/USD:book"


def disconnect_capture(tmp_path):
    """The Kraken session, a disconnect, and 0.4 s later the session again (a reconnection)."""
    recs = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))
    recs = [r for r in recs if r["t"] == "header" or r["ts"] <= recs[1]["ts"] + 8.0]
    end = recs[-1]["ts"]
    bye = {"t": "disconnect", "conn": "KRAKEN.ws.1", "ts": end + 0.001, "reason": "server closed (code 1012)"}
    return write_records(tmp_path / "reconnect.jsonl.gz", recs + [bye] + later_copy(recs, pause=0.4))


async def test_a_problem_that_ended_is_held_then_kept_as_last_problem(tmp_path):
    """A 0.4 s disconnect (a few frames at 10x): the row says "↺ was DOWN" for seconds after it, and
    the last problem (what, how long, when) stays in the row."""
    path = disconnect_capture(tmp_path)
    # the copy's exchange stamps are not shifted with its receive stamps: no lag verdict in this test
    app = WstuiApp(Engine(lag_after=1e9, file=str(path)), Replay(path, speed=10.0), fps=20.0, engine_mode="task")
    seen = {"held": 0, "after": 0, "mark": False}

    def look() -> bool:
        table = app.query_one(StreamsTable)
        if app.snap is not None and KEY in table.keys:
            state = table.cell(KEY, "state")
            if state.startswith("↺ was DOWN"):
                seen["held"] += 1
                seen["mark"] = seen["mark"] or "!" in table.cell(KEY, "spark")  # the sparkline marks the moment
                assert table.cell(KEY, "why").startswith("last: DOWN (link down) 0.4 s at "), table.cell(KEY, "why")
            elif seen["held"]:
                seen["after"] += 1
        return ended(app) and seen["after"] > 0

    async with app.run_test(size=(160, 40)) as pilot:
        assert await until(pilot, look, timeout=20, step=0.02), seen
        assert seen["held"] >= 20  # held about 3 s (polled every 20 ms): long enough to be seen
        assert seen["mark"]
        table = app.query_one(StreamsTable)
        # long after, the row still tells what happened, when and for how long
        why = table.cell(KEY, "why")
        assert why.startswith("last: DOWN (link down) 0.4 s at "), why
        lp = app.snap.stream(KEY).last_problem
        assert lp.state == "down" and lp.cause == "link_down" and abs(lp.lasted - 0.4) < 0.01


def test_the_banner_counts_every_unhealthy_state():
    _engine, snap = replay(SAMPLES / "binance_futures.jsonl.gz")
    views = list(snap.streams)
    views[0] = dataclasses.replace(views[0], state="stale", cause="stream_silent", last_age_s=7.0)
    views[1] = dataclasses.replace(views[1], state="stale", cause="connection_silent", last_age_s=6.0)
    views[2] = dataclasses.replace(views[2], state="down", cause="link_down")
    views[3] = dataclasses.replace(views[3], state="lagging", cause="exchange_behind")
    views[4] = dataclasses.replace(views[4], state="out_of_sync", cause="book_gap")
    text, level = banner_text(dataclasses.replace(snap, streams=tuple(views), ended=False))
    assert level == "bad"
    assert text.plain.startswith(" ▼ 1 DOWN · ✖ 2 STALE · ✖ 1 OUT OF SYNC · ▲ 1 LAGGING │")
    assert "(stream silent, 7.0s)" in text.plain and "(link down)" in text.plain and "(book gap)" in text.plain
    # lagging alone is a warning, and a healthy run names the quiet streams and the clock offset
    only_lag = [dataclasses.replace(v, state="live") for v in views]
    only_lag[3] = views[3]
    assert banner_text(dataclasses.replace(snap, streams=tuple(only_lag), ended=False))[1] == "warn"
    calm = [dataclasses.replace(v, state="quiet" if i < 2 else "live", clock_offset_s=-1.05e7)
            for i, v in enumerate(views)]
    text, level = banner_text(dataclasses.replace(snap, streams=tuple(calm), ended=False))
    assert level == "ok" and "2 quiet" in text.plain
    assert "exchange clock 4 months behind: a replayed capture?" in text.plain


async def test_events_log_full_screen_scrolls_back_and_filters():
    path = real_feed("binance.jsonl.gz")
    app = make_app(path, speed=None, stale_after=2.0, fps=20.0)  # an explicit threshold: many events
    async with app.run_test(size=(120, 30)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        total = len(app.snap.events)
        assert total > 40
        await pilot.press("e")
        await pilot.pause(0.1)
        assert isinstance(app.screen, EventsScreen)
        log = app.screen.events_log
        rows = log.rows_text
        assert "newest first" in rows[0] and len(rows) == 29 - 1 + 1 - 1 or len(rows) >= 20
        await pilot.press("end")  # to the first event kept
        await pilot.pause(0.05)
        rows = log.rows_text
        assert "newer above" in rows[0]
        first = app.snap.events[0]
        assert first.kind in rows[1] and first.stream in rows[1]
        await pilot.press("home", "a")  # alarms only
        await pilot.pause(0.05)
        rows = log.rows_text
        assert "alarms only" in rows[0]
        events = [r for r in rows[1:] if r[1:3].isdigit()]  # (not a long detail's next lines)
        assert events and all(any(f" {k} " in r for k in ALARMS) for r in events), rows
        # a long detail goes on over the next lines, under its start: every word is on screen
        await pilot.resize_terminal(90, 30)
        await pilot.pause(0.2)
        rows = log.rows_text
        more = [i for i, r in enumerate(rows) if i > 1 and r.strip() and not r[1:3].isdigit()]
        assert more, rows
        at = max(i for i in range(more[0]) if rows[i][1:3].isdigit())  # the event the first one continues
        start = len(rows[more[0]]) - len(rows[more[0]].lstrip())
        said = " ".join([rows[at][start:].strip()] + [rows[i].strip() for i in range(at + 1, len(rows))
                                                       if i in more and all(j in more for j in range(at + 1, i))])
        details = {f"[{fmt.cause(e.cause)}] {e.detail}" if e.cause else e.detail for e in app.snap.events}
        assert said in details, (said, rows[at:at + 4])
        assert max(len(r) for r in rows) <= 90
        await pilot.press("f")  # and only the selected stream
        await pilot.pause(0.05)
        sel = app.selected
        rows = log.rows_text
        assert f"stream {sel}" in rows[0] and all(sel in r for r in rows[1:] if r[1:3].isdigit())
        await pilot.press("c", "escape")
        await pilot.pause(0.05)
        assert not isinstance(app.screen, EventsScreen)
