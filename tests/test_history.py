"""A stream's last hour at one-second resolution (core/history.py): what the detail screen and a late
viewer are shown.  The TUI side is in test_ui_history.py."""

from __future__ import annotations

from wstui.core.history import LAT_VALUES, SPAN, TRANSITIONS, History, lat_code
from wstui.core.stream import DOWN, LIVE, STALE, Stream
from wstui.engine import Engine

T0 = 1_700_000_000.0


def test_an_hour_of_rates_latency_and_states_is_kept_exactly():
    st = Stream("v", "S", "book", now=T0, stale_after=5.0)
    for sec in range(2 * SPAN):  # two hours: the first is forgotten
        n = 0 if 1000 <= sec % SPAN < 1030 else 1 + sec % 7 + (400 if sec % 600 == 0 else 0)
        for i in range(n):
            ts = T0 + sec + i / (n + 1)
            st.data(ts, 10, ts - (0.040 if sec % 2 else 0.250))
        st.evaluate(T0 + sec + 0.999)
    h = st.hist.view(T0 + 2 * SPAN)
    assert h.end == int(T0) + 2 * SPAN and len(h.rate) == SPAN and h.start == int(T0) + SPAN
    for k in (0, 1, 599, 600, 999, 1000, 1029, 1030, 3599):
        sec = SPAN + k
        want = 0 if 1000 <= k < 1030 else 1 + sec % 7 + (400 if sec % 600 == 0 else 0)
        assert h.rate[k] == want, k  # exact, also past 255 a second (the counts widened)
    assert st.hist.counts.typecode == "H"
    assert h.latency_ms[1000] is None  # no message, no sample
    assert abs(h.latency_ms[1] - 40.0) / 40.0 < 0.03 and abs(h.latency_ms[2] - 250.0) / 250.0 < 0.03
    # the silence of 30 s in the window made it stale, and data made it live again
    spells = [(round(tr.ts - T0), tr.state) for tr in h.states]
    assert spells[0][1] == LIVE and spells[0][0] <= SPAN  # the state the window began in
    assert any(s == STALE and SPAN + 1000 <= t <= SPAN + 1010 for t, s in spells), spells
    assert spells[-1][1] == LIVE
    assert h.state_at(T0 + SPAN + 1010).state == STALE
    # the 60-s sparkline reads the same series
    assert st.history(T0 + 2 * SPAN, 60) == h.rate[-60:]


def test_a_quiet_stream_costs_nothing_until_read_and_its_skipped_seconds_are_zero():
    h0 = History(T0)
    assert h0.view(T0 + 5000).rate == () and h0.counts is None  # never received: nothing allocated
    h = History(T0)
    h.roll(int(T0) + 10)
    h.n += 3
    h.roll(int(T0) + 11)
    assert h.counts is not None and h.lats is None  # no exchange timestamps: no latency series
    h.n += 2
    h.roll(int(T0) + 11 + 5000)  # more than an hour of silence: zeroed in slices
    v = h.view(T0 + 11 + 5000)
    assert len(v.rate) == SPAN and sum(v.rate) == 0
    h.n += 1
    h.roll(int(T0) + 11 + 5001 + 3599)  # the silence wraps the ring
    v = h.view(T0 + 11 + 5001 + 3599)
    assert v.rate[0] == 1 and sum(v.rate) == 1


def test_state_changes_are_bounded_and_counted():
    st = Stream("v", "S", "book", now=T0)
    for i in range(TRANSITIONS + 40):
        st.connection_down(T0 + 2 * i)
        st.connection_up(T0 + 2 * i + 1, True)
    assert len(st.hist.states) == TRANSITIONS
    v = st.hist.view(T0 + 1000)
    assert v.states_dropped >= 2 * (TRANSITIONS + 40) - TRANSITIONS
    assert any(tr.state == DOWN for tr in v.states)


def test_latency_codes_round_trip_within_three_percent():
    for ms in (0.2, 1.0, 3.7, 12.0, 99.0, 480.0, 2500.0, 60000.0):
        c = lat_code(ms)
        assert abs(LAT_VALUES[c] - ms) / ms < 0.03, (ms, LAT_VALUES[c])
    assert lat_code(-50.0) == 1 and lat_code(1e9) == 255


def test_the_engine_publishes_the_hour_for_focused_streams_only():
    e = Engine()
    e.now = T0
    a = e.get_stream("v", "A", "book")
    b = e.get_stream("v", "B", "book")
    for st in (a, b):
        e.attach(st)
    for sec in range(100):
        a.data(T0 + sec + 0.5, 10, T0 + sec + 0.4)
        b.data(T0 + sec + 0.5, 10)
    e.now = T0 + 100
    e.focus = frozenset({a.key})
    snap = e.snapshot()
    va, vb = snap.stream(a.key), snap.stream(b.key)
    assert va.hour is not None and vb.hour is None
    assert len(va.hour.rate) == 100 and set(va.hour.rate) == {1}
    assert all(abs(x - 100.0) < 3 for x in va.hour.latency_ms)
    e.focus = None  # a few streams, no focus (the headless summary): every one carries it
    assert all(s.hour is not None for s in e.snapshot().streams)


def test_the_published_hour_is_plain_data_a_remote_viewer_can_carry():
    import dataclasses
    import json

    st = Stream("v", "S", "book", now=T0)
    for sec in range(30):
        st.data(T0 + sec + 0.5, 10, T0 + sec + 0.45)
    st.connection_down(T0 + 31)
    h = st.hist.view(T0 + 40)
    d = json.loads(json.dumps(dataclasses.asdict(h)))
    assert d["end"] == int(T0) + 40 and d["rate"][:30] == [1] * 30 and d["rate"][30:] == [0] * 10
    assert d["latency_ms"][0] == 49.31 and d["latency_ms"][-1] is None  # 50 ms, to the code's 3 %
    assert [s[1] for s in d["states"]] == ["connecting", "live", "down"]
    assert dataclasses.replace(h) == h  # frozen, comparable
