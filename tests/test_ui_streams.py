"""The streams table over many streams, as an SRE uses it: filter as you type, sort, wheel, worst first."""

from __future__ import annotations

from test_ui_app import FUTURES, ended, make_app, until

from textual import events

from wstui.ui.widgets.streams import StreamsTable


async def settled(pilot, app) -> StreamsTable:
    """The streams table once the replay has ended and the last frame is drawn."""
    assert await until(pilot, lambda: ended(app))
    await pilot.pause(0.1)
    return app.query_one(StreamsTable)


def shown(table: StreamsTable) -> str:
    """The header line as far as the screen shows it."""
    return table.rows_text[0][:table.size.width].rstrip()


async def test_slash_filters_as_you_type_and_keys_do_not_leak_to_the_app():
    app = make_app(FUTURES)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        table = app.query_one(StreamsTable)
        total = len(table.keys)
        assert total == 16
        await pilot.press("slash", "s", "u", "s", "h", "i")
        await pilot.pause(0.1)
        assert table.filter == "sushi" and table.typing
        assert table.keys and all("SUSHI" in k for k in table.keys)
        assert "/sushi_" in table.rows_text[0] and f"of {total}" in table.rows_text[0]
        # a second word narrows; q and s type into the filter instead of quitting or jumping
        await pilot.press("space", "b", "o", "o", "k")
        await pilot.pause(0.1)
        assert table.keys == ["binance-futures:SUSHIUSDT:book"]
        assert app.is_running and app.selected == "binance-futures:SUSHIUSDT:book"
        await pilot.press("enter")  # keep it: the header says so, on screen
        await pilot.pause(0.1)
        assert not table.typing and table.keys == ["binance-futures:SUSHIUSDT:book"]
        assert shown(table).endswith(f" /sushi book 1 of {total}  sorted worst first"), shown(table)
        assert shown(table).startswith(" venue")
        await pilot.press("escape")  # Esc clears a kept filter too
        await pilot.pause(0.1)
        assert table.filter == "" and len(table.keys) == total and "sorted" not in table.rows_text[0]
        await pilot.press("slash", "x", "escape")  # and one being typed
        await pilot.pause(0.1)
        assert table.filter == "" and len(table.keys) == total and not table.typing
        await pilot.press("slash", "q", "backspace", "x", "r", "p")
        await pilot.pause(0.1)
        assert app.is_running and table.filter == "xrp" and all("XRP" in k for k in table.keys)


async def test_keys_typed_in_one_burst_after_slash_all_reach_the_filter():
    """A paste, key repeat or tmux send-keys delivers '/' and the next keys together: none may be lost
    (they were, while '/' went through the app's bindings after the keys behind it), and the filtered rows
    open at their top."""
    app = make_app(FUTURES)
    async with app.run_test(size=(120, 30)) as pilot:
        assert await until(pilot, lambda: ended(app))
        table = app.query_one(StreamsTable)
        table.select([k for k in table.keys if "SUSHI" not in k][-1])  # the cursor far down, on another market
        await pilot.pause(0.1)
        assert table.cursor > 5
        for key, char in (("slash", "/"), ("s", "s"), ("u", "u"), ("s", "s"), ("h", "h"), ("enter", None)):
            app._driver.send_message(events.Key(key, char))  # all at once, nothing awaited between
        await pilot.pause(0.3)
        assert table.filter == "sush" and not table.typing
        assert table.keys and all("SUSHI" in k for k in table.keys)
        assert table.top == 0 and table.cursor == 0


async def test_on_a_narrow_screen_the_why_column_keeps_its_room_and_right_scrolls_to_the_rest():
    app = make_app(FUTURES, stale_after=1.0)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await settled(pilot, app)
        head = shown(table)
        assert head.split()[:7] == ["venue", "symbol", "channel", "state", "age", "msg/s", "gaps"], head
        assert head.endswith("why / last problem") and "last 10s" not in head and "lat ms" not in head
        assert 120 - head.index("why / last problem") >= 36
        await pilot.press("right")  # the columns that gave way are one key away
        await pilot.pause(0.1)
        head = shown(table)
        assert "last 10s" in head and "lat ms" in head and "«" in head, head
    app = make_app(FUTURES)
    async with app.run_test(size=(180, 30)) as pilot:  # wide enough: every column
        head = shown(await settled(pilot, app))
        assert all(c in head for c in ("last 10s", "10s", "lat ms", "resync", "why / last problem")), head


async def test_sort_by_any_column_worst_first_by_default_and_the_wheel_scrolls():
    app = make_app(FUTURES, stale_after=1.0)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await settled(pilot, app)
        assert table.sort == "worst"
        views = [table.views[k] for k in table.keys]
        names = [(v.venue, v.symbol) for v in views]
        assert names == sorted(names)  # all ended, none unhealthy: by name (rows keep still)
        await pilot.press("o")  # by venue: names in order
        await pilot.pause(0.1)
        names = [(table.views[k].venue, table.views[k].symbol) for k in table.keys]
        assert names == sorted(names) and shown(table).endswith(" sorted by venue"), shown(table)
        for _ in range(4):  # symbol, channel, age, msg/s (r1)
            await pilot.press("o")
        await pilot.pause(0.1)
        assert table.sort == "r1"
        await pilot.press("O")  # reversed
        await pilot.pause(0.1)
        assert table.reverse and shown(table).endswith(" sorted by msg/s reversed"), shown(table)
        msgs = [table.views[k].messages for k in table.keys]
        assert len(msgs) == len(table.keys)
        # the wheel moves the view, and the cursor with it when it would leave the screen
        await pilot.resize_terminal(120, 24)  # fewer rows than streams
        await pilot.press("home")
        await pilot.pause(0.1)
        assert table.top == 0 and table.size.height - 1 < len(table.keys)
        table.post_message(events.MouseScrollDown(table, 5, 3, 0, 1, 0, False, False, False))
        await pilot.pause(0.1)
        assert table.top == 3 and table.cursor == 3
        table.post_message(events.MouseScrollUp(table, 5, 3, 0, -1, 0, False, False, False))
        await pilot.pause(0.1)
        assert table.top == 0 and table.cursor == 3


