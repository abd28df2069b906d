"""OKX v5 public WebSocket (``wss://ws.okx.com:8443/ws/v5/public``): ``books`` and ``trades``.

- Book channels with an ``action`` (``books``, ``books-l2-tbt``, ``books50-l2-tbt``): ``snapshot``
  replaces the book, ``update`` changes levels (size ``"0"`` deletes).  Channels without one
  (``books5``, ``bbo-tbt``) send the whole top of book every time and are loaded as snapshots.
- ``seqId``/``prevSeqId`` (newer feeds): an update's ``prevSeqId`` must be the ``seqId`` of the message
  before it (OKX keeps this true also for keep-alive updates, where both are equal, and for sequence
  resets, where ``seqId`` goes down); a break is a gap.
- ``checksum``: CRC32 of the top 25 bids and asks interleaved (``bid:size:ask:size:...``, a side that
  runs out is left out) over the price and size *text* as sent, compared as a signed 32-bit integer.
  OKX has stopped filling the field on some feeds (it sends 0 on every message): 0 is treated as
  "no checksum" rather than as a failure (a real CRC of 0 is a 1 in 2**32 case that then goes unchecked).
- A gap or mismatch marks the book out of sync and resubscribes (live): ``unsubscribe`` then ``subscribe``
  of that one instrument's book channel (``resubscribe_messages``); its next snapshot rebuilds it, and
  the connection's other books and trades are left alone.  (OKX allows 480 subscribe/unsubscribe
  requests per connection an hour: 240 repairs.)
- Trades: ``side`` is the taker's.  The plain-text ``pong`` answering our ``ping`` is a keep-alive.
- Other channels (``tickers``, ``candle*``, ``funding-rate``...) are counted as plain streams.
"""

from __future__ import annotations

from zlib import crc32

import orjson

from ..core.book import Book
from ..core.stream import BOOK_BAD, BOOK_EMPTY, Stream
from .base import Limits, Venue
from .checks import book_gap, checksum_result, sent_object

_loads = orjson.loads

CHECKSUM_LEVELS = 25
_BOOK_CHANNELS = frozenset(("books", "books5", "bbo-tbt", "books-l2-tbt", "books50-l2-tbt", "books-elp"))


def _signed(crc: int) -> int:
    return crc - 0x100000000 if crc & 0x80000000 else crc


def book_checksum(book: Book) -> int:
    """OKX's signed CRC32 of the top 25 levels, interleaved bid then ask."""
    bids = book.bids.top(CHECKSUM_LEVELS)
    asks = book.asks.top(CHECKSUM_LEVELS)
    parts: list[str] = []
    for b, a in zip(bids, asks):
        parts += (b[0], b[1], a[0], a[1])
    for lv in (bids[len(asks):] if len(bids) > len(asks) else asks[len(bids):]):
        parts += (lv[0], lv[1])  # the longer side goes on alone
    return _signed(crc32(":".join(parts).encode()))


def _stream_channel(ch: str) -> str:
    if ch in _BOOK_CHANNELS:
        return "book"
    if ch == "trades" or ch == "trades-all":
        return "trades"
    if ch == "tickers":
        return "ticker"
    if ch.startswith("candle") or ch.startswith("mark-price-candle") or ch.startswith("index-candle"):
        return "candles"
    return ch


