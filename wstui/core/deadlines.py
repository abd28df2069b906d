"""Health on deadlines: each stream is judged when something happened to it or when its next deadline
comes, never by scanning every stream at every tick.

A stream's health (:meth:`Stream.compute_state`) changes only when its inputs change (data, book
events, its connection going up or down, ...) or when time crosses one of a few thresholds computed
from them (the instant its silence would make it quiet or stale, a book still without a snapshot, a
lag verdict due).  So:

- what changes a stream's inputs *touches* it (:meth:`Stream.touch`): it is judged at the next tick;
- after each judgement the stream's next threshold (:meth:`Stream.next_deadline`) goes into a heap,
  and the stream is judged again at the first tick at or after it;
- what a connection proves (its last frame of any kind) is timed per connection, not per stream: a
  connection's deadline is the instant its silence crosses a threshold of one of its streams; when it
  comes (and the connection is really silent) all its streams are judged, and again at its next frame.

A quiet healthy stream on a flowing connection therefore costs nothing per tick; the cost of a tick is
what changed plus what fell due.  The states and their times are the ones a judgement of every stream
at every tick would give (a threshold crossed between two ticks is seen at the next one, as before; a
stale state is stamped when its threshold ran out).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Any, Callable, Iterable

from .stream import FIRST_FRAME_FACTOR, Link

INF = float("inf")
EPS = 1e-3  # s: a deadline this close is judged now, and judged again at the next tick (float rounding)


class Deadlines:
    """The dirty streams and the heap of deadlines of streams and connections (links)."""

    def __init__(self) -> None:
        self.dirty: list = []  # streams touched since the last tick (each once: Stream.sched_dirty)
        self._heap: list[tuple[float, int, Any]] = []  # (due, seq, stream or link); stale entries skipped
        self._seq = 0
        self._items = 0  # streams and links in our charge
        self.evaluations = 0  # streams judged by run() so far (a cost counter for tests and benchmarks)

    def __len__(self) -> int:
        return len(self._heap)

    # ---------------------------------------------------------------- registration
    def add(self, st) -> None:
        """Take charge of ``st``: it is judged at the next tick."""
        st.sched_queue = self.dirty
        st.sched_dirty = False
        self._items += 1
        st.touch()

    def add_link(self, link, base: float) -> None:
        """``link`` carries a stream judged against threshold ``base``: time its silence for it."""
        if base not in link.sched_bases:
            if not link.sched_bases:
                self._items += 1
            link.sched_bases = link.sched_bases + (base,)
            self._link_due(link, link.sched_checked)

    def link_woke(self, link, members: Iterable) -> None:
        """A frame on a connection whose silence (or lack of a first frame) was in force: its streams
        are judged again at the next tick."""
        link.sched_marked = False
        for st in members:
            st.touch()
        self._link_due(link, link.last_ts if link.last_ts is not None else link.sched_checked)

    # ---------------------------------------------------------------- the tick
    def run(self, now: float, members: Callable[[Any], Iterable]) -> int:
        """Judge at ``now`` every stream touched or due, and the silence of every link due (``members``:
        link -> its streams).  Returns how many streams were judged."""
        heap = self._heap
        lim = now + EPS
        links = []
        due = []
        while heap and heap[0][0] <= lim:
            when, _, item = heappop(heap)
            if item.sched_due != when:
                continue  # superseded by an earlier deadline
            item.sched_due = INF
            if isinstance(item, Link):
                links.append(item)
            elif not item.sched_dirty:  # (a touched one is judged with the dirty ones)
                due.append(item)
        for link in links:
            if self._link_crossed(link, now):
                link.sched_marked = True  # its next frame ends the silence: judge its streams again then
                for st in members(link):
                    st.touch()
            link.sched_checked = now
            self._link_due(link, now)
        batch = self.dirty[:]
        self.dirty.clear()
        for st in batch:
            st.sched_dirty = False
        n = 0
        for group in (batch, due):
            for st in group:
                st.evaluate(now)
                n += 1
                d = st.next_deadline(now)
                if d < st.sched_due:
                    st.sched_due = d
                    self._seq += 1
                    heappush(heap, (d, self._seq, st))
        self.evaluations += n
        if len(heap) > 3 * self._items + 1024:
            # a deadline moved earlier leaves its later entry behind until its time: drop those now, so
            # the heap holds about one entry per stream however the deadlines move
            heap[:] = [e for e in heap if e[2].sched_due == e[0]]
            heapify(heap)
        return n

    # ---------------------------------------------------------------- links
    @staticmethod
    def _link_times(link) -> list[float]:
        """The instants the link's silence crosses a threshold of its streams (see Stream.compute_state:
        ``silent_for(now) > base``; with no frame yet ``now - opened_ts > FIRST_FRAME_FACTOR x base``)."""
        last, opened = link.last_ts, link.opened_ts
        first = last is None or last < opened
        ref = opened if first else last
        out = [ref + b for b in link.sched_bases]
        if first:
            out += [opened + FIRST_FRAME_FACTOR * b for b in link.sched_bases]
        return out

    def _link_crossed(self, link, now: float) -> bool:
        checked = link.sched_checked
        return any(checked - EPS < t <= now + EPS for t in self._link_times(link))

    def _link_due(self, link, now: float) -> None:
        lo = now - EPS
        d = min((t for t in self._link_times(link) if t > lo), default=INF)
        if d < link.sched_due:
            link.sched_due = d
            self._seq += 1
            heappush(self._heap, (d, self._seq, link))

