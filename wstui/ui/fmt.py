"""Text formatting for the screen: clock times, quantities, state badges, sparklines.

Pure functions (no Textual): every timestamp shown comes from the engine clock (the capture's clock in
replay), formatted in UTC, so a replayed screen is the same on every machine.
"""

from __future__ import annotations

import math
import time

from ..core.text import clean, cut

# state -> (badge text, style class suffix); the text alone tells the state (NO_COLOR terminals)
BADGES: dict[str, tuple[str, str]] = {
    "live": ("● live", "ok"),
    "connecting": ("○ connecting", "warn"),
    "stale": ("✖ STALE", "bad"),
    "lagging": ("▲ LAGGING", "warn"),
    "out_of_sync": ("✖ OUT OF SYNC", "bad"),
    "down": ("▼ DOWN", "bad"),
    "ended": ("■ ended", "dim"),
    "quiet": ("◦ quiet", "dim"),
}

# alarm cause -> words on screen (the JSON keeps the names; the README's health table lists both)
CAUSES: dict[str, str] = {
    "connection_silent": "connection silent",
    "stream_silent": "stream silent",
    "link_down": "link down",
    "exchange_behind": "exchange behind",
    "backlog": "we are behind",
    "book_gap": "book gap",
    "book_checksum": "checksum failed",
    "book_crossed": "book crossed",
    "book_bad_frame": "bad frame",
    "book_no_snapshot": "no snapshot",
}

SPARK = "▁▂▃▄▅▆▇█"


def badge(state: str) -> tuple[str, str]:
    return BADGES.get(state, (clean(state, 14), "warn"))


def clock(ts: float | None, decimals: int = 3) -> str:
    """``HH:MM:SS.mmm`` (UTC) of an engine-clock timestamp."""
    if ts is None or not math.isfinite(ts):
        return "--:--:--"
    whole = math.floor(ts)
    frac = ts - whole
    t = time.gmtime(whole)
    s = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if decimals > 0:
        f = min(int(frac * 10**decimals), 10**decimals - 1)
        s += f".{f:0{decimals}d}"
    return s


def date_clock(ts: float | None) -> str:
    """``YYYY-MM-DD HH:MM:SS.s UTC``."""
    if ts is None or not math.isfinite(ts):
        return "----------"
    t = time.gmtime(math.floor(ts))
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {clock(ts, 1)} UTC"


