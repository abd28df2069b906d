"""The TUI as a user meets it, driven with Textual's pilot on real captures."""

from __future__ import annotations

import asyncio
import time
from statistics import median

from conftest import SAMPLES, read_records, real_feed, replay, write_records

from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.ui import fmt
from wstui.ui.app import WstuiApp
from wstui.ui.widgets.events import EventsLog
from wstui.ui.widgets.ladder import LadderView
from wstui.ui.widgets.streams import StreamsTable
from wstui.ui.widgets.tape import TapeView

FUTURES = SAMPLES / "binance_futures.jsonl.gz"


async def headless(path):
    """The headless replay's final snapshot (conftest.replay runs its own event loop: off this one)."""
    _engine, snap = await asyncio.to_thread(replay, path)
    return snap


def make_app(path, *, speed=None, loops=1, stale_after=5.0, fps=20.0, mode="task") -> WstuiApp:
    engine = Engine(stale_after=stale_after, file=str(path))
    source = Replay(path, speed=speed, loops=loops)
    return WstuiApp(engine, source, fps=fps, engine_mode=mode)


async def until(pilot, cond, timeout: float = 15.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await pilot.pause(step)
    return cond()


def ended(app: WstuiApp) -> bool:
    return app.snap is not None and app.snap.ended


def around_spread(rows: list[str]) -> tuple[list[str], list[str]]:
    """(best ask row, best bid row) of the ladder, split into columns."""
    i = next(i for i, r in enumerate(rows) if "spread" in r or "CROSSED" in r)
    return rows[i - 1].split(), rows[i + 1].split()


def cell_text(table: StreamsTable, key: str, col: str) -> str:
    return table.cell(key, col)


def changed_prices(ladder: LadderView) -> set[str]:
    """Prices of the ladder rows whose size is drawn highlighted (changed since the last frame)."""
    return {row[1][0].strip() for row in ladder._rows if any(c == "ladder--changed" for _t, c in row)}


def header(app: WstuiApp) -> str:
    return str(app.query_one("#header").render())


def banner(app: WstuiApp) -> str:
    return str(app.query_one("#banner").render())


async def test_ladder_shows_the_real_best_bid_and_ask_of_the_verified_book():
    path = real_feed("kraken_v2_btcusd.jsonl.gz")
    final = await headless(path)
    book = final.stream("kraken:BTC/USD:book")
    assert book.checksum_failed == 0 and book.checksum_ok > 2000
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        rows = app.query_one(LadderView).rows_text
        assert "BTC/USD" in rows[0] and "kraken" in rows[0] and "ended" in rows[0]
        ask, bid = around_spread(rows)
        assert ask[0] == book.asks[0][0] == "63418.4"
        assert bid[0] == book.bids[0][0] == "63418.3"
        assert ask[1] == fmt.trim_number(book.asks[0][1])
        assert bid[1] == fmt.trim_number(book.bids[0][1])
        # every shown level is the verified book's, in order: asks rise upwards, bids fall downwards
        i = next(i for i, r in enumerate(rows) if "spread" in r)
        n = i - 2
        shown_asks = [r.split()[0] for r in reversed(rows[2:i])]
        shown_bids = [r.split()[0] for r in rows[i + 1 : i + 1 + n]]
        assert shown_asks == [p for p, _, _ in book.asks[:n]]
        assert shown_bids == [p for p, _, _ in book.bids[:n]]
        assert "spread 0.1 " in rows[i] and "mid 63418.35" in rows[i]
        # the streams table says the same as the headless summary
        table = app.query_one(StreamsTable)
        assert cell_text(table, book.key, "cksum") == f"{book.checksum_ok}/0"
        assert cell_text(table, book.key, "state") == "■ ended"


async def test_tape_shows_real_trades_and_selecting_streams_switches_the_ladder():
    final = await headless(FUTURES)
    ctk_book = final.stream("binance-futures:CTKUSDT:book")
    ctk_trades = final.stream("binance-futures:CTKUSDT:trades")
    akro_book = final.stream("binance-futures:AKROUSDT:book")
    akro_trades = final.stream("binance-futures:AKROUSDT:trades")
    sushi_book = final.stream("binance-futures:SUSHIUSDT:book")
    app = make_app(FUTURES)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        ladder = app.query_one(LadderView)
        tape = app.query_one(TapeView)
        # until the user picks a stream the busiest book is shown: SUSHIUSDT has the most updates and trades
        assert app.selected == sushi_book.key
        ask, bid = around_spread(ladder.rows_text)
        assert (ask[0], bid[0]) == (sushi_book.asks[0][0], sushi_book.bids[0][0])
        assert "TRADES SUSHIUSDT" in tape.rows_text[0]
        # sorted by name (`o`: from worst first to by venue), Home: the first row (venue, symbol; book
        # first), and from now on the user's choice holds
        await pilot.press("o")
        await pilot.press("home")
        await pilot.pause(0.1)
        assert app.selected == akro_book.key
        ask, bid = around_spread(ladder.rows_text)
        assert (ask[0], bid[0]) == (akro_book.asks[0][0], akro_book.bids[0][0])
        t = akro_trades.trades[0]
        first = tape.rows_text[2].split()
        assert first == [fmt.clock(t.ts), t.side.upper(), t.price, fmt.trim_number(t.size)]
        assert "TRADES AKROUSDT" in tape.rows_text[0]
        assert f"{akro_trades.trades_total:,}" in tape.rows_text[0]

        # down the table to CTKUSDT's book: ladder and tape follow
        for _ in range(4):
            await pilot.press("down")
        await pilot.pause(0.1)
        assert app.selected == ctk_book.key
        rows = ladder.rows_text
        assert "CTKUSDT" in rows[0]
        ask, bid = around_spread(rows)
        assert (ask[0], bid[0]) == (ctk_book.asks[0][0], ctk_book.bids[0][0]) == ("1.01200", "1.01100")
        shown = [r.split() for r in tape.rows_text[2 : 2 + 5]]
        assert [r[2] for r in shown] == [t.price for t in ctk_trades.trades[:5]]
        assert [r[1] for r in shown] == [t.side.upper() for t in ctk_trades.trades[:5]]
        # large trades (5x the median size of those shown) stand out
        big = 5 * median(t.qty for t in ctk_trades.trades)
        rows = tape.rows_text[2:]
        assert len(rows) >= 12
        marked = [i for i, r in enumerate(rows) if r.rstrip().endswith("◆")]
        assert marked == [i for i, t in enumerate(ctk_trades.trades[: len(rows)]) if t.qty >= big]
        assert len(marked) >= 3

        # selecting the trades stream keeps the same market's book in the ladder
        await pilot.press("down")
        await pilot.pause(0.1)
        assert app.selected == ctk_trades.key
        assert "CTKUSDT" in ladder.rows_text[0] and "book" in ladder.rows_text[0]
        assert "TRADES CTKUSDT" in tape.rows_text[0]

        # a ticker stream has neither: the ladder and tape still show CTKUSDT's
        await pilot.press("down", "down")
        await pilot.pause(0.1)
        assert app.selected == "binance-futures:CTKUSDT:ticker"
        assert "CTKUSDT" in ladder.rows_text[0]

        # price grouping: 1-2-5 ticks above the book's own (0.001): bids round down, asks up, exactly
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        rows = ladder.rows_text
        assert "tick 0.002 " in rows[0]
        ask, bid = around_spread(rows)
        assert (ask[0], bid[0]) == ("1.012", "1.010")
        assert float(bid[2]) == sum(q for p, _, q in ctk_book.bids if p in ("1.01100", "1.01000"))
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause(0.1)
        assert "tick 0.01 " in ladder.rows_text[0]
        ask, bid = around_spread(ladder.rows_text)
        assert (ask[0], bid[0]) == ("1.02", "1.01")
        assert float(ask[1]) == sum(q for p, _, q in ctk_book.asks if float(p) <= 1.02)
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        await pilot.pause(0.1)
        assert "tick raw" in ladder.rows_text[0]


async def test_pause_holds_the_replay_position_and_space_resumes():
    path = real_feed("kraken_v2_btcusd.jsonl.gz")
    app = make_app(path, speed=1.0, loops=0, mode="thread", fps=20.0)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await until(pilot, lambda: app.snap is not None and app.snap.now > (app.snap.start or 0) + 0.3)
        # levels whose size changed since the last frame are highlighted...
        ladder = app.query_one(LadderView)
        assert await until(pilot, lambda: changed_prices(ladder))
        flashed = changed_prices(ladder)
        assert flashed <= {r.split()[0] for r in ladder.rows_text[2:]}
        await pilot.press("space")
        assert await until(pilot, lambda: app.snap.paused)
        await pilot.pause(0.2)
        held = app.engine.latest.now
        shown = header(app)
        assert "PAUSED" in shown
        for _ in range(6):  # several frames: neither the clock nor the screen moves
            await pilot.pause(0.1)
            assert app.engine.latest.now == held
            assert header(app) == shown
        assert app.stats.polls >= 6
        assert not changed_prices(ladder)  # ...briefly: paused, nothing changes, the highlight is gone
        await pilot.press("space")
        assert await until(pilot, lambda: app.engine.latest.now > held + 0.2)
        assert "PAUSED" not in header(app)
        # r restarts the replay: the position goes back to the start of the capture
        await pilot.pause(0.5)
        assert app.engine.latest.now - app.engine.latest.start > 0.5
        await pilot.press("r")
        # (r starts a fresh engine: its first snapshots may come before the capture's start is known)
        assert await until(pilot, lambda: app.snap is not None and app.snap.start is not None
                           and app.snap.now - app.snap.start < 0.3)
        assert " 0:00." in header(app)
        # speed keys step the replay's own speed
        await pilot.press("plus")
        assert app.source.speed == 2.0
        await pilot.press("minus", "minus")
        assert app.source.speed == 0.5
        await pilot.press("q")
    assert not app.thread.is_alive()


async def test_a_silent_stream_turns_stale_everywhere_and_then_recovers(tmp_path):
    recs = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))
    t0 = next(r["ts"] for r in recs if r["t"] == "connect")
    keep = []
    for r in recs:
        if r["t"] in ("header", "connect", "send") or r["ts"] < t0 + 4.0:
            keep.append(r)
        elif r["ts"] < t0 + 7.0:  # the feed falls silent for 8 s, then carries on
            keep.append(dict(r, ts=r["ts"] + 8.0))
    path = write_records(tmp_path / "silence.jsonl.gz", keep)
    app = make_app(path, speed=10.0, stale_after=2.0, fps=20.0)
    key = "kraken:BTC/USD:book"
    seen = {"row": False, "banner": False, "ladder": False}

    def look() -> bool:
        if app.snap is None or app.snap.stream(key) is None:
            return False
        table = app.query_one(StreamsTable)
        if key in table.keys and "STALE" in cell_text(table, key, "state"):
            seen["row"] = True
        b = banner(app)
        # every unhealthy state counted, then each stream named with the cause
        if b.startswith(" ✖ 1 STALE │ STALE: BTC/USD book (connection silent"):
            seen["banner"] = True
        if "✖ STALE" in app.query_one(LadderView).rows_text[0] and app.query_one(LadderView).has_class("-alarm"):
            seen["ladder"] = True
        return ended(app)

    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, look, step=0.02)
        await pilot.pause(0.1)
        assert seen == {"row": True, "banner": True, "ladder": True}
        log = app.query_one(EventsLog).rows_text
        stale = [r for r in log if " stale " in r and key in r]
        recovered = [r for r in log if " recovered " in r and key in r]
        assert len(stale) == 1 and len(recovered) == 1
        assert log.index(recovered[0]) < log.index(stale[0])  # newest first
        # stamped on the capture clock: stale 2 s after the last message, recovered when data came back
        ev = {e.kind: e for e in app.snap.events if e.stream == key}
        assert fmt.clock(ev["stale"].ts) in stale[0]
        assert fmt.clock(ev["recovered"].ts) in recovered[0]
        book_ts = [r["ts"] for r in keep if r["t"] == "recv" and '"channel":"book"' in r["data"]]
        last_before = max(t for t in book_ts if t < t0 + 4.0)
        first_after = min(t for t in book_ts if t >= t0 + 12.0)
        assert abs(ev["stale"].ts - (last_before + 2.0)) < 1e-6
        assert abs(ev["recovered"].ts - first_after) < 1e-6
        # and once the replay ended the banner no longer cries wolf
        assert "STALE" not in banner(app)


