"""A Line-API widget drawn from a small line model, repainting only the lines that changed.

Subclasses build each frame as a list of *rows*: a row is a tuple of ``(text, component_class)`` pieces
(``""`` for the widget's own style).  :meth:`LinesWidget.show` compares the rows with the previous frame
and refreshes only the screen lines that differ; :meth:`render_line` turns a row into a ``Strip`` once and
caches it until it changes.  Colours come from the widget's ``COMPONENT_CLASSES`` (styled in
``styles/app.tcss``), so themes and NO_COLOR apply.

Feed text never goes through markup here: pieces are plain strings (control characters already
stripped with ``core.text.clean``) placed into ``Segment``s.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from ..fmt import fit

Row = tuple[tuple[str, str], ...]


class LinesWidget(Widget):
    """Base for the ladder, tape and events panels."""

    DEFAULT_CSS = """
    LinesWidget { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: list[Row] = []
        self._strips: dict[int, Strip] = {}
        self._styles: dict[str, Style] = {}
        self.frames = 0  # frames in which at least one line changed
        self.lines_painted = 0

    # ------------------------------------------------------------ model -> screen
    def show(self, rows: list[Row]) -> None:
        """Make ``rows`` the content; repaint only lines that changed."""
        old = self._rows
        self._rows = rows
        width = self.size.width
        changed = 0
        n = max(len(old), len(rows))
        for y in range(n):
            a = old[y] if y < len(old) else None
            b = rows[y] if y < len(rows) else None
            if a != b:
                self._strips.pop(y, None)
                self.refresh(Region(0, y, width, 1))
                changed += 1
        if changed:
            self.frames += 1
            self.lines_painted += changed

    @property
    def rows_text(self) -> list[str]:
        """The plain text of every line (what the screen shows, without styles)."""
        return ["".join(t for t, _ in row) for row in self._rows]

    def style_for(self, name: str) -> Style:
        """The style of component class ``name`` (several, space-separated, apply in order)."""
        st = self._styles.get(name)
        if st is None:
            st = self.rich_style
            for part in name.split():
                st = st + self.get_component_rich_style(part)
            self._styles[name] = st
        return st

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        strip = self._strips.get(y)
        if strip is not None and strip.cell_length == width:
            return strip
        if y >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        segs = [Segment(text, self.style_for(cls)) for text, cls in self._rows[y] if text]
        strip = Strip(segs).adjust_cell_length(width, self.rich_style)
        self._strips[y] = strip
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    def on_resize(self) -> None:
        self._strips.clear()
        self.redraw()
        self.refresh()

    def redraw(self) -> None:
        """Rebuild the rows from the last data (each frame, and on resize)."""
        width, height = self.size
        if width > 0 and height > 0:
            self.show(self.build(width, height))

    def build(self, width: int, height: int) -> list[Row]:  # pragma: no cover - overridden
        raise NotImplementedError


def title_row(left: str, right: str, width: int, cls: str) -> Row:
    """A panel's title line: ``left`` and ``right`` aligned to the edges (left cut first)."""
    if len(left) + len(right) + 1 > width:
        left = fit(left, max(0, width - len(right) - 1))
    return ((left + " " * max(1, width - len(left) - len(right)) + right, cls),)


def note_rows(title: str, note: str, width: int, title_cls: str, note_cls: str) -> list[Row]:
    """A panel with nothing to show: its title and a line saying why."""
    return [((fit(title, width), title_cls),), ((" " + fit(note, width - 2), note_cls),)]
