"""``--events FILE``: every engine event as one JSON line, for log shippers (``-`` is stdout).

Each line: ``{"ts", "stream", "kind", "cause", "detail", "seq"}`` (``ts`` in Unix seconds live, capture time in
a replay; ``seq`` the event's number since the start, so a reader can tell nothing is missing).  The writer
runs on the engine's thread each time a snapshot is published and takes the events raised since the last
write by the engine's running count, not by the tail of its bounded buffer: a burst between two writes is
written whole, and if more came than the buffer holds, a line says how many were lost.  Each batch is
flushed at once.  A write that fails (disk full, a reader gone) stops the log with a warning; never the
monitor.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any, TextIO

import orjson

from .core.snapshot import Snapshot


class EventLogError(ValueError):
    """An ``--events`` file that cannot be opened (a clear error, exit 2)."""


def event_json(ev: Any, seq: int) -> dict[str, Any]:
    return {"ts": round(ev.ts, 6), "stream": ev.stream, "kind": ev.kind, "cause": getattr(ev, "cause", "") or "",
            "detail": ev.detail, "seq": seq}


class EventLog:
    def __init__(self, engine: Any, path: str) -> None:
        self.engine = engine
        self.path = path
        if path == "-":
            self.out: TextIO = sys.stdout
            self._own = False
        else:
            try:
                self.out = open(path, "a", encoding="utf-8")
            except OSError as exc:
                raise EventLogError(f"cannot write events to {path}: {exc.strerror or exc}") from None
            self._own = True
        self.seen = engine.events_total  # events before the log started are not its business
        self.written = 0
        self.dropped = 0
        self.error: str | None = None
        engine.on_publish.append(self.pump)

    def pump(self, snap: Snapshot | None = None) -> None:
        """Write the events raised since the last call (engine thread)."""
        engine = self.engine
        total = engine.events_total
        new = total - self.seen
        if new <= 0 or self.error is not None:
            return
        evs = engine.events
        have = min(new, len(evs))
        lines = []
        lost = new - have
        if lost:
            lines.append(orjson.dumps({
                "ts": round(time.time(), 6), "stream": "wstui", "kind": "events_dropped", "cause": "overflow",
                "detail": f"{lost} event(s) lost: more than {evs.maxlen} came between two writes",
                "seq": self.seen + lost}))
        first = self.seen + lost + 1
        for i, ev in enumerate(itertools.islice(evs, len(evs) - have, None)):
            lines.append(orjson.dumps(event_json(ev, first + i)))
        self.seen = total
        try:
            self.out.write(b"\n".join(lines).decode() + "\n")
            self.out.flush()
        except (OSError, ValueError) as exc:  # ValueError: written to a closed stream
            self.error = f"event log {self.path} stopped: {exc}"
            return
        self.written += have
        self.dropped += lost

    def close(self) -> None:
        if self.error is None:
            try:
                self.pump()
            except RuntimeError:  # the engine thread, not yet stopped, appended meanwhile
                pass
        if self._own:
            try:
                self.out.close()
            except OSError:
                pass
        if self.error:
            print(f"wstui: warning: {self.error}", file=sys.stderr)
