"""Feed text is untrusted: strip control characters before it reaches a screen or a log line.

- Control characters (ESC, BEL, C1...) become ``?``; newlines and tabs become spaces.
- Invisible characters (zero-width spaces and joiners, BOM, word joiner and invisible operators, soft
  hyphen, bidi marks and overrides, Mongolian vowel separator, combining grapheme joiner, Hangul fillers,
  variation selectors, tag characters...) are shown visibly as ``\\uXXXX`` escapes: a symbol holding one
  must not look identical to another.
- Widths are terminal cells (fullwidth and wide characters take two), so a limit keeps a column's width.

(Rich markup is escaped where text is rendered, in the UI; the core does not depend on Rich.)
"""

from __future__ import annotations

import re
from unicodedata import category, east_asian_width

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)


def _escape(m: re.Match) -> str:
    o = ord(m.group())
    return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


def char_cells(ch: str) -> int:
    """Terminal cells one character takes: 0 (combining, format), 1, or 2 (wide, fullwidth)."""
    o = ord(ch)
    if o < 0x300:
        return 0 if o < 32 or 0x7F <= o < 0xA0 else 1
    cat = category(ch)
    if cat in ("Mn", "Me", "Cf"):
        return 0
    return 2 if east_asian_width(ch) in ("W", "F") else 1


def cell_len(text: str) -> int:
    """Width of ``text`` in terminal cells."""
    if text.isascii():
        return len(text)
    return sum(char_cells(c) for c in text)


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` cells, an ellipsis marking a cut."""
    if cell_len(text) <= limit:
        return text
    room = max(0, limit - 1)
    n = 0
    out = []
    for c in text:
        w = char_cells(c)
        if n + w > room:
            break
        out.append(c)
        n += w
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` cells."""
    return text + " " * max(0, width - cell_len(text))


def clean(text: object, limit: int | None = None) -> str:
    """``text`` as a single safe line: control characters (ESC included) become ``?``, newlines
    and tabs become spaces, invisible characters are shown as ``\\uXXXX``, and it is cut to ``limit``
    terminal cells with an ellipsis."""
    s = text if isinstance(text, str) else str(text)
    s = s.replace("\n", " ").replace("\t", " ").replace("\r", " ")
    s = _CONTROL.sub("?", s)
    if not s.isascii():
        s = _INVISIBLE.sub(_escape, s)
        # lone surrogates (from a JSON "\ud800") cannot be written to a UTF-8 terminal
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    if limit is not None and (len(s) > limit or not s.isascii()):
        if s.isascii():
            s = s[: max(0, limit - 1)] + "…"
        else:
            s = cut(s, limit)
    return s
