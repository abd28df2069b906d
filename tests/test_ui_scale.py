"""The streams table over thousands of streams keeps the order a full sort gives while it sorts only what
an age orders (alarms, connecting) each frame, and finds a market's streams without a scan."""

from __future__ import annotations

import random

from wstui.engine import Engine
from wstui.core.snapshot import changed_rows
from wstui.ui.app import Alarms, banner_text, pick
from wstui.ui.history import TradeHistory
from wstui.core.text import cell_len
from wstui.ui.widgets.streams import COLUMNS, StreamsTable, cells, matches, worst_key

STATES = ("live", "live", "live", "quiet", "connecting", "stale", "lagging", "down", "out_of_sync", "ended")


def test_worst_first_order_is_a_full_sort_of_every_frame():
    """The table, the banner's counts and the trade history look only at the rows that changed since their
    last snapshot (``changed_rows``); frame after frame they hold what a fresh look at every row gives."""
    rng = random.Random(7)
    engine = Engine(stale_after=5.0)
    streams = []
    table = StreamsTable()
    alarms = Alarms()
    history = TradeHistory()
    calm_frames = 0
    looked: list[int] = []  # rows that changed, per frame the table took from what changed
    prev = None
    for frame in range(120):
        if frame == 40:  # a fresh engine (the replay restarted): fewer streams, none the table knows
            engine, streams = Engine(stale_after=5.0), []
        engine.now = 1000.0 + frame * 0.1
        for _ in range(rng.choice((0, 0, 0, 1, 5))):  # streams come
            i = len(streams)
            streams.append(engine.get_stream(rng.choice(("kraken", "okx")), f"S{i % 37}", f"ch{i}", book=i % 2 == 0,
                                             tape=i % 2 == 1))
        for st in rng.sample(streams, min(len(streams), rng.choice((0, 1, 3, 20, 150)))):  # states change
            st.state = rng.choice(STATES)
            st.version += 1
            if rng.random() < 0.5:
                st.data(engine.now, 10)
            if st.tape is not None and rng.random() < 0.3:
                st.trade(engine.now, "buy", "1.5", "2")
        if rng.random() < 0.05:
            table.filter = rng.choice(("", "kraken", "s1", "stale", "ok live"))
        if rng.random() < 0.05:
            table.reverse = not table.reverse
        snap = engine.snapshot()
        rows = changed_rows(prev, snap)
        if rows is not None:
            looked.append(len(rows))
        prev = snap
        table.update_snapshot(snap, None)
        words = table.filter.lower().split()
        want = sorted((s for s in snap.streams if matches(s, words)), key=worst_key, reverse=table.reverse)
        assert table.keys == [s.key for s in want], frame
        calm_frames += bool(table._calm_rows)
        assert banner_text(snap, None, alarms)[0].plain == banner_text(snap)[0].plain, frame
        fresh = TradeHistory()
        history.update(snap, id(engine))
        fresh.update(snap, id(engine))
        assert {k: v.total for k, v in history.series.items()} == {k: v.total for k, v in fresh.series.items()}
        for s in snap.streams[:5]:  # the market index gives what a scan of the snapshot gives
            assert pick(snap, s.key, table.views, table.markets) == pick(snap, s.key)
    assert len(streams) > 50 and calm_frames > 60
    # most frames took only what changed, and that was a part of the rows
    assert len(looked) > 60 and sum(looked) < 0.5 * len(looked) * len(streams), (len(looked), sum(looked))
    assert any(v.total for v in history.series.values())
    # the name columns fit the widest name, measured once per stream
    widths = {i: max([len(COLUMNS[i][1])] + [cell_len(cells(s)[i][0]) for s in snap.streams])
              for i, c in enumerate(COLUMNS) if c[2] is None}
    assert table._fit == widths and len(widths) == 3


def test_a_stream_view_built_fast_is_still_a_frozen_view_of_every_field():
    import dataclasses

    import pytest

    from wstui.core.snapshot import StreamView

    engine = Engine()
    st = engine.get_stream("kraken", "BTC/USD", "book", book=True)
    st.data(5.0, 10, 4.9)
    v = engine.view(st, 5, 5)
    names = [f.name for f in dataclasses.fields(StreamView)]
    again = StreamView(**{n: getattr(v, n) for n in names})
    assert again == v and again is not v and again.key == "kraken:BTC/USD:book" and again.messages == 1
    required = [f.name for f in dataclasses.fields(StreamView) if f.default is dataclasses.MISSING]
    assert StreamView(*[getattr(v, n) for n in required]).end_state == ""  # the defaults hold
    assert dataclasses.replace(v, state="stale").state == "stale" and v.state != "stale"
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.state = "live"  # type: ignore[misc]
    with pytest.raises(TypeError):
        StreamView(key="x")  # type: ignore[call-arg]
