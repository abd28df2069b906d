"""Health judged on deadlines (wstui.core.deadlines): a stream is judged when something happened to it or
when its next threshold comes, not every tick.  What a user meets must not change: a stream silenced
mid-run is flagged at its threshold (within one tick), a quiet one is not, and every state and event is
the one a judgement of every stream at every tick gives; only the cost changes (it follows what changed)."""

from __future__ import annotations

import random

from wstui.core.snapshot import SourceStatus
from wstui.core.stream import BACKLOG_FRAMES
from wstui.engine import TICK, Engine
from wstui.venues.base import Venue


class Toy(Venue):
    """A made-up venue whose frames say what happens: ``hb`` (a heartbeat), ``SYM CHANNEL LATENCY``
    (data stamped LATENCY s before receive time), ``SYM book snap`` / ``gap`` / ``ack`` (subscribed)."""

    name = "toy"

    def on_send(self, text: str, ts: float) -> None:
        for part in text.split(";"):
            sym, ch = part.split()
            self.declare(sym, ch)

    def on_frame(self, data, ts: float) -> None:
        if data == "hb":
            self.ctx.heartbeat(ts)
            return
        sym, ch, what = data.split()
        st = self.declare(sym, ch)
        if what == "snap":
            st.book_rebuilt(ts)
        elif what == "gap":
            st.gap("seq jumped", ts)
        elif what == "ack":
            st.acked(ts)
        else:
            st.data(ts, len(data), ts - float(what))


def connect(engine: Engine, conn: str, streams: list[tuple[str, str]], ts: float) -> None:
    engine.open(conn, f"ws://127.0.0.1/{conn}", ts, venue=Toy)
    engine.sent(conn, ";".join(f"{s} {c}" for s, c in streams), ts)


class FullScan(Engine):
    """The reference: every stream judged at every tick (what the engine did before deadlines)."""

    def tick(self, now=None):
        super().tick(now)
        for st in self.streams.values():
            st.evaluate(self.now)


def test_a_stream_silenced_mid_run_is_flagged_at_its_threshold_and_a_quiet_one_is_not():
    engine = Engine(stale_after=5.0)
    t0 = 1000.0
    connect(engine, "c", [("A", "trades"), ("B", "trades"), ("Q", "trades")], t0)
    engine.frame("c", "Q trades 0.01", t0 + 0.0625)  # Q: one message, then quiet while the others flow
    step = 0.125  # a tick at every frame (exact in binary: no rounding moves a tick)
    t, muted_at, flagged, last_b = t0, t0 + 20.0, None, None
    while t < t0 + 40.0:
        t += step
        engine.frame("c", "A trades 0.01", t)
        if t < muted_at:
            engine.frame("c", "B trades 0.01", t)
            last_b = t
        if flagged is None and engine.streams[("toy", "B", "trades")].state == "stale":
            flagged = t
    assert flagged == last_b + 5.0 + step  # the first tick past its threshold
    stale = [e for e in engine.events if e.kind == "stale"]
    assert [e.stream for e in stale] == ["toy:Q:trades", "toy:B:trades"]  # explicit threshold: silent is stale
    assert stale[0].ts == t0 + 0.0625 + 5.0 and stale[1].ts == last_b + 5.0  # when the threshold ran out
    assert engine.streams[("toy", "A", "trades")].state == "live"

    # the default threshold (cadence learned): a trades channel that went quiet is quiet, not stale,
    # while its connection flows; the book that stopped mid-run is stale
    engine = Engine()
    connect(engine, "c", [("A", "book"), ("Q", "trades")], t0)
    engine.frame("c", "A book snap", t0 + 0.01)
    engine.frame("c", "Q trades 0.01", t0 + 0.02)
    t = t0 + 0.02
    while t < t0 + 60.0:
        t = round(t + 0.1, 6)
        if t < t0 + 30.0:
            engine.frame("c", "A book 0.01", t)
        else:
            engine.frame("c", "hb", t)
    a, q = engine.streams[("toy", "A", "book")], engine.streams[("toy", "Q", "trades")]
    assert q.state == "quiet" and a.state == "stale" and a.cause == "stream_silent"
    ev = next(e for e in engine.events if e.kind == "stale")
    assert ev.stream == "toy:A:book" and abs(ev.ts - (a.last_ts + a.silence_limit)) < 1e-6


def test_quiet_streams_cost_nothing_per_tick():
    """2,000 streams that each spoke once, then 100 s of ticks while one stream keeps the connection
    flowing: the judgements follow what changed (a few per stream, one per tick for the busy one), not
    streams x ticks (2,000,000 before)."""
    n, t0 = 2000, 50.0
    engine = Engine()
    connect(engine, "c", [(f"S{i}", "trades") for i in range(n)] + [("BUSY", "book")], t0)
    for i in range(n):
        engine.frame("c", f"S{i} trades 0.01", t0 + 0.1 + i * 1e-4)
    t = t0 + 1.0
    before = engine.deadlines.evaluations
    ticks = 0
    while t < t0 + 101.0:
        t = round(t + TICK, 6)
        engine.frame("c", "BUSY book 0.01", t)
        ticks += 1
    spent = engine.deadlines.evaluations - before
    assert ticks >= 999
    assert spent < 4 * n + 2 * ticks, spent  # each quiet stream: a handful of deadlines (quiet), no more
    assert all(st.state == "quiet" for k, st in engine.streams.items() if k[1] == "S0" or k[2] == "trades")
    # and a quiet one is judged no more once its deadlines have passed
    before = engine.deadlines.evaluations
    for _ in range(100):
        t = round(t + TICK, 6)
        engine.frame("c", "BUSY book 0.01", t)
    assert engine.deadlines.evaluations - before <= 100 + 1
    # and the heap holds about one deadline per stream, however many deadlines moved
    for _ in range(2000):
        t = round(t + 0.01, 6)
        engine.frame("c", f"S{int(t * 100) % n} trades 0.01", t)
    assert len(engine.deadlines) <= 3 * (n + 2) + 1024


