"""The full-screen views through the real app under Pilot: books (b), chart (c)."""

from __future__ import annotations

from textual import events

from conftest import SAMPLES
from test_ui_app import ended, make_app, until
from views_util import multi_venue_capture

from wstui.ui.screens.books import BooksScreen
from wstui.ui.widgets.books import BooksView, market_of
from wstui.ui.widgets.ladder import LadderView, book_status


def wheel(app, widget, down: bool = True) -> None:
    """A mouse wheel turn over ``widget``, as the terminal driver posts it."""
    x, y = widget.region.x + 2, widget.region.y + 2
    cls = events.MouseScrollDown if down else events.MouseScrollUp
    app.post_message(cls(None, x, y, 0, 1 if down else -1, 0, False, False, False, screen_x=x, screen_y=y))


def test_market_of_lines_up_one_market_across_venues():
    assert market_of("BTC/USD") == market_of("BTC-USD") == market_of("btcusd") == market_of("XBT/USD") == "BTCUSD"
    assert market_of("BTCUSDT") != market_of("BTCUSD")


async def test_books_view_shows_every_book_side_by_side_with_the_cross_venue_top(tmp_path):
    path = multi_venue_capture(tmp_path)
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.press("b")
        # (drawn at the next frame: on a loaded machine later than any fixed pause)
        assert await until(pilot, lambda: isinstance(app.screen, BooksScreen) and any(
            r.startswith((" BTC-USD ", " BTCUSD ")) for r in app.screen.query_one(BooksView).rows_text))
        view = app.screen.query_one(BooksView)
        rows = view.rows_text
        snap = app.snap
        books = [s for s in snap.streams if s.has_book]
        assert len(books) == 18
        # the cross-venue line of BTC-USD: the best bid and ask among the venues quoting it, and where
        btc = [s for s in books if market_of(s.symbol) == "BTCUSD"]
        assert {s.venue for s in btc} == {"coinbase", "gemini"}
        best_bid = max(btc, key=lambda s: float(s.bids[0][0]))
        best_ask = min(btc, key=lambda s: float(s.asks[0][0]))
        line = next(r for r in rows if r.startswith(" BTC-USD ") or r.startswith(" BTCUSD "))
        assert f"bid {best_bid.bids[0][0]} {best_bid.venue}" in line
        assert f"ask {best_ask.asks[0][0]} {best_ask.venue}" in line
        assert f"★{best_ask.asks[0][0]}" in line
        # as many compact ladders as fit (4 a row at 120 columns), books of one market next to each other
        info = view.layout_info
        assert info["cols"] == 4 and info["bands"] >= 2 and info["levels"] >= 3
        shown = view.shown_keys
        assert len(shown) == info["cols"] * info["bands"]
        markets = [market_of(snap.stream(k).symbol) for k in shown]
        assert markets[:2] == ["BTCUSD", "BTCUSD"]
        for m in set(markets):  # each market's books are contiguous
            idx = [i for i, x in enumerate(markets) if x == m]
            assert idx == list(range(idx[0], idx[0] + len(idx)))
        # each ladder: its title, its state, its best bid and ask around the spread line
        title = next(i for i, r in enumerate(rows) if "BTC-USD · coinbase" in r)
        col = rows[title].index("BTC-USD · coinbase") - 1
        cb = snap.stream(shown[0])
        assert book_status(cb)[0] in rows[title + 1][col:col + 29]
        n = info["levels"]
        assert rows[title + 1 + n][col:col + 29].split()[0] == cb.asks[0][0]
        assert "·" in rows[title + 2 + n][col:col + 29] and "bp" in rows[title + 2 + n][col:col + 29]
        assert rows[title + 3 + n][col:col + 29].split()[0] == cb.bids[0][0]
        assert f"of {len(books)}" in rows[-1]
        # the engine is told which books the view needs in full: those on screen and every multi-venue one
        # (at the frame after the one that laid the ladders out)
        assert await until(pilot, lambda: set(shown) <= app.engine.focus)
        focus = app.engine.focus
        assert {s.key for s in btc} <= focus and len(focus) < len(snap.streams)
        # the others: a key or the mouse wheel scrolls a row of ladders at a time
        first = list(shown)
        await pilot.press("down")
        await pilot.pause(0.1)
        assert view.shown_keys[0] == first[info["cols"]]
        wheel(app, view, down=False)
        await pilot.pause(0.2)
        assert view.shown_keys == first
        wheel(app, view, down=True)
        await pilot.pause(0.2)
        assert view.shown_keys[0] == first[info["cols"]]
        # b (or escape) goes back to the panels, which are drawn again at once
        await pilot.press("b")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, BooksScreen)
        assert app.query_one(LadderView).rows_text[0].strip()
        await pilot.press("b")
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, BooksScreen)
        await pilot.press("b")
        await pilot.pause(0.1)
        await pilot.press("q")
    assert app.return_code == 0


