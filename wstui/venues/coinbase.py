"""Coinbase Advanced Trade market data (``wss://advanced-trade-ws.coinbase.com``).

Channels: ``level2`` (its messages say ``l2_data``: a snapshot of the whole book, then updates),
``market_trades``, ``heartbeats`` (keep-alive), and any other channel (``ticker``, ``ticker_batch``,
``candles``, ``status``) counted as a plain stream per product.

Integrity: every message of a connection, whatever its channel, carries ``sequence_num``, one more than
the message before.  A break means a message of *some* channel was lost, and nothing says which product's,
so every book on the connection is marked out of sync.  Repair (live) is the narrowest the protocol
allows: ``level2`` alone is unsubscribed and subscribed again for those products, in one pair of messages
(Coinbase limits client messages to 8 a second); a ``level2`` subscription starts with a ``snapshot`` of
the whole book, which rebuilds each.  Trades and heartbeats stay subscribed, and the connection stays up
(sequence_num simply continues).  A frame that fails half-applied resubscribes its one product.

Trades: ``market_trades`` reports the side of the *maker* order (checked on the capture: trades at the
best ask say ``SELL``), so the aggressor is the opposite side.  The snapshot of recent trades sent on
subscribing is history, not live flow: it is counted as data but not put on the tape.

Snapshots of BTC-USD hold ~46,000 levels: frames are decoded into typed ``msgspec`` structs (the fields
used, nothing else) and books are bulk-loaded.
"""

from __future__ import annotations

import time

import msgspec
import orjson

from ..core.book import BadLevel
from ..core.stream import BOOK_BAD
from ..core.stream import BOOK_EMPTY, Stream
from .base import Limits, Venue, iso_ts
from .checks import sent_object


class _Level(msgspec.Struct, gc=False):
    side: str
    price_level: str
    new_quantity: str


class _Trade(msgspec.Struct, gc=False):
    product_id: str = ""
    price: str = "0"
    size: str = "0"
    side: str = ""
    time: str = ""


class _Item(msgspec.Struct, gc=False):
    product_id: str = ""


class _Event(msgspec.Struct, gc=False):
    type: str = ""
    product_id: str = ""
    updates: list[_Level] | None = None
    trades: list[_Trade] | None = None
    tickers: list[_Item] | None = None
    candles: list[_Item] | None = None


class _Msg(msgspec.Struct, gc=False):
    channel: str = ""
    timestamp: str = ""
    sequence_num: int = -1
    events: list[_Event] = []
    type: str = ""  # {"type": "error", "message": ...}
    message: str = ""


_decode = msgspec.json.Decoder(_Msg).decode

# subscribe channel -> stream channel; the channel name of the messages differs for level2
_SUB_CHANNELS = {"level2": "book", "level2_batch": "book", "market_trades": "trades", "ticker": "ticker",
                 "ticker_batch": "ticker", "candles": "candles", "status": "status"}
_MSG_CHANNELS = {"ticker": "ticker", "ticker_batch": "ticker", "candles": "candles", "status": "status"}
RESUB_WAIT_S = 2.0  # a product resubscribed this recently is not asked for again (its snapshot is on its way)
_AGGRESSOR = {"SELL": "buy", "BUY": "sell"}  # the message names the maker's side


