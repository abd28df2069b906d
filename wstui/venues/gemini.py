"""Gemini market data v2 (``wss://api.gemini.com/v2/marketdata``): the ``l2`` subscription.

- ``l2_updates``: the first message for a symbol on a connection is the snapshot (its ``changes`` are the
  whole book, and it carries the recent ``trades``, which are history and not put on the tape); later
  messages are updates.  A change is ``["buy"|"sell", price, quantity]``; quantity ``0`` deletes.
- ``trade``: one trade with the aggressor ``side`` and a millisecond ``timestamp``, to the tape.
- ``heartbeat``: keep-alive.  Other messages naming a symbol (candles...) count as plain streams.

Integrity: Gemini v2 offers no sequence numbers and no checksums.  But ``l2`` covers the whole book, so an
update that deletes a level the book does not hold betrays a lost (or garbled) update: that is a ``gap``
(on the shared capture not one of 220 deletes does).  A crossed book is reported but is no evidence: Gemini's
auctions may cross it.  A gap or a frame that failed half-applied is repaired for that symbol alone:
unsubscribe and subscribe its ``l2`` again; the first message that follows (the one carrying ``trades``)
is a new snapshot, and updates still in flight before it are ignored.
Symbols are Gemini's own spelling (``BTCUSD``, uppercase).
"""

from __future__ import annotations

import orjson

from ..core.book import BadLevel
from ..core.stream import Stream
from .base import Venue
from .checks import book_gap, levels

_loads = orjson.loads
_dumps = orjson.dumps


class GeminiV2(Venue):
    name = "gemini"
    hosts = ("api.gemini.com", "api.sandbox.gemini.com")
    url = "wss://api.gemini.com/v2/marketdata"
    unsequenced = True  # no sequence numbers: an unreadable frame may have been a lost update

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.rstrip("/") == "/v2/marketdata"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.snapshotted: set[str] = set()  # symbols whose snapshot this connection has had
        self.pending: set[str] = set()  # symbols resubscribed: waiting for their new snapshot

    # ---------------------------------------------------------------- streams
    def on_send(self, text: str, ts: float) -> None:
        try:
            msg = _loads(text)
        except orjson.JSONDecodeError:
            return
        if type(msg) is not dict or msg.get("type") != "subscribe":
            return
        for sub in msg.get("subscriptions") or ():
            if not isinstance(sub, dict):
                continue
            for sym in sub.get("symbols") or ():
                if not isinstance(sym, str):
                    continue
                if sub.get("name") == "l2":
                    self.declare(sym, "book", book=True)
                    self.declare(sym, "trades", tape=True)
                elif isinstance(sub.get("name"), str):
                    self.declare(sym, sub["name"])

    def subscribe_messages(self, symbols) -> list[str]:
        return [_dumps({"type": "subscribe", "subscriptions": [{"name": "l2", "symbols": list(symbols)}]}).decode()]

    @classmethod
    def stream_symbol(cls, symbol: str) -> str:
        return symbol.upper()  # Gemini answers in uppercase whatever was asked

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """Unsubscribe then subscribe that symbol's ``l2``: Gemini starts it over with a snapshot."""
        if stream.channel != "book":
            return None
        self.pending.add(stream.symbol)
        sub = [{"name": "l2", "symbols": [stream.symbol]}]
        return [_dumps({"type": "unsubscribe", "subscriptions": sub}).decode(),
                _dumps({"type": "subscribe", "subscriptions": sub}).decode()]

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _loads(data)
        if type(msg) is not dict:
            raise ValueError("frame is not a JSON object")
        typ = msg.get("type")
        if typ == "l2_updates":
            self._l2(msg, ts, len(data))
        elif typ == "trade":
            st = self.declare(msg["symbol"], "trades", tape=True)
            stamp = msg.get("timestamp")
            exch = stamp / 1000.0 if type(stamp) is int else None
            st.data(ts, len(data), None)  # the trade's own time (match), not when it was sent
            st.trade(ts, msg.get("side", ""), msg["price"], msg["quantity"], exch)
        elif typ == "heartbeat":
            self.ctx.heartbeat(ts)
        elif typ == "error" or ("reason" in msg and msg.get("result") == "error"):
            detail = str(msg.get("reason") or msg)[:200]
            if msg.get("message"):
                detail += f": {str(msg['message'])[:200]}"
            self.ctx.parse_error(f"gemini error: {detail}", ts)
        elif isinstance(typ, str) and isinstance(msg.get("symbol"), str):
            self.declare(msg["symbol"], typ.removesuffix("_updates")).data(ts, len(data), None)
        # subscription acknowledgements and other control messages carry no market data

    def _l2(self, msg: dict, ts: float, n: int) -> None:
        sym = msg["symbol"]
        st = self.declare(sym, "book", book=True)
        st.data(ts, n, None)
        book = st.book
        changes = levels(msg["changes"], 3, book.bids, "changes")
        if sym not in self.snapshotted or "trades" in msg:  # the first message of a subscription
            b = []
            a = []
            for side, p, q in changes:
                if side == "buy":
                    b.append((p, q))
                elif side == "sell":
                    a.append((p, q))
                else:
                    raise BadLevel(f"change for side {str(side)[:20]!r}", book.bids)
            book.load(b, a)
            self.snapshotted.add(sym)
            self.pending.discard(sym)
            st.book_rebuilt(ts, "snapshot")
            return
        if sym in self.pending:
            return  # still in flight before the resubscription: the snapshot to come holds it
        bids = book.bids
        asks = book.asks
        lost = None
        for side, p, q in changes:
            if side == "buy":
                s = bids
            elif side == "sell":
                s = asks
            else:
                raise BadLevel(f"change for side {str(side)[:20]!r}", bids)
            if lost is None and type(p) is str and type(q) is str and q.strip("0.") == "" \
                    and float(p) * s.sign not in s.levels:
                lost = f"an update deletes the {'bid' if side == 'buy' else 'ask'} {p} the book does not hold: " \
                       f"an update was lost"
            s.set_text(p, q)
        if lost is not None:
            book_gap(self.ctx, st, lost, ts)
        book.updates += 1
        st.check_crossed(ts)
