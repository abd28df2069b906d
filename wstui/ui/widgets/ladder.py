"""The depth ladder of the selected book (Line API): asks above, bids below, spread and mid between.

Each level shows price, size, cumulative size and a depth bar.  Levels whose size changed since the
previous frame are highlighted for a moment.  Price grouping aggregates levels into coarser ticks
(1-2-5 steps above the book's own tick): bids round down, asks round up, all in exact integer units of
the price text, so grouped prices never show float noise.

A book that is out of sync, crossed, stale, down or still waiting for its snapshot is never drawn as if
it were fine: the title turns red and names the condition, and the levels are dimmed.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation

from ...core.snapshot import StreamView
from ...core.text import clean
from .. import fmt
from .lines import LinesWidget, Row, note_rows, title_row

HIGHLIGHT_S = 0.6  # how long a changed level stays highlighted (wall seconds)
MAX_GROUP = 12  # coarsest grouping step index
MAX_GROUP_FRACTION = 0.01  # and no grouping tick coarser than 1% of the mid price
MIN_GROUPED = 4  # nor one that leaves fewer levels than this on a side of the held book

# (label, style suffix, trusted) per condition; the first that applies wins
Status = tuple[str, str, bool]


def health_status(v: StreamView) -> Status:
    """The title label of any stream, from its health state alone."""
    st = v.state
    if st == "stale":
        return f"✖ STALE {'no data yet' if v.last_age_s is None else fmt.age(v.last_age_s)}", "bad", False
    if st == "down":
        return "▼ DOWN", "bad", False
    if st == "out_of_sync":
        return "✖ OUT OF SYNC", "bad", False
    if st == "lagging":
        return "▲ LAGGING", "warn", True
    if st == "ended":
        return "■ ended", "dim", True
    if st == "connecting":
        return "○ connecting", "warn", True
    if st == "quiet":  # (as its row says: nothing missing, the market is calm)
        return "◦ quiet", "ok", True
    return "● live", "ok", True


def book_status(v: StreamView) -> Status:
    """What the ladder title says about a book, and whether its levels can be trusted."""
    if v.book_state == "out_of_sync":
        return f"✖ OUT OF SYNC: {clean(v.reason, 80)}", "bad", False
    if v.state in ("stale", "down"):
        return health_status(v)
    if v.crossed:
        return "✖ CROSSED", "bad", False
    if v.book_state != "ok":  # its REST snapshot may be queued in the venue's weight budget: say how long
        return f"○ {clean(v.reason, 60)}" if v.reason.startswith("snapshot queued") else "○ waiting for snapshot", \
            "warn", False
    return health_status(v)


def decimals_of(text: str) -> int:
    if "e" in text or "E" in text:
        try:
            exp = Decimal(text).as_tuple().exponent
        except InvalidOperation:
            return 0
        return max(0, -exp) if isinstance(exp, int) else 0
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def to_units(text: str, d: int) -> int | None:
    """``text`` as an integer number of ``10**-d`` (exact); None when it is not a number."""
    try:
        return int(Decimal(text).scaleb(d).to_integral_value())
    except (InvalidOperation, ValueError):
        return None


def units_text(units: int, d: int) -> str:
    if d <= 0:
        return str(units)
    sign = "-" if units < 0 else ""
    u = abs(units)
    return f"{sign}{u // 10**d}.{u % 10**d:0{d}d}"


def group_steps(native: int, count: int = MAX_GROUP) -> list[int]:
    """Tick sizes (in price units) coarser than ``native``: the 1-2-5 series above it."""
    out: list[int] = []
    k = 1
    while len(out) < count:
        for m in (1, 2, 5):
            t = m * k
            if t > native:
                out.append(t)
                if len(out) == count:
                    break
        k *= 10
    return out


def group_side(levels, tick: int, d: int, bids: bool) -> list[tuple[str, float]]:
    """Aggregate ``levels`` (best first) into buckets of ``tick`` units: [(price text, size)]."""
    out: list[tuple[str, float]] = []
    last_b = None
    shown_d = d
    t = tick
    while shown_d > 0 and t % 10 == 0:
        t //= 10
        shown_d -= 1
    for p, _s, q in levels:
        u = to_units(p, d)
        if u is None:
            continue
        b = u // tick if bids else -((-u) // tick)
        if b == last_b:
            out[-1] = (out[-1][0], out[-1][1] + q)
        else:
            text = units_text(b * tick, d)
            if shown_d < d:
                text = text[: len(text) - (d - shown_d)].rstrip(".")
            out.append((text, q))
            last_b = b
    return out


class LadderView(LinesWidget):
    """The depth ladder; fed a :class:`StreamView` per frame by the app."""

    COMPONENT_CLASSES = {
        "ladder--title-ok", "ladder--title-warn", "ladder--title-bad", "ladder--title-dim",
        "ladder--head", "ladder--bid", "ladder--ask", "ladder--bid-bar", "ladder--ask-bar",
        "ladder--changed", "ladder--spread", "ladder--spread-bad", "ladder--dim", "ladder--note", "ladder--hint",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view: StreamView | None = None
        self.note = "select a stream"
        self.hint = ""  # said on the column-head line ("long|shorter" variants, the first that fits)
        self.group: dict[str, int] = {}  # book key -> grouping step index (0 = the book's own levels)
        self._scale: dict[str, tuple[int, int]] = {}  # book key -> (decimals, native tick units)
        self._bids: list[tuple[str, str, float]] = []  # shown price, size text ("" when grouped), size
        self._asks: list[tuple[str, str, float]] = []
        self._partial = (False, False)
        self._prev: dict[tuple[int, str], str | float] | None = None
        self._prev_ctx: tuple | None = None
        self._hl: dict[tuple[int, str], float] = {}

    # ------------------------------------------------------------ data
    @property
    def key(self) -> str | None:
        return self.view.key if self.view is not None else None

    def tick_label(self) -> str:
        v = self.view
        if v is None:
            return ""
        gi = self.group.get(v.key, 0)
        scale = self._scale.get(v.key)
        if gi == 0 or scale is None:
            return "raw"
        d, native = scale
        step = group_steps(native)[gi - 1]
        return fmt.trim_number(units_text(step, d))

    def step_group(self, coarser: bool) -> str:
        """Step the price grouping of the shown book; returns the new tick label."""
        v = self.view
        if v is None:
            return ""
        gi = self.group.get(v.key, 0)
        if coarser and v.key not in self._scale:
            return self.tick_label()  # the book's tick is not known yet
        gi = min(self.max_group(v), gi + 1) if coarser else max(0, gi - 1)
        self.group[v.key] = gi
        self.update_view(v, self.note)
        return self.tick_label()

    def max_group(self, v: StreamView) -> int:
        """The coarsest grouping step for this book: its tick stays within 1% of the mid price and leaves
        at least MIN_GROUPED levels a side (coarser says nothing a trader can use); one step is always
        allowed."""
        scale = self._scale.get(v.key)
        mid = _mid(v)
        if scale is None or mid is None:
            return MAX_GROUP
        d, native = scale
        limit = mid * MAX_GROUP_FRACTION * 10**d
        n = 0
        for tick in group_steps(native):
            if tick > limit:
                break
            # coarser than this leaves too few levels on a side to read the book's shape
            if min(len(group_side(v.bids, tick, d, True)), len(group_side(v.asks, tick, d, False))) < MIN_GROUPED:
                break
            n += 1
        return max(1, min(MAX_GROUP, n))

    def at_max_group(self) -> bool:
        v = self.view
        return v is not None and self.group.get(v.key, 0) >= self.max_group(v)

    def _learn_scale(self, v: StreamView) -> None:
        """Decimals and native tick of a book, from the price texts of its first full view."""
        if len(v.bids) < 2 or len(v.asks) < 2:
            return
        d = max(decimals_of(p) for p, _, _ in v.bids + v.asks)
        native = None
        for side in (v.bids, v.asks):
            prev = None
            for p, _, _ in side[:50]:
                u = to_units(p, d)
                if u is None:
                    continue
                if prev is not None and prev != u:
                    gap = abs(prev - u)
                    native = gap if native is None else min(native, gap)
                prev = u
        if native is not None:
            self._scale[v.key] = (d, native)

    def update_view(self, v: StreamView | None, note: str = "") -> None:
        """A new frame: the selected book's view (or None with a note saying why there is none)."""
        self.view = v
        self.note = note
        if v is None:
            self._bids = self._asks = []
            self._prev = None
            self._hl.clear()
            self.redraw()
            return
        if v.key not in self._scale:
            self._learn_scale(v)
        gi = self.group.get(v.key, 0)
        scale = self._scale.get(v.key)
        if gi and scale is not None:
            d, native = scale
            tick = group_steps(native)[gi - 1]
            bids = [(p, "", q) for p, q in group_side(v.bids, tick, d, True)]
            asks = [(p, "", q) for p, q in group_side(v.asks, tick, d, False)]
            # the last bucket may hold only part of its levels when the view stops short of the book
            if v.book_levels[0] > len(v.bids) and len(bids) > 1:
                bids.pop()
            if v.book_levels[1] > len(v.asks) and len(asks) > 1:
                asks.pop()
        else:
            bids = [(clean(p, 24), s, q) for p, s, q in v.bids]
            asks = [(clean(p, 24), s, q) for p, s, q in v.asks]
        self._bids, self._asks = bids, asks
        # levels changed since the last frame (same book, same grouping)
        cur = {(0, p): s or q for p, s, q in bids}
        cur.update({(1, p): s or q for p, s, q in asks})
        ctx = (v.key, gi)
        now = time.monotonic()
        if self._prev is not None and self._prev_ctx == ctx:
            prev = self._prev
            until = now + HIGHLIGHT_S
            for k, s in cur.items():
                if prev.get(k) != s:
                    self._hl[k] = until
        else:
            self._hl.clear()
        self._hl = {k: t for k, t in self._hl.items() if t > now and k in cur}
        self._prev = cur
        self._prev_ctx = ctx
        self.redraw()

    # ------------------------------------------------------------ drawing
    def build(self, width: int, height: int) -> list[Row]:
        v = self.view
        if v is None:
            return note_rows(" BOOK", self.note, width, "ladder--title-dim", "ladder--note")
        label, cond, trusted = book_status(v)
        left = f" {clean(v.symbol, 24)} · {clean(v.venue, 20)} {clean(v.channel, 12)}"
        rows: list[Row] = [title_row(left, f"{label}  tick {self.tick_label()} ", width, f"ladder--title-{cond}")]

        n = max(1, (height - 3) // 2)
        bids = self._bids[:n]
        asks = self._asks[:n]
        shown = fmt.align_points([p for p, _, _ in bids + asks])
        bids = [(shown[i], s, q) for i, (_p, s, q) in enumerate(bids)]
        asks = [(shown[len(bids) + i], s, q) for i, (_p, s, q) in enumerate(asks)]
        pw = max([5] + [len(p) for p, _, _ in bids + asks])
        pw = min(pw, max(5, width // 3))
        sw = min(12, max(6, (width - pw - 8) // 3))
        cw = sw
        bw = max(0, width - (1 + pw + 1 + sw + 1 + cw + 1))
        head = f" {'price':>{pw}} {'size':>{sw}} {'cumul':>{cw}} "
        hint = next((h for h in self.hint.split("|") if h and len(h) + 1 <= bw), "")
        if hint:
            rows.append(((head + f"{hint:>{bw - 1}} ", "ladder--hint"),))
        else:
            rows.append(((head + fmt.fit("depth", bw), "ladder--head"),))

        cum_b = _cumulative(bids)
        cum_a = _cumulative(asks)
        top = max(cum_b[-1] if cum_b else 0.0, cum_a[-1] if cum_a else 0.0) or 1.0
        hl = self._hl
        dim = not trusted
        # sizes and cumulative sizes line up on their decimal points, like the prices
        sizes = fmt.aligned_sizes([(s, q) for _p, s, q in bids + asks], sw)
        size_d = max((fmt.decimals(t.strip()) for t in sizes), default=0)
        cums = fmt.aligned_numbers(cum_b + cum_a, size_d, cw)
        nb = len(bids)

        ask_rows: list[Row] = []
        for i, (p, s, q) in enumerate(asks):
            ask_rows.append(self._level_row(p, sizes[nb + i], cums[nb + i], cum_a[i], top, pw, sw, cw, bw, "ask",
                                            (1, p.rstrip()) in hl, dim))
        rows.extend([((" ", ""),)] * (n - len(ask_rows)))
        rows.extend(reversed(ask_rows))
        rows.append(self._spread_row(v, width, trusted))
        for i, (p, s, q) in enumerate(bids):
            rows.append(self._level_row(p, sizes[i], cums[i], cum_b[i], top, pw, sw, cw, bw, "bid",
                                        (0, p.rstrip()) in hl, dim))
        if not bids and not asks:
            msg = "no levels yet" if v.book_state != "out_of_sync" else "book discarded until it is rebuilt"
            rows[2 + n - 1] = ((" " + fmt.fit(msg, width - 2), "ladder--note"),)
        return rows

    def _level_row(self, p: str, shown: str, cum_text: str, cum: float, top: float, pw: int, sw: int, cw: int,
                   bw: int, side: str, changed: bool, dim: bool) -> Row:
        price_cls = "ladder--dim" if dim else f"ladder--{side}"
        size_cls = "ladder--dim" if dim else ("ladder--changed" if changed else "")
        bar = _bar(cum / top, bw) if bw > 0 else ""
        return (
            (" ", ""),
            (f"{fmt.fit(p, pw):>{pw}}", price_cls),
            (" ", ""),
            (f"{shown:>{sw}}", size_cls),
            (" ", ""),
            (f"{cum_text:>{cw}}", "ladder--dim" if dim else ""),
            (" ", ""),
            (bar, "ladder--dim" if dim else f"ladder--{side}-bar"),
        )

    def _spread_row(self, v: StreamView, width: int, trusted: bool) -> Row:
        if v.book_state == "out_of_sync":
            text, cls = f" ✖ book out of sync: {clean(v.reason, 120)} ", "ladder--spread-bad"
        elif v.bids and v.asks:
            # the book's true best prices, also when the levels are grouped
            bp, ap = clean(v.bids[0][0], 24), clean(v.asks[0][0], 24)
            try:
                b, a = float(bp), float(ap)
            except ValueError:
                b = a = float("nan")
            d = max(decimals_of(bp), decimals_of(ap))
            spread = a - b
            mid = (a + b) / 2
            bps = spread / mid * 1e4 if mid > 0 else float("nan")
            if spread <= 0:
                text, cls = f" ✖ CROSSED: bid {bp} ≥ ask {ap} ", "ladder--spread-bad"
            else:
                bpf = ".1g" if 0 < bps < 0.1 else ".1f"  # (a tight spread never reads as 0.0 bp)
                text = f" spread {spread:.{d}f} ({bps:{bpf}} bp)  mid {mid:.{d + 1}f} "
                cls = "ladder--spread" if trusted else "ladder--dim"
        elif v.book_state == "ok":
            text, cls = " one side of the book is empty ", "ladder--spread-bad"
        else:
            text, cls = " waiting for the book snapshot ", "ladder--spread"
        text = fmt.fit(text, width)
        pad = max(0, width - len(text))
        left = pad // 2
        return (("─" * left, "ladder--head"), (text, cls), ("─" * (pad - left), "ladder--head"))


def _mid(v: StreamView) -> float | None:
    try:
        m = (float(v.bids[0][0]) + float(v.asks[0][0])) / 2
    except (IndexError, ValueError):
        return None
    return m if m > 0 and m == m and m != float("inf") else None


def _cumulative(levels: list[tuple[str, str, float]]) -> list[float]:
    out = []
    c = 0.0
    for _p, _s, q in levels:
        c += q
        out.append(c)
    return out


_EIGHTHS = " ▏▎▍▌▋▊▉"


def _bar(frac: float, width: int) -> str:
    frac = 0.0 if frac != frac else max(0.0, min(1.0, frac))
    cells = frac * width
    full = int(cells)
    rest = int((cells - full) * 8)
    s = "█" * full
    if full < width and rest:
        s += _EIGHTHS[rest]
    return s