class OKX(Venue):
    name = "okx"
    hosts = ("ws.okx.com", "wsaws.okx.com", "wspap.okx.com", "wsus.okx.com", "ws.okex.com")
    url = "wss://ws.okx.com:8443/ws/v5/public"
    # okx.com/docs-v5 "WebSocket" overview: 3 connection requests per second per IP; 480 subscribe,
    # unsubscribe and login requests per connection per hour.
    limits = Limits(conns_per_window=(3, 1.0), subs_per_hour=480)

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.startswith("/ws/v5/")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.seq: dict[str, int] = {}  # instId -> seqId of the last book message
        self.book_channel: dict[str, str] = {}  # instId -> the book channel subscribed ("books", ...)

    # ---------------------------------------------------------------- subscriptions
    def on_send(self, text: str, ts: float) -> None:
        msg = sent_object(text)
        if msg is not None and msg.get("op") == "subscribe":
            for arg in msg.get("args") or ():
                self._declare(arg)

    def _declare(self, arg) -> None:
        if isinstance(arg, dict) and isinstance(arg.get("instId"), str) and isinstance(arg.get("channel"), str):
            ch = _stream_channel(arg["channel"])
            self.declare(arg["instId"], ch)
            if ch == "book":
                self.book_channel[arg["instId"]] = arg["channel"]

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """Unsubscribe then subscribe ``stream``'s instrument on its book channel: OKX answers the
        subscription with a new snapshot of that one book."""
        if stream.book is None:
            return None
        arg = {"channel": self.book_channel.get(stream.symbol, "books"), "instId": stream.symbol}
        return [orjson.dumps({"op": op, "args": [arg]}).decode() for op in ("unsubscribe", "subscribe")]

    def keepalive(self) -> tuple[float, str] | None:
        # OKX closes a connection silent for 30 s; its keep-alive is the plain text "ping" -> "pong"
        return (20.0, "ping")

    def subscribe_messages(self, symbols) -> list[str]:
        args = [{"channel": ch, "instId": s} for s in symbols for ch in ("books", "trades")]
        return [orjson.dumps({"op": "subscribe", "args": args}).decode()]

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        if len(data) == 4 and (data == "pong" or data == b"pong"):
            self.ctx.heartbeat(ts)
            return
        msg = _loads(data)
        arg = msg.get("arg")
        if arg is None or "data" not in msg:
            ev = msg.get("event")
            if ev == "subscribe":
                self._declare(arg)
            elif ev == "error":
                self.ctx.parse_error(f"okx error {msg.get('code')}: {msg.get('msg')}", ts)
            elif ev is None:
                self.ctx.parse_error(f"okx frame with neither data nor event: {str(data)[:120]}", ts)
            return  # other control events (unsubscribe, login, notice) carry no market data
        ch = arg["channel"]
        inst = arg.get("instId", "")
        n = len(data)
        if ch in _BOOK_CHANNELS:
            st = self.declare(inst, "book")
            action = msg.get("action")
            for i, d in enumerate(msg["data"]):
                self._book(st, inst, d, action, ts, n if i == 0 else -1)  # one message per frame
        elif ch == "trades" or ch == "trades-all":
            st = self.declare(inst, "trades")
            rows = msg["data"]
            st.data(ts, n, None)  # rows carry match times only: no latency from them
            for t in rows:
                exch = int(t["ts"]) / 1000.0
                st.trade(ts, t.get("side", ""), t["px"], t["sz"], exch)
        else:
            st = self.declare(inst or arg.get("instFamily") or arg.get("instType") or "", _stream_channel(ch))
            exch = None
            rows = msg["data"]
            if rows and type(rows[0]) is dict and "ts" in rows[0]:
                exch = int(rows[0]["ts"]) / 1000.0
            st.data(ts, n, exch)

    def _book(self, st: Stream, inst: str, d: dict, action, ts: float, n: int) -> None:
        stamp = d.get("ts")
        if n >= 0:
            st.data(ts, n, int(stamp) / 1000.0 if stamp else None)
        book = st.book
        seq = d.get("seqId")
        if action != "update":  # "snapshot", or a channel that always sends the whole top of book
            book.load(d.get("bids") or (), d.get("asks") or ())
            if seq is not None:
                self.seq[inst] = seq
            if self._verify(st, d, ts):
                st.book_rebuilt(ts, "snapshot")
            return
        if st.book_state is BOOK_EMPTY:
            return  # an update before the snapshot cannot be applied
        if seq is not None:
            prev = d.get("prevSeqId")
            last = self.seq.get(inst)
            self.seq[inst] = seq
            if last is not None and prev != last:
                book_gap(self.ctx, st, f"prevSeqId {prev} but the last seqId was {last}", ts)
        book.bids.update(d.get("bids") or ())
        book.asks.update(d.get("asks") or ())
        book.updates += 1
        if st.book_state is BOOK_BAD:
            return  # known wrong: wait for the snapshot; a later mismatch is no news
        self._verify(st, d, ts)
        st.check_crossed(ts)

    def _verify(self, st: Stream, d: dict, ts: float) -> bool:
        want = d.get("checksum")
        if not want:  # absent, or the 0 OKX sends where it no longer computes one
            return True
        return checksum_result(self.ctx, st, book_checksum(st.book), int(want), ts)
