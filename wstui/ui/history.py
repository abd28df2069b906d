"""Trades kept for the chart: the engine's snapshots carry only each stream's latest trades (its
``tape_depth``), so the UI appends the new ones of every frame to a bounded history per trades stream.

Cheap per frame: only the streams whose view changed since the last frame are looked at.  When more trades came
between two frames than a snapshot holds, the ones in between are counted as ``missed`` (the chart says
so) rather than invented.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ..core.snapshot import Snapshot, changed_rows

KEEP = 50_000  # trades kept per stream (a few MB at most)


class Tick(NamedTuple):
    ts: float
    price: float
    qty: float
    side: str


class Series:
    __slots__ = ("ticks", "total", "missed")

    def __init__(self) -> None:
        self.ticks: deque[Tick] = deque(maxlen=KEEP)
        self.total = 0  # the stream's trades_total when last seen
        self.missed = 0


class TradeHistory:
    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self._engine_id: int | None = None
        self._snap: Snapshot | None = None

    def update(self, snap: Snapshot, engine_id: int | None = None) -> None:
        if engine_id != self._engine_id:  # a fresh engine (replay restarted): a fresh history
            self.series.clear()
            self._engine_id = engine_id
            self._snap = None
        rows = changed_rows(self._snap, snap)  # (a view that did not change brought no trade)
        self._snap = snap
        streams = snap.streams
        for s in (streams if rows is None else [streams[i] for i in rows]):
            if not s.has_tape:
                continue
            ser = self.series.get(s.key)
            if ser is None:
                ser = self.series[s.key] = Series()
            new = s.trades_total - ser.total
            if new <= 0:
                if new < 0:  # counts went back: the stream started over
                    ser.ticks.clear()
                    ser.total = s.trades_total
                continue
            got = s.trades[:new]  # newest first
            ser.missed += new - len(got)
            ser.total = s.trades_total
            for t in reversed(got):
                try:
                    p = float(t.price)
                except ValueError:
                    continue
                if p == p and p not in (float("inf"), float("-inf")):
                    ser.ticks.append(Tick(t.ts, p, t.qty, t.side))

    def get(self, key: str | None) -> Series | None:
        return self.series.get(key) if key else None
