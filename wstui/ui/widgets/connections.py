"""The connections view (key ``n``): one row per connection, for the SRE watching a whole feed plant.

Per connection: up or down, its streams against the venue's documented limit, messages and bytes per
second (from the change between two snapshots), the WebSocket ping round trip, reconnects and the last
reason, subscribe requests sent in the last hour against the venue's hourly budget, and a warning when a
documented limit is close.  Then one line per venue REST host (book snapshots): requests, the last
minute's weight against the venue's budget, what is queued, and any 429/418.  Redrawn from each snapshot
while open.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...core.snapshot import ConnView, Snapshot
from ...core.text import clean

HEAD = ("connection", "venue", "link", "streams", "msg/s", "kB/s", "rtt ms", "reconn", "subs/h", "compression",
        "last disconnect")


def _row(c: ConnView, rate: tuple[float, float] | None) -> tuple[str, ...]:
    streams = f"{c.streams}/{c.streams_limit}" if c.streams_limit else str(c.streams)
    subs = f"{c.subscribes_hour}/{c.subscribes_budget}" if c.subscribes_budget else str(c.subscribes_hour)
    msgs, kb = ("-", "-") if rate is None else (f"{rate[0]:,.0f}", f"{rate[1] / 1000:,.1f}")
    last = f"{clean(c.closes[0][1], 60)}" if c.closes else ""
    return (clean(c.conn, 32), clean(c.venue, 18), "up" if c.up else "DOWN", streams, msgs, kb,
            "-" if c.rtt_ms is None else f"{c.rtt_ms:.1f}", str(max(0, c.connects - 1)), subs,
            clean(c.extensions, 40) or "none", last)


def connections_text(snap: Snapshot | None, rates: dict[str, tuple[float, float]]) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    if snap is None or not snap.connections:
        t.append(" no connections yet    Esc closes")
        return t
    rows = [HEAD] + [_row(c, rates.get(c.conn)) for c in snap.connections]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD) - 1)]
    up = sum(1 for c in snap.connections if c.up)
    n = len(snap.connections)
    t.append(f" {n} connection{'s' if n != 1 else ''}, {up} up, {sum(c.streams for c in snap.connections):,} "
             "streams", "bold")
    t.append("    Esc closes\n", "dim")
    for i, r in enumerate(rows):
        line = " " + "  ".join(cell.rjust(w) if 3 <= j <= 8 else cell.ljust(w)
                              for j, (cell, w) in enumerate(zip(r, widths))) + "  " + r[-1]
        style = "bold" if i == 0 else ("bold red" if r[2] == "DOWN" else "")
        t.append(line.rstrip() + "\n", style)
    warns = [c for c in snap.connections if c.warning]
    for c in warns:
        t.append(f" ▲ {clean(c.conn, 32)}: close to a documented limit: {clean(c.warning, 120)}\n", "bold yellow")
    for h in snap.rest:
        line, style = rest_line(h)
        t.append(line + "\n", style)
    return t


def rest_line(h: dict) -> tuple[str, str]:
    """A venue REST host (book snapshots), in lines that fit 80 columns: what it was asked and the
    rate-limit answers (red when any); the last minute's weight against the venue's budget (and the share
    we keep to) and the venue's own count; what waits."""
    def num(name: str) -> int:
        v = h.get(name)
        return v if type(v) is int else 0

    limited = num("rate_limited")
    head = (f" REST {clean(str(h.get('host', '?')), 60)}: {num('requests'):,} requests, weight {num('weight'):,}"
            f" · {limited:,} rate-limited (429/418)")
    budget, cap = h.get("budget_per_min"), h.get("cap_per_min")
    minute = f"last minute {num('weight_last_min'):,}"
    if type(budget) is int:
        minute += f" of {budget:,}" + (f" (we keep to {cap:,})" if type(cap) is int and cap != budget else "")
    spend = [minute]
    venue = h.get("venue_used_weight")
    if type(venue) is int:  # the venue's own count for our whole address (other programs, other workers)
        spend.append(f"the venue counts {venue:,}" + (f", held {num('venue_holds')}x" if num("venue_holds") else ""))
    wait = []
    if num("queued"):
        eta = h.get("next_eta_s")
        wait.append(f"{num('queued'):,} queued" + (f", the last in ~{eta:.0f} s" if type(eta) in (int, float) else ""))
    if num("inflight"):
        wait.append(f"{num('inflight')} in flight")
    if num("errors"):
        wait.append(f"{num('errors'):,} errors")
    lines = [head, "   " + " · ".join(spend)] + (["   " + " · ".join(wait)] if wait else [])
    return "\n".join(lines), "bold red" if limited else ""


class ConnectionsScreen(ModalScreen):
    BINDINGS = [Binding("escape,n", "dismiss", "close"), Binding("q", "app.quit", "quit")]
    DEFAULT_CSS = """
    ConnectionsScreen { align: center middle; }
    ConnectionsScreen > VerticalScroll { width: 100%; height: 100%; border: round $accent; background: $surface; }
    ConnectionsScreen Static { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._seq: int | None = None
        self._prev: tuple[float, dict[str, tuple[int, int]]] | None = None
        self.rates: dict[str, tuple[float, float]] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="connections-text")

    def on_mount(self) -> None:
        self.refresh_view()
        self.set_interval(1.0 / max(1.0, getattr(self.app, "fps", 10.0)), self.refresh_view)

    def _snap(self) -> Snapshot | None:
        engine = getattr(self.app, "engine", None)
        return getattr(engine, "latest", None) or getattr(self.app, "snap", None)

    def refresh_view(self) -> None:
        snap = self._snap()
        if snap is None or snap.seq == self._seq:
            return
        self._seq = snap.seq
        counts = {c.conn: (c.messages, c.bytes) for c in snap.connections}
        if self._prev is not None and snap.wall - self._prev[0] >= 0.5:
            dt = snap.wall - self._prev[0]
            old = self._prev[1]
            self.rates = {k: ((m - old[k][0]) / dt, (b - old[k][1]) / dt) for k, (m, b) in counts.items() if k in old}
            self._prev = (snap.wall, counts)
        elif self._prev is None:
            self._prev = (snap.wall, counts)
        self.query_one("#connections-text", Static).update(connections_text(snap, self.rates))

    @property
    def text(self) -> str:
        return connections_text(self._snap(), self.rates).plain
