"""Kraken WebSocket v2 (``wss://ws.kraken.com/v2``): ``book`` and ``trade`` channels.

- Numbers arrive as JSON numbers whose digits matter (``0.00005100``): frames are decoded with
  msgspec's ``float_hook=str`` so every price and quantity keeps the text the exchange wrote.
- The book is truncated to the subscribed depth (from the subscribe request or its acknowledgement;
  Kraken's default is 10) after every message, as the documentation requires.
- Every book message carries a CRC32 ``checksum`` of the top 10 asks then the top 10 bids, each level
  written as price then quantity with the decimal point and leading zeros removed.  It is verified on
  every message; a mismatch marks the book out of sync until a snapshot rebuilds it (live: resubscribe).
"""

from __future__ import annotations

from zlib import crc32

import msgspec

from ..core.book import Book, BookSide
from ..core.stream import BOOK_BAD, BOOK_EMPTY, Stream
from ..core.book import BadLevel
from .base import Unsolicited, Venue, iso_ts
from .checks import text

_decode = msgspec.json.Decoder(float_hook=str).decode
_encode = msgspec.json.encode

CHECKSUM_LEVELS = 10
DEFAULT_DEPTH = 10
KEEPALIVE_S = 5.0  # seconds between application pings on live connections


def _token(text: str) -> str:
    return text.replace(".", "").lstrip("0")


def _side_text(side: BookSide, n: int) -> str:
    levels = side.levels
    keys = side.keys
    out = []
    for i in range(len(keys) - 1, max(-1, len(keys) - 1 - n), -1):
        p, q, _ = levels[keys[i]]
        out.append(_token(p))
        out.append(_token(q))
    return "".join(out)


def book_checksum(book: Book) -> int:
    """Kraken's CRC32 over the top 10 asks (best first) then the top 10 bids (best first).

    The plain definition, used by the live simulator and as the reference for :class:`_Checksum`."""
    return crc32(_side_text(book.bids, CHECKSUM_LEVELS).encode(),
                 crc32(_side_text(book.asks, CHECKSUM_LEVELS).encode()))


class _Checksum:
    """Kraken's checksum of one book, kept up to date cheaply.

    Each level's checksum token is made once, when the level is set, and a side's text is rebuilt only
    when a change reached its top 10: most updates touch deeper levels, and then the checksum is the
    CRC of the same two texts as before.  Equal to :func:`book_checksum` (see the tests)."""

    __slots__ = ("tok", "text", "dirty", "crc_asks")

    def __init__(self) -> None:
        self.tok: dict[float, str] = {}  # book key -> token of that level (price + qty)
        self.text = [b"", b""]  # bids, asks
        self.dirty = [True, True]
        self.crc_asks = 0

    def reset(self) -> None:
        self.tok.clear()
        self.dirty[0] = self.dirty[1] = True

    def apply(self, side: BookSide, idx: int, levels) -> None:
        """Apply Kraken levels ``[{"price": text, "qty": text}, ...]`` to ``side`` (0 bids, 1 asks)."""
        keys = side.keys
        tok = self.tok
        sign = side.sign
        dirty = self.dirty[idx]
        if type(levels) is not list and type(levels) is not tuple:  # () when a side is absent
            raise BadLevel(f"levels are a {type(levels).__name__}, not a list", side)
        for lv in levels:
            if type(lv) is not dict:
                raise BadLevel(f"a level is a {type(lv).__name__}, not an object: {str(lv)[:60]!r}", side)
            p = lv.get("price")
            q = lv.get("qty")
            if type(p) is not str:
                p = text(p, side, "price")
            if type(q) is not str:
                q = text(q, side, "qty")
            try:
                pf = float(p)
            except ValueError:
                raise BadLevel(f"price is not a number: {p[:40]!r}", side) from None
            key = pf * sign
            if not dirty:
                n = len(keys)
                dirty = n < CHECKSUM_LEVELS or key >= keys[n - CHECKSUM_LEVELS]
            try:
                qf = float(q)
            except ValueError:
                raise BadLevel(f"qty is not a number: {q[:40]!r}", side) from None
            side.set(pf, p, q, qf)
            if qf != 0.0:
                tok[key] = p.replace(".", "").lstrip("0") + q.replace(".", "").lstrip("0")
        self.dirty[idx] = dirty

    def value(self, book: Book) -> int:
        dirty = self.dirty
        text = self.text
        if dirty[1]:
            text[1] = self._side(book.asks)
            self.crc_asks = crc32(text[1])
            dirty[1] = False
        if dirty[0]:
            text[0] = self._side(book.bids)
            dirty[0] = False
        return crc32(text[0], self.crc_asks)

    def _side(self, side: BookSide) -> bytes:
        tok = self.tok
        return "".join([tok[k] for k in side.keys[:-CHECKSUM_LEVELS - 1:-1]]).encode()

    def prune(self, book: Book) -> None:
        """Forget the tokens of levels no longer in the book (deleted or truncated away)."""
        if len(self.tok) > 2 * len(book) + 256:
            b, a = book.bids.levels, book.asks.levels
            self.tok = {k: v for k, v in self.tok.items() if k in b or k in a}


