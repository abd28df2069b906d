"""What to connect to: stream specs (``kraken:BTC/USD``, ``ws://...``), endpoint overrides, and the
feeds (one connection each) they group into."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

from ..venues import VENUES, venue_by_name
from ..venues.base import STREAMS_PER_CONN, Venue
from ..venues.generic import Generic

FEED_HISTORY = 64  # connect attempts and backoff delays a feed keeps (the latest; counters hold the rest)
CRYPTOFEED_IDS = {"kraken": "KRAKEN", "binance": "BINANCE", "binance-futures": "BINANCE_FUTURES"}


class SpecError(ValueError):
    """A stream spec, endpoint or option that cannot be used (shown as a clear error, exit 2)."""


def exchange_id(venue: str) -> str:
    """The cryptofeed exchange id for a venue name (used in connection ids: ``KRAKEN.ws.1``)."""
    return CRYPTOFEED_IDS.get(venue, venue.upper().replace("-", "_").replace(".", "_"))


def known_venues() -> list[str]:
    return [v.name for v in VENUES]


def parse_stream(spec: str) -> tuple[type[Venue], str | None, str | None]:
    """``"kraken:BTC/USD"`` -> (KrakenV2, "BTC/USD", None); ``"ws://host/path"`` -> (Generic, None, url)."""
    s = spec.strip()
    if s.startswith(("ws://", "wss://")):
        return Generic, None, check_ws_url(s, "stream")
    venue, sep, symbol = s.partition(":")
    if not sep or not venue or not symbol.strip():
        raise SpecError(f"stream {spec!r} is not VENUE:SYMBOL (e.g. kraken:BTC/USD) or a ws:// address")
    cls = venue_by_name(venue.strip().lower())
    if cls is None:
        raise SpecError(f"unknown venue {venue!r} in {spec!r} (known: {', '.join(known_venues())})")
    return cls, cls.stream_symbol(symbol.strip()), None


def check_ws_url(url: str, what: str) -> str:
    try:
        p = urlsplit(url)  # raises ValueError itself on a broken address ("ws://[::1")
    except ValueError:
        p = None
    if p is None or p.scheme not in ("ws", "wss") or not p.hostname:
        raise SpecError(f"{what}: {url!r} is not a ws:// or wss:// address")
    try:
        p.port
    except ValueError:
        raise SpecError(f"{what}: {url!r} has a bad port") from None
    return url


def parse_endpoint(text: str) -> tuple[str, str]:
    """``"kraken=ws://127.0.0.1:8765"`` -> ("kraken", url)."""
    venue, sep, url = text.partition("=")
    venue = venue.strip().lower()
    if not sep or not venue:
        raise SpecError(f"endpoint {text!r} is not VENUE=URL (e.g. kraken=ws://127.0.0.1:8765)")
    if venue_by_name(venue) is None:
        raise SpecError(f"unknown venue {venue!r} in endpoint {text!r} (known: {', '.join(known_venues())})")
    return venue, check_ws_url(url.strip(), f"endpoint for {venue}")


def override_url(default: str, override: str) -> str:
    """The venue's own URL moved to ``override``'s scheme, host and port; the override's path and query
    replace the default's when it has them (``ws://127.0.0.1:8765`` keeps ``/stream?streams=...``)."""
    d = urlsplit(default)
    o = urlsplit(override)
    path = o.path if o.path not in ("", "/") else d.path
    query = o.query or (d.query if o.path in ("", "/", d.path) else "")
    return urlunsplit((o.scheme, o.netloc, path, query, ""))


