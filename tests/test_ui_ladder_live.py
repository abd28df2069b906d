"""The ladder reads at a glance (decimal points aligned, grouping that keeps the true spread and stops),
and live keys: space freezes the screen while the feed is still applied; the footer shows only keys that
work in the current source."""

from __future__ import annotations

from conftest import real_feed
from live_util import Served
from test_ui_app import around_spread, ended, make_app, until

from wstui.engine import Engine
from wstui.io.live import Live
from wstui.io.spec import build_feeds
from wstui.ui.app import WstuiApp
from wstui.ui.widgets.ladder import LadderView


def level_rows(rows: list[str]) -> list[str]:
    i = next(i for i, r in enumerate(rows) if "spread" in r)
    return [r for r in rows[2:i] + rows[i + 1:] if r.strip()]


def point_columns(rows: list[str], col: int) -> set[int]:
    """Where the decimal point of column ``col`` (0 price, 1 size, 2 cumul) sits on each row; a number
    without a point counts as having it just after its last digit."""
    out = set()
    for r in rows:
        pos, k = 0, -1
        for k_, word in enumerate(r.split()):
            pos = r.index(word, pos)
            if k_ == col:
                k = pos + (word.index(".") if "." in word else len(word))
                break
            pos += len(word)
        out.add(k)
    return out


async def test_okx_prices_and_sizes_line_up_on_the_decimal_point():
    app = make_app(real_feed("okx.jsonl.gz"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        rows = level_rows(app.query_one(LadderView).rows_text)
        prices = [r.split()[0] for r in rows]
        assert any("." not in p for p in prices) and any("." in p for p in prices)  # OKX trims: 30249 by 30252.9
        sizes = [r.split()[1] for r in rows]
        assert len({len(s.split(".")[-1]) for s in sizes}) > 1  # the exchange's sizes have varied decimals
        for col in (0, 1, 2):
            assert len(point_columns(rows, col)) == 1, (col, rows)


async def test_grouping_keeps_the_true_spread_and_stops_at_a_sensible_maximum():
    app = make_app(real_feed("kraken_v2_btcusd.jsonl.gz"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        ladder = app.query_one(LadderView)
        spread = next(r for r in ladder.rows_text if "spread" in r)
        assert "spread 0.1 (0.02 bp)" in spread and "mid 63418.35" in spread  # (not "0.0 bp")
        ticks = []
        for _ in range(15):
            await pilot.press("right_square_bracket")
            await pilot.pause(0.05)
            ticks.append(ladder.rows_text[0].split("tick ")[1].strip())
            # the true best bid/ask, not the grouped buckets', stay under the ladder
            assert next(r for r in ladder.rows_text if "spread" in r) == spread
        assert ladder.at_max_group()
        coarsest = float(ticks[-1])
        assert len(set(ticks)) < 15 and ticks[-1] == ticks[-2]  # it stopped
        assert coarsest <= 63418 * 0.01
        ask, bid = around_spread(ladder.rows_text)
        assert len(level_rows(ladder.rows_text)) >= 8  # still a ladder, not one bucket a side


async def test_live_space_freezes_the_screen_while_the_feed_is_applied_and_the_footer_fits_the_source():
    with Served("--sim", "--rate", 100, "--seed", 5) as srv:
        feeds = build_feeds(["kraken:BTC/USD"], {"kraken": srv.url("/v2")})
        engine = Engine(source="live")
        app = WstuiApp(engine, Live(feeds, duration=60), fps=20.0, engine_mode="thread")
        async with app.run_test(size=(120, 40)) as pilot:
            ladder = app.query_one(LadderView)
            assert await until(pilot, lambda: app.snap is not None and any(
                s.has_book and s.bids for s in app.snap.streams))
            footer = str(app.query_one("#footer").render())
            assert "space freeze" in footer and "pause" not in footer
            assert "restart" not in footer and "speed" not in footer and "group" in footer
            assert not app.check_action("restart", ()) and not app.check_action("pause", ())
            await pilot.press("space")
            await pilot.pause(0.1)
            assert app.frozen and "FROZEN" in str(app.query_one("#header").render())
            held_rows, held_msgs = list(ladder.rows_text), app.engine.latest.messages
            for _ in range(8):
                await pilot.pause(0.1)
                assert ladder.rows_text == held_rows
            assert app.engine.latest.messages > held_msgs + 20  # the feed kept being applied
            await pilot.press("r", "plus")  # replay keys do nothing live
            assert app.source.__class__ is Live
            await pilot.press("space")
            assert await until(pilot, lambda: ladder.rows_text != held_rows)
            assert not app.frozen and "FROZEN" not in str(app.query_one("#header").render())
            await pilot.press("q")


async def test_replay_footer_has_replay_keys_and_no_freeze():
    app = make_app(real_feed("kraken_v2_btcusd.jsonl.gz"))
    async with app.run_test(size=(120, 40)) as pilot:
        footer = str(app.query_one("#footer").render())
        assert "space pause" in footer and "r restart" in footer and "+/- speed" in footer
        assert "freeze" not in footer
        await pilot.press("q")
