"""The command palette (Ctrl+P): every stream (pick it: the ladder, tape and chart show it) and every
action of the app, found by fuzzy search.  Textual's own commands (themes, keys, quit) stay beside these.

Actions that do not work in the current source (replay controls live, freeze in a replay) are left out,
by the same ``check_action`` that hides their keys from the footer.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..core.text import clean
from . import fmt

# (title, help, action): what the palette offers besides the streams
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Books: every book side by side", "compact ladders and the best prices across venues (key b)", "view('books')"),
    ("Chart of the selected market", "candles, volume and the book's depth (key c)", "view('chart')"),
    ("Back to the main screen", "close the books or chart view (escape)", "close_view"),
    ("Pause / resume the replay", "space", "pause"),
    ("Freeze / unfreeze the screen", "the feed keeps being applied (space)", "freeze"),
    ("Replay faster", "+", "speed(True)"),
    ("Replay slower", "-", "speed(False)"),
    ("Restart the replay", "from the beginning, on a fresh engine (r)", "restart"),
    ("Coarser price grouping", "the ladder's ] key", "group(True)"),
    ("Finer price grouping", "the ladder's [ key", "group(False)"),
    ("Next stream that is not healthy", "s", "next_alert"),
    ("Theme: follow the terminal's own colours", "ANSI colours from the terminal's palette (good over SSH)",
     "set_theme('ansi-dark')"),
    ("Theme: wstui dark (default)", "textual-dark", "set_theme('textual-dark')"),
    ("Help: every key", "?", "help"),
    ("Quit wstui", "q", "quit"),
)


def _action_name(action: str) -> str:
    return action.split("(", 1)[0]


class WstuiCommands(Provider):
    """Streams and actions of the wstui app."""

    def _entries(self):
        app = self.app
        out = []
        for title, help_, action in ACTIONS:
            if app.check_action(_action_name(action), ()):
                out.append((title, help_, partial(app.run_action, action)))
        snap = getattr(app, "snap", None) or getattr(app.engine, "latest", None)
        if snap is not None:
            for s in snap.streams:
                badge, _cls = fmt.badge(s.state)
                title = f"Stream {clean(s.venue, 24)} {clean(s.symbol, 24)} {clean(s.channel, 16)}"
                out.append((title, f"{badge} · {s.messages:,} messages · show it",
                            partial(app.show_stream, s.key)))
        return out

    async def discover(self) -> Hits:
        for title, help_, cb in self._entries():
            yield DiscoveryHit(title, cb, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_, cb in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, text=title, help=help_)
