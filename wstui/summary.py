"""The headless summary: a snapshot as JSON (a contract scripts rely on) or as a text table."""

from __future__ import annotations

from typing import Any

from .core.snapshot import Snapshot, StreamView
from .core.stream import Problem
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
        "cause": s.cause,
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
        "stale_after_explicit": s.stale_explicit,
        "clock_offset_s": _r(s.clock_offset_s, 3),
        "last_problem": problem_json(s.last_problem),
    }
    if s.end_state:
        d["state_at_end"] = s.end_state
    if s.monitor:  # attached: the monitor it comes from
        d["monitor"] = s.monitor
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


def problem_json(p: Problem | None) -> dict[str, Any] | None:
    """A stream's latest unhealthy spell: what, why, since when, how long (null: still going on)."""
    if p is None:
        return None
    return {"state": p.state, "cause": p.cause, "reason": p.reason, "since": _r(p.since, 6),
            "lasted_s": _r(p.lasted, 3)}


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
        "backlog_frames": snap.backlog_frames,
        "replay_behind_s": _r(snap.replay_behind_s, 3),
        "recording_error": snap.recording_error,
        "recording_dropped": snap.recording_dropped,
        "streams": [stream_json(s, levels) for s in snap.streams],
        "connections": [
            {"conn": c.conn, "addr": c.addr, "venue": c.venue, "messages": c.messages, "bytes": c.bytes,
             "heartbeats": c.heartbeats, "parse_errors": c.parse_errors, "connects": c.connects, "up": c.up,
             "streams": c.streams, "streams_limit": c.streams_limit, "subscribes": c.subscribes,
             "subscribes_last_hour": c.subscribes_hour, "subscribes_budget_per_hour": c.subscribes_budget,
             "rtt_ms": _r(c.rtt_ms, 2), "disconnects": [{"ts": _r(t, 6), "reason": r} for t, r in c.closes],
             "warning": c.warning, "extensions": c.extensions,
             "unsolicited": c.unsolicited}
            for c in snap.connections
        ],
        "events": [{"ts": _r(e.ts, 6), "stream": e.stream, "kind": e.kind, "cause": e.cause, "detail": e.detail}
                   for e in snap.events],
        "unhealthy": [s.key for s in snap.unhealthy],
        "events_total": snap.events_total,
        "notes": list(snap.notes),
    }


def summary_text(snap: Snapshot) -> str:
    """A compact table for people (and grep)."""
    rows = [("stream", "state", "cause", "msgs", "msg/s10", "age_s", "lat_ms", "gaps", "cksum ok/bad", "resync",
             "best bid", "best ask")]
    for s in snap.streams:
        bid = s.bids[0][0] if s.bids else "-"
        ask = s.asks[0][0] if s.asks else "-"
        rows.append((
            clean(s.key, 48), s.state if not s.end_state or s.end_state == s.state else f"{s.state}({s.end_state})",
            s.cause or (s.last_problem.cause if not s.healthy and s.last_problem else "") or "-",
            str(s.messages), f"{s.rate_10s:.1f}",
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
    for s in snap.streams:
        if s.last_problem is not None:
            p = s.last_problem
            lasted = "still on" if p.lasted is None else f"lasted {p.lasted:.1f} s"
            lines.append(f"last problem: {clean(s.key, 48)}: {p.state} ({p.cause or '-'}) at {p.since:.3f}, "
                         f"{lasted}: {clean(p.reason, 160)}")
    offs = [s.clock_offset_s for s in snap.streams if s.clock_offset_s is not None]
    if offs:
        off = max(offs, key=abs)
        if abs(off) >= 1.0:
            lines.append(f"note: exchange clock {abs(off):.1f} s {'behind' if off < 0 else 'ahead of'} ours "
                         f"(a constant offset, not lag{': a replayed capture?' if off <= -3600 else ''})")
    if snap.unhealthy:
        lines.append(f"unhealthy at the end: {', '.join(clean(s.key, 48) for s in snap.unhealthy)}")
    for b in snap.bad_records[:20]:
        lines.append(f"bad record: {clean(b.file)}:{b.line}: {clean(b.error)}")
    for n in snap.notes:
        lines.append(f"note: {clean(n)}")
    return "\n".join(lines)
