"""Small pieces venue adapters share: waiting for a REST snapshot, what a sequence gap or a checksum outcome does to a book, and reading what the client sent."""

from __future__ import annotations

from collections import deque

import orjson

from ..core.book import BadLevel, BookSide
from ..core.stream import BOOK_BAD, Stream


SNAPSHOT_BUFFER = 5000  # diffs kept while a REST snapshot is awaited (a snapshot needs only later ones)
RETRY_MAX_S = 30.0


class SnapshotWait:
    """Diffs waiting for a REST snapshot, and when to ask for one.

    The buffer is bounded: when a snapshot is long in coming the oldest diffs go (the snapshot that
    comes will be newer than them; if it is not, the bridging rule says so).  A failed request is
    retried live with a doubling delay (1 s .. 30 s), never at every diff; in replay it is not retried
    at all: the capture holds no further answer."""

    __slots__ = ("buffer", "requested", "retry_at", "failures")

    def __init__(self) -> None:
        self.buffer: deque = deque(maxlen=SNAPSHOT_BUFFER)
        self.requested = False
        self.retry_at = 0.0
        self.failures = 0

    def due(self, ts: float) -> bool:
        """Time to ask (again)?"""
        return not self.requested and ts >= self.retry_at

    def failed(self, ts: float, live: bool) -> None:
        self.failures += 1
        if live:
            self.requested = False
            self.retry_at = ts + min(RETRY_MAX_S, 2.0 ** (self.failures - 1))

    def unanswered(self, ctx, st: Stream, ts: float, error: str | None) -> None:
        """The request brought no answer: an event, the book out of sync, asked again later (live)."""
        self.failed(ts, ctx.live)
        st.mark_out_of_sync(f"no REST snapshot: {error}", ts)
        st.emit("snapshot_failed", error or "unknown error", ts)

    def unusable(self, ctx, st: Stream, ts: float, detail: str) -> None:
        """The answer is no snapshot (not JSON, fields missing): a parse error, the book out of sync."""
        self.failed(ts, ctx.live)
        ctx.parse_error(detail, ts, st)
        st.mark_out_of_sync("bad REST snapshot", ts)

    def answered(self) -> None:
        self.requested = False
        self.failures = 0
        self.retry_at = 0.0

    def take(self) -> list:
        """The buffered diffs, oldest first; the buffer is left empty."""
        out = list(self.buffer)
        self.buffer.clear()
        return out


def book_gap(ctx, st: Stream, detail: str, ts: float) -> None:
    """A sequence break on ``st``'s book: counted, raised, marked out of sync, resubscribed (live).
    A book already known wrong is left alone: it waits for its snapshot and the break is no news."""
    if st.book_state is BOOK_BAD:
        return
    st.gap(detail, ts)
    ctx.resubscribe(st, f"sequence gap: {detail}")


def checksum_result(ctx, st: Stream, got: int, want: int, ts: float) -> bool:
    """Record a book checksum comparison; a mismatch marks the book out of sync and resubscribes (live)."""
    ok = got == want
    st.checksum(ok, ts, "" if ok else f"crc32 {got} != {want} from exchange")
    if not ok:
        ctx.resubscribe(st, "checksum mismatch")
    return ok


def sent_object(text: str) -> dict | None:
    """A frame the client sent, as a JSON object; None for anything else (a ping, not JSON)."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


# ---- the shapes a venue unpacks ---------------------------------------------------------------------
# The core checks every level it is given (texts, finite numbers, see wstui.core.book); these check the
# shape a venue's own frames must have before an adapter iterates or unpacks them: a string iterated
# would be read character by character ("95" as price 9 size 5), a dict by its keys.

def levels(items, arity: int | tuple[int, int], side: BookSide | None, what: str = "levels") -> list:
    """``items`` when it is a list of lists of exactly ``arity`` elements (or ``(least, most)``); else
    :class:`BadLevel` naming ``side`` (the book side the levels were meant for)."""
    lo, hi = (arity, arity) if type(arity) is int else arity
    if type(items) is not list:
        raise BadLevel(f"{what} is a {type(items).__name__}, not a list: {str(items)[:60]!r}", side)
    for lv in items:
        if type(lv) is not list or not lo <= len(lv) <= hi:
            raise BadLevel(f"{what}: a level is not a list of {arity}: {str(lv)[:60]!r}", side)
    return items


def text(v, side: BookSide | None = None, what: str = "value") -> str:
    """A number's text as the venue wrote it: a ``str`` as is, an ``int`` (JSON numbers decoded with
    ``float_hook=str`` arrive as int or str) written out; anything else (bool, None, list...) is refused."""
    t = type(v)
    if t is str:
        return v
    if t is int:
        return str(v)
    raise BadLevel(f"{what} is a {t.__name__}, not a number: {str(v)[:40]!r}", side)
