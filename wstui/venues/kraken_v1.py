"""Kraken WebSocket v1 (``wss://ws.kraken.com``, no ``/v2`` path): enough to replay old captures.

v1 data frames are arrays ``[channelID, payload..., channelName, pair]``; ``subscriptionStatus``
events tie a channelID to its pair and channel (used when a frame does not name them).

- ``book-N``: a snapshot (``as``/``bs``) then updates (``a``/``b``; a level may carry a fourth
  element ``"r"``: republished after truncation, applied like any update).  A frame can hold two update
  dicts (asks, then bids).  The book is truncated to the subscribed depth N after every message.
- Every update carries ``c``: a CRC32 of the top 10 asks (best first) then the top 10 bids, each
  level's price then volume with the '.' removed and leading zeros stripped (the v2 layout, reused from
  :mod:`wstui.venues.kraken`).  A mismatch marks the book out of sync until the next snapshot.
- ``trade``: ``[price, volume, time, side b/s, type, misc]`` per trade; the side is the taker's.
- ``ticker``, ``spread``, ``ohlc-*`` are counted as plain streams.

Prices and volumes are JSON strings in v1 and are kept as the exchange wrote them.  The venue name is
``kraken-v1`` so its streams never mix with a v2 connection's (both spell ``ETH/USD`` the same way).
"""

from __future__ import annotations

import orjson

from ..core.book import Book
from ..core.stream import BOOK_BAD, BOOK_EMPTY, Stream
from .base import Venue, remember
from .kraken import KrakenV2, book_checksum
from .checks import checksum_result, levels, sent_object

_loads = orjson.loads

DEFAULT_DEPTH = 10
_SIDES = {"b": "buy", "s": "sell"}


def _channel(name: str) -> str:
    if name.startswith("book"):
        return "book"
    if name == "trade":
        return "trades"
    if name.startswith("ohlc"):
        return "candles"
    return name


class KrakenV1(Venue):
    name = "kraken-v1"
    hosts = KrakenV2.hosts
    url = "wss://ws.kraken.com"

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.rstrip("/") == ""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.channels: dict[int, tuple[str, str]] = {}  # channelID -> (channelName, pair)
        self.depth: dict[str, int] = {}  # pair -> subscribed book depth

    # ---------------------------------------------------------------- subscriptions
    def on_send(self, text: str, ts: float) -> None:
        msg = sent_object(text)
        if msg is None or msg.get("event") != "subscribe":
            return
        sub = msg.get("subscription") or {}
        name = sub.get("name")
        if not isinstance(name, str):
            return
        for pair in msg.get("pair") or ():
            if isinstance(pair, str):
                self._declare(name, pair, sub.get("depth"))

    def _declare(self, name: str, pair: str, depth) -> Stream:
        ch = _channel(name)
        st = self.declare(pair, ch)  # first: a pair this connection may not have goes no further
        if ch == "book":
            if isinstance(depth, int):
                self.depth[pair] = depth
            elif name.startswith("book-") and name[5:].isdigit():
                self.depth.setdefault(pair, int(name[5:]))
        return st

    def subscribe_messages(self, symbols) -> list[str]:
        pairs = list(symbols)
        return [orjson.dumps({"event": "subscribe", "pair": pairs, "subscription": sub}).decode()
                for sub in ({"name": "book", "depth": 100}, {"name": "trade"})]

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _loads(data)
        if type(msg) is dict:
            self._event(msg, ts)
            return
        name = msg[-2]
        pair = msg[-1]
        if type(name) is not str or type(pair) is not str:
            name, pair = self.channels[msg[0]]
        n = len(data)
        if name.startswith("book"):
            self._book(self._declare(name, pair, None), pair, msg, ts, n)
        elif name == "trade":
            st = self.declare(pair, "trades")
            rows = msg[1]
            st.data(ts, n, None)  # rows carry match times only: no latency from them
            for t in rows:
                st.trade(ts, _SIDES.get(t[3], ""), t[0], t[1], float(t[2]))
        else:
            self.declare(pair, _channel(name)).data(ts, n)

    def _event(self, msg: dict, ts: float) -> None:
        ev = msg.get("event")
        if ev == "heartbeat" or ev == "pong":
            self.ctx.heartbeat(ts)
        elif ev == "subscriptionStatus":
            if msg.get("status") == "subscribed" and "channelID" in msg:
                name = msg.get("channelName", "")
                pair = msg.get("pair", "")
                self._declare(name, pair, (msg.get("subscription") or {}).get("depth"))
                remember(self.channels, msg["channelID"], (name, pair), "channel id")
            elif msg.get("status") == "error":
                self.ctx.parse_error(f"kraken subscription error: {msg.get('errorMessage', '?')}", ts)
        elif ev == "error":
            self.ctx.parse_error(f"kraken error: {msg.get('errorMessage', '?')}", ts)
        # systemStatus and unsubscribe acknowledgements carry no market data

    def _book(self, st: Stream, pair: str, msg: list, ts: float, n: int) -> None:
        book: Book = st.book
        depth = self.depth.get(pair, DEFAULT_DEPTH)
        first = msg[1]
        if "as" in first or "bs" in first:
            st.data(ts, n)
            book.load(levels(first.get("bs") or [], (3, 4), book.bids, "bs"),
                      levels(first.get("as") or [], (3, 4), book.asks, "as"))
            book.truncate(depth)
            st.book_rebuilt(ts, "snapshot")
            return
        want = None
        newest = 0.0
        ready = st.book_state is not BOOK_EMPTY
        parts = msg[1:-2]
        changes = []
        for part in parts:
            if type(part) is not dict:
                raise ValueError(f"book update part is a {type(part).__name__}, not an object")
            for key, side in (("a", book.asks), ("b", book.bids)):
                lv = part.get(key)
                if lv:
                    changes.append((side, levels(lv, (3, 4), side, key)))
                    t = float(lv[-1][2])
                    if t > newest:
                        newest = t
            if "c" in part:
                want = part["c"]
        # stamped before the book changes: a frame that fails half applied marks this book (engine)
        st.data(ts, n, newest or None)
        if not ready:
            return  # updates before the snapshot cannot be applied
        for side, lv in changes:
            side.update(lv)
        book.truncate(depth)
        book.updates += 1
        if st.book_state is BOOK_BAD or want is None:
            return  # known wrong: wait for the snapshot; a later mismatch is no news
        if checksum_result(self.ctx, st, book_checksum(book), int(want), ts):
            st.check_crossed(ts)