@dataclass
class Feed:
    """One connection: a venue, its symbols, where to connect."""

    venue: type[Venue]
    symbols: list[str]
    url: str
    conn_id: str
    override: str | None = None  # --endpoint for this venue
    rest_base: str | None = None  # scheme://host:port REST requests go to instead of the venue's host
    venue_url: str = ""  # the venue's own address for these symbols (what a recording names)
    send: list[str] = field(default_factory=list)  # frames sent after connecting (any ws:// feed: --send)
    removed: bool = False
    # runtime
    attempts: int = 0
    attempt_times: deque[float] = field(default_factory=lambda: deque(maxlen=FEED_HISTORY))  # latest only
    delays: deque[float] = field(default_factory=lambda: deque(maxlen=FEED_HISTORY))  # latest only
    delays_total: int = 0  # backoff waits ever started (``attempts`` counts the connect attempts)
    sessions: int = 0
    ws: Any = None
    queued: Any = None  # frames received on the current session, not yet processed (a deque)
    last_rx: float = 0.0
    close_reason: str | None = None
    last_error: str | None = None
    resub_at: dict[str, float] = field(default_factory=dict)  # last resubscribe sent, per stream key
    resub_later: dict[str, asyncio.TimerHandle] = field(default_factory=dict)  # throttled, sent when due
    bad_since: dict[str, float] = field(default_factory=dict)  # book out of sync on this session since
    bad_reconnects: dict[str, int] = field(default_factory=dict)  # reconnects for it since it was last ok
    send_at: float = 0.0  # monotonic time before which the next frame may not be sent (venue rate limit)
    wake: asyncio.Event | None = None
    task: asyncio.Task | None = None
    predeclared: bool = False  # its streams were declared before the first connect finished

    def retarget(self) -> None:
        """Work out the addresses for the current symbols (venues may name streams in the URL)."""
        if self.venue is Generic:
            self.venue_url = self.url
            return
        self.venue_url = self.url = self.venue.endpoint(self.symbols)
        if self.override:
            self.url = override_url(self.url, self.override)
            o = urlsplit(self.override)
            self.rest_base = urlunsplit(("https" if o.scheme == "wss" else "http", o.netloc, "", "", ""))

    @property
    def label(self) -> str:
        return f"{self.venue.name}:{','.join(self.symbols)}" if self.symbols else self.url


def plan_connections(cls: type[Venue], symbols: list[str]) -> list[list[str]]:
    """``symbols`` spread over as few connections as the venue's documented limits allow (each carries at
    most ``limits.streams_per_conn`` streams, or ``STREAMS_PER_CONN`` where none is documented); a plan
    needing more connections than the venue lets one address open at once is refused with a clear error."""
    lim = cls.limits
    # no documented limit: as many as the engine takes from one connection (STREAMS_PER_CONN)
    per = max(1, (lim.streams_per_conn or STREAMS_PER_CONN) // max(1, cls.streams_per_symbol))
    groups = [symbols[i:i + per] for i in range(0, len(symbols), per)]
    if lim.conns_max is not None and len(groups) > lim.conns_max:
        raise SpecError(f"{cls.name}: {len(symbols)} symbols need {len(groups)} connections, more than the "
                        f"{lim.conns_max} the venue allows one address")
    return groups


def build_feeds(specs: Iterable[str], endpoints: dict[str, str] | None = None,
                send: Iterable[str] = ()) -> list[Feed]:
    """Group stream specs into feeds: per venue as many connections as its limits need
    (:func:`plan_connections`), plus one per raw ws:// address, which sends ``send`` after connecting (the
    subscribe message a feed that is no known venue may need)."""
    endpoints = endpoints or {}
    by_venue: dict[str, tuple[type[Venue], list[str]]] = {}
    raw: list[str] = []
    for spec in specs:
        cls, sym, url = parse_stream(spec)
        if url is not None:
            if url not in raw:
                raw.append(url)
            continue
        ent = by_venue.setdefault(cls.name, (cls, []))
        if sym not in ent[1]:
            ent[1].append(sym)
    feeds = []
    for name, (cls, syms) in by_venue.items():
        for i, group in enumerate(plan_connections(cls, syms), 1):
            feeds.append(Feed(cls, group, "", f"{exchange_id(name)}.ws.{i}", override=endpoints.get(name)))
    for i, url in enumerate(raw, 1):
        host = (urlsplit(url).hostname or "ws").upper()
        feeds.append(Feed(Generic, [], url, f"{host}.ws.{i}", send=list(send)))
    for f in feeds:
        f.retarget()
    return feeds


