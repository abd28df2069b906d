"""Any WebSocket at all: no book, but the stream still counts (messages, bytes, rates, staleness).

Used for connections whose address no venue adapter claims, and for ``wstui watch ws://...``.
The latest frames are kept on the stream, cleaned of control characters and cut to ``FRAME_CHARS``, so
a view can show what the feed says.
"""

from __future__ import annotations

from ..core.stream import Stream
from ..core.text import clean
from .base import Venue, split_addr

FRAME_CHARS = 2000


def frame_text(data: str | bytes) -> str:
    """One line of text for a frame: control characters neutralised, large frames cut."""
    if isinstance(data, (bytes, bytearray)):
        return f"<{len(data)} bytes binary>"
    if len(data) > FRAME_CHARS:
        return clean(data[:FRAME_CHARS]) + f"… ({len(data):,} chars)"
    return clean(data)


class Generic(Venue):
    name = "generic"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        host, path = split_addr(ctx.addr)
        self.venue = clean(host or ctx.addr or "unknown", 60)
        self.symbol = clean(path, 80)
        self._stream: Stream | None = None

    @property
    def stream(self) -> Stream:
        if self._stream is None:
            self._stream = self.ctx.stream(self.symbol, "raw", venue=self.venue, frames=True)
        return self._stream

    def on_connect(self, ts: float) -> None:
        _ = self.stream  # declared at once: a feed that never sends still goes stale

    def on_frame(self, data, ts: float) -> None:
        st = self.stream
        st.data(ts, len(data))
        st.frame_text(ts, frame_text(data))
