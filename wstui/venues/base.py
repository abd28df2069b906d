"""The venue adapter interface.

One adapter instance serves one connection.  The engine creates it when the connection opens (picked
by the connection's address, see ``wstui.venues.registry``), tells it what the client sent
(``on_send``: subscriptions) and hands it every frame received (``on_frame``).  The adapter parses the
frame and updates the core objects it gets from its :class:`ConnContext`: streams, their books and
tapes, and the integrity counters (gaps, checksums, resyncs).

The same adapter code runs for live sockets and for replayed captures; the difference is hidden behind
the context: ``fetch`` answers REST snapshot requests from the network live and from the capture's
``http`` records in replay; ``resubscribe``/``send`` reach the socket live and do nothing in replay (a
replayed book is rebuilt by the next snapshot the capture holds).

Adding a venue: one module defining a subclass, plus one line in ``registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from typing import Callable, ClassVar, Iterator, Protocol, Sequence, TypeVar

from ..core.stream import Stream

FetchCallback = Callable[[str | None, str | None, float], None]
"""``callback(body, error, ts)``: exactly one of body/error is set; ts is the clock when it arrived."""


NAMES_MAX = 4096
"""Most wire names (topics, channel ids) an adapter remembers per connection: a server cannot grow them."""


class Unsolicited(Exception):
    """Data for a stream a connection may not have: on a live connection one it never subscribed, in
    a replay one stream more than a connection may hold.  Counted by the engine, never a crash."""

    def __init__(self, key: str, why: str = "not subscribed on this connection") -> None:
        super().__init__(f"{key}: {why}")
        self.key = key
        self.why = why


def remember(names: dict, key, value, what: str = "name") -> None:
    """``names[key] = value`` unless ``names`` already holds :data:`NAMES_MAX` entries (then
    :class:`Unsolicited`): adapter tables keyed by wire names stay bounded whatever a server sends."""
    if key not in names and len(names) >= NAMES_MAX:
        raise Unsolicited(str(key)[:120], f"more than {NAMES_MAX} {what}s on one connection")
    names[key] = value


class ConnContext(Protocol):
    """What the engine offers an adapter for one connection."""

    conn_id: str
    addr: str
    live: bool

    def stream(self, symbol: str, channel: str, *, book: bool = False, tape: bool = False,
               venue: str | None = None, frames: bool = False) -> Stream:
        """Get (or declare) the stream (this venue, symbol, channel) carried by this connection."""
        ...

    def heartbeat(self, ts: float) -> None:
        """A keep-alive frame: it proves the connection lives but is not data for staleness."""
        ...

    def fetch(self, url: str, callback: FetchCallback, stream: Stream | None = None) -> None:
        """GET ``url`` (a REST snapshot).  ``callback`` runs later, never before ``fetch`` returns:
        live when the answer arrives, in replay before the next record is processed.  ``stream``: the
        book waiting for it (live: shown as queued, with an estimate, while the request waits its turn)."""
        ...

    def resubscribe(self, stream: Stream, reason: str) -> None:
        """Ask the transport to resubscribe ``stream`` so the venue sends a new snapshot (live only)."""
        ...

    def send(self, text: str) -> None:
        """Send a text frame on the connection (live only; replay ignores it)."""
        ...

    def parse_error(self, detail: str, ts: float, stream: Stream | None = None) -> None:
        """A frame that could not be understood: counted and reported, never fatal."""
        ...

    def unsolicited_data(self, exc: "Unsolicited", ts: float) -> None:
        """Data for a stream this connection may not have (see :class:`Unsolicited`): counted."""
        ...


STREAMS_PER_CONN = 1000  # streams one connection carries where its venue documents no limit: the engine
# takes no more from one connection (a venue that documents more, Binance's 1,024, may have that)


@dataclass(frozen=True)
class Limits:
    """A venue's documented limits for one client, which ``watch`` plans its connections within.

    Each venue module sets its own with the source of every number in a comment; None: none documented."""

    streams_per_conn: int | None = None
    """Streams (channels, topics) one connection may carry."""
    args_per_msg: int | None = None
    """Topics one subscribe message may name."""
    msgs_per_s: float | None = None
    """Messages the client may send on one connection per second (pings and subscribes count)."""
    subs_per_hour: int | None = None
    """Subscribe/unsubscribe requests one connection may send per hour (OKX)."""
    conns_per_window: tuple[int, float] | None = None
    """New connections per IP: (count, window in seconds)."""
    conns_max: int | None = None
    """Connections open at once per IP."""
    url_max: int = 2000
    """Longest URL sent (streams named in the URL beyond it go in subscribe messages instead)."""
    rest_weight_per_min: int | None = None
    """REST weight the client may spend per minute."""
    snapshot_weight: int | None = None
    """Weight of one REST book snapshot request as wstui asks for it."""
    rest_used_weight_header: str | None = None
    """Answer header in which the venue counts the REST weight the client's address used in its window."""


T = TypeVar("T")


def chunks(items: Sequence[T], n: int | None) -> Iterator[list[T]]:
    """``items`` in runs of at most ``n`` (all at once when ``n`` is None)."""
    if not n or n >= len(items):
        if items:
            yield list(items)
        return
    for i in range(0, len(items), n):
        yield list(items[i:i + n])


