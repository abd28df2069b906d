"""A stream's last hour, one second at a time, kept small enough for thousands of streams.

Per second: the messages received (its rate) and, for a stream whose venue stamps its messages, the
highest exchange-to-receive latency of that second.  The state is kept as its transitions (when it became
what, and why), not per second.

Memory: one ``array`` per series, one slot per second of the last ``SPAN`` seconds, allocated at the
stream's first message (a stream that never received anything costs a few hundred bytes):

- counts start as one byte a second and widen to two (then four) only when a second held more than 255
  (65,535) messages: exact, and 3.6 kB for most streams;
- latency is one byte a second, a log-scale code (``LAT_RATIO`` apart, so within about 3 % of the value)
  from 0.1 ms to 100 s; allocated only for a stream that has shown an exchange timestamp.

Cost: a message adds to the current second's plain-int count (and compares its latency with the
second's highest); the arrays are written once per second of a busy stream, when the next second
begins.  A quiet stream costs nothing until its next message or until it is read: the seconds it
skipped are zeroed then, in slices.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import NamedTuple

SPAN = 3600  # seconds kept (one hour at one-second resolution)
TRANSITIONS = 256  # state changes kept per stream (the latest); older ones are counted, not kept

LAT_MIN_MS = 0.1  # the lowest latency a code tells apart (below: shown as this)
LAT_MAX_MS = 100_000.0  # the highest (above: shown as this)
LAT_CODES = 255  # codes 1..255; 0 = no sample that second
LAT_RATIO = (LAT_MAX_MS / LAT_MIN_MS) ** (1.0 / (LAT_CODES - 1))
LAT_VALUES: tuple[float, ...] = (-1.0,) + tuple(LAT_MIN_MS * LAT_RATIO ** i for i in range(LAT_CODES))
# code c (1..255) stands for LAT_VALUES[c]; a latency goes to the nearest code (geometric midpoints)
LAT_SHOWN: tuple[float | None, ...] = (None,) + tuple(round(v, 2) for v in LAT_VALUES[1:])  # one float each
_LAT_BOUNDS = tuple(math.sqrt(LAT_VALUES[c] * LAT_VALUES[c + 1]) for c in range(1, LAT_CODES))


def lat_code(ms: float) -> int:
    """The one-byte code of a latency in milliseconds (1..255; a negative one, a clock ahead, is 1)."""
    if ms <= LAT_MIN_MS:
        return 1
    return 1 + bisect_left(_LAT_BOUNDS, ms)


class Transition(NamedTuple):
    ts: float  # when the stream entered ``state``
    state: str
    cause: str = ""


@dataclass(frozen=True, slots=True)
class StreamHistory:
    """One stream's recent past, as published in a snapshot (plain values: it travels to remote viewers).

    ``rate`` and ``latency_ms`` cover the whole seconds ``[end - len(rate), end)``, oldest first;
    ``latency_ms`` is empty for a stream with no exchange timestamps, else holds the highest latency of
    each second (None: no sample that second).  ``states`` are the state changes, oldest first; the first
    one is the state the window began in (its ``ts`` may lie before the window).  ``states_dropped``
    changes are older than the ones kept."""

    end: int
    rate: tuple[int, ...]
    latency_ms: tuple[float | None, ...]
    states: tuple[Transition, ...]
    states_dropped: int = 0

    @property
    def start(self) -> int:
        return self.end - len(self.rate)

    def state_at(self, ts: float) -> Transition | None:
        """The state the stream was in at ``ts`` (None: before its first known state)."""
        found = None
        for tr in self.states:
            if tr.ts > ts:
                break
            found = tr
        return found


_ZEROS = bytes(SPAN)
NO_LAT = float("-inf")  # no latency sample in the current second


class History:
    """The per-second series and the state changes of one stream (see the module docstring)."""

    __slots__ = ("sec", "n", "lat", "first", "counts", "lats", "states", "states_dropped", "_pub")

    def __init__(self, now: float = 0.0, state: str = "connecting") -> None:
        self.sec = int(now)  # the current second: its count is ``n`` (not yet in ``counts``)
        self.n = 0
        self.lat = NO_LAT  # the current second's highest latency (s)
        self.first: int | None = None  # the first second with a message (the series begin there)
        self.counts: array | None = None
        self.lats: array | None = None
        self.states: list[Transition] = [Transition(now, state, "")]
        self.states_dropped = 0
        self._pub: tuple[int, int, StreamHistory] | None = None  # (second, changes, view): built once a second

    # ---------------------------------------------------------------- writing
    def roll(self, sec: int) -> None:
        """The clock reached second ``sec``: the current second is complete; the ones skipped were empty."""
        cur = self.sec
        if sec <= cur:
            return
        counts = self.counts
        if counts is None:
            if self.n == 0:  # nothing ever received: nothing to keep
                self.sec = sec
                return
            counts = self.counts = array("B", _ZEROS)
            self.first = cur
        n = self.n
        i = cur % SPAN
        if n:
            if n > 255 and counts.typecode == "B" or n > 65535 and counts.typecode == "H":
                counts = self.counts = array("H" if n <= 65535 else "I", counts)
            counts[i] = n
        else:
            counts[i] = 0
        lats = self.lats
        lat = self.lat
        if lat != NO_LAT:
            if lats is None:
                lats = self.lats = array("B", _ZEROS)
            lats[i] = lat_code(lat * 1000.0)
        elif lats is not None:
            lats[i] = 0
        self.n = 0
        self.lat = NO_LAT
        self.sec = sec
        # the seconds skipped (cur+1 .. sec-1) held nothing
        skip = sec - cur - 1
        if skip > 0:
            _zero(counts, cur + 1, skip)
            if lats is not None:
                _zero(lats, cur + 1, skip)

    def latency(self, seconds: float) -> None:
        """One latency sample (seconds) in the current second (Stream.data does this inline)."""
        if seconds > self.lat:
            self.lat = seconds

    def state(self, ts: float, state: str, cause: str = "") -> None:
        states = self.states
        states.append(Transition(ts, state, cause))
        if len(states) > TRANSITIONS:
            del states[0]
            self.states_dropped += 1

    # ---------------------------------------------------------------- reading
    def recent(self, now: float, n: int) -> tuple[int, ...]:
        """Messages per second for the last ``n`` whole seconds before ``now``, oldest first."""
        self.roll(int(now))
        sec = self.sec
        counts = self.counts
        n = min(n, SPAN)
        if counts is None:
            return (0,) * n
        lo = sec - n
        first = self.first or 0
        if lo >= first:
            return _window(counts, lo, sec)
        return (0,) * min(n, first - lo) + _window(counts, first, sec)

    def view(self, now: float) -> StreamHistory:
        """The last hour (or what there is of it) at ``now``; built at most once per second."""
        self.roll(int(now))
        sec = self.sec
        pub = self._pub
        nstates = len(self.states) + self.states_dropped
        if pub is not None and pub[0] == sec and pub[1] == nstates:
            return pub[2]
        states = self.states
        lo = sec - SPAN
        # the state changes inside the window, and the one the window began in
        k = 0
        for k in range(len(states) - 1, -1, -1):
            if states[k].ts <= lo:
                break
        kept = tuple(states[k:])
        dropped = self.states_dropped + k
        counts = self.counts
        if counts is None or self.first is None:
            v = StreamHistory(sec, (), (), kept, dropped)
        else:
            start = max(self.first, lo)
            rate = _window(counts, start, sec)
            lats = self.lats
            if lats is None:
                lat: tuple[float | None, ...] = ()
            else:
                lat = tuple(map(LAT_SHOWN.__getitem__, _window(lats, start, sec)))
            v = StreamHistory(sec, rate, lat, kept, dropped)
        self._pub = (sec, nstates, v)
        return v

    def nbytes(self) -> int:
        """Bytes held by the series (their arrays' buffers) and the state changes (approximate)."""
        b = 0
        for a in (self.counts, self.lats):
            if a is not None:
                b += a.buffer_info()[1] * a.itemsize + 64
        return b + 56 + 8 * len(self.states) + 72 * len(self.states)


def _zero(a: array, start: int, count: int) -> None:
    """Zero ``count`` slots of ring ``a`` from absolute second ``start`` (slices, not a loop)."""
    if count >= SPAN:
        a[:] = array(a.typecode, bytes(SPAN * a.itemsize))
        return
    i = start % SPAN
    j = i + count
    z = array(a.typecode, bytes(min(count, SPAN) * a.itemsize))
    if j <= SPAN:
        a[i:j] = z
    else:
        a[i:] = z[:SPAN - i]
        a[:j - SPAN] = z[SPAN - i:]


def _window(a: array, start: int, end: int) -> tuple[int, ...]:
    """Ring ``a``'s slots for absolute seconds ``[start, end)`` (at most SPAN), oldest first."""
    n = end - start
    if n <= 0:
        return ()
    i = start % SPAN
    j = i + n
    if j <= SPAN:
        return tuple(a[i:j])
    return tuple(a[i:]) + tuple(a[:j - SPAN])