async def test_feed_text_is_shown_literally_never_as_markup_or_escapes(tmp_path):
    evil = "wss://evil.example/[bold red]boom[/bold red]\x1b[31m"
    recs = [
        {"t": "connect", "conn": "X.ws.1", "ts": 1700000000.0, "addr": evil},
        {"t": "recv", "conn": "X.ws.1", "ts": 1700000000.5, "data": "[link=http://x]hi[/link]"},
    ]
    path = write_records(tmp_path / "evil.jsonl.gz", recs)
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        log = "\n".join(app.query_one(EventsLog).rows_text)
        assert "[bold red]boom[/bold red]?[31m" in log
        assert "\x1b" not in log
        table = app.query_one(StreamsTable)
        (key,) = table.keys
        assert cell_text(table, key, "venue") == "evil.example"
        assert cell_text(table, key, "symbol").startswith("/[bold red]boom[/bold r")  # cut to 24, literal


async def test_80x24_keyboard_only_help_and_quit(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(FUTURES)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.no_color
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        ladder = app.query_one(LadderView)
        assert ladder.size.height >= 7 and ladder.size.width >= 40
        ask, bid = around_spread(ladder.rows_text)
        assert ask and bid
        footer = str(app.query_one("#footer").render())
        assert "q quit" in footer and "? help" in footer
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        shown = str(app.screen.query_one("#help-text").render())
        for keys, _what in __import__("wstui.ui.app", fromlist=["KEYS"]).KEYS:
            assert keys in shown
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert not app.screen.query("#help-text")
        await pilot.press("s")  # jump to a stream that is not healthy: none after the end
        await pilot.press("q")
    assert app.return_code == 0


async def test_s_jumps_to_the_next_unhealthy_stream():
    # at 10x the sample's KEEPUSDT trades and kline streams go stale 5 s (capture time) in
    app = make_app(FUTURES, speed=10.0)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.snap is not None and any(s.state == "stale" for s in app.snap.streams))
        await pilot.press("space")
        assert await until(pilot, lambda: app.snap.paused)
        await pilot.pause(0.1)
        stale = {s.key for s in app.snap.streams if s.state == "stale"}
        before = app.selected
        await pilot.press("s")
        await pilot.pause(0.1)
        assert app.selected in stale and app.selected != before
        table = app.query_one(StreamsTable)
        assert table.selected == app.selected and cell_text(table, app.selected, "state") == "✖ STALE"
        sel = app.snap.stream(app.selected)
        assert sel.symbol in app.query_one(LadderView).rows_text[0]  # the ladder shows that market's book
        assert any("STALE" in r and sel.symbol in r for r in [banner(app)])


