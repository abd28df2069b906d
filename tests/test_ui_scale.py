"""The streams table over thousands of streams keeps the order a full sort gives while it sorts only what
an age orders (alarms, connecting) each frame, and finds a market's streams without a scan."""

from __future__ import annotations

import random

from wstui.engine import Engine
from wstui.ui.app import pick
from wstui.ui.widgets.streams import StreamsTable, matches, worst_key

STATES = ("live", "live", "live", "quiet", "connecting", "stale", "lagging", "down", "out_of_sync", "ended")


def test_worst_first_order_is_a_full_sort_of_every_frame():
    rng = random.Random(7)
    engine = Engine(stale_after=5.0)
    streams = []
    table = StreamsTable()
    calm_frames = 0
    for frame in range(120):
        engine.now = 1000.0 + frame * 0.1
        for _ in range(rng.choice((0, 0, 0, 1, 5))):  # streams come
            i = len(streams)
            streams.append(engine.get_stream(rng.choice(("kraken", "okx")), f"S{i % 37}", f"ch{i}", book=i % 2 == 0))
        for st in rng.sample(streams, min(len(streams), rng.choice((0, 1, 3, 20, 150)))):  # states change
            st.state = rng.choice(STATES)
            st.version += 1
            if rng.random() < 0.5:
                st.data(engine.now, 10)
        if rng.random() < 0.05:
            table.filter = rng.choice(("", "kraken", "s1", "stale", "ok live"))
        if rng.random() < 0.05:
            table.reverse = not table.reverse
        snap = engine.snapshot()
        table.update_snapshot(snap, None)
        words = table.filter.lower().split()
        want = sorted((s for s in snap.streams if matches(s, words)), key=worst_key, reverse=table.reverse)
        assert table.keys == [s.key for s in want], frame
        calm_frames += bool(table._calm_rows)
        for s in snap.streams[:5]:  # the market index gives what a scan of the snapshot gives
            assert pick(snap, s.key, table.views, table.markets) == pick(snap, s.key)
    assert len(streams) > 50 and calm_frames > 60
