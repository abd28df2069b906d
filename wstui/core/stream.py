"""Per-stream statistics, health and (optionally) a book and a trade tape.

A *stream* is one (venue, symbol, channel).  Everything here runs on the clock it is given: the
capture's clock in replay and the wall clock live, so a 2021 capture is not "stale" today.

Health states, by priority (the first that applies wins):

``ended``        the source ended (replay finished)
``down``         the connection carrying the stream is closed and not yet back
``stale``        no data for longer than ``stale_after`` (also when the first message never came)
``out_of_sync``  the book is known to be wrong (gap, checksum mismatch) and not yet rebuilt, or data
                 has flowed for longer than ``stale_after`` without the snapshot a book starts from
``lagging``      exchange time is far behind receive time (median of recent latencies)
``live``         data is flowing
``connecting``   subscribed, no data yet, still within the threshold
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import Callable, NamedTuple

from .book import Book

CONNECTING = "connecting"
LIVE = "live"
STALE = "stale"
LAGGING = "lagging"
OUT_OF_SYNC = "out_of_sync"
DOWN = "down"
ENDED = "ended"

STATES = (CONNECTING, LIVE, STALE, LAGGING, OUT_OF_SYNC, DOWN, ENDED)
BAD_STATES = frozenset((STALE, LAGGING, OUT_OF_SYNC, DOWN))

# book_state values
BOOK_EMPTY = "empty"  # waiting for the first snapshot
BOOK_OK = "ok"
BOOK_BAD = "out_of_sync"

SLOTS = 100  # 0.1 s buckets -> 10 s of rate history
HIST = 120  # 1 s buckets -> 2 min sparkline history
LAT_SAMPLES = 256
LAG_WINDOW = 16
LAG_EVERY = 0.5  # seconds between lagging verdicts of a stream (see Stream.lagging)
# upper bounds (s) of the cumulative exchange-to-receive latency histogram (Prometheus-style ``le``; one
# more bucket past the last holds the rest, ``+Inf``); a negative latency (a clock ahead) counts as 0
LAT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Trade(NamedTuple):
    ts: float  # receive time
    exch_ts: float | None
    side: str  # aggressor: "buy", "sell" or "" when the venue does not say
    price: str
    size: str
    qty: float


class Event(NamedTuple):
    ts: float
    stream: str
    kind: str
    detail: str


EventSink = Callable[[Event], None]


def _null_sink(ev: Event) -> None:  # pragma: no cover - default for standalone streams
    pass


class Stream:
    """Stats and health for one (venue, symbol, channel)."""

    __slots__ = (
        "venue", "symbol", "channel", "key", "book", "tape", "trades_total", "frames",
        "messages", "bytes", "first_ts", "last_ts", "declared_ts", "last_size",
        "lat_counts", "lat_sum",
        "gaps", "checksum_ok", "checksum_failed", "resyncs", "reconnects", "parse_errors",
        "crossed", "book_state", "down", "ended", "stale_after", "lag_after",
        "state", "state_since", "out_of_sync_reason", "version", "exch_offset",
        "_slots", "_bucket", "_hist", "_hsec", "_lat", "_lat_n", "_lag", "_sink",
    )

    def __init__(
        self,
        venue: str,
        symbol: str,
        channel: str,
        *,
        book: bool = False,
        tape: bool = False,
        stale_after: float = 5.0,
        lag_after: float = 3.0,
        sink: EventSink = _null_sink,
        now: float = 0.0,
        tape_len: int = 500,
        frames: int = 0,
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.channel = channel
        self.key = f"{venue}:{symbol}:{channel}"
        self.book: Book | None = Book() if book else None
        self.tape: deque[Trade] | None = deque(maxlen=tape_len) if tape else None
        self.trades_total = 0
        # the latest frames as text (already cleaned and cut), for feeds with no book or tape to show
        self.frames: deque[tuple[float, str]] | None = deque(maxlen=frames) if frames else None
        self.messages = 0
        self.bytes = 0
        self.last_size = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.declared_ts = now
        self.gaps = 0
        self.checksum_ok = 0
        self.checksum_failed = 0
        self.resyncs = 0
        self.reconnects = 0
        self.parse_errors = 0
        self.crossed = False
        self.book_state = BOOK_EMPTY
        self.out_of_sync_reason = ""
        self.down = False
        self.ended = False
        self.stale_after = stale_after
        self.lag_after = lag_after
        self.state = CONNECTING
        self.state_since = now
        self.version = 0  # bumped on every change a view may want to redraw
        # added to the venue's timestamps before comparing them with receive time (a looped replay
        # shifts receive time by a whole pass; the exchange's own stamps must move with it)
        self.exch_offset = 0.0
        self._slots = [0] * SLOTS
        self._bucket = int(now * 10)
        self._hist = [0] * HIST
        self._hsec = int(now)
        self._lat: deque[float] = deque(maxlen=LAT_SAMPLES)
        self._lat_n = 0  # samples ever taken; the lagging verdict is cached per sample count
        self._lag: tuple[int, float, float | None] = (0, float("-inf"), None)  # (samples, when, verdict)
        self.lat_counts = [0] * (len(LAT_BUCKETS) + 1)  # latencies ever seen per LAT_BUCKETS bucket (not cumulative)
        self.lat_sum = 0.0  # their sum (s), negatives as 0
        self._sink = sink

    # ------------------------------------------------------------------ hot path
    def data(self, ts: float, nbytes: int, exch_ts: float | None = None) -> None:
        """Count one data message received at ``ts`` (seconds).  ``exch_ts`` is the venue's stamp."""
        self.messages += 1
        self.bytes += nbytes
        self.last_size = nbytes
        self.version += 1
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        b = int(ts * 10)
        if b != self._bucket:
            self._advance(b)
        self._slots[self._bucket % SLOTS] += 1
        self._hist[self._hsec % HIST] += 1
        if exch_ts is not None:
            lat = ts - exch_ts - self.exch_offset
            self._lat.append(lat)
            self._lat_n += 1
            self.lat_counts[bisect_left(LAT_BUCKETS, lat)] += 1
            if lat > 0.0:
                self.lat_sum += lat
        state = self.state
        if state is STALE or state is CONNECTING:
            # data is what ends these at once; other states are re-judged by the engine's 0.1 s tick
            self.evaluate(ts)

    def _advance(self, b: int) -> None:
        """Move the rate buckets forward to 0.1 s bucket ``b``, zeroing the ones skipped."""
        cur = self._bucket
        if b <= cur:  # the clock never runs backwards here; keep counting in the current bucket
            return
        slots = self._slots
        if b - cur >= SLOTS:
            slots[:] = [0] * SLOTS
        else:
            for i in range(cur + 1, b + 1):
                slots[i % SLOTS] = 0
        self._bucket = b
        sec = b // 10
        hs = self._hsec
        if sec > hs:
            h = self._hist
            if sec - hs >= HIST:
                h[:] = [0] * HIST
            else:
                for i in range(hs + 1, sec + 1):
                    h[i % HIST] = 0
            self._hsec = sec

    # ------------------------------------------------------------------ integrity
    def emit(self, kind: str, detail: str, ts: float) -> None:
        self._sink(Event(ts, self.key, kind, detail))

    def gap(self, detail: str, ts: float) -> None:
        """A sequence gap: counted, raised as an event, book marked out of sync."""
        self.gaps += 1
        self.emit("gap", detail, ts)
        self.mark_out_of_sync(f"gap: {detail}", ts)

    def checksum(self, ok: bool, ts: float, detail: str = "") -> None:
        if ok:
            self.checksum_ok += 1
        else:
            self.checksum_failed += 1
            self.emit("checksum_failed", detail, ts)
            self.mark_out_of_sync(f"checksum: {detail}", ts)

    def mark_out_of_sync(self, reason: str, ts: float) -> None:
        self.version += 1
        if self.book_state is not BOOK_BAD:
            self.book_state = BOOK_BAD
            self.out_of_sync_reason = reason
            self.evaluate(ts)

    def book_rebuilt(self, ts: float, how: str = "snapshot") -> None:
        """A snapshot was applied: the book is correct again."""
        self.version += 1
        if self.book_state is BOOK_BAD:
            self.resyncs += 1
            self.emit("resync", f"book rebuilt from {how} after {self.out_of_sync_reason}", ts)
        self.book_state = BOOK_OK
        self.out_of_sync_reason = ""
        self.check_crossed(ts)
        self.evaluate(ts)

    def awaiting_snapshot(self) -> None:
        """A new connection starts over: the book waits for a fresh snapshot (not an error)."""
        if self.book_state is BOOK_OK:
            self.book_state = BOOK_EMPTY
        self.version += 1

    def check_crossed(self, ts: float) -> None:
        book = self.book
        if book is None:
            return
        c = book.crossed()
        if c != self.crossed:
            self.crossed = c
            self.version += 1
            if c:
                self.emit("crossed", f"best bid {book.best_bid()} >= best ask {book.best_ask()}", ts)
            else:
                self.emit("uncrossed", "best bid below best ask again", ts)

    def parse_error(self, detail: str, ts: float) -> None:
        self.parse_errors += 1
        self.version += 1
        self.emit("parse_error", detail, ts)

    def trade(self, ts: float, side: str, price: str, size: str, exch_ts: float | None = None) -> None:
        self.trades_total += 1
        if self.tape is not None:
            self.tape.append(Trade(ts, exch_ts, side, price, size, float(size)))

    def frame_text(self, ts: float, text: str) -> None:
        """Keep ``text`` (cleaned and cut by the caller) as one of the latest frames."""
        if self.frames is not None:
            self.frames.append((ts, text))

    # ------------------------------------------------------------------ connection
    def connection_up(self, ts: float, reconnect: bool) -> None:
        if reconnect:
            self.reconnects += 1
        self.down = False
        self.declared_ts = ts
        if self.book is not None:
            self.awaiting_snapshot()
        self.evaluate(ts)

    def connection_down(self, ts: float) -> None:
        self.down = True
        self.evaluate(ts)

    def end(self, ts: float) -> None:
        self.ended = True
        self.evaluate(ts)

    # ------------------------------------------------------------------ reading
    def rates(self, now: float) -> tuple[float, float]:
        """Messages per second over the last 1 s and 10 s at ``now``."""
        b = int(now * 10)
        if b > self._bucket:
            self._advance(b)
        slots = self._slots
        cur = self._bucket
        last1 = sum(slots[i % SLOTS] for i in range(cur - 9, cur + 1))
        return float(last1), sum(slots) / 10.0

    def history(self, now: float, n: int = 60) -> tuple[int, ...]:
        """Messages per second for the last ``n`` whole seconds, oldest first."""
        self.rates(now)
        h = self._hist
        sec = self._hsec
        n = min(n, HIST - 1)
        return tuple(h[s % HIST] for s in range(sec - n, sec))

    def latency_ms(self) -> tuple[float | None, float | None]:
        """p50 and p99 of recent exchange-to-receive latencies, in milliseconds."""
        lat = self._lat
        if not lat:
            return None, None
        s = sorted(lat)
        n = len(s)
        return s[n // 2] * 1000.0, s[min(n - 1, (n * 99) // 100)] * 1000.0

    def lagging(self, now: float | None = None) -> float | None:
        """Median latency of the last few messages (s) when it exceeds ``lag_after``.

        The verdict is recomputed when new samples came, at most every ``LAG_EVERY`` seconds of ``now``
        (the health tick asks ten times a second for every stream; a sort each time added up)."""
        n, at, verdict = self._lag
        if n == self._lat_n or (now is not None and now - at < LAG_EVERY):
            return verdict
        lat = self._lat
        verdict = None
        if len(lat) >= 3:
            recent = sorted(lat[i] for i in range(max(0, len(lat) - LAG_WINDOW), len(lat)))
            med = recent[len(recent) // 2]
            if med > self.lag_after:
                verdict = med
        self._lag = (self._lat_n, now if now is not None else at, verdict)
        return verdict

    def age(self, now: float) -> float | None:
        return None if self.last_ts is None else max(0.0, now - self.last_ts)

    # ------------------------------------------------------------------ health
    def compute_state(self, now: float) -> tuple[str, str]:
        """(state, reason) at ``now``."""
        if self.ended:
            return ENDED, "source ended"
        if self.down:
            return DOWN, "connection down"
        last = self.last_ts
        if last is None:
            waited = now - self.declared_ts
            if waited > self.stale_after:
                return STALE, f"no first message after {waited:.1f} s"
            return CONNECTING, "waiting for the first message"
        silent = now - last
        if silent > self.stale_after:
            return STALE, f"no data for {silent:.1f} s (threshold {self.stale_after:g} s)"
        if self.book_state is BOOK_BAD:
            return OUT_OF_SYNC, self.out_of_sync_reason
        if self.book_state is BOOK_EMPTY and self.book is not None and now - self.declared_ts > self.stale_after:
            # data flows but no snapshot ever came: there is no book to trust
            return OUT_OF_SYNC, f"no book snapshot {now - self.declared_ts:.1f} s after subscribing"
        lag = self.lagging(now)
        if lag is not None:
            return LAGGING, f"exchange time {lag:.2f} s behind (threshold {self.lag_after:g} s)"
        return LIVE, ""

    def evaluate(self, now: float) -> str:
        """Recompute the state; a change is raised as an event stamped when it happened."""
        state, reason = self.compute_state(now)
        old = self.state
        if state is not old:
            when = now
            if state is STALE:
                # it went stale when the threshold ran out, not when we noticed
                ref = self.last_ts if self.last_ts is not None else self.declared_ts
                when = min(now, max(ref + self.stale_after, self.state_since))
            self.state = state
            self.state_since = when
            self.version += 1
            if state is STALE:
                self.emit("stale", reason, when)
            elif old is STALE and state not in (ENDED, DOWN):
                self.emit("recovered", f"data again ({state})", when)
            elif old is OUT_OF_SYNC and state in (LIVE, LAGGING):
                self.emit("recovered", "book in sync again", when)
            elif state is LAGGING:
                self.emit("lagging", reason, when)
            elif old is LAGGING and state is LIVE:
                self.emit("recovered", "latency back under threshold", when)
            elif state is OUT_OF_SYNC:
                self.emit("out_of_sync", reason, when)
            elif state is DOWN:
                self.emit("down", reason, when)
        return state
