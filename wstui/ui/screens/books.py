"""The books view (key ``b``): every book of the source side by side, with the cross-venue top of book."""

from __future__ import annotations

from ...core.snapshot import Snapshot
from ..widgets.books import BooksView
from .base import ViewScreen


class BooksScreen(ViewScreen):
    KEY = "b"
    NAME = "BOOKS"
    KEYS_HELP = (("↑↓ wheel", "more books"), ("space", "pause/freeze"))

    def body(self) -> BooksView:
        return BooksView(id="books")

    def update_snapshot(self, snap: Snapshot, selected: str | None) -> None:
        self.w_body.update_snapshot(snap)

    def focus_keys(self, snap: Snapshot, selected: str | None) -> frozenset[str] | None:
        return self.w_body.needed_keys(snap)
