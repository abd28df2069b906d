"""Bitfinex WebSocket v2 (``wss://api-pub.bitfinex.com/ws/2``): ``book`` (P0..P4), ``trades``, ``ticker``.

Data frames are arrays ``[chanId, payload, ...]``; a channel id means what its ``subscribed`` event said.

- Numbers arrive as JSON numbers: frames are decoded with msgspec's ``float_hook=str`` so prices and
  amounts keep the text the exchange wrote (the checksum is computed over that text).
- Book levels are ``[price, count, amount]``: a negative amount is an ask, ``count`` 0 deletes the level.
  Ask sizes are kept as positive text.
- Trades ``[id, mts, amount, price]``: a positive amount is a buy aggressor, negative a sell.  ``te``
  (executed) goes to the tape; ``tu`` (the same trade written to the database) is counted as a message
  only, and the history snapshot sent on subscribing is counted but not put on the tape.
- ``[chanId, "hb", ...]`` is a keep-alive, not data.

Integrity, both turned on by the ``conf`` event (``subscribe_messages`` asks for both):

``SEQ_ALL`` (65536)   every array frame ends with a per-connection sequence number, starting at 1.  A
                      break means frames were lost on the connection and nothing tells which channel
                      they belonged to.  With ``CHECKSUM`` on too, the checksums tell: every book of the
                      connection becomes suspect, and the first whose next checksum fails is the one
                      that lost a frame (a gap, counted on that book alone); a book whose next checksum
                      matches lost nothing.  Without checksums every book of the connection is marked
                      out of sync (a gap) and resubscribed; the next snapshot of each rebuilds it.
``CHECKSUM`` (131072) ``[chanId, "cs", checksum, seq]`` after book changes: CRC32 (as a signed 32-bit
                      int) of ``bid price:bid amount:ask price:-ask amount:...`` over the top 25 levels of
                      each side, interleaved best first, a side's entries simply left out once it runs
                      short.  A mismatch marks the book out of sync and resubscribes it.

Repair of one book (``resubscribe_messages``): ``unsubscribe`` its channel id, then ``subscribe`` that
symbol's book again with the parameters first asked for; the venue answers with a new channel id and a
snapshot.  The connection's other channels are not touched.
"""

from __future__ import annotations

from zlib import crc32

import msgspec

from ..core.book import BadLevel, Book
from ..core.stream import BOOK_BAD, BOOK_EMPTY, Stream
from .base import Limits, Venue, remember
from .checks import levels, text

_decode = msgspec.json.Decoder(float_hook=str).decode
_encode = msgspec.json.encode

SEQ_ALL = 65536
CHECKSUM = 131072
CHECKSUM_LEVELS = 25


def checksum_text(book: Book, n: int = CHECKSUM_LEVELS) -> str:
    """The string Bitfinex checksums: top ``n`` bids and asks interleaved, asks with negative amounts."""
    bids = book.bids.top(n)
    asks = book.asks.top(n)
    nb = len(bids)
    na = len(asks)
    parts: list[str] = []
    add = parts.append
    for i in range(nb if nb > na else na):
        if i < nb:
            lv = bids[i]
            add(lv[0])
            add(lv[1])
        if i < na:
            lv = asks[i]
            add(lv[0])
            add("-" + lv[1])
    return ":".join(parts)


def book_checksum(book: Book) -> int:
    """Bitfinex's book checksum: CRC32 of :func:`checksum_text` as a signed 32-bit integer."""
    v = crc32(checksum_text(book).encode())
    return v - 0x100000000 if v & 0x80000000 else v


def _text(v) -> str:
    return v if type(v) is str else text(v)


class _Chan:
    """What a channel id carries."""

    __slots__ = ("kind", "stream", "symbol")

    def __init__(self, kind: str, stream: Stream | None, symbol: str) -> None:
        self.kind = kind  # "book", "trades" or another channel name
        self.stream = stream
        self.symbol = symbol


