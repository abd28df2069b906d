"""Per-stream statistics, health and (optionally) a book and a trade tape.

A *stream* is one (venue, symbol, channel).  Everything here runs on the clock it is given: the
capture's clock in replay and the wall clock live, so a 2021 capture is not "stale" today.

Stale means "we may be missing data", not "nothing happened".  A stream is judged with what its
connection (a :class:`Link`) proves: any frame on it (other channels, venue heartbeats, pongs,
subscription acknowledgements) shows the venue is still talking to us.  Each stream learns its own
cadence (the longest silence between its messages once it has shown a steady flow) and a silence is
judged against that; a channel that legitimately goes quiet (a quiet market's trades, tickers, candles)
is ``quiet``, a calm state.  An explicit threshold (``--stale-after``, config) replaces all of that with
"silent longer than this is stale".

Health states, by priority (the first that applies wins), each with a ``cause`` when it is an alarm:

``ended``        the source ended (replay finished)
``down``         the connection carrying the stream is closed and not yet back (``link_down``)
``stale``        the whole connection is silent past the threshold (``connection_silent``), or this
                 stream alone is silent far beyond its own normal while the connection flows, or a book
                 whose subscription was acknowledged never got its first message (``stream_silent``)
``out_of_sync``  the book is known to be wrong and not yet rebuilt (``book_gap``, ``book_checksum``,
                 ``book_crossed``, ``book_bad_frame``, ``book_no_snapshot``)
``lagging``      the venue's timestamps fall behind receive time by more than ``lag_after`` beyond the
                 connection's usual clock offset (``exchange_behind``), or we are behind (``backlog``)
``quiet``        no message for a while (or none yet), but the connection flows: nothing is missing
``live``         data is flowing
``connecting``   subscribed, no data yet, still within the threshold
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from typing import Callable, NamedTuple

from .book import INF, BadLevel, Book, invalid_numbers
from .history import History

CONNECTING = "connecting"
LIVE = "live"
STALE = "stale"
LAGGING = "lagging"
OUT_OF_SYNC = "out_of_sync"
DOWN = "down"
ENDED = "ended"
QUIET = "quiet"

STATES = (CONNECTING, LIVE, QUIET, STALE, LAGGING, OUT_OF_SYNC, DOWN, ENDED)
BAD_STATES = frozenset((STALE, LAGGING, OUT_OF_SYNC, DOWN))

# book_state values
BOOK_EMPTY = "empty"  # waiting for the first snapshot
BOOK_OK = "ok"
BOOK_BAD = "out_of_sync"

SLOTS = 100  # 0.1 s buckets -> 10 s of rate history
LAT_SAMPLES = 256
LAG_WINDOW = 16
LAG_EVERY = 0.5  # seconds between lagging verdicts of a stream (see Stream.lagging)
# upper bounds (s) of the cumulative exchange-to-receive latency histogram (Prometheus-style ``le``; one
# more bucket past the last holds the rest, ``+Inf``); a negative latency (a clock ahead) counts as 0
LAT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# causes of the alarm states (``cause`` in the JSON and on screen)
CONNECTION_SILENT = "connection_silent"  # nothing at all received on the connection
STREAM_SILENT = "stream_silent"  # this stream alone is silent while its connection flows
LINK_DOWN = "link_down"  # the connection is closed (the reason says why)
EXCHANGE_BEHIND = "exchange_behind"  # the venue's timestamps fall behind, beyond the usual clock offset
BACKLOG = "backlog"  # we are behind: frames received but not yet processed
BOOK_GAP = "book_gap"
BOOK_CHECKSUM = "book_checksum"
BOOK_CROSSED = "book_crossed"
BOOK_BAD_FRAME = "book_bad_frame"  # a frame failed half-applied, or a REST snapshot failed or was bad
BOOK_NO_SNAPSHOT = "book_no_snapshot"
SNAPSHOT_QUEUED = "snapshot_queued"  # not a fault: its REST snapshot waits its turn in the weight budget


def queued_text(q: tuple[int, float], now: float) -> str:
    """``snapshot queued: 37 ahead, ~12 s``."""
    return f"snapshot queued: {q[0]} ahead, ~{max(0.0, q[1] - now):.0f} s"
CAUSES = (CONNECTION_SILENT, STREAM_SILENT, LINK_DOWN, EXCHANGE_BEHIND, BACKLOG, BOOK_GAP, BOOK_CHECKSUM,
          BOOK_CROSSED, BOOK_BAD_FRAME, BOOK_NO_SNAPSHOT)

STALE_AFTER = 5.0  # the default threshold: a connection silent this long is stale
# channels that legitimately go quiet (a quiet market trades rarely): judged against a longer floor
QUIET_CHANNELS = frozenset(("trades", "trade", "ticker", "tickers", "kline", "candles", "ohlc", "spread",
                            "liquidations", "status", "bbo"))
QUIET_FLOOR = 6.0  # x the threshold: the shortest silence that can make a quiet channel stale
FIRST_FRAME_FACTOR = 2.0  # x the threshold: a connection that has received nothing at all yet
CADENCE_MIN = 20  # silences a stream must have shown before its own cadence is trusted
CADENCE_K = 4.0  # a silence this many times the longest normal one is "far beyond its normal"
# ... and at least this many standard deviations past the mean silence: a stream whose messages come at
# random (an illiquid market: a Poisson process) has silences far beyond the longest of its first few
# dozen, and over thousands of streams one of them would cry wolf every few minutes; mean + 20 sd is
# 21 x the mean for such a stream (a false alarm once in ~10^9 silences), and barely moves a steady one
CADENCE_SIGMAS = 20.0
CLOCK_BUCKET = 10.0  # seconds per bucket of the clock-offset baseline
CLOCK_BUCKETS = 60  # buckets kept: the baseline is the lowest latency of the last 10 minutes
BACKLOG_FRAMES = 1000  # more frames than this waiting: lagging is our fault (backlog)


def _zero(ring: list[int], cur: int, new: int, size: int) -> None:
    """Zero the buckets after ``cur`` up to ``new`` (included) of a ring of ``size`` (slices, not a loop)."""
    if new <= cur:
        return
    if new - cur >= size:
        ring[:] = [0] * size
        return
    a, e = (cur + 1) % size, new % size + 1
    if a < e:
        ring[a:e] = [0] * (e - a)
    else:
        ring[a:] = [0] * (size - a)
        ring[:e] = [0] * e


class Link:
    """What a connection proves about its streams' freshness (the engine's connection extends it).

    ``last_ts`` is the last frame of any kind (data, heartbeat, pong, acknowledgement); ``opened_ts``
    when the connection opened.  The clock baseline is the lowest exchange-to-receive latency seen on
    the connection in the last ``CLOCK_BUCKETS`` x ``CLOCK_BUCKET`` seconds: a constant clock offset (a
    replayed capture, a skewed local clock) is not lag."""

    def __init__(self, ts: float = 0.0) -> None:
        self.opened_ts = ts
        self.last_ts: float | None = None
        self.up = True
        self.down_reason = ""
        self.backlog = 0
        self.clock_mins: list[float] = []  # per-bucket lowest latency, oldest first
        self.clock_bucket = -1
        self.clock_base: float | None = None
        # timed by core.deadlines.Deadlines: the thresholds of its streams, its pending deadline, when
        # its silence was last checked, and whether a frame must have its streams judged again
        self.sched_bases: tuple[float, ...] = ()
        self.sched_due = INF
        self.sched_checked = ts
        self.sched_marked = True  # (no frame yet)

    def silent_for(self, now: float) -> float:
        last = self.last_ts
        ref = self.opened_ts if last is None or last < self.opened_ts else last
        return now - ref

    def clock_sample(self, ts: float, lat: float) -> None:
        """Fold one latency sample (s) into the baseline (called at most once per stream per LAG_EVERY)."""
        b = int(ts // CLOCK_BUCKET)
        mins = self.clock_mins
        if b != self.clock_bucket:
            self.clock_bucket = b
            mins.append(lat)
            if len(mins) > CLOCK_BUCKETS:
                del mins[0]
            self.clock_base = min(mins)
        elif lat < mins[-1]:
            mins[-1] = lat
            if lat < self.clock_base:  # type: ignore[operator]
                self.clock_base = lat

    def inherit_clock(self, other: "Link") -> None:
        """A reconnection of the same feed: the venue's clock is the same one."""
        self.clock_mins = list(other.clock_mins)
        self.clock_bucket = other.clock_bucket
        self.clock_base = other.clock_base



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
    cause: str = ""


