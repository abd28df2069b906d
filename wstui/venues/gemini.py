"""Gemini market data v2 (``wss://api.gemini.com/v2/marketdata``): the ``l2`` subscription.

- ``l2_updates``: the first message for a symbol on a connection is the snapshot (its ``changes`` are the
  whole book, and it carries the recent ``trades``, which are history and not put on the tape); later
  messages are updates.  A change is ``["buy"|"sell", price, quantity]``; quantity ``0`` deletes.
- ``trade``: one trade with the aggressor ``side`` and a millisecond ``timestamp``, to the tape.
- ``heartbeat``: keep-alive.  Other messages naming a symbol (candles...) count as plain streams.

Integrity: Gemini v2 offers no sequence numbers and no checksums; there is no check beyond starting
from the snapshot and applying the updates after it.  (A crossed book is still reported.)
Symbols are Gemini's own spelling (``BTCUSD``).
"""

from __future__ import annotations

import orjson

from ..core.book import BadLevel
from .base import Venue
from .checks import levels

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
            st.data(ts, len(data), exch)
            st.trade(ts, msg.get("side", ""), msg["price"], msg["quantity"], exch)
        elif typ == "heartbeat":
            self.ctx.heartbeat(ts)
        elif typ == "error" or ("reason" in msg and msg.get("result") == "error"):
            self.ctx.parse_error(f"gemini error: {str(msg.get('reason') or msg)[:200]}", ts)
        elif isinstance(typ, str) and isinstance(msg.get("symbol"), str):
            self.declare(msg["symbol"], typ.removesuffix("_updates")).data(ts, len(data), None)
        # subscription acknowledgements and other control messages carry no market data

    def _l2(self, msg: dict, ts: float, n: int) -> None:
        sym = msg["symbol"]
        st = self.declare(sym, "book", book=True)
        st.data(ts, n, None)
        book = st.book
        changes = levels(msg["changes"], 3, book.bids, "changes")
        if sym not in self.snapshotted:
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
            st.book_rebuilt(ts, "snapshot")
            return
        bids = book.bids
        asks = book.asks
        for side, p, q in changes:
            if side == "buy":
                bids.set_text(p, q)
            elif side == "sell":
                asks.set_text(p, q)
            else:
                raise BadLevel(f"change for side {str(side)[:20]!r}", bids)
        book.updates += 1
        st.check_crossed(ts)
