"""A stream's detail screen (Enter on a row of the streams table): everything wstui knows about one
stream, redrawn from each snapshot while it is open.

- its state, since when and why; its connection, address and connects;
- counts and rates, latency percentiles, the rate sparkline;
- its last hour (when the snapshot carries it: the engine publishes it for the streams in focus): the
  rate and the latency per minute (or finer for a shorter past) as sparklines over a time axis, a state
  strip (when it was stale, down, out of sync, lagging) and its state changes with how long each lasted;
- integrity: gaps, checksums, resyncs, reconnects, parse errors, the book's state;
- its events (state changes, gaps, checksum failures, resyncs) and its connection's (connects and
  disconnects with their reasons), newest first, with their times;
- its book (top levels) and latest trades;
- the connection's latest raw frames that name its symbol (cleaned, cut to the width).

Feed text is untrusted: everything goes through ``core.text.clean`` into plain ``Text`` (never markup).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...core.history import LAT_MIN_MS, StreamHistory
from ...core.snapshot import ConnView, Snapshot, StreamView
from ...core.text import clean
from .. import fmt

BOOK_LEVELS = 10
TRADES = 10
EVENTS = 30
FRAMES = 8
CHANGES = 12  # state changes listed under the hour's strip
CHART_WIDTHS = (120, 90, 72, 60, 48, 40, 30, 24, 20)  # columns of the hour's charts (divide an hour evenly)
# the state strip: one glyph a column, the worst state the stream was in during that column
STRIP = {"down": ("D", "bold red"), "stale": ("S", "bold red"), "out_of_sync": ("O", "bold red"),
         "lagging": ("L", "bold yellow"), "connecting": ("○", "dim"), "quiet": ("·", "dim"),
         "live": ("─", "green"), "ended": ("■", "dim")}
WORST = ("ended", "live", "quiet", "connecting", "lagging", "out_of_sync", "stale", "down")  # worst last
LEGEND = "─ live · quiet ○ connecting L lagging O out of sync S stale D down"


def _dur(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def detail_text(snap: Snapshot | None, key: str, width: int) -> Text:
    """The screen's content for stream ``key`` in ``snap``."""
    t = Text(no_wrap=True, overflow="ellipsis")
    s = snap.stream(key) if snap is not None else None
    if s is None:
        t.append(f" {clean(key, 120)}: not in the latest snapshot (removed?)\n", "bold")
        t.append(" Esc closes")
        return t
    conn: ConnView | None = next((c for c in snap.connections if c.conn == s.conn), None)
    badge, _cls = fmt.badge(s.state)
    t.append(f" {clean(s.key, 120)}  ", "bold")
    t.append(f"{badge} since {fmt.clock(s.state_since)} ({_dur(snap.now - s.state_since)})")
    t.append("    Esc closes\n", "dim")
    if s.reason:
        t.append(f" why: {clean(s.reason, 200)}\n")
    if s.monitor:
        t.append(f" monitor {clean(s.monitor, 120)}\n")
    if conn is not None:
        t.append(f" connection {clean(conn.conn, 60)} {clean(conn.addr, 120)}: "
                 f"{'up' if conn.up else 'down'}, {conn.connects} connect(s), {conn.messages:,} frames, "
                 f"{conn.heartbeats:,} heartbeats\n")
    age = "never" if s.last_age_s is None else f"{s.last_age_s:.1f} s ago"
    t.append(f" messages {s.messages:,} ({s.bytes / 1e6:.2f} MB), {s.rate_1s:.1f}/s over 1 s, "
             f"{s.rate_10s:.1f}/s over 10 s; last {age}; stale after {s.stale_after:g} s\n")
    lat = "-" if s.latency_ms_p50 is None else f"p50 {s.latency_ms_p50:.1f} ms, p99 {s.latency_ms_p99 or 0:.1f} ms"
    t.append(f" latency {lat}    last 30 s {fmt.sparkline(s.history, 30)}\n")
    t.append(f" integrity: gaps {s.gaps}, checksums {s.checksum_ok:,} ok / {s.checksum_failed} failed, "
             f"resyncs {s.resyncs}, reconnects {s.reconnects}, parse errors {s.parse_errors}"
             + (", CROSSED" if s.crossed else "") + "\n",
             "bold red" if (s.gaps or s.checksum_failed or s.crossed) else "")
    if s.has_book:
        t.append(f" book: {s.book_state}, {s.book_levels[0]:,} bids / {s.book_levels[1]:,} asks, "
                 f"{s.book_updates:,} updates\n")
    if s.hour is not None:
        hour_text(t, s.hour, snap.now, width)
    else:  # the engine publishes it for the streams in focus: the next snapshot brings it
        t.append("\n last hour: not in this snapshot yet\n", "dim")
    t.append("\n events (newest first)\n", "bold")
    shown = 0
    for ev in reversed(snap.events):
        if ev.stream == s.key or (s.conn and ev.stream == s.conn):
            t.append(f"  {fmt.clock(ev.ts)}  {clean(ev.kind, 16):<16} {clean(ev.detail, max(20, width - 34))}\n")
            shown += 1
            if shown >= EVENTS:
                break
    if not shown:
        t.append("  none kept\n", "dim")
    book = _book_of(snap, s)
    if book is not None and (book.bids or book.asks):
        t.append(f"\n book {clean(book.key, 80)} (best {BOOK_LEVELS} a side)\n", "bold")
        t.append(f"  {'bid size':>16} {'bid':>14} | {'ask':<14} {'ask size':<16}\n", "dim")
        for i in range(BOOK_LEVELS):
            b = book.bids[i] if i < len(book.bids) else None
            a = book.asks[i] if i < len(book.asks) else None
            t.append(f"  {clean(b[1], 16) if b else '':>16} {clean(b[0], 14) if b else '':>14} | "
                     f"{clean(a[0], 14) if a else '':<14} {clean(a[1], 16) if a else '':<16}\n")
    tape = _tape_of(snap, s)
    if tape is not None and tape.trades:
        t.append(f"\n trades {clean(tape.key, 80)} (latest {TRADES})\n", "bold")
        for tr in tape.trades[:TRADES]:
            t.append(f"  {fmt.clock(tr.ts)}  {clean(tr.side, 5).upper():<5} {clean(tr.price, 16):>16} "
                     f"{clean(tr.size, 16):>16}\n")
    if conn is not None and conn.recent:
        t.append(f"\n latest frames of {clean(conn.conn, 60)} naming {clean(s.symbol, 40)}\n", "bold")
        shown = 0
        for ts, data in conn.recent:
            text = data if isinstance(data, str) else repr(data)
            if s.symbol not in text:
                continue
            t.append(f"  {fmt.clock(ts)}  {clean(text, max(20, width - 18))}\n")
            shown += 1
            if shown >= FRAMES:
                break
        if not shown:
            t.append("  none among its latest frames\n", "dim")
    return t


