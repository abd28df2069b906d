"""Any WebSocket at all: no book, but the stream still counts (messages, bytes, rates, staleness).

Used for connections whose address no venue adapter claims, and for ``wstui watch ws://...``.
The latest frames are kept (truncated) so a view can show what the feed says.
"""

from __future__ import annotations

from collections import deque
from ..core.stream import Stream
from ..core.text import clean
from .base import Venue, split_addr

FRAME_KEEP = 50
FRAME_CHARS = 2000


class Generic(Venue):
    name = "generic"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        host, path = split_addr(ctx.addr)
        self.venue = clean(host or ctx.addr or "unknown", 60)
        self.symbol = clean(path, 80)
        self.frames: deque[tuple[float, str]] = deque(maxlen=FRAME_KEEP)
        self._stream: Stream | None = None

    @property
    def stream(self) -> Stream:
        if self._stream is None:
            self._stream = self.ctx.stream(self.symbol, "raw", venue=self.venue)
        return self._stream

    def on_connect(self, ts: float) -> None:
        _ = self.stream  # declared at once: a feed that never sends still goes stale

    def on_frame(self, data, ts: float) -> None:
        self.stream.data(ts, len(data))
        if isinstance(data, (bytes, bytearray)):
            text = f"<{len(data)} bytes binary>"
        else:
            text = data if len(data) <= FRAME_CHARS else data[:FRAME_CHARS] + f"... ({len(data)} chars)"
        self.frames.append((ts, text))
