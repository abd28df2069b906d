"""The headless summary: a snapshot as JSON (a contract scripts rely on) or as a text table."""

from __future__ import annotations

from typing import Any

from .core.snapshot import Snapshot, StreamView
from .core.text import cell_len, clean, pad


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def stream_json(s: StreamView, levels: int = 10) -> dict[str, Any]:
    d: dict[str, Any] = {
        "venue": s.venue,
        "symbol": s.symbol,
        "channel": s.channel,
        "key": s.key,
        "state": s.state,
        "state_since": _r(s.state_since, 6),
        "reason": s.reason,
        "messages": s.messages,
        "bytes": s.bytes,
        "rate_1s": _r(s.rate_1s, 2),
        "rate_10s": _r(s.rate_10s, 2),
        "last_age_s": _r(s.last_age_s, 3),
        "latency_ms_p50": _r(s.latency_ms_p50, 2),
        "latency_ms_p99": _r(s.latency_ms_p99, 2),
        "gaps": s.gaps,
        "checksum_ok": s.checksum_ok,
        "checksum_failed": s.checksum_failed,
        "resyncs": s.resyncs,
        "reconnects": s.reconnects,
        "parse_errors": s.parse_errors,
        "crossed": s.crossed,
        "stale_after": s.stale_after,
    }
    if s.has_book:
        d["book_state"] = s.book_state
        d["book_levels"] = list(s.book_levels)
        d["book"] = {
            "bids": [[p, q] for p, q, _ in s.bids[:levels]],
            "asks": [[p, q] for p, q, _ in s.asks[:levels]],
        }
    if s.has_frames:
        d["last_frames"] = [{"ts": _r(ts, 6), "text": text[:500]} for ts, text in s.frames[:5]]
    if s.has_tape:
        d["trades"] = s.trades_total
        d["last_trades"] = [
            {"ts": _r(t.ts, 6), "side": t.side, "price": t.price, "size": t.size} for t in s.trades[:5]
        ]
    return d


def summary_json(snap: Snapshot, levels: int = 10) -> dict[str, Any]:
    return {
        "source": snap.source,
        "file": snap.file,
        "elapsed_s": round(snap.elapsed_s, 3),
        "clock": _r(snap.now, 6),
        "messages": snap.messages,
        "bytes": snap.bytes,
        "bad_records": [{"file": b.file, "line": b.line, "error": b.error} for b in snap.bad_records],
        "bad_records_total": snap.bad_records_total,
        "backlog": snap.backlog,
        "streams": [stream_json(s, levels) for s in snap.streams],
        "connections": [
            {"conn": c.conn, "addr": c.addr, "venue": c.venue, "messages": c.messages, "bytes": c.bytes,
             "heartbeats": c.heartbeats, "parse_errors": c.parse_errors, "connects": c.connects, "up": c.up,
             "unsolicited": c.unsolicited}
            for c in snap.connections
        ],
        "events": [{"ts": _r(e.ts, 6), "stream": e.stream, "kind": e.kind, "detail": e.detail} for e in snap.events],
        "events_total": snap.events_total,
        "notes": list(snap.notes),
    }


def summary_text(snap: Snapshot) -> str:
    """A compact table for people (and grep)."""
    rows = [("stream", "state", "msgs", "msg/s10", "age_s", "lat_ms", "gaps", "cksum ok/bad", "resync", "best bid", "best ask")]
    for s in snap.streams:
        bid = s.bids[0][0] if s.bids else "-"
        ask = s.asks[0][0] if s.asks else "-"
        rows.append((
            clean(s.key, 48), s.state, str(s.messages), f"{s.rate_10s:.1f}",
            "-" if s.last_age_s is None else f"{s.last_age_s:.1f}",
            "-" if s.latency_ms_p50 is None else f"{s.latency_ms_p50:.0f}",
            str(s.gaps), f"{s.checksum_ok}/{s.checksum_failed}", str(s.resyncs), clean(bid, 16), clean(ask, 16),
        ))
    widths = [max(cell_len(r[i]) for r in rows) for i in range(len(rows[0]))]
    # a file name is text from outside too (an OSC sequence in one set the terminal's title)
    lines = [f"{snap.source} {clean(snap.file or '')}: {snap.messages} messages in {snap.elapsed_s:.2f} s, "
             f"{snap.bad_records_total} bad records, {snap.events_total} events"]
    for r in rows:
        lines.append("  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip())
    for b in snap.bad_records[:20]:
        lines.append(f"bad record: {clean(b.file)}:{b.line}: {clean(b.error)}")
    for n in snap.notes:
        lines.append(f"note: {clean(n)}")
    return "\n".join(lines)
