"""The events log (Line API): every state change the engine recorded, newest first, with its time on
the engine clock and its stream.  Bounded by the snapshot (the engine keeps the last few hundred)."""

from __future__ import annotations

from ...core.snapshot import Snapshot
from ...core.text import clean
from .. import fmt
from .lines import LinesWidget, Row

BAD = {"stale", "gap", "checksum_failed", "out_of_sync", "down", "crossed", "parse_error", "disconnect",
       "record_failed", "record_dropping"}
GOOD = {"recovered", "resync", "uncrossed", "connect"}
WARN = {"lagging"}


def kind_class(kind: str) -> str:
    if kind in BAD:
        return "events--bad"
    if kind in GOOD:
        return "events--good"
    if kind in WARN:
        return "events--warn"
    return "events--dim"


class EventsLog(LinesWidget):
    COMPONENT_CLASSES = {"events--title", "events--bad", "events--good", "events--warn", "events--dim",
                         "events--stream"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snap: Snapshot | None = None
        self._seen: tuple[int, int] | None = None

    def update_snapshot(self, snap: Snapshot) -> None:
        key = (snap.events_total, len(snap.events))
        self.snap = snap
        if key != self._seen:
            self._seen = key
            self.redraw()

    def build(self, width: int, height: int) -> list[Row]:
        snap = self.snap
        total = snap.events_total if snap else 0
        rows: list[Row] = [((fmt.fit(f" EVENTS  {total:,} total, newest first", width), "events--title"),)]
        if snap is not None:
            evs = snap.events
            for i in range(1, min(len(evs), height - 1) + 1):
                e = evs[-i]
                rows.append((
                    (" " + fmt.clock(e.ts) + " ", ""),
                    (f"{clean(e.kind, 15):<15} ", kind_class(e.kind)),
                    (clean(e.stream, 48) + " ", "events--stream"),
                    (clean(e.detail, 200), ""),
                ))
        return rows
