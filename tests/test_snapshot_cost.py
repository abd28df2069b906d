"""What a published snapshot costs: the book and tape only of the streams a view looks at, and a view
reused while its stream did not change, so thousands of quiet streams cost what changes."""

from __future__ import annotations

import json
import subprocess

from conftest import SAMPLES
from live_util import ENV, ROOT, wstui_cmd

from wstui.engine import Engine
from wstui.io.replay import Replay
from wstui.runner import run_source

FUTURES = SAMPLES / "binance_futures.jsonl.gz"


def replayed() -> Engine:
    import asyncio

    engine = Engine(file=str(FUTURES))
    asyncio.run(run_source(engine, Replay(FUTURES, speed=None), 10))
    return engine


def test_only_focused_streams_carry_their_book_and_tape():
    engine = replayed()
    book, tape = "binance-futures:SUSHIUSDT:book", "binance-futures:SUSHIUSDT:trades"
    engine.focus = frozenset({book, tape})
    snap = engine.snapshot()
    for s in snap.streams:
        if s.key in (book, tape):
            assert (s.bids and s.asks) if s.has_book else s.trades
        elif s.has_book:
            assert s.bids == () and s.asks == () and s.book_levels[0] > 0  # counts stay, levels do not
        elif s.has_tape:
            assert s.trades == () and s.trades_total >= 0
    engine.focus = None
    full = engine.snapshot()
    assert all(s.bids for s in full.streams if s.has_book and s.book_levels[0])


def test_an_unchanged_stream_keeps_its_view_and_a_changed_one_gets_a_new_one():
    engine = replayed()
    engine.ended = False  # as if the source still ran: views may be reused
    engine.focus = frozenset()
    a = engine.snapshot()
    b = engine.snapshot()
    assert all(x is y for x, y in zip(a.streams, b.streams))
    st = next(s for s in engine.streams.values() if s.channel == "book")
    st.data(engine.now, 10, None)  # it changed: its view is built again, the others are reused
    c = engine.snapshot()
    changed = [y.key for x, y in zip(b.streams, c.streams) if x is not y]
    assert changed == [st.key]
    engine.now += 1.5  # after VIEW_REUSE_S every view is refreshed (ages and rates move on)
    d = engine.snapshot()
    assert all(x is not y for x, y in zip(c.streams, d.streams))


def test_headless_summary_still_prints_every_book():
    p = subprocess.run(wstui_cmd("replay", FUTURES, "--headless", "--json", "--speed", "max"), cwd=ROOT,
                       capture_output=True, text=True, timeout=60, env=ENV)
    out = json.loads(p.stdout)
    books = [s for s in out["streams"] if s["channel"] == "book"]
    assert books and all(s["book"]["bids"] and s["book"]["asks"] for s in books)
