"""The streams table (the SRE's view): one row per stream, updated in place.

A DataTable whose rows are added once per stream; each frame only the cells whose text or style changed
are replaced (``update_cell``), never the whole table.  A row whose stream is stale, out of sync or down
is drawn entirely in the alarm style, and its state badge says so in words (NO_COLOR terminals).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from ...core.snapshot import Snapshot, StreamView
from ...core.text import clean
from .. import fmt

SPARK_W = 10

# (column key, label, width or None for "fit the content", right-aligned); cells have no padding of
# their own (cell_padding=0): each starts with one space, so 80 columns show as much as possible
COLUMNS = (
    ("venue", "venue", None, False),
    ("symbol", "symbol", None, False),
    ("channel", "channel", None, False),
    ("state", "state", 13, False),
    ("age", "age", 5, True),
    ("r1", "msg/s", 5, True),
    ("r10", "10s", 5, True),
    ("spark", "last 10s", SPARK_W, False),
    ("lat", "lat ms", 6, True),
    ("gaps", "gaps", 4, True),
    ("cksum", "cksum", 9, True),
    ("resync", "resync", 6, True),
    ("reconn", "reconn", 6, True),
)

CHANNEL_ORDER = {"book": 0, "trades": 1}
ROW_BAD = {"stale", "out_of_sync", "down"}


def row_class(s: StreamView) -> str:
    if s.state in ROW_BAD:
        return "bad"
    if s.state in ("lagging", "connecting"):
        return "warn"
    if s.state == "ended":
        return "dim"
    return ""


def cells(s: StreamView) -> dict[str, tuple[str, str]]:
    """Each column's text and style class ("" = the row's style)."""
    badge, bcls = fmt.badge(s.state)
    ck = "-" if not (s.checksum_ok or s.checksum_failed) else f"{s.checksum_ok}/{s.checksum_failed}"
    lat = "-" if s.latency_ms_p50 is None else f"{s.latency_ms_p50:.0f}"
    return {
        "venue": (clean(s.venue, 24), ""),
        "symbol": (clean(s.symbol, 24), ""),
        "channel": (clean(s.channel, 16), ""),
        "state": (badge, bcls),
        "age": (fmt.age(s.last_age_s), ""),
        "r1": (fmt.rate(s.rate_1s), ""),
        "r10": (fmt.rate(s.rate_10s), ""),
        "spark": (fmt.sparkline(s.history, SPARK_W), "spark"),
        "lat": (lat, ""),
        "gaps": (str(s.gaps), "bad" if s.gaps else ""),
        "cksum": (ck, "bad" if s.checksum_failed else ""),
        "resync": (str(s.resyncs), ""),
        "reconn": (str(s.reconnects), ""),
    }


class StreamsTable(DataTable):
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "streams--ok", "streams--warn", "streams--bad", "streams--dim", "streams--spark",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False, cell_padding=0,
                         fixed_columns=4)
        self._shown: dict[str, dict[str, tuple[str, str, str]]] = {}  # key -> col -> (text, cls, row cls)
        self._styles: dict[str, Style] = {}
        self.cell_updates = 0

    def on_mount(self) -> None:
        for key, label, width, right in COLUMNS:
            self.add_column(Text(" " + label, justify="right" if right else "left", no_wrap=True, overflow="ellipsis"),
                            key=key, width=None if width is None else width + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        for row in self._shown.values():  # restyle every cell on the next frame
            for col in row:
                row[col] = ("", "", "\0")

    def _style(self, name: str) -> Style:
        st = self._styles.get(name)
        if st is None:
            st = self.get_component_rich_style(f"streams--{name}", partial=True) if name else Style()
            self._styles[name] = st
        return st

    def _text(self, text: str, cls: str, rcls: str, right: bool) -> Text:
        style = self._style(rcls) if rcls == "bad" else self._style(cls or rcls)
        return Text(" " + text, style=style, justify="right" if right else "left", no_wrap=True, overflow="ellipsis")

    def update_snapshot(self, snap: Snapshot, selected: str | None) -> bool:
        """Bring the table up to date; True when rows were added (the cursor may need to move)."""
        added = False
        for s in snap.streams:
            new = cells(s)
            rcls = row_class(s)
            old = self._shown.get(s.key)
            if old is None:
                self.add_row(*(self._text(new[k][0], new[k][1], rcls, r) for k, _l, _w, r in COLUMNS), key=s.key)
                self._shown[s.key] = {k: (t, c, rcls) for k, (t, c) in new.items()}
                added = True
                continue
            for k, _label, width, right in COLUMNS:
                t, c = new[k]
                if old[k] != (t, c, rcls):
                    old[k] = (t, c, rcls)
                    self.update_cell(s.key, k, self._text(t, c, rcls, right), update_width=width is None)
                    self.cell_updates += 1
        if added:
            self.sort("venue", "symbol", "channel", key=_sort_key)
            if selected is not None and selected in self._shown:
                self.move_cursor(row=self.get_row_index(selected), animate=False)
        return added


def _sort_key(vals) -> tuple:
    venue, symbol, channel = ((v.plain if isinstance(v, Text) else str(v)).strip() for v in vals)
    return (venue, symbol, CHANNEL_ORDER.get(channel, 9), channel)
