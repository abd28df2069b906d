"""Immutable views of the engine's state, published a few times a second.

The UI and the headless summary read these and nothing else: they never reach into sources, parsers
or live books.  Everything here is a frozen dataclass of tuples and plain values, safe to hand to
another thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress, count
from operator import is_not
from typing import Mapping, Protocol

from .book import Level
from .history import StreamHistory
from .stream import Event, Problem, Trade


@dataclass(frozen=True, slots=True)
class StreamView:
    key: str
    venue: str
    symbol: str
    channel: str
    state: str
    state_since: float
    reason: str
    messages: int
    bytes: int
    last_size: int
    rate_1s: float
    rate_10s: float
    history: tuple[int, ...]
    last_age_s: float | None
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_counts: tuple[int, ...]  # latencies ever seen per ``stream.LAT_BUCKETS`` bucket (last: beyond them)
    latency_sum: float  # their sum (s)
    gaps: int
    checksum_ok: int
    checksum_failed: int
    resyncs: int
    reconnects: int
    parse_errors: int
    crossed: bool
    has_book: bool
    book_state: str
    bids: tuple[Level, ...]  # best first: (price text, size text, size)
    asks: tuple[Level, ...]
    book_levels: tuple[int, int]  # levels held per side (bids, asks)
    book_updates: int
    has_tape: bool
    trades: tuple[Trade, ...]  # newest first
    trades_total: int
    stale_after: float
    frames: tuple[tuple[float, str], ...]  # latest frames, newest first (generic feeds)
    has_frames: bool
    version: int
    conn: str = ""  # the connection carrying it
    monitor: str = ""  # attached: the monitor it comes from (its HOST:PORT); "" in the monitor itself
    cause: str = ""  # why an alarm state (stale, down, out_of_sync, lagging) holds; "" when healthy
    clock_offset_s: float | None = None  # the venue's clock minus ours (its connection's baseline)
    last_problem: Problem | None = None  # the latest unhealthy spell, kept after recovery
    stale_explicit: bool = False  # stale_after was given (command line, config), not the default
    end_state: str = ""  # the state when the source ended ("" while it runs)
    # the last hour per second (rate, latency) and its state changes: only for streams in the engine's
    # focus (see Engine.view), else None
    hour: StreamHistory | None = None

    @property
    def healthy(self) -> bool:
        """Not in an alarm state (for an ended source: was not in one when it ended)."""
        return (self.end_state or self.state) not in BAD


@dataclass(frozen=True, slots=True)
class BadRecord:
    file: str
    line: int | None
    error: str


@dataclass(frozen=True, slots=True)
class ConnView:
    conn: str
    addr: str
    venue: str
    messages: int
    bytes: int
    heartbeats: int
    parse_errors: int
    connects: int
    up: bool
    last_ts: float | None
    recent: tuple[tuple[float, str | bytes], ...] = ()  # its latest frames received, newest first, as
    # received: untrusted text, to be cleaned by whoever shows it
    streams: int = 0  # streams it carries
    streams_limit: int | None = None  # the venue's documented streams per connection
    subscribes: int = 0  # subscribe/unsubscribe frames sent on it
    subscribes_hour: int = 0  # ... within the last hour
    subscribes_budget: int | None = None  # the venue's documented budget per hour
    rtt_ms: float | None = None  # the latest WebSocket ping round trip
    closes: tuple[tuple[float, str], ...] = ()  # the latest disconnects and why, newest first
    warning: str = ""  # a documented limit is close
    extensions: str = ""  # WebSocket extensions negotiated (Sec-WebSocket-Extensions), "" for none
    unsolicited: int = 0  # frames naming a stream the connection did not subscribe (not made streams)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What a source (a replay, live sockets) tells the engine about itself, read at every snapshot."""

    position: float | None = None  # replay: capture time reached
    start: float | None = None  # replay: capture time of the first record (this pass)
    end: float | None = None  # replay: capture time of the last record (this pass)
    speed: float | None = None  # replay: None = as fast as possible
    paused: bool = False
    loop: int = 1
    loops: int = 1
    backlog_frames: int = 0  # live: frames our read loop received and has not yet processed
    replay_behind_s: float = 0.0  # replay: seconds behind the capture's pace (a slow machine)
    recording_error: str | None = None  # the recorder failed: nothing more is written
    recording_dropped: int = 0  # records the recorder could not write (after a failure, or buffer full)
    rest: tuple[dict, ...] = ()  # live: per REST host, requests and weight spent, budget, queue, 429s


