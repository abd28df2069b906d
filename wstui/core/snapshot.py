"""Immutable views of the engine's state, published a few times a second.

The UI and the headless summary read these and nothing else: they never reach into sources, parsers
or live books.  Everything here is a frozen dataclass of tuples and plain values, safe to hand to
another thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .book import Level
from .stream import Event, Trade


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
    events: tuple[Event, ...]  # oldest first, bounded
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
    backlog: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def stream(self, key: str) -> StreamView | None:
        for s in self.streams:
            if s.key == key:
                return s
        return None

    @property
    def bad_streams(self) -> tuple[StreamView, ...]:
        return tuple(s for s in self.streams if s.state in ("stale", "lagging", "out_of_sync", "down"))