async def test_an_engine_failure_is_named_on_screen_not_dumped():
    class Broken:
        async def run(self, engine):
            engine.open("c1", "wss://example.invalid/ws", 1700000000.0)
            raise RuntimeError("source fell over [bold]x[/bold]")

    app = WstuiApp(Engine(file="broken"), Broken(), fps=20.0, engine_mode="thread")
    async with app.run_test(size=(100, 30)) as pilot:
        assert await until(pilot, lambda: "engine stopped" in banner(app))
        assert "RuntimeError: source fell over [bold]x[/bold]" in banner(app)
        assert "engine stopped" in header(app)
        await pilot.press("space")  # no replay controls on this source: a note, not a crash
        await pilot.press("q")
    assert app.return_code == 0


async def test_r_after_the_end_plays_the_capture_again():
    app = make_app(FUTURES, mode="thread")
    async with app.run_test(size=(100, 30)) as pilot:
        assert await until(pilot, lambda: ended(app))
        first, engine = app.snap, app.engine
        assert "ENDED" in header(app)
        await pilot.press("r")
        assert await until(pilot, lambda: app.engine is not engine and app.snap is app.engine.latest and ended(app))
        again = app.snap  # a fresh engine played the whole capture once more: the same final state
        assert again.messages == first.messages and again.events_total == first.events_total
        ask, bid = around_spread(app.query_one(LadderView).rows_text)
        book = again.stream(app.selected)
        assert (ask[0], bid[0]) == (book.asks[0][0], book.bids[0][0])
        await pilot.press("q")


