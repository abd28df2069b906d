"""Feed text is untrusted: strip control characters before it reaches a screen or a log line.

(Rich markup is escaped where text is rendered, in the UI; the core does not depend on Rich.)
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean(text: object, limit: int | None = None) -> str:
    """``text`` as a single safe line: control characters (ESC included) become ``?``, newlines
    and tabs become spaces, and it is cut to ``limit`` characters with an ellipsis."""
    s = text if isinstance(text, str) else str(text)
    s = s.replace("\n", " ").replace("\t", " ").replace("\r", " ")
    s = _CONTROL.sub("?", s)
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s