class Problem(NamedTuple):
    """A stream's latest unhealthy spell: what, why, when it began and how long it lasted (None: still on)."""

    state: str
    cause: str
    reason: str
    since: float
    lasted: float | None


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
        "_slots", "_bucket", "hist", "_lat", "_lat_n", "_pct", "_lag", "_sink",
        "stale_explicit", "link", "quiet_kind", "max_gap", "n_gaps", "gap_mean", "gap_m2", "acked_ts", "cause", "oos_cause",
        "last_problem", "flow_ts", "end_state", "silence_limit", "conn_id", "snap_queue",
        "sched_queue", "sched_dirty", "sched_due",
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
        stale_explicit: bool = True,
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.channel = channel
        self.conn_id = ""  # the connection that carries it (the latest that declared it)
        # (requests ahead, estimated send time) while its REST snapshot waits in the venue's weight budget
        self.snap_queue: tuple[int, float] | None = None
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
        self.hist = History(now, CONNECTING)  # the last hour, per second (rate, latency) and its state changes
        self._lat: deque[float] = deque(maxlen=LAT_SAMPLES)
        self._lat_n = 0  # samples ever taken; the lagging verdict is cached per sample count
        self._pct: tuple[int, float | None, float | None] = (-1, None, None)  # (samples, p50, p99) last computed
        self._lag: tuple[int, float, float | None] = (0, float("-inf"), None)  # (samples, when, verdict)
        self.lat_counts = [0] * (len(LAT_BUCKETS) + 1)  # latencies ever seen per LAT_BUCKETS bucket (not cumulative)
        self.lat_sum = 0.0  # their sum (s), negatives as 0
        self._sink = sink
        # health judged with what the connection proves (see the module docstring)
        self.stale_explicit = stale_explicit  # False: stale_after is the default, cadence is learned
        self.link: Link | None = None  # set when a connection declares the stream
        self.quiet_kind = channel in QUIET_CHANNELS
        self.max_gap = 0.0  # the longest silence between two messages of one connection
        self.n_gaps = 0
        self.gap_mean = 0.0  # the silences' mean and sum of squared deviations (Welford), see CADENCE_SIGMAS
        self.gap_m2 = 0.0
        self.acked_ts: float | None = None  # when the venue acknowledged the subscription
        self.cause = ""
        self.oos_cause = ""
        # the silence past which this stream alone is stale (auto mode): infinite until its cadence is known
        self.silence_limit = float("inf")
        self.last_problem: Problem | None = None
        self.flow_ts = now  # the first message on the current connection
        self.end_state = ""  # the state when the source ended (the headless exit status reads it)
        # judged on deadlines (core.deadlines): touched streams go on sched_queue (once: sched_dirty) and
        # are judged at the next tick; sched_due is the pending deadline
        self.sched_queue: list | None = None
        self.sched_dirty = False
        self.sched_due = INF

    # ------------------------------------------------------------------ hot path
    def data(self, ts: float, nbytes: int, exch_ts: float | None = None) -> None:
        """Count one data message received at ``ts`` (seconds).  ``exch_ts`` is the venue's stamp."""
        self.messages += 1
        self.bytes += nbytes
        self.last_size = nbytes
        self.version += 1
        if not self.sched_dirty:
            self.touch()
        if self.first_ts is None:
            self.first_ts = ts
        last = self.last_ts
        if last is not None and last >= self.declared_ts and self.state is not STALE:
            # a silence of this connection that raised no alarm: part of the stream's normal cadence
            g = ts - last
            n = self.n_gaps = self.n_gaps + 1
            d = g - self.gap_mean
            self.gap_mean += d / n
            self.gap_m2 += d * (g - self.gap_mean)
            if g > self.max_gap:
                self.max_gap = g
                self._set_limit()
            elif n == CADENCE_MIN or (n > CADENCE_MIN and not n & 15):  # (the spread moves slowly)
                self._set_limit()
        elif last is None or last < self.declared_ts:
            self.flow_ts = ts
        self.last_ts = ts
        b = int(ts * 10)
        if b != self._bucket:
            self._advance(b)
        self._slots[self._bucket % SLOTS] += 1
        h = self.hist
        h.n += 1
        if exch_ts is not None:
            lat = ts - exch_ts - self.exch_offset
            if lat > h.lat:
                h.lat = lat
            self._lat.append(lat)
            self._lat_n += 1
            self.lat_counts[bisect_left(LAT_BUCKETS, lat)] += 1
            if lat > 0.0:
                self.lat_sum += lat
        state = self.state
        if state is STALE or state is CONNECTING or state is QUIET:
            # data is what ends these at once; other states are re-judged by the engine's 0.1 s tick
            self.evaluate(ts)

    def _advance(self, b: int) -> None:
        """Move the rate buckets forward to 0.1 s bucket ``b``, zeroing the ones skipped."""
        cur = self._bucket
        if b <= cur:  # the clock never runs backwards here; keep counting in the current bucket
            return
        _zero(self._slots, cur, b, SLOTS)
        self._bucket = b
        self.hist.roll(b // 10)

    # ------------------------------------------------------------------ integrity
    def emit(self, kind: str, detail: str, ts: float) -> None:
        self._sink(Event(ts, self.key, kind, detail))

    def gap(self, detail: str, ts: float) -> None:
        """A sequence gap: counted, raised as an event, book marked out of sync."""
        self.gaps += 1
        self.emit("gap", detail, ts)
        self.mark_out_of_sync(f"gap: {detail}", ts, BOOK_GAP)

    def checksum(self, ok: bool, ts: float, detail: str = "") -> None:
        if ok:
            self.checksum_ok += 1
        else:
            self.checksum_failed += 1
            self.emit("checksum_failed", detail, ts)
            self.mark_out_of_sync(f"checksum: {detail}", ts, BOOK_CHECKSUM)

    def mark_out_of_sync(self, reason: str, ts: float, cause: str = BOOK_BAD_FRAME) -> None:
        self.version += 1
        self.touch()
        if self.book_state is not BOOK_BAD:
            self.book_state = BOOK_BAD
            self.out_of_sync_reason = reason
            self.oos_cause = cause
            self.evaluate(ts)

    def book_rebuilt(self, ts: float, how: str = "snapshot") -> None:
        """A snapshot was applied: the book is correct again."""
        self.version += 1
        self.touch()
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
        self.touch()

    def check_crossed(self, ts: float) -> None:
        book = self.book
        if book is None:
            return
        c = book.crossed()
        if c != self.crossed:
            self.crossed = c
            self.version += 1
            self.touch()
            if c:
                self.emit("crossed", f"best bid {book.best_bid()} >= best ask {book.best_ask()}", ts)
            else:
                self.emit("uncrossed", "best bid below best ask again", ts)
            self.evaluate(ts)

    def parse_error(self, detail: str, ts: float) -> None:
        self.parse_errors += 1
        self.version += 1
        self.emit("parse_error", detail, ts)

    def trade(self, ts: float, side: str, price: str, size: str, exch_ts: float | None = None) -> None:
        """One trade; its price and size must be texts of finite numbers (price > 0, size >= 0), else
        :class:`BadLevel` naming this stream (the engine counts the rejection here)."""
        try:
            pf = float(price)
            q = float(size)
        except (TypeError, ValueError):
            raise BadLevel(f"trade price/size not numbers: {str(price)[:40]!r} {str(size)[:40]!r}",
                           stream=self) from None
        if not (0.0 < pf < INF and 0.0 <= q < INF) or type(price) is not str or type(size) is not str:
            raise BadLevel("trade: " + invalid_numbers(pf, q, price, size), stream=self)
        self.trades_total += 1
        if self.tape is not None:
            self.tape.append(Trade(ts, exch_ts, side if type(side) is str else "", price, size, q))

    def frame_text(self, ts: float, text: str) -> None:
        """Keep ``text`` (cleaned and cut by the caller) as one of the latest frames."""
        if self.frames is not None:
            self.frames.append((ts, text))

    # ------------------------------------------------------------------ connection
    def _set_limit(self) -> None:
        n = self.n_gaps
        if n >= CADENCE_MIN:
            floor = self.stale_after * QUIET_FLOOR if self.quiet_kind else self.stale_after
            # (a spread measured on few silences may be far too small: it counts for less while they are few)
            sd = math.sqrt(max(0.0, self.gap_m2) / (n - 1))
            spread = self.gap_mean + CADENCE_SIGMAS * (1.0 + 4.0 / math.sqrt(n)) * sd
            self.silence_limit = max(floor, CADENCE_K * self.max_gap, spread)

    def acked(self, ts: float) -> None:
        """The venue acknowledged this stream's subscription: for a book a snapshot is now due."""
        if self.acked_ts is None or self.acked_ts < self.declared_ts:
            self.acked_ts = ts
            self.touch()

    def connection_up(self, ts: float, reconnect: bool, link: Link | None = None) -> None:
        if reconnect:
            self.reconnects += 1
        if link is not None:
            self.link = link
        self.down = False
        self.declared_ts = ts
        if self.book is not None:
            self.awaiting_snapshot()
        self.touch()
        self.evaluate(ts)

    def connection_down(self, ts: float) -> None:
        self.down = True
        self.touch()
        self.evaluate(ts)

    def end(self, ts: float) -> None:
        if not self.ended:
            self.end_state = self.state
        self.ended = True
        self.touch()
        self.evaluate(ts)

    def touch(self) -> None:
        """Something its health depends on changed: judge it at the next tick (core.deadlines)."""
        if not self.sched_dirty:
            self.sched_dirty = True
            q = self.sched_queue
            if q is not None:
                q.append(self)

    # ------------------------------------------------------------------ reading
    def rates(self, now: float) -> tuple[float, float]:
        """Messages per second over the last 1 s and 10 s at ``now``."""
        b = int(now * 10)
        if b > self._bucket:
            self._advance(b)
        slots = self._slots
        a, b = (self._bucket - 9) % SLOTS, self._bucket % SLOTS + 1  # the last 10 buckets (slices: cheap)
        last1 = sum(slots[a:b]) if a < b else sum(slots[a:]) + sum(slots[:b])
        return float(last1), sum(slots) / 10.0

    def history(self, now: float, n: int = 60) -> tuple[int, ...]:
        """Messages per second for the last ``n`` whole seconds, oldest first."""
        b = int(now * 10)
        if b > self._bucket:
            self._advance(b)
        return self.hist.recent(now, n)

    def latency_ms(self) -> tuple[float | None, float | None]:
        """p50 and p99 of recent exchange-to-receive latencies, in milliseconds."""
        lat = self._lat
        if not lat:
            return None, None
        hit = self._pct
        if hit[0] == self._lat_n:  # no sample since: the same (views are rebuilt every second regardless)
            return hit[1], hit[2]
        s = sorted(lat)
        n = len(s)
        p50, p99 = s[n // 2] * 1000.0, s[min(n - 1, (n * 99) // 100)] * 1000.0
        self._pct = (self._lat_n, p50, p99)
        return p50, p99

    def lagging(self, now: float | None = None) -> float | None:
        """How far (s) the median latency of the last few messages is above the connection's clock
        baseline, when that exceeds ``lag_after``; else None.

        The verdict is recomputed when new samples came, at most every ``LAG_EVERY`` seconds of ``now``
        (the health tick asks ten times a second for every stream; a sort each time added up)."""
        n, at, verdict = self._lag
        if n == self._lat_n or (now is not None and now - at < LAG_EVERY):
            return verdict
        lat = self._lat
        verdict = None
        k = len(lat)
        if k:
            recent = sorted(lat[i] for i in range(max(0, k - LAG_WINDOW), k))
            link = self.link
            if link is not None:
                link.clock_sample(self.last_ts or 0.0, recent[0])
                base = link.clock_base
            else:
                base = recent[0]
            if k >= 3:
                med = recent[len(recent) // 2] - base  # type: ignore[operator]
                if med > self.lag_after:
                    verdict = med
        self._lag = (self._lat_n, now if now is not None else at, verdict)
        return verdict

    def clock_offset(self) -> float | None:
        """The venue's clock minus ours (s), as the connection's baseline latency shows it."""
        if not self._lat_n or self.link is None:
            return None
        base = self.link.clock_base
        return None if base is None else -base

    def age(self, now: float) -> float | None:
        return None if self.last_ts is None else max(0.0, now - self.last_ts)

    # ------------------------------------------------------------------ health
    def compute_state(self, now: float, text: bool = True) -> tuple[str, str, str]:
        """(state, cause, reason) at ``now``.  ``text=False`` leaves the reason out ("", no formatting):
        the health tick judges every stream ten times a second and needs words only on a change."""
        if self.ended:
            return ENDED, "", "source ended"
        link = self.link
        if self.down:
            why = link.down_reason if link is not None else ""
            return DOWN, LINK_DOWN, f"connection down: {why}" if why else "connection down"
        last = self.last_ts
        ref = self.declared_ts
        if last is None or last < ref:
            first = True  # nothing yet on this connection
            silent = now - ref
        else:
            first = False
            silent = now - last
        base = self.stale_after
        if self.stale_explicit:
            if silent > base:
                conn = link is not None and link.silent_for(now) > base
                if not text:
                    return STALE, CONNECTION_SILENT if conn else STREAM_SILENT, ""
                what = f"no first message after {silent:.1f} s" if first else f"no data for {silent:.1f} s"
                if conn:
                    return STALE, CONNECTION_SILENT, f"{what}: nothing at all on its connection (threshold {base:g} s)"
                return STALE, STREAM_SILENT, f"{what} (threshold {base:g} s)"
        elif link is not None:
            llast = link.last_ts
            if llast is None or llast < link.opened_ts:
                # nothing yet: subscribing (and a recorder's REST snapshots) may take a while
                waited = now - link.opened_ts
                if waited > FIRST_FRAME_FACTOR * base:
                    return STALE, CONNECTION_SILENT, (
                        f"nothing received on its connection {waited:.1f} s after it opened "
                        f"(threshold {FIRST_FRAME_FACTOR * base:g} s)" if text else "")
                return CONNECTING, "", "connected, nothing received yet"
            if now - llast > base:
                return STALE, CONNECTION_SILENT, (
                    f"nothing received on its connection for {now - llast:.1f} s (threshold {base:g} s)"
                    if text else "")
            if first:
                acked = self.acked_ts
                if acked is not None and self.book is not None and acked >= ref and now - acked > base:
                    return STALE, STREAM_SILENT, (f"subscription acknowledged {now - acked:.1f} s ago, "
                                                  f"no first message (threshold {base:g} s)" if text else "")
            elif silent > self.silence_limit:
                return STALE, STREAM_SILENT, (
                    f"no data for {silent:.1f} s while its connection flows (its silences so far: at most "
                    f"{self.max_gap:.1f} s; threshold {self.silence_limit:.1f} s)" if text else "")
        if self.book is not None:
            bs = self.book_state
            q = self.snap_queue
            if bs is BOOK_BAD:
                return OUT_OF_SYNC, self.oos_cause or BOOK_BAD_FRAME, self.out_of_sync_reason + (
                    f"; {queued_text(q, now)}" if q is not None and text else "")
            if bs is BOOK_EMPTY and q is not None:
                # planned, not a fault: the snapshot waits its turn in the venue's REST weight budget
                return CONNECTING, SNAPSHOT_QUEUED, queued_text(q, now) if text else ""
            if bs is BOOK_EMPTY and not first and now - self.flow_ts > base:
                # data flows but no snapshot ever came: there is no book to trust
                return OUT_OF_SYNC, BOOK_NO_SNAPSHOT, (
                    f"no book snapshot {now - self.flow_ts:.1f} s after its data began" if text else "")
            if self.crossed:
                return OUT_OF_SYNC, BOOK_CROSSED, "crossed book: best bid at or above best ask"
        n, at, lag = self._lag  # the cached verdict (see lagging), without a call when it stands
        if n != self._lat_n and now - at >= LAG_EVERY:
            lag = self.lagging(now)
        if lag is not None:
            backlog = link.backlog if link is not None else 0
            if backlog > BACKLOG_FRAMES:
                return LAGGING, BACKLOG, (f"{lag:.2f} s behind: {backlog} frames received and not yet "
                                          f"processed (threshold {self.lag_after:g} s)" if text else "")
            return LAGGING, EXCHANGE_BEHIND, (f"exchange time {lag:.2f} s behind its usual offset "
                                              f"(threshold {self.lag_after:g} s)" if text else "")
        if silent > base:
            if first:
                return QUIET, "", "no message yet; its connection is flowing"
            return QUIET, "", (f"no message for {silent:.1f} s; its connection is flowing" if text else "")
        if first:
            return CONNECTING, "", "waiting for the first message"
        return LIVE, "", ""

    def next_deadline(self, now: float) -> float:
        """The first instant after ``now`` (give or take a millisecond) at which :meth:`compute_state`
        may answer differently if nothing else happens to the stream (INF: never); what its connection
        proves is timed per connection (core.deadlines).  Every time comparison there has its threshold
        here (an extra one only costs a judgement)."""
        if self.ended or self.down:
            return INF  # only an event (connection up) ends these
        last = self.last_ts
        ref = self.declared_ts
        first = last is None or last < ref
        base = self.stale_after
        r = ref if first else last
        cands = [r + base]  # stale (explicit) or quiet
        if not self.stale_explicit:
            if not first:
                cands.append(r + self.silence_limit)  # this stream alone silent far beyond its normal
            elif self.acked_ts is not None:
                cands.append(self.acked_ts + base)  # acknowledged, no first message
        if self.book is not None and self.book_state is BOOK_EMPTY:
            cands.append(self.flow_ts + base)  # data flows, no snapshot
        n, at, _ = self._lag
        if n != self._lat_n:
            cands.append(at + LAG_EVERY)  # new latency samples: the lagging verdict is due
        lo = now - 1e-3
        return min((c for c in cands if c > lo), default=INF)

    def evaluate(self, now: float) -> str:
        """Recompute the state; a change is raised as an event stamped when it happened."""
        state, cause, _ = self.compute_state(now, False)
        old = self.state
        if state is not old or (cause != self.cause and state in BAD_STATES):
            reason = self.compute_state(now)[2]
            when = now
            if state is STALE and old is not STALE:
                # it went stale when the threshold ran out, not when we noticed
                when = min(now, max(self._stale_from(now, cause), self.state_since))
            old_cause = self.cause
            self.cause = cause
            if state is not old:
                if old in BAD_STATES:
                    self.last_problem = Problem(old, old_cause, self.last_problem.reason if self.last_problem else "",
                                                self.state_since, when - self.state_since)
                if state in BAD_STATES:
                    self.last_problem = Problem(state, cause, reason, when, None)
                self.state = state
                self.state_since = when
            elif self.last_problem is not None:
                self.last_problem = self.last_problem._replace(cause=cause, reason=reason)
            self.version += 1
            self.hist.state(when, state, cause)  # the state timeline (changes of state or of cause)
            if state is not old:
                self._announce(old, state, cause, reason, when)
        return state

    def _stale_from(self, now: float, cause: str) -> float:
        """When the silence that made this stream stale crossed its threshold."""
        base = self.stale_after
        link = self.link
        if cause == CONNECTION_SILENT and not self.stale_explicit and link is not None:
            if link.last_ts is None or link.last_ts < link.opened_ts:
                return link.opened_ts + FIRST_FRAME_FACTOR * base
            return now - link.silent_for(now) + base
        ref = self.last_ts if self.last_ts is not None and self.last_ts >= self.declared_ts else self.declared_ts
        if self.stale_explicit:
            return ref + base
        if self.last_ts is None or self.last_ts < self.declared_ts:
            return (self.acked_ts or ref) + base
        return ref + self.silence_limit

    def _announce(self, old: str, state: str, cause: str, reason: str, when: float) -> None:
        if state is STALE:
            self.emit_cause("stale", reason, when, cause)
        elif old is STALE and state not in (ENDED, DOWN):
            self.emit("recovered", f"data again ({state})", when)
        elif old is OUT_OF_SYNC and state in (LIVE, LAGGING, QUIET):
            self.emit("recovered", "book in sync again", when)
        elif state is LAGGING:
            self.emit_cause("lagging", reason, when, cause)
        elif old is LAGGING and state in (LIVE, QUIET):
            self.emit("recovered", "latency back under threshold", when)
        elif state is OUT_OF_SYNC:
            self.emit_cause("out_of_sync", reason, when, cause)
        elif state is DOWN:
            self.emit_cause("down", reason, when, cause)

    def emit_cause(self, kind: str, detail: str, ts: float, cause: str) -> None:
        self._sink(Event(ts, self.key, kind, detail, cause))