class BitfinexV2(Venue):
    name = "bitfinex"
    hosts = ("api.bitfinex.com", "api-pub.bitfinex.com")
    url = "wss://api-pub.bitfinex.com/ws/2"
    # docs.bitfinex.com "Public Channels": 25 channels at the same time on one connection; api-pub allows
    # 20 connections per minute.
    limits = Limits(streams_per_conn=25, conns_per_window=(20, 60.0))

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.rstrip("/") == "/ws/2"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.chans: dict[int, _Chan] = {}
        self.flags = 0  # conf flags asked for (or confirmed) on this connection
        self.seq: int | None = None  # last per-connection sequence number seen
        self.subs: dict[str, dict] = {}  # symbol -> the book subscription sent for it (resubscribe)
        self.suspect: dict[str, str] = {}  # book stream key -> the sequence break its next checksum judges

    # ---------------------------------------------------------------- streams
    def _stream(self, channel: str, symbol: str, msg: dict | None = None) -> Stream:
        if channel == "book":
            prec = (msg or {}).get("prec") or "P0"
            if prec == "R0":
                # raw (order-level) books are not rebuilt here: counted as a plain stream
                return self.declare(symbol, "book_raw")
        return self.declare(symbol, channel)  # book: a book, trades: a tape (Venue.declare)

    @staticmethod
    def _symbol(msg: dict) -> str:
        s = msg.get("symbol") or msg.get("key") or msg.get("pair") or "?"
        return str(s)

    def on_send(self, text: str, ts: float) -> None:
        try:
            msg = _decode(text)
        except msgspec.DecodeError:
            return
        if type(msg) is not dict:
            return
        ev = msg.get("event")
        if ev == "conf":
            self._conf(msg.get("flags"))
        elif ev == "subscribe" and isinstance(msg.get("channel"), str):
            st = self._stream(msg["channel"], self._symbol(msg), msg)
            if msg["channel"] == "book" and st.book is not None:
                self.subs[st.symbol] = msg

    def _conf(self, flags) -> None:
        try:
            self.flags |= int(flags or 0)
        except (TypeError, ValueError):
            pass

    @classmethod
    def stream_symbol(cls, symbol: str) -> str:
        """``BTCUSD``, ``btcusd``, ``BTC/USD`` -> ``tBTCUSD``: the venue acks (and names its channel) with
        the ``t`` prefix, so a symbol typed without it would otherwise wait for data that goes elsewhere."""
        s = symbol.strip()
        if len(s) > 1 and s[0] in "tf" and s[1:] == s[1:].upper():
            return s  # tBTCUSD, tBTCF0:USTF0, fUSD
        return "t" + s.upper().replace("/", "").replace("-", "")

    def subscribe_messages(self, symbols) -> list[str]:
        out = [_encode({"event": "conf", "flags": SEQ_ALL | CHECKSUM}).decode()]
        for s in symbols:
            out.append(_encode({"event": "subscribe", "channel": "book", "symbol": s, "prec": "P0",
                                "freq": "F0", "len": "25"}).decode())
            out.append(_encode({"event": "subscribe", "channel": "trades", "symbol": s}).decode())
        return out

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """Unsubscribe the book's channel id, then subscribe that one symbol's book again: Bitfinex
        answers with a new channel id and a fresh snapshot."""
        if stream.book is None:
            return None
        sub = self.subs.get(stream.symbol) or {"event": "subscribe", "channel": "book", "symbol": stream.symbol,
                                               "prec": "P0", "freq": "F0", "len": "25"}
        out = [_encode(sub).decode()]
        for cid, ch in self.chans.items():
            if ch.stream is stream:
                out.insert(0, _encode({"event": "unsubscribe", "chanId": cid}).decode())
                break
        return out

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _decode(data)
        if type(msg) is list:
            self._array(msg, data, ts)
        elif type(msg) is dict:
            self._event(msg, ts)
        else:
            raise ValueError("frame is neither an array nor an event")

    def _event(self, msg: dict, ts: float) -> None:
        ev = msg.get("event")
        if ev == "subscribed":
            ch = msg.get("channel")
            cid = msg.get("chanId")
            if not isinstance(ch, str) or not isinstance(cid, int):
                raise ValueError("subscribed event without channel/chanId")
            sym = self._symbol(msg)
            st = self._stream(ch, sym, msg)
            kind = ch if st.book is not None or ch == "trades" else "other"
            remember(self.chans, cid, _Chan(kind, st, sym), "channel id")
        elif ev == "unsubscribed":
            self.chans.pop(msg.get("chanId"), None)
        elif ev == "conf":
            if msg.get("status") == "OK":
                self._conf(msg.get("flags"))
            else:  # refused: frames will come without what was asked for
                self.flags = 0
                self.ctx.parse_error(f"bitfinex refused conf flags {msg.get('flags')}: {msg.get('status')}", ts)
        elif ev == "error":
            # a refused subscription echoes its channel and symbol: the error goes to that stream
            st = self._declared.get((str(msg.get("symbol")), str(msg.get("channel"))))
            self.ctx.parse_error(f"bitfinex error {msg.get('code', '?')}: {str(msg.get('msg', ''))[:200]}", ts, st)
        # info (version, maintenance codes) and pong carry no market data

    def _array(self, msg: list, data, ts: float) -> None:
        n = len(msg)
        if n < 2:
            raise ValueError("array frame too short")
        payload = msg[1]
        if self.flags & SEQ_ALL:
            seq = msg[-1]
            if type(seq) is not int:
                raise ValueError("SEQ_ALL is on but the frame ends without a sequence number")
            last = self.seq
            if last is None:
                last = 0  # the connection's numbering starts at 1
            if seq != last + 1:
                self._gap(seq, last, ts)
            self.seq = seq
        chan = self.chans.get(msg[0])
        if chan is None:
            if payload == "hb":
                self.ctx.heartbeat(ts)
                return
            raise ValueError(f"frame for channel id {msg[0]} that no subscribed event announced")
        if payload == "hb":
            self.ctx.heartbeat(ts)
            return
        kind = chan.kind
        st = chan.stream
        if kind == "book":
            if payload == "cs":
                self._verify(st, msg[2], ts)
                return
            st.data(ts, len(data), None)
            self._book(st, payload, ts)
        elif kind == "trades":
            if type(payload) is list:
                st.data(ts, len(data), None)  # the recent-history snapshot: not live trades
                return
            t = msg[2]
            mts = t[1]
            exch = mts / 1000.0 if type(mts) is int else None
            st.data(ts, len(data), None)  # MTS is the match time, not when it was sent: no latency from it
            if payload == "te" or payload == "fte":
                amount = _text(t[2])
                if amount[0] == "-":
                    st.trade(ts, "sell", _text(t[3]), amount[1:], exch)
                else:
                    st.trade(ts, "buy", _text(t[3]), amount, exch)
        else:
            st.data(ts, len(data), None)

    def _gap(self, seq: int, last: int, ts: float) -> None:
        if seq > last:
            why = f"connection sequence jumped from {last} to {seq}: {seq - last - 1} frame(s) lost"
        else:
            why = f"connection sequence went from {last} back to {seq}"
        if self.flags & CHECKSUM:
            # the next checksum of each book tells which one lost the frame (see the module notes)
            for st in self.book_streams():
                if st.book_state is not BOOK_BAD and st.book_state is not BOOK_EMPTY:  # a book thought right
                    self.suspect[st.key] = why
            return
        for st in self.book_streams():
            st.gap(why, ts)
            self.ctx.resubscribe(st, "sequence gap")

    def _book(self, st: Stream, payload, ts: float) -> None:
        book = st.book
        if type(payload) is not list:
            raise ValueError(f"unexpected book payload {str(payload)[:40]!r}")
        if not payload or type(payload[0]) is list:
            bids = []
            asks = []
            for p, _count, a in levels(payload, 3, book.bids, "book snapshot"):
                a = text(a, book.bids, "amount")
                if a[:1] == "-":
                    asks.append((text(p, book.asks, "price"), a[1:]))
                else:
                    bids.append((text(p, book.bids, "price"), a))
            book.load(bids, asks)
            if self.suspect:
                self.suspect.pop(st.key, None)  # a fresh book owes nothing to an earlier sequence break
            st.book_rebuilt(ts, "snapshot")
            return
        if st.book_state is BOOK_EMPTY:
            return  # an update before the snapshot cannot be applied
        p, count, a = levels([payload], 3, book.bids, "book update")[0]
        p = text(p, book.bids, "price")
        a = text(a, book.bids, "amount")
        if a[:1] == "-":
            side = book.asks
            a = a[1:]
        else:
            side = book.bids
        if type(count) is not int:  # "0" as text must not turn a delete into a set
            raise BadLevel(f"count is a {type(count).__name__}, not an integer: {str(count)[:20]!r}", side)
        if count == 0:
            side.set_text(p, "0")  # validated, then removed
        else:
            side.set_text(p, a)
        book.updates += 1
        st.check_crossed(ts)

    def _verify(self, st: Stream, want, ts: float) -> None:
        if st.book_state is not BOOK_BAD and st.book_state is not BOOK_EMPTY:
            got = book_checksum(st.book)
            ok = got == int(want)
            gap = self.suspect.pop(st.key, None) if self.suspect else None
            if gap is not None and not ok:
                # the frame lost at a sequence break was this book's: a gap, found by its checksum
                st.gap(f"{gap}; this book's next checksum failed (crc32 {got} != {want})", ts)
                self.ctx.resubscribe(st, "sequence gap")
                return
            st.checksum(ok, ts, "" if ok else f"crc32 {got} != {want} from exchange")
            if not ok:
                self.ctx.resubscribe(st, "checksum mismatch")
