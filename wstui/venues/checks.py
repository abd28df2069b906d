"""Small pieces the Coinbase, OKX, Bybit and Kraken v1 adapters share: what a sequence gap or a checksum outcome does to a book, and reading what the client sent."""

from __future__ import annotations

import orjson

from ..core.stream import BOOK_BAD, Stream


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