class StatusSource(Protocol):
    """The narrow interface the engine reads a source through."""

    def status(self) -> SourceStatus: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    source: str  # "replay" or "live"
    file: str | None
    now: float  # the engine clock: capture time in replay, wall time live
    wall: float  # wall clock when published
    elapsed_s: float  # wall seconds since the source started
    messages: int
    bytes: int
    streams: tuple[StreamView, ...]
    connections: tuple[ConnView, ...]
    events: tuple[Event, ...]  # oldest first, bounded: the first ``events_head``, then the latest
    events_total: int
    bad_records: tuple[BadRecord, ...]
    bad_records_total: int
    ended: bool
    # replay position and controls
    start: float | None = None
    end: float | None = None
    speed: float | None = None  # None = as fast as possible
    paused: bool = False
    loop: int = 1
    loops: int = 1
    backlog_frames: int = 0  # live: frames received by our read loop, not yet processed
    replay_behind_s: float = 0.0  # replay: seconds behind the capture's pace
    recording_error: str | None = None
    recording_dropped: int = 0
    rest: tuple[dict, ...] = ()  # live: per REST host, requests and weight spent, budget, queue, 429s
    notes: tuple[str, ...] = field(default_factory=tuple)
    # events not in ``events`` (len(events) + events_dropped == events_total): they lie between the
    # first ``events_head`` events (the start, always kept) and the latest ones
    events_dropped: int = 0
    events_head: int = 0
    # stream key -> position in ``streams``, shared by every snapshot of the same streams in the same order
    # (a new mapping when they change): ``stream()`` without a scan, and ``changed_rows`` knows the rows
    # line up.  The publisher's own index, never sent to a viewer (a viewer builds its own).
    index: Mapping[str, int] | None = field(default=None, compare=False, repr=False)

    def stream(self, key: str) -> StreamView | None:
        index = self.index
        if index is not None:
            i = index.get(key)
            return self.streams[i] if i is not None and i < len(self.streams) else None
        for s in self.streams:
            if s.key == key:
                return s
        return None

    @property
    def unhealthy(self) -> tuple[StreamView, ...]:
        """Streams in an alarm state now (or, once ended, when the source ended)."""
        return tuple(s for s in self.streams if not s.healthy)

    @property
    def bad_streams(self) -> tuple[StreamView, ...]:
        return tuple(s for s in self.streams if s.state in BAD)


BAD = frozenset(("stale", "lagging", "out_of_sync", "down"))


def changed_rows(old: Snapshot | None, new: Snapshot) -> list[int] | None:
    """The positions in ``new.streams`` whose view is not the very object ``old`` had there: the rows that
    changed between two snapshots of the same streams (a publisher rebuilds a view only when its stream
    changed, or its ages and rates moved on, and hands the same object on otherwise).  None when the two
    are not known to hold the same streams in the same order (the first snapshot, streams came, another
    publisher, no index): every row is new.  One identity test per stream, so a reader that keeps what it
    drew from the last snapshot pays for what changed, not for every stream."""
    if old is None or new.index is None or new.index is not old.index or len(old.streams) != len(new.streams):
        return None
    if new.streams is old.streams:
        return []
    return list(compress(count(), map(is_not, old.streams, new.streams)))  # (no Python loop per row)


def _fast_init(cls: type) -> None:
    """Give frozen slots dataclass ``cls`` an ``__init__`` that stores each field through its slot's own
    descriptor.  The generated one goes through ``object.__setattr__`` field by field (the frozen way),
    which made building a StreamView (45 fields, thousands a second over thousands of streams) cost more
    than everything the view computes.  Same parameters, same defaults; the class stays frozen."""
    import dataclasses

    fs = dataclasses.fields(cls)
    if any(f.default_factory is not dataclasses.MISSING or not f.init for f in fs):
        return  # (not needed for StreamView; keep the generated one)
    env: dict = {}
    params, body = [], []
    for i, f in enumerate(fs):
        env[f"_s{i}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            env[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        body.append(f"    _s{i}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n", env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[misc]


_fast_init(StreamView)