class Venue:
    """Base class of venue adapters.  Subclasses set ``name`` and implement ``on_frame``."""

    name: ClassVar[str] = "generic"
    """Registry key and the ``venue`` of its streams, e.g. ``"kraken"``."""
    hosts: ClassVar[tuple[str, ...]] = ()
    """Host names this adapter speaks for (suffix match); refine with ``matches``."""
    url: ClassVar[str] = ""
    """The venue's public WebSocket endpoint for live use."""
    limits: ClassVar[Limits] = Limits()
    """Documented limits (see :class:`Limits`)."""
    streams_per_symbol: ClassVar[int] = 2
    """Streams ``watch`` subscribes per symbol (a book and its trades)."""
    compression: ClassVar[str | None] = None
    """``"deflate"`` to offer permessage-deflate (RFC 7692) when connecting, only where the venue documents
    support for it; ``None`` (no offer) otherwise.  No venue wstui speaks documents it (Binance, Kraken,
    OKX, Bybit, Coinbase, Bitfinex, Deribit, Gemini, Bitstamp), so every one connects without: servers
    behind some CDNs answer the offer with parameters clients reject, or stall."""
    unsequenced: ClassVar[bool] = False
    """True for venues whose updates carry no sequence number: a frame that cannot be read may have
    been a lost update, so it makes every book of the connection suspect."""

    def __init__(self, ctx: ConnContext) -> None:
        self.ctx = ctx
        self._declared: dict[tuple[str, str], Stream] = {}

    def declare(self, symbol: str, channel: str, *, book: bool | None = None, tape: bool | None = None) -> Stream:
        """``ctx.stream(symbol, channel)`` remembered by this adapter: cheap to call per message.

        By convention a ``book`` channel has a book and a ``trades`` channel a tape; any other channel
        (``ticker``, ``candles``...) is a plain counted stream.  ``book``/``tape`` override that."""
        st = self._declared.get((symbol, channel))
        if st is None:
            st = self._declared[(symbol, channel)] = self.ctx.stream(
                symbol, channel,
                book=channel == "book" if book is None else book,
                tape=channel == "trades" if tape is None else tape)
        return st

    def book_streams(self) -> list[Stream]:
        """The streams with a book this adapter has declared (what a connection-wide gap makes wrong)."""
        return [st for st in self._declared.values() if st.book is not None]

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return any(host == h or host.endswith("." + h) for h in cls.hosts)

    def on_connect(self, ts: float) -> None:
        """The connection opened (its address is ``ctx.addr``); declare streams it names, if any."""

    def on_send(self, text: str, ts: float) -> None:
        """The client sent ``text`` (a subscription, usually): declare the streams it asks for."""

    def on_frame(self, data: str | bytes, ts: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- live use (subscriptions) -------------------------------------------------------------
    @classmethod
    def endpoint(cls, symbols: Sequence[str]) -> str:
        """The URL to connect to for ``symbols`` (some venues name streams in the URL)."""
        return cls.url

    def subscribe_messages(self, symbols: Sequence[str]) -> list[str]:
        """Text frames that subscribe to book and trades for ``symbols``."""
        return []

    @classmethod
    def stream_symbol(cls, symbol: str) -> str:
        """``symbol`` as typed by a user (``btcusdt``) spelled the way this venue's streams name it."""
        return symbol

    def keepalive(self) -> tuple[float, str] | None:
        """``(interval_s, text)``: an application-level ping the live transport sends every ``interval_s``
        seconds (an unanswered one means the connection is dead); None when the venue needs none
        (WebSocket-level pings are always on)."""
        return None

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """Repair one wrong book the venue's cheapest way, leaving the connection's other books alone.

        Returns the text frames that make the venue send ``stream`` afresh (a new book snapshot), e.g.
        unsubscribe then subscribe that one symbol; ``[]`` when the adapter has started the repair itself
        (a new REST snapshot for that symbol); None when only a reconnect can (the live transport then
        reconnects).  Live only: in replay the next snapshot the capture holds rebuilds the book."""
        return None


def split_addr(addr: str) -> tuple[str, str]:
    """(host, path) of a connection address; ("", "/") for one that is not a URL at all."""
    try:
        parts = urlsplit(addr)
        return (parts.hostname or "").lower(), parts.path or "/"
    except (ValueError, TypeError, AttributeError):
        return "", "/"


_ISO_CACHE: dict[str, float] = {}


def iso_ts(text: str) -> float:
    """Seconds since the epoch for an ISO-8601 UTC stamp such as ``2026-08-02T03:36:00.853188Z``.

    The whole-second prefix is cached: converting it is the slow part and it repeats.
    """
    head = text[:19]
    base = _ISO_CACHE.get(head)
    if base is None:
        if len(_ISO_CACHE) > 4096:
            _ISO_CACHE.clear()
        base = datetime.fromisoformat(head + "+00:00").timestamp()
        _ISO_CACHE[head] = base
    if len(text) == 27 and text[19] == ".":  # the usual microsecond form, fast
        return base + int(text[20:26]) * 1e-6
    tail = text[19:].rstrip("Z")
    if tail.startswith("."):
        digits = tail[1:]
        end = 0
        while end < len(digits) and digits[end].isdigit():
            end += 1
        if end:
            return base + int(digits[:end]) / (10**end)
    return base
