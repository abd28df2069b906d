"""Python's cyclic garbage collector, paced by the UI so that it does not stall frames and keys.

A full collection looks at every object the process holds.  Over thousands of streams (their books,
histories and views) that is some 150,000 containers, and one full collection took about 100 ms on our
2-core machines (``bench/scale.py`` at 5,000 streams): a frame, and the key pressed during it, waits
that long every ten to twenty seconds.  Almost all of those objects live as long as the process.

So once the set of streams holds still, the pacer collects once and then freezes (``gc.freeze``) what
is alive: the collector's later passes skip it, and only what was made since (the churn: views, frames,
events) is looked at, a few ms.  The frozen objects are still freed as usual when their last reference
goes; only a frozen object that dies inside a reference cycle waits, until the next full pass.  To keep
that bounded, the pacer refreezes every ``refreeze_s`` (after collecting the unfrozen part) and, every
``full_s``, thaws everything and makes one full collection (the one long pause, now every quarter hour
instead of every few seconds).  The app calls :meth:`frame` after each frame (never in the middle of
one) and :meth:`stop` when it closes.
"""

from __future__ import annotations

import gc
import time
from typing import Any, Callable


class GcPacer:
    def __init__(self, *, settle_s: float = 2.0, refreeze_s: float = 60.0, full_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic, collector: Any = gc) -> None:
        self.settle_s = settle_s  # the stream count held still this long: freeze for the first time
        self.refreeze_s = refreeze_s
        self.full_s = full_s
        self.clock = clock
        self.gc = collector
        self.streams = -1
        self.changed_at = clock()
        self.frozen_at: float | None = None  # None: nothing frozen by us
        self.full_at = 0.0
        self.freezes = 0  # times frozen (the first included)
        self.fulls = 0  # full collections made (thawed first)
        self.last_pause_s = 0.0  # how long the pacer's last collection took

    def frame(self, streams: int) -> None:
        """After a frame, with the number of streams the snapshot holds."""
        now = self.clock()
        if streams != self.streams:
            self.streams = streams
            self.changed_at = now
            if self.frozen_at is not None:
                self.frozen_at = now - self.refreeze_s  # (new streams: freeze them soon, with the next pass)
        if self.frozen_at is None:
            if streams and now - self.changed_at >= self.settle_s:
                self._collect_and_freeze(now, full=True)
        elif now - self.full_at >= self.full_s:
            self._collect_and_freeze(now, full=True)
        elif now - self.frozen_at >= self.refreeze_s and now - self.changed_at >= self.settle_s:
            self._collect_and_freeze(now, full=False)

    def _collect_and_freeze(self, now: float, full: bool) -> None:
        g = self.gc
        t0 = time.perf_counter()
        if full:
            g.unfreeze()  # every object again: cycles among the frozen ones are found too
            self.fulls += 1
            self.full_at = now
        g.collect()  # (not full: frozen objects are skipped, so this is the churn since the last freeze)
        g.freeze()  # no garbage at this moment: only live objects are set aside
        self.freezes += 1
        self.frozen_at = now
        self.last_pause_s = time.perf_counter() - t0

    def stop(self) -> None:
        """The app is closing: give every object back to the collector."""
        if self.frozen_at is not None:
            self.gc.unfreeze()
            self.frozen_at = None