class KrakenV2(Venue):
    name = "kraken"
    hosts = ("ws.kraken.com", "beta-ws.kraken.com")
    url = "wss://ws.kraken.com/v2"

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.rstrip("/").endswith("/v2")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.depth: dict[str, int] = {}  # symbol -> subscribed depth
        self.default_depth = DEFAULT_DEPTH
        self.checksums: dict[str, _Checksum] = {}
        self._req_channel: dict = {}  # req_id of a subscribe sent -> its channel (to place a refusal)

    # ---------------------------------------------------------------- subscriptions
    def on_send(self, text: str, ts: float) -> None:
        try:
            msg = _decode(text)
        except msgspec.DecodeError:
            return
        if not isinstance(msg, dict) or msg.get("method") != "subscribe":
            return
        params = msg.get("params") or {}
        if type(msg.get("req_id")) is int and len(self._req_channel) < 1000:
            self._req_channel[msg["req_id"]] = "trades" if params.get("channel") == "trade" else "book"
        self._declare(params.get("channel"), params.get("symbol") or [], params.get("depth"))

    def _declare(self, channel, symbols, depth) -> None:
        if isinstance(symbols, str):
            symbols = [symbols]
        for sym in symbols:
            if channel == "book":
                self._book(sym)  # first: a symbol this connection may not have goes no further
                if depth is not None:
                    self.depth[sym] = int(depth)
            elif channel == "trade":
                self._trades(sym)

    def _book(self, sym: str) -> Stream:
        return self.declare(sym, "book")

    def _trades(self, sym: str) -> Stream:
        return self.declare(sym, "trades")

    def subscribe_messages(self, symbols) -> list[str]:
        syms = list(symbols)
        return [
            _encode({"method": "subscribe", "params": {"channel": "book", "symbol": syms, "depth": 25,
                                                        "snapshot": True}, "req_id": 1}).decode(),
            _encode({"method": "subscribe", "params": {"channel": "trade", "symbol": syms,
                                                        "snapshot": False}, "req_id": 2}).decode(),
        ]

    @classmethod
    def stream_symbol(cls, symbol: str) -> str:
        return symbol.upper()

    def keepalive(self) -> tuple[float, str] | None:
        # Kraken v2 answers {"method":"ping"} with a pong; heartbeats alone do not prove it reads us
        return (KEEPALIVE_S, '{"method":"ping"}')

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """Unsubscribe then subscribe the book: Kraken answers with a fresh snapshot."""
        if stream.channel != "book":
            return None
        depth = self.depth.get(stream.symbol, self.default_depth)
        params = {"channel": "book", "symbol": [stream.symbol], "depth": depth}
        return [
            _encode({"method": "unsubscribe", "params": params}).decode(),
            _encode({"method": "subscribe", "params": {**params, "snapshot": True}}).decode(),
        ]

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _decode(data)
        ch = msg.get("channel") if type(msg) is dict else None
        if ch == "book":
            typ = msg.get("type")
            counted: set[str] = set()  # a stream counts frames, not the entries inside them
            for entry in msg["data"]:
                try:
                    self._on_book(entry, typ, ts, len(data), counted)
                except Unsolicited as exc:  # one unsolicited symbol must not drop the entries after it
                    self.ctx.unsolicited_data(exc, ts)
        elif ch == "trade":
            counted = set()
            for t in msg["data"]:
                st = self._trades(t["symbol"])
                exch = iso_ts(t["timestamp"]) if "timestamp" in t else None
                if st.key not in counted:  # one message however many trades the frame holds
                    counted.add(st.key)
                    st.data(ts, len(data), None)  # the match time (for the tape), not when it was sent
                p = t["price"]
                q = t["qty"]
                st.trade(ts, t.get("side", ""), p if type(p) is str else text(p),
                         q if type(q) is str else text(q), exch)
        elif ch == "heartbeat":
            self.ctx.heartbeat(ts)
        elif ch is None and type(msg) is dict and msg.get("method") == "subscribe":
            res = msg.get("result") or {}
            if msg.get("success") and res.get("channel") == "book" and "symbol" in res:
                self._declare("book", res["symbol"], res.get("depth"))
                self._book(res["symbol"]).acked(ts)  # its snapshot is due now
            elif msg.get("success") and res.get("channel") == "trade" and "symbol" in res:
                self._declare("trade", res["symbol"], None)
                self._trades(res["symbol"]).acked(ts)
            elif not msg.get("success"):
                # the venue refused it (an unknown pair): said on the streams it names, which get no data
                sym = msg.get("symbol")
                rid = msg.get("req_id")
                ch = self._req_channel.get(rid) if type(rid) is int else None
                named = [st for (s, c), st in self._declared.items() if s == sym and ch in (None, c)] \
                    if isinstance(sym, str) else []
                for st in named or [None]:
                    self.ctx.parse_error(f"subscribe rejected: {msg.get('error', '?')}", ts, st)
        # status, pong and other control frames carry no market data

    def _on_book(self, entry: dict, typ: str, ts: float, nbytes: int, counted: set[str]) -> None:
        sym = entry["symbol"]
        st = self._declared.get((sym, "book")) or self._book(sym)
        stamp = entry.get("timestamp")
        if sym not in counted:
            counted.add(sym)
            st.data(ts, nbytes, iso_ts(stamp) if stamp else None)
        book = st.book
        ck = self.checksums.get(sym)
        if ck is None:
            ck = self.checksums[sym] = _Checksum()
        depth = self.depth.get(sym, self.default_depth)
        if typ == "snapshot":
            book.clear()
            ck.reset()
            ck.apply(book.bids, 0, entry.get("bids") or ())
            ck.apply(book.asks, 1, entry.get("asks") or ())
            book.truncate(depth)
            if self._verify(st, ck, entry, ts):
                st.book_rebuilt(ts, "snapshot")
            return
        if st.book_state is BOOK_EMPTY:
            # an update before any snapshot cannot be applied; it is not an error of the venue
            return
        bids = entry.get("bids")
        if bids:
            ck.apply(book.bids, 0, bids)
        asks = entry.get("asks")
        if asks:
            ck.apply(book.asks, 1, asks)
        if len(book.bids.keys) > depth or len(book.asks.keys) > depth:
            book.truncate(depth)
            ck.prune(book)
        book.updates += 1
        if st.book_state is BOOK_BAD:
            # already known wrong: keep applying, wait for the rebuild; a later mismatch is no news
            return
        want = entry.get("checksum")
        if want is not None and ck.value(book) == want:
            st.checksum_ok += 1  # the common case, inline
        else:
            self._verify(st, ck, entry, ts)
        bk = book.bids.keys
        ak = book.asks.keys
        if (bool(bk and ak) and bk[-1] >= -ak[-1]) is not st.crossed:
            st.check_crossed(ts)

    def _verify(self, st: Stream, ck: _Checksum, entry: dict, ts: float) -> bool:
        want = entry.get("checksum")
        if want is None:
            return True
        got = ck.value(st.book)
        ok = got == int(want)
        st.checksum(ok, ts, "" if ok else f"crc32 {got} != {want} from exchange")
        if not ok:
            self.ctx.resubscribe(st, "checksum mismatch")
        return ok
