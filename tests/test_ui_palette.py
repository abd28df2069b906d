"""Command palette (ctrl+p), the terminal-palette theme, the mouse wheel on the help, through Pilot."""

from __future__ import annotations

from conftest import SAMPLES
from test_ui_app import ended, make_app, until
from test_ui_views import wheel

from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.ui.app import WstuiApp
from wstui.ui.screens.books import BooksScreen
from wstui.ui.widgets.ladder import LadderView
from wstui.ui.widgets.streams import StreamsTable

FUTURES = SAMPLES / "binance_futures.jsonl.gz"


async def palette_pick(pilot, app, text: str) -> None:
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    assert await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*list(text))
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause(0.3)


async def test_the_palette_finds_any_stream_and_every_action():
    app = make_app(FUTURES)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        assert app.follow_busiest and app.selected == "binance-futures:SUSHIUSDT:book"
        # a stream, by a fuzzy bit of its name: the ladder shows it, the choice is the user's from now on
        await palette_pick(pilot, app, "ctkusdt book")
        assert app.selected == "binance-futures:CTKUSDT:book"
        assert not app.follow_busiest
        assert "CTKUSDT" in app.query_one(LadderView).rows_text[0]
        assert app.query_one(StreamsTable).selected == "binance-futures:CTKUSDT:book"
        # an action: the books view
        await palette_pick(pilot, app, "books every")
        assert isinstance(app.screen, BooksScreen)
        # every action that works in this source is offered; replay-only ones are, freeze is not
        from wstui.ui.commands import ACTIONS, WstuiCommands

        titles = [t for t, _h, _cb in WstuiCommands(app.screen)._entries()]
        assert "Restart the replay" in titles and "Freeze / unfreeze the screen" not in titles
        assert sum(1 for t in titles if t.startswith("Stream ")) == len(app.snap.streams)
        assert len([a for a in ACTIONS if a[0] in titles]) == len(ACTIONS) - 1
        await palette_pick(pilot, app, "main screen")
        assert not isinstance(app.screen, BooksScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_theme_that_follows_the_terminal_palette():
    engine = Engine(file=str(FUTURES))
    app = WstuiApp(engine, Replay(FUTURES, speed=None), fps=20.0, engine_mode="task", theme="ansi-dark")
    async with app.run_test(size=(100, 30)) as pilot:
        assert await until(pilot, lambda: ended(app))
        assert app.theme == "ansi-dark" and app.current_theme.ansi
        await pilot.press("b")  # every screen draws with it
        await pilot.pause(0.2)
        await pilot.press("c")
        await pilot.pause(0.2)
        await pilot.press("escape")
        await palette_pick(pilot, app, "wstui dark")
        assert app.theme == "textual-dark"
        await palette_pick(pilot, app, "terminal's own")
        assert app.theme == "ansi-dark"
        await pilot.press("q")
    assert app.return_code == 0


async def test_the_mouse_wheel_scrolls_the_help():
    # (the streams table's own wheel came with its rework on main; the books view's is in test_ui_views)
    app = make_app(FUTURES)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        box = app.screen.query_one("#help-box")
        assert box.max_scroll_y > 0  # 80x24 is too short for every key: it scrolls
        wheel(app, box, down=True)
        await pilot.pause(0.3)
        assert box.scroll_y > 0
        await pilot.press("q")
    assert app.return_code == 0


async def test_the_mouse_wheel_scrolls_the_tape_back_and_forth():
    from wstui.ui.widgets.tape import TapeView

    app = make_app(FUTURES)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        tape = app.query_one(TapeView)
        trades = tape.view.trades
        rows = tape.size.height - 2
        assert len(trades) > rows
        newest = tape.rows_text[2].split()
        assert newest[2] == trades[0].price
        wheel(app, tape, down=False)  # back in time: older trades, and the title says how far
        await pilot.pause(0.2)
        assert tape.rows_text[2].split()[2] == trades[3].price and "↓ 3 newer" in tape.rows_text[0]
        wheel(app, tape, down=True)
        await pilot.pause(0.2)
        assert tape.rows_text[2].split() == newest and "newer" not in tape.rows_text[0]
        await pilot.press("q")