async def test_enter_opens_a_streams_detail_with_its_events_book_and_raw_frames(tmp_path):
    from conftest import read_records, real_feed, write_records
    from test_kraken_v2 import tamper

    from wstui.ui.widgets.detail import StreamDetail

    bad, _pos = tamper(read_records(real_feed("kraken_v2_btcusd.jsonl.gz")), 500)
    path = write_records(tmp_path / "tampered.jsonl.gz", bad)
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        table = app.query_one(StreamsTable)
        table.select("kraken:BTC/USD:book")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, StreamDetail) and screen.key == "kraken:BTC/USD:book"
        text = screen.text
        snap = app.snap
        s = snap.stream("kraken:BTC/USD:book")
        assert f"checksums {s.checksum_ok:,} ok / {s.checksum_failed} failed" in text and s.checksum_failed >= 1
        assert "checksum_failed" in text and "crc32" in text  # the event, with its detail
        assert f"{s.bids[0][0]}" in text and f"{s.asks[0][0]}" in text  # the book's best levels
        assert "latest frames of" in text and '"symbol":"BTC/USD"' in text  # raw frames naming it
        assert "connection " in text and ("ws://" in text or "wss://" in text)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, StreamDetail)
        # Enter while typing a filter keeps the filter; it does not open the detail
        await pilot.press("slash", "b", "t", "c", "enter")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, StreamDetail) and table.filter == "btc"


async def test_n_opens_the_connections_view():
    from conftest import real_feed

    from wstui.ui.widgets.connections import ConnectionsScreen

    app = make_app(real_feed("bybit.jsonl.gz"))
    async with app.run_test(size=(160, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.press("n")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, ConnectionsScreen)
        text = screen.text
        conns = app.snap.connections
        assert len(conns) >= 2 and f"{len(conns)} connections" in text
        for c in conns:
            assert c.conn in text and c.venue in text
        assert "streams" in text.splitlines()[1] and "last disconnect" in text.splitlines()[1]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConnectionsScreen)


async def test_the_tui_asks_for_books_only_of_the_markets_on_screen():
    app = make_app(FUTURES, loops=0, speed=None)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause(1.0)
        table = app.query_one(StreamsTable)
        await pilot.press("slash", "c", "t", "k", "enter")  # only CTKUSDT's rows on screen
        await pilot.pause(0.5)
        focus = app.engine.focus
        assert focus and all("CTKUSDT" in k or (app.selected and k.split(":")[1] in app.selected) for k in focus)
        assert all(k in focus for k in table.keys)
        snap = app.engine.latest
        hidden = [s for s in snap.streams if s.has_book and s.key not in focus and s.book_levels[0]]
        assert hidden and all(s.bids == () for s in hidden)  # the rest are cheap rows


async def test_g_groups_by_venue_then_connection_and_enter_collapses_a_group(tmp_path):
    from conftest import real_feed

    app = make_app(real_feed("bybit.jsonl.gz"))
    async with app.run_test(size=(140, 50)) as pilot:
        assert await until(pilot, lambda: ended(app))
        table = app.query_one(StreamsTable)
        total = len(table.keys)
        venues = sorted({v.venue for v in table.views.values()})
        assert len(venues) >= 2
        await pilot.press("g")
        await pilot.pause(0.1)
        groups = [line for line in table.lines if type(line).__name__ == "Group"]
        assert sorted(groups) == venues and len(table.keys) == total
        assert "grouped by venue" in table.rows_text[0]
        first = groups[0]
        n = sum(1 for v in table.views.values() if v.venue == first)
        await pilot.press("home")
        await pilot.pause(0.1)
        assert f"{first}: {n} stream" in table.rows_text[1] and table.selected is None
        await pilot.press("enter")  # the first group's line: collapse it
        await pilot.pause(0.2)
        assert first in table.collapsed and len(table.keys) == total - n
        assert table.lines[table.cursor] == first and "▸" in table.rows_text[1]
        await pilot.press("enter")  # open it again
        await pilot.pause(0.1)
        assert len(table.keys) == total
        await pilot.press("g")  # by connection
        await pilot.pause(0.1)
        conns = sorted(c.conn for c in app.snap.connections)
        groups = sorted(line for line in table.lines if type(line).__name__ == "Group")
        assert groups == sorted({v.conn for v in table.views.values()}) and set(groups) <= set(conns)
        await pilot.press("g")  # not grouped
        await pilot.pause(0.1)
        assert table.group is None and table.lines == table.keys