async def test_any_websocket_shows_its_latest_frames_escaped(tmp_path):
    """A feed no venue adapter knows has no book and no trades: the tape panel shows its latest frames,
    newest first, with markup and control characters neutralised and large frames cut."""
    t0 = 1785641750.0
    recs = [{"t": "connect", "conn": "A.ws.1", "ts": t0, "addr": "wss://feed.example.test/quotes"}]
    recs += [{"t": "recv", "conn": "A.ws.1", "ts": t0 + i, "data": f'{{"n":{i}}}'} for i in range(1, 4)]
    recs.append({"t": "recv", "conn": "A.ws.1", "ts": t0 + 4, "data": "[bold red]x[/] \x1b[2J" + "y" * 5000})
    path = write_records(tmp_path / "acme.jsonl.gz", recs)
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        rows = app.query_one(TapeView).rows_text
        assert rows[0].startswith(" FRAMES feed.example.test/quotes")
        assert "[bold red]x[/]" in rows[2] and "\x1b" not in rows[2]  # shown as text, never as markup
        assert rows[3].split()[-1] == '{"n":3}' and rows[5].split()[-1] == '{"n":1}'
    (s,) = (await headless(path)).streams
    assert s.frames[0][1].endswith("(5,019 chars)") and len(s.frames[0][1]) < 2100


async def test_a_cursor_move_wins_over_following_the_busiest_book_even_before_its_message():
    """Found by CI: a frame drawn between the user's cursor move and its Selected message moved the
    cursor back to the busiest book.  The frame now takes the moved cursor as the user's choice."""
    app = make_app(FUTURES)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        table = app.query_one(StreamsTable)
        assert app.follow_busiest and table.selected == app.selected
        table.action_move(1)  # the message it posts is not handled yet...
        moved = table.selected
        app.snap = None  # as if a new snapshot had come
        app.refresh_view()  # ...when a frame is drawn
        assert app.selected == moved == table.selected
        assert not app.follow_busiest
        await pilot.pause(0.1)
        assert app.selected == moved == table.selected
