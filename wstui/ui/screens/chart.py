"""The chart of the selected market (key ``c``): price candles and volume from its trades, and the depth
chart of its book.  ``<`` ``>`` change the candle interval."""

from __future__ import annotations

from textual.binding import Binding

from ...core.snapshot import Snapshot
from ..widgets.chart import ChartView
from .base import ViewScreen


class ChartScreen(ViewScreen):
    KEY = "c"
    NAME = "CHART"
    KEYS_HELP = (("< >", "candle interval"), ("space", "pause/freeze"))
    BINDINGS = [
        Binding("less_than_sign,comma", "interval(False)", "finer candles", show=False),
        Binding("greater_than_sign,full_stop", "interval(True)", "coarser candles", show=False),
    ]

    def body(self) -> ChartView:
        return ChartView(id="chart")

    def action_interval(self, coarser: bool) -> None:
        self.notify(f"candles: {self.w_body.step_interval(coarser)}", timeout=1.5)

    def update_snapshot(self, snap: Snapshot, selected: str | None) -> None:
        from ..app import pick  # the same market choice as the ladder and tape

        book, bnote, trades, tnote = pick(snap, selected)
        series = self.app.history.get(trades.key) if trades is not None else None
        self.w_body.update_market(book, trades if trades is not None and trades.has_tape else None, series,
                                  tnote if trades is None or not trades.has_tape else bnote)

    def focus_keys(self, snap: Snapshot, selected: str | None) -> frozenset[str] | None:
        sel = snap.stream(selected) if selected else None
        if sel is None:
            return frozenset()
        return frozenset(s.key for s in snap.streams if s.venue == sel.venue and s.symbol == sel.symbol)