async def test_books_view_follows_a_running_replay_and_its_keys():
    app = make_app(SAMPLES / "binance_futures.jsonl.gz", speed=2.0, mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: app.snap is not None and any(s.bids for s in app.snap.streams))
        await pilot.press("b")
        view = app.screen.query_one(BooksView)
        assert await until(pilot, lambda: len(view.shown_keys) == 4)
        before = list(view.rows_text)
        assert await until(pilot, lambda: view.rows_text != before)  # it moves with the feed
        await pilot.press("space")  # the app's keys work here: the replay pauses
        assert await until(pilot, lambda: app.snap.paused)
        assert "PAUSED" in str(app.screen.query_one("#view-header").render())
        assert "BOOKS" in str(app.screen.query_one("#view-header").render())
        await pilot.press("q")


def test_candles_from_trades_are_exact():
    from wstui.ui.history import Tick
    from wstui.ui.widgets.chart import candles

    ticks = [Tick(100.2, 10.0, 1.0, "buy"), Tick(100.9, 12.0, 2.0, "sell"), Tick(101.5, 9.0, 0.5, "sell"),
             Tick(103.1, 11.0, 1.0, "buy"), Tick(103.2, 11.5, 1.0, "buy")]
    cs = candles(ticks, 1.0, 10)
    assert [None if c is None else (c.t, c.o, c.h, c.l, c.c, c.v) for c in cs] == [
        (100.0, 10.0, 12.0, 10.0, 12.0, 3.0), (101.0, 9.0, 9.0, 9.0, 9.0, 0.5), None,
        (103.0, 11.0, 11.5, 11.0, 11.5, 2.0)]
    assert [c.t for c in candles(ticks, 1.0, 2)] == [103.0]  # the last two slots; the empty first is cut


async def test_chart_of_the_selected_market_candles_volume_and_depth():
    from wstui.ui.screens.chart import ChartScreen
    from wstui.ui.widgets.chart import ChartView

    app = make_app(SAMPLES / "binance_futures.jsonl.gz", speed=10.0, mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.snap is not None and any(s.trades for s in app.snap.streams))
        await pilot.press("c")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ChartScreen)
        chart = app.screen.query_one(ChartView)
        assert await until(pilot, lambda: ended(app), timeout=30)
        await pilot.pause(0.3)
        snap = app.snap
        book = snap.stream(app.selected)
        trades = next(s for s in snap.streams if s.has_tape and s.symbol == book.symbol)
        rows = chart.rows_text
        assert f"CHART {book.symbol} · {book.venue}" in rows[0] and "candles 1s auto" in rows[0]
        series = app.history.get(trades.key)
        # every trade of the run was seen by the chart (10x, 20 fps: never more than a snapshot holds)
        assert len(series.ticks) == trades.trades_total and series.missed == 0
        assert series.ticks[-1].price == float(trades.trades[0].price)
        assert f"last {trades.trades[0].price}" in rows[0]
        cs = [c for c in chart.last_candles if c is not None]
        assert cs[-1].c == float(trades.trades[0].price)
        assert sum(c.n for c in cs) == len(series.ticks)
        assert app.engine.focus == {s.key for s in snap.streams if s.symbol == book.symbol}
        assert f" {len(series.ticks):,} trades in view" in rows
        assert abs(sum(c.v for c in cs) - sum(t.qty for t in series.ticks)) < 1e-6
        # the price axis brackets every candle
        labels = [float(r.split("┤")[1]) for r in rows[1:] if "┤" in r and r.split("┤")[1].strip().replace(".", "").isdigit()]
        assert min(labels) <= min(c.l for c in cs) + 0.01 and max(labels) >= max(c.h for c in cs) - 0.01
        # the depth chart of the book: its height is the larger cumulative side within the range drawn
        i = next(i for i, r in enumerate(rows) if r.startswith(" DEPTH"))
        assert book.symbol in rows[i]
        assert rows[-1].split()[1] == "▲"
        # candle interval keys
        await pilot.press("greater_than_sign")
        await pilot.pause(0.1)
        assert "candles 5s " in chart.rows_text[0] and "auto" not in chart.rows_text[0]
        await pilot.press("less_than_sign", "less_than_sign")
        await pilot.pause(0.1)
        assert "candles 1s " in chart.rows_text[0]
        # the chart follows the selection made on the main screen
        await pilot.press("c")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ChartScreen)
        await pilot.press("home")
        await pilot.pause(0.1)
        await pilot.press("c")
        await pilot.pause(0.3)
        assert app.snap.stream(app.selected).symbol in app.screen.query_one(ChartView).rows_text[0]
        await pilot.press("escape", "q")
    assert app.return_code == 0
