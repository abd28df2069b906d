"""Published views are rebuilt exactly when they must be (their stream changed, they are VIEW_REUSE_S
old, they entered or left the focus, the source ended) without a pass over every stream's cache entry:
the same views as the per-stream cache the engine had, over random runs."""

from __future__ import annotations

import random

from wstui.engine import VIEW_REUSE_S, Engine


def reference(engine: Engine, cache: dict, depth: int, ntrades: int):
    """The per-stream cache the engine had before (one lookup and compare per stream per snapshot)."""
    out = []
    for st in engine.streams.values():
        full = engine.focus is None or st.key in engine.focus
        hit = cache.get(st.key)
        if (hit is not None and hit[0] == st.version and hit[2] == full and not engine.ended
                and 0.0 <= engine.now - hit[1] < VIEW_REUSE_S):
            out.append(hit[3])
            continue
        cache[st.key] = (st.version, engine.now, full, None)
        out.append(None)  # rebuilt
    return out


def test_views_are_rebuilt_when_and_only_when_the_per_stream_cache_rebuilt_them():
    rng = random.Random(11)
    engine = Engine()
    cache: dict = {}
    streams = []
    prev = None
    rebuilt_total = reused_total = 0
    for step in range(400):
        engine.now = round(engine.now + rng.choice((0.0, 0.05, 0.1, 0.1, 0.3, 1.2)), 6)
        for _ in range(rng.choice((0, 0, 0, 2))):
            streams.append(engine.get_stream("toy", f"S{len(streams)}", "book", book=True))
        for st in rng.sample(streams, min(len(streams), rng.choice((0, 1, 4)))):
            st.data(engine.now, 10)
        r = rng.random()
        if r < 0.05:
            engine.focus = None
        elif r < 0.15 and streams:
            engine.focus = frozenset(s.key for s in rng.sample(streams, min(3, len(streams))))
        elif r < 0.2:
            engine.focus = frozenset()
        if step == 350:
            engine.ended = True
        by_stream = {st.key: st for st in streams}
        want = reference(engine, cache, 5, 5)
        snap = engine.snapshot()
        got = snap.streams
        assert [s.key for s in got] == [st.key for st in engine.streams.values()]
        if prev is not None:
            old = {v.key: v for v in prev}
            for v, w in zip(got, want):
                if w is None:  # the reference rebuilt it: so must the engine, with what the stream holds now
                    rebuilt_total += 1
                    assert old.get(v.key) is not v, (step, v.key)
                    st = by_stream[v.key]
                    assert v.version == st.version and v.messages == st.messages
                    full = engine.focus is None or v.key in engine.focus
                    assert (v.bids != () or not st.book.bids) if full else v.bids == ()
                else:
                    reused_total += 1
                    assert old.get(v.key) is v, (step, v.key)
        prev = got
        by_key = {v.key: v for v in got}
        cache = {k: (e[0], e[1], e[2], by_key[k]) for k, e in cache.items()}
    assert rebuilt_total > 200 and reused_total > 1000