def hour_text(t: Text, h: StreamHistory, now: float, width: int) -> None:
    """The stream's last hour: rate and latency sparklines and a state strip over one time axis, then its
    state changes (newest first) with how long each lasted.  Fits 80 columns."""
    span = len(h.rate)
    if span <= 0:
        t.append("\n last hour: no message yet\n", "dim")
        _changes(t, h, now)
        return
    cols = next((w for w in CHART_WIDTHS if w + 12 <= width), CHART_WIDTHS[-1])
    step = max(1, -(-span // cols))  # seconds per column
    n = -(-span // step)
    start = h.start
    what = "per minute" if step == 60 else f"{step} s a column"
    t.append(f"\n last {_dur(span)} ({what}; {fmt.clock(start, 0)} to {fmt.clock(h.end, 0)} UTC)\n", "bold")
    rate = h.rate
    avg = [sum(rate[i * step:(i + 1) * step]) / len(rate[i * step:(i + 1) * step]) for i in range(n)]
    t.append(" msg/s  │", "dim")
    t.append(fmt.sparkline(avg, n), "cyan")
    t.append("\n")
    lat = h.latency_ms
    if lat:
        mx = []
        for i in range(n):
            got = [x for x in lat[i * step:(i + 1) * step] if x is not None]
            mx.append(max(got) if got else 0.0)
        t.append(" lat ms │", "dim")
        top = max(mx)
        # all at the floor (a venue clock ahead of ours reads as no latency): a flat line, not a wall
        t.append(fmt.sparkline(mx, n) if top > LAT_MIN_MS else "".join("▁" if x else " " for x in mx), "magenta")
        t.append("\n")
    t.append(" state  │", "dim")
    for g, style in _strip(h, start, step, n):
        t.append(g, style)
    t.append("\n")
    t.append("        └" + _axis(start, step, n) + "\n", "dim")
    # the figures behind the charts: averages, peaks and when
    total = sum(rate)
    peak = max(range(span), key=rate.__getitem__)
    t.append(f" rate: avg {total / span:,.1f}/s, peak {rate[peak]:,}/s at {fmt.clock(start + peak, 0)}\n")
    samples = [x for x in lat if x is not None]
    if samples:
        worst = max(range(len(lat)), key=lambda i: -1.0 if lat[i] is None else lat[i])  # type: ignore[operator]
        med = sorted(samples)[len(samples) // 2]
        t.append(f" latency (highest of each second): median {_ms(med)}, max {_ms(lat[worst])} at "  # type: ignore[arg-type]
                 f"{fmt.clock(start + worst, 0)}\n")
    t.append(f"         {LEGEND}\n", "dim")
    _changes(t, h, now)


def _ms(v: float) -> str:
    if v <= LAT_MIN_MS:
        return f"≤{LAT_MIN_MS:g} ms"
    return f"{v:.1f} ms" if v < 10 else f"{v:,.0f} ms"


def _strip(h: StreamHistory, start: int, step: int, n: int) -> list[tuple[str, str]]:
    states = h.states
    out = []
    k = 0  # the first change after the column's start
    cur = None  # the state at the column's start
    rank = {s: i for i, s in enumerate(WORST)}
    for c in range(n):
        a = start + c * step
        b = a + step
        while k < len(states) and states[k].ts <= a:
            cur = states[k].state
            k += 1
        seen = [cur] if cur is not None else []
        j = k
        while j < len(states) and states[j].ts < b:
            seen.append(states[j].state)
            j += 1
        if not seen:
            out.append((" ", ""))
            continue
        worst = max(seen, key=lambda x: rank.get(x, 4))
        out.append(STRIP.get(worst, ("?", "yellow")))
    return out


def _axis(start: int, step: int, n: int) -> str:
    """Clock labels under the charts: the end (flush right), the start, each quarter between (HH:MM, or
    HH:MM:SS when short), each left out where it would touch another."""
    fine = n * step < 1200

    def label(c: int) -> str:
        text = fmt.clock(start + c * step, 0)
        return text if fine else text[:5]

    axis = [" "] * n
    last = label(n)
    if n < len(last):
        return ""
    taken = [(max(0, n - len(last)), n)]
    for c in (0, n // 4, n // 2, 3 * n // 4):
        text = label(c)
        a, b = c, c + len(text)
        if any(a <= y + 1 and x <= b + 1 for x, y in taken) or b > n:
            continue  # (the start too: with a short history its label would run into the end's)
        taken.append((a, b))
    for a, b in taken:
        text = last if b == n and a == taken[0][0] else label(a)
        axis[a:a + len(text)] = list(text[:n - a])
    return "".join(axis).rstrip()


def _changes(t: Text, h: StreamHistory, now: float) -> None:
    states = h.states
    if not states:
        return
    t.append(" state changes (newest first)", "bold")
    more = len(states) - CHANGES
    if h.states_dropped:
        t.append(f"  ({h.states_dropped:,} earlier not shown)", "dim")
    t.append("\n")
    for i in range(len(states) - 1, max(-1, len(states) - 1 - CHANGES), -1):
        tr = states[i]
        badge, _ = fmt.badge(tr.state)
        why = f" ({fmt.cause(tr.cause)})" if tr.cause else ""
        if i + 1 < len(states):
            lasted = f"lasted {_dur(states[i + 1].ts - tr.ts)}"
        else:
            lasted = f"for {_dur(now - tr.ts)}, ongoing"
        style = STRIP.get(tr.state, ("", ""))[1] if tr.state in ("down", "stale", "out_of_sync", "lagging") else ""
        t.append(f"  {fmt.clock(tr.ts)}  ")
        t.append(f"{badge}{why}"[:34].ljust(34), style)
        t.append(f" {lasted}\n")
    if more > 0:
        t.append(f"  … {more:,} older change(s) in this hour\n", "dim")


def _book_of(snap: Snapshot, s: StreamView) -> StreamView | None:
    if s.has_book:
        return s
    return next((o for o in snap.streams if o.has_book and o.venue == s.venue and o.symbol == s.symbol), None)


def _tape_of(snap: Snapshot, s: StreamView) -> StreamView | None:
    if s.has_tape:
        return s
    return next((o for o in snap.streams if o.has_tape and o.venue == s.venue and o.symbol == s.symbol), None)


class StreamDetail(ModalScreen):
    """One stream in full; follows the app's snapshots until Esc (or Enter, or q)."""

    BINDINGS = [Binding("escape,enter", "dismiss", "close"), Binding("q", "app.quit", "quit")]
    DEFAULT_CSS = """
    StreamDetail { align: center middle; }
    StreamDetail > VerticalScroll { width: 100%; height: 100%; border: round $accent; background: $surface; }
    StreamDetail Static { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self._seq: int | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="detail-text")

    def on_mount(self) -> None:
        self.refresh_view()
        self.set_interval(1.0 / max(1.0, getattr(self.app, "fps", 10.0)), self.refresh_view)

    def refresh_view(self) -> None:
        snap = self._snap()
        seq = snap.seq if snap is not None else None
        if seq == self._seq:
            return
        self._seq = seq
        self.query_one("#detail-text", Static).update(detail_text(snap, self.key, self.size.width or 120))

    @property
    def text(self) -> str:
        """What the screen shows, as plain text (tests)."""
        return detail_text(self._snap(), self.key, self.size.width or 120).plain

    def _snap(self) -> Snapshot | None:
        engine = getattr(self.app, "engine", None)
        return getattr(engine, "latest", None) or getattr(self.app, "snap", None)