def duration(sec: float | None) -> str:
    """``M:SS.s`` (or ``H:MM:SS``) for replay positions."""
    if sec is None or not math.isfinite(sec):
        return "-"
    sec = max(0.0, sec)
    if sec >= 3600:
        h = int(sec // 3600)
        m = int(sec % 3600 // 60)
        return f"{h}:{m:02d}:{int(sec % 60):02d}"
    m = int(sec // 60)
    return f"{m}:{sec - 60 * m:04.1f}"


def age(sec: float | None) -> str:
    if sec is None:
        return "-"
    if sec < 10:
        return f"{sec:.1f}s"
    if sec < 600:
        return f"{sec:.0f}s"
    if sec < 36000:
        return f"{sec / 60:.0f}m"
    return f"{sec / 3600:.0f}h"


def speed(v: float | None) -> str:
    if v is None:
        return "max"
    return f"{v:g}x"


def rate(v: float) -> str:
    if v >= 10000:
        return f"{v / 1000:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def trim_number(text: str) -> str:
    """``"9602.00000000"`` -> ``"9602"``, ``"0.10493450"`` -> ``"0.1049345"`` (display only)."""
    if "." in text and "e" not in text and "E" not in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def qty(v: float, width: int = 10) -> str:
    """A quantity in at most ``width`` characters (exact when it fits, else fewer decimals or k/M/B)."""
    if not math.isfinite(v):
        return "?"
    for d in (8, 6, 4, 3, 2, 1, 0):
        s = f"{v:.{d}f}"
        if d:
            s = s.rstrip("0").rstrip(".")
        if len(s) <= width:
            return s
    for div, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        for d in (2, 1, 0):
            s = f"{v / div:.{d}f}{suffix}"
            if len(s) <= width:
                return s
    return f"{v:.0e}"


def size_text(text: str, value: float, width: int) -> str:
    """The exchange's size text (trailing zeros dropped) when it fits ``width``, else :func:`qty`."""
    t = trim_number(clean(text, 40))
    return t if len(t) <= width else qty(value, width)


def sparkline(values: tuple[int, ...] | list[int], width: int) -> str:
    vals = list(values[-width:]) if width > 0 else []
    if not vals:
        return ""
    top = max(vals)
    if top <= 0:
        return (" " * (width - len(vals))) + "▁" * len(vals)
    out = []
    for v in vals:
        if v <= 0:
            out.append(" ")
        else:
            out.append(SPARK[min(len(SPARK) - 1, int(v * (len(SPARK) - 1) / top + 0.5))])
    return (" " * (width - len(vals))) + "".join(out)


def align_points(texts: list[str]) -> list[str]:
    """Pad number texts on the right so their decimal points line up when right-aligned
    (``"30251"`` beside ``"30252.5"`` becomes ``"30251  "``); the exchange's digits stay as they are."""
    decs = [len(t) - t.index(".") - 1 if "." in t else -1 for t in texts]
    top = max(decs, default=-1)
    if top < 0:
        return list(texts)
    return [t + " " * (top - d) for t, d in zip(texts, decs)]


def decimals(text: str) -> int:
    """Digits after the point of a number text (0 without one)."""
    return len(text) - text.index(".") - 1 if "." in text else 0


def aligned_sizes(items: list[tuple[str, float]], width: int) -> list[str]:
    """Sizes for one column, their decimal points lined up, each at most ``width`` cells: the exchange's
    texts (trailing zeros dropped, padded on the right) when they fit, else one number of decimals for all
    that fits, else :func:`qty` each.  ``items`` are ``(size text or "", size)``."""
    texts = [size_text(t, q, width) if t else qty(q, width) for t, q in items]
    out = align_points(texts)
    if all(len(t) <= width for t in out):
        return out
    top = max((decimals(t) for t in texts), default=0)
    for d in range(min(top, 8), -1, -1):
        out = [f"{q:.{d}f}" for _t, q in items]
        if all(len(t) <= width for t in out):
            return out
    return [qty(q, width) for _t, q in items]


def aligned_numbers(values: list[float], decimals_: int, width: int) -> list[str]:
    """``values`` with one number of decimals (at most ``decimals_``) so the points line up in ``width``."""
    for d in range(max(0, min(decimals_, 8)), -1, -1):
        out = [f"{v:.{d}f}" for v in values]
        if all(len(t) <= width for t in out):
            return out
    return [qty(v, width) for v in values]


def fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells with an ellipsis."""
    if width <= 0:
        return ""
    if len(text) <= width and text.isascii():
        return text
    return cut(text, width)  # measured in terminal cells (fullwidth characters take two)


def cause(name: str) -> str:
    return CAUSES.get(name, clean(name, 24))


def span(sec: float) -> str:
    """A length of time in words: ``2.3 s``, ``4 min``, ``3 h``, ``5 days``, ``4 months``."""
    a = abs(sec)
    if a < 90:
        return f"{a:.1f} s"
    if a < 5400:
        return f"{a / 60:.0f} min"
    if a < 172800:
        return f"{a / 3600:.0f} h"
    if a < 60 * 86400:
        return f"{a / 86400:.0f} days"
    if a < 730 * 86400:
        return f"{a / (30.44 * 86400):.0f} months"
    return f"{a / (365.25 * 86400):.0f} years"


def clock_offset(off: float | None) -> str:
    """The venue's clock against ours in words ("" when it is just network latency)."""
    if off is None or not math.isfinite(off) or -0.5 < off <= 0.0:
        return ""
    if off < 0:
        text = f"exchange clock {span(off)} behind"
        return text + (": a replayed capture?" if off <= -3600 else " (its usual offset, not lag)")
    text = f"exchange clock {span(off)} ahead of ours"
    return text + (": a skewed clock?" if off >= 3600 else " (clock skew: latencies read low)")


def problem(p, now: float | None = None) -> str:
    """A stream's latest unhealthy spell: ``last: STALE (connection silent) 1.5 s at 12:00:01.250``."""
    if p is None:
        return ""
    what = BADGES.get(p.state, (p.state, ""))[0].split(" ", 1)[-1]
    why = f" ({cause(p.cause)})" if p.cause else ""
    if p.lasted is None:
        return f"{what}{why} since {clock(p.since)}"
    return f"last: {what}{why} {span(p.lasted)} at {clock(p.since)}"