class Coinbase(Venue):
    name = "coinbase"
    hosts = ("advanced-trade-ws.coinbase.com",)
    url = "wss://advanced-trade-ws.coinbase.com"
    # docs.cdp.coinbase.com Advanced Trade WebSocket: one channel per subscribe message (as sent below);
    # Coinbase's WebSocket rate limits: 8 requests per second per IP (bursts up to 20).
    limits = Limits(msgs_per_s=8)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.seq: int | None = None  # sequence_num of the last message on this connection
        self._resubscribed: dict[str, float] = {}  # product -> when its level2 was resubscribed (awaiting snapshot)

    # ---------------------------------------------------------------- subscriptions
    def on_send(self, text: str, ts: float) -> None:
        msg = sent_object(text)
        if msg is None or msg.get("type") != "subscribe":
            return
        ch = _SUB_CHANNELS.get(str(msg.get("channel", "")))
        if ch is None:
            return
        for pid in msg.get("product_ids") or []:
            if isinstance(pid, str):
                self.declare(pid, ch)

    def subscribe_messages(self, symbols) -> list[str]:
        ids = list(symbols)
        return [orjson.dumps({"type": "subscribe", "product_ids": ids, "channel": ch}).decode()
                for ch in ("heartbeats", "level2", "market_trades")]

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """``level2`` unsubscribed and subscribed again for ``stream``'s product and every other book of
        the connection that is out of sync: each gets a new snapshot.  A product already asked for in the
        last few seconds (by an earlier call gathering it) needs nothing more: []."""
        if stream.book is None:
            return None
        now = time.monotonic()
        asked = self._resubscribed
        for pid in [p for p, t in asked.items() if now - t > RESUB_WAIT_S]:
            del asked[pid]
        if stream.symbol in asked:
            return []
        pids = [stream.symbol]
        for st in self.book_streams():
            if st is not stream and st.book_state is BOOK_BAD and st.symbol not in asked:
                pids.append(st.symbol)
        for p in pids:
            asked[p] = now
        return [orjson.dumps({"type": t, "product_ids": pids, "channel": "level2"}).decode()
                for t in ("unsubscribe", "subscribe")]

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _decode(data)
        seq = msg.sequence_num
        if seq >= 0:
            last = self.seq
            if last is not None and seq != last + 1:
                self._gap(f"sequence_num {seq} after {last} ({msg.channel})" if seq > last
                          else f"sequence_num went back from {last} to {seq}", ts)
            self.seq = seq
        ch = msg.channel
        n = len(data)
        if ch == "l2_data":
            exch = iso_ts(msg.timestamp) if msg.timestamp else None
            counted: set[str] = set()  # a stream counts frames, not the events inside them
            for ev in msg.events:
                self._book(ev, ts, n, exch, ev.product_id not in counted)
                counted.add(ev.product_id)
        elif ch == "market_trades":
            exch = iso_ts(msg.timestamp) if msg.timestamp else None
            for ev in msg.events:
                live = ev.type != "snapshot"
                seen: set[str] = set()
                for t in ev.trades or ():
                    st = self.declare(t.product_id, "trades")
                    if t.product_id not in seen:
                        seen.add(t.product_id)
                        st.data(ts, n, exch)
                    if live:
                        st.trade(ts, _AGGRESSOR.get(t.side, ""), t.price, t.size, iso_ts(t.time) if t.time else None)
        elif ch == "heartbeats":
            self.ctx.heartbeat(ts)
        elif ch in _MSG_CHANNELS:
            sch = _MSG_CHANNELS[ch]
            exch = iso_ts(msg.timestamp) if msg.timestamp else None
            pids = {it.product_id for ev in msg.events for it in (ev.tickers or ev.candles or ())}
            pids.update(ev.product_id for ev in msg.events if ev.product_id)
            for pid in pids or ("",):
                self.declare(pid, sch).data(ts, n, exch)
        elif ch == "subscriptions":
            return
        elif msg.type == "error":
            self.ctx.parse_error(f"coinbase error: {msg.message or data[:200]}", ts)
        elif ch:
            self.declare("", ch).data(ts, n)
        else:
            self.ctx.parse_error(f"coinbase frame without a channel: {str(data)[:120]}", ts)

    def _gap(self, detail: str, ts: float) -> None:
        """A lost message: every book of the connection may be wrong.  Each is counted, marked and
        resubscribed; the first resubscription carries them all (see ``resubscribe_messages``)."""
        books = self.book_streams()
        for st in books:
            if st.book_state is not BOOK_BAD:  # a book known wrong already: no news, not counted again
                st.gap(detail, ts)
        for st in books:  # all marked first, so that the first resubscription gathers them all; one whose
            # snapshot was asked for and lost is asked for again (the transport spaces them out)
            self.ctx.resubscribe(st, f"sequence gap: {detail}")
        if not books:
            for st in self._declared.values():  # no book to mark: the loss is still reported
                st.gaps += 1
                st.emit("gap", detail, ts)

    def _book(self, ev: _Event, ts: float, n: int, exch: float | None, count: bool = True) -> None:
        st: Stream = self.declare(ev.product_id, "book")
        if count:
            st.data(ts, n, exch)
        book = st.book
        ups = ev.updates or ()
        if ev.type == "snapshot":
            bids = []
            asks = []
            for u in ups:
                side = u.side
                if side == "bid":
                    bids.append((u.price_level, u.new_quantity))
                elif side == "offer" or side == "ask":
                    asks.append((u.price_level, u.new_quantity))
                else:
                    raise BadLevel(f"update for side {side[:20]!r}", book.bids)
            book.load(bids, asks)  # validated (finite, positive), all or nothing
            self._resubscribed.pop(ev.product_id, None)
            st.book_rebuilt(ts, "snapshot")
            return
        if st.book_state is BOOK_EMPTY:
            return  # updates before the snapshot cannot be applied (not a fault of the venue)
        bset = book.bids.set_text
        aset = book.asks.set_text
        for u in ups:
            side = u.side
            if side == "bid":
                bset(u.price_level, u.new_quantity)
            elif side == "offer" or side == "ask":
                aset(u.price_level, u.new_quantity)
            else:
                raise BadLevel(f"update for side {side[:20]!r}", book.bids)
        book.updates += 1
        st.check_crossed(ts)
