"""Screenshots of the main screen and the help screen (pytest-textual-snapshot).

Deterministic: the capture is replayed to its end at max speed before the app starts (engine_mode
"none": the app only draws ``engine.latest``), every time shown is on the capture clock (UTC), and the
terminal size is fixed.  Update after an intended change with ``pytest --snapshot-update``.
"""

from __future__ import annotations

from conftest import SAMPLES, real_feed, replay

from wstui.ui.app import WstuiApp


def ended_app(path) -> WstuiApp:
    engine, snap = replay(path)
    assert snap.ended
    return WstuiApp(engine, None, engine_mode="none")


async def settle(pilot) -> None:
    await pilot.pause(0.3)


def test_main_screen_120x40(snap_compare):
    app = ended_app(SAMPLES / "binance_futures.jsonl.gz")
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


def test_main_screen_80x24_kraken(snap_compare):
    app = ended_app(real_feed("kraken_v2_btcusd.jsonl.gz"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_help_screen(snap_compare):
    app = ended_app(SAMPLES / "binance_futures.jsonl.gz")
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"], run_before=settle)


def test_books_view_120x40(snap_compare, tmp_path):
    from views_util import multi_venue_capture

    app = ended_app(multi_venue_capture(tmp_path))
    assert snap_compare(app, terminal_size=(120, 40), press=["b"], run_before=settle)


def test_chart_120x40(snap_compare):
    app = ended_app(SAMPLES / "binance_futures.jsonl.gz")
    assert snap_compare(app, terminal_size=(120, 40), press=["c"], run_before=settle)
