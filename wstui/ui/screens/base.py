"""A full-screen view: the app's header line, one body widget fed each snapshot, a footer of its keys.

The app's frame timer calls :meth:`ViewScreen.update_snapshot` on the screen on top (and leaves the main
screen's panels alone meanwhile: nobody sees them).  The app's keys (q, space, +/-, r, ...) keep working
here; ``escape`` and the view's own key go back to the main screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from ...core.snapshot import Snapshot


class ViewScreen(Screen):
    KEY = ""  # the key that opens (and closes) this view
    NAME = ""
    KEYS_HELP: tuple[tuple[str, str], ...] = ()

    BINDINGS = [Binding("escape", "app.close_view", "back", show=False)]

    def body(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Static(id="view-header", classes="view-header")
        self.w_body = self.body()
        yield self.w_body
        yield Static(self._footer(), id="view-footer", classes="view-footer")

    def _footer(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        for key, what in (("q", "quit"), (f"{self.KEY}/esc", "back"), *self.KEYS_HELP):
            t.append(f" {key} ", "bold reverse")
            t.append(f"{what} ")
        return t

    def on_mount(self) -> None:
        self.w_body.focus()

    @property
    def ready(self) -> bool:
        """Composed and mounted: its body can take a snapshot (the frame timer may fire between the push
        and the mount)."""
        body = getattr(self, "w_body", None)
        return body is not None and self.is_mounted and body.is_mounted

    def set_header(self, text: Text) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {self.NAME} ", "bold reverse")  # first: a narrow terminal cuts the header's end
        t.append_text(text)
        for w in self.query("#view-header"):  # none yet while the screen is being composed
            w.update(t)

    def update_snapshot(self, snap: Snapshot, selected: str | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def focus_keys(self, snap: Snapshot, selected: str | None) -> frozenset[str] | None:
        """The streams whose full book and trades this view needs in the next snapshots (an engine that
        publishes full views only for its ``focus``); None: every stream's."""
        return None