class Status:
    backlog = 0

    def status(self) -> SourceStatus:
        return SourceStatus(backlog_frames=self.backlog)


def scenario(seed: int, stale_after: float | None, overrides=None):
    """A random run over two connections: streams fall silent and come back, connections go silent
    (heartbeats stop), close and reopen, books lose sync and are rebuilt, latency jumps.  The same calls
    go to an engine on deadlines and to a full-scan one; both are returned."""
    rng = random.Random(seed)
    engines = [Engine(stale_after=stale_after, stale_overrides=overrides),
               FullScan(stale_after=stale_after, stale_overrides=overrides)]
    conns = {"c1": [(f"B{i}", "book") for i in range(4)] + [(f"T{i}", "trades") for i in range(4)],
             "c2": [(f"K{i}", "ticker") for i in range(3)] + [(f"D{i}", "book") for i in range(3)]}
    t = 100.0
    status = Status()
    for e in engines:
        e.set_source(status)

    def call(name, *args, **kw):
        for e in engines:
            getattr(e, name)(*args, **kw)

    for c, sts in conns.items():
        call("open", c, f"ws://127.0.0.1/{c}", t, venue=Toy)
        call("sent", c, ";".join(f"{s} {ch}" for s, ch in sts), t)
    mute: dict[str, float] = {}  # symbol -> silent until
    conn_mute: dict[str, float] = {}
    lag: dict[str, float] = {}
    down: dict[str, float] = {}
    acks: dict[str, float] = {}  # book symbol -> when its subscription is acknowledged
    end = t + 240.0
    while t < end:
        t = round(t + rng.choice((0.01, 0.05, 0.1, 0.13, 0.3, 0.7)), 6)
        for c, sts in conns.items():
            if c in down:
                if t >= down[c]:
                    del down[c]
                    call("open", c, f"ws://127.0.0.1/{c}", t, venue=Toy)
                    call("sent", c, ";".join(f"{s} {ch}" for s, ch in sts), t)
                    for sym, ch in sts:
                        if ch == "book" and rng.random() < 0.5:
                            acks[sym] = t + rng.uniform(0.2, 4.0)
                            if rng.random() < 0.3:
                                mute[sym] = t + rng.uniform(2.0, 30.0)  # acknowledged, no first message
                continue
            if conn_mute.get(c, 0.0) > t:
                continue
            r = rng.random()
            if r < 0.004:
                call("close", c, t, "test")
                down[c] = t + rng.uniform(1.0, 8.0)
                continue
            if r < 0.01:
                conn_mute[c] = t + rng.uniform(3.0, 25.0)  # nothing at all on the connection
                continue
            if r < 0.3:
                call("frame", c, "hb", t)
            for sym, ch in sts:
                if acks.get(sym, float("inf")) <= t:
                    del acks[sym]
                    call("frame", c, f"{sym} book ack", t)
                if mute.get(sym, 0.0) > t:
                    continue
                x = rng.random()
                if x < 0.003:
                    mute[sym] = t + rng.uniform(2.0, 60.0)
                elif x < 0.005:
                    lag[sym] = t + rng.uniform(1.0, 6.0)
                elif ch == "book" and x < 0.008:
                    call("frame", c, f"{sym} book gap", t)
                elif ch == "book" and (x < 0.03 or (x < 0.2 and rng.random() < 0.3)):
                    call("frame", c, f"{sym} book snap", t)
                elif x < (0.6 if ch != "ticker" else 0.1):
                    latency = 5.0 if lag.get(sym, 0.0) > t else 0.01
                    call("frame", c, f"{sym} {ch} {latency}", t)
        if rng.random() < 0.01:
            status.backlog = 0 if status.backlog else BACKLOG_FRAMES + 1  # we fall behind, catch up
        if rng.random() < 0.2:
            call("tick", round(t + 0.001, 6))  # the live source's own ticker, between frames
        a, b = engines
        assert [(s.key, s.state, s.cause) for s in a.streams.values()] == \
               [(s.key, s.state, s.cause) for s in b.streams.values()], t
    call("end", t + 1.0)
    return engines


def test_deadlines_give_the_states_and_events_of_a_full_scan():
    """Random runs, auto and explicit thresholds, two thresholds on one connection: the same states at
    every step and the same events (kind, stream, time, detail) as judging every stream every tick,
    for a fraction of the judgements."""
    for seed, stale, overrides in ((1, None, None), (2, 5.0, None), (3, None, {"toy:T*": 2.0}),
                                   (4, 3.0, {"toy:D*": 8.0}), (5, None, None)):
        a, b = scenario(seed, stale, overrides)
        ev_a = [(e.ts, e.stream, e.kind, e.detail, e.cause) for e in a.events]
        ev_b = [(e.ts, e.stream, e.kind, e.detail, e.cause) for e in b.events]
        assert ev_a == ev_b, seed
        kinds = {e[2] for e in ev_a}
        assert {"stale", "recovered", "gap", "down"} <= kinds, (seed, kinds)
        causes = {e[4] for e in ev_a}
        assert {"exchange_behind", "backlog", "stream_silent", "connection_silent"} <= causes, (seed, causes)
