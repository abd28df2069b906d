"""Bitstamp WebSocket v2 spoken by the simulator (path ``/``, shared with Coinbase: the client's first frame,
``{"event":"bts:subscribe",...}``, tells them apart).

- ``bts:subscribe`` / ``bts:unsubscribe`` of ``diff_order_book_<pair>`` and ``live_trades_<pair>``, answered
  ``bts:subscription_succeeded`` / ``bts:unsubscription_succeeded``; anything else ``bts:error``.
- ``diff_order_book``: the changed levels of each market event (size ``"0"`` deletes) over the whole book,
  with a ``microtimestamp`` that grows by at least 1 per event.  No snapshot on the WebSocket: the book
  starts from REST ``/api/v2/order_book/<pair>/`` (full depth, the ``microtimestamp`` of the last event it
  holds), and the client aligns the two by microtimestamp, as Bitstamp documents.
- ``live_trades``: ``type`` 0 buy / 1 sell aggressor, at the touch.
- ``{"event":"bts:heartbeat"}`` answered ``{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}``.

Bitstamp numbers nothing: a lost diff shows only when a later diff deletes a level the client never got.
The simulated Bitstamp market has a short-lived order in every event (each diff cancels the one the
previous diff placed, deep in the book, as market makers' quotes come and go), so a diff lost to ``gap`` or
``mute`` is betrayed by the very next one.  ``corrupt`` garbles the prices of a diff (an extra digit): its
delete then names a level nobody has.  REST beyond Bitstamp's documented rate limits gets HTTP 429.
"""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_right
from urllib.parse import urlsplit

import orjson

from ..faults import BOOK, CTL, TRADE
from .market import SimBook, split_concat
from .proto import RestAnswer, SimClient

FLICKER_DEPTH = 30  # the short-lived order sits this many levels deep: no trade or touch reaches it
_PAIR_PRICE = re.compile(r'(\[")([0-9]+\.[0-9]+)(",")')


class RateWindows:
    """Bitstamp's REST limits (bitstamp.net/api, "Request limits"): 400 requests per second, and a default
    threshold of 10,000 requests per 10 minutes.  Over either: HTTP 429 with ``Retry-After``."""

    LIMITS = ((1.0, 400), (600.0, 10_000))

    def __init__(self, limits=LIMITS, clock=time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.times: list[float] = []  # accepted requests, oldest first, within the longest window
        self.answers_429 = 0

    def take(self) -> RestAnswer | None:
        now = self.clock()
        times = self.times
        longest = max(w for w, _n in self.limits)
        old = bisect_right(times, now - longest)
        if old > 1000 or old == len(times):
            del times[:old]
        for window, n in self.limits:
            inside = len(times) - bisect_right(times, now - window)
            if inside >= n:
                self.answers_429 += 1
                oldest = times[len(times) - n]  # the request whose leaving the window makes room
                wait = max(1, math.ceil(window - (now - oldest)))
                return RestAnswer(429, '{"status": "error", "reason": "Rate limit exceeded", "code": "400.002"}',
                                  {"Retry-After": str(wait)})
        times.append(now)
        return None


def listed(pair: str) -> bool:
    """``btcusd``: a pair Bitstamp lists (lowercase in channel names and REST paths)."""
    return pair == pair.lower() and split_concat(pair) is not None


class BitstampClient(SimClient):
    style = "bitstamp"
    qty_decimals = 8
    qty_mean = 0.5
    # Bitstamp documents no limit on the channels of one connection; none is imposed here.

    @classmethod
    def claims(cls, path: str) -> bool:
        return urlsplit(path).path in ("", "/")

    @classmethod
    def sniff(cls, text: str) -> bool:
        return '"bts:' in text[:200]

    @classmethod
    def rest(cls, sim, path_query: str) -> RestAnswer | str | None:
        p = urlsplit(path_query).path
        if not p.startswith("/api/v2/order_book/"):
            return None
        budget = sim.budgets.get(cls.style)
        if budget is None:
            budget = sim.budgets[cls.style] = RateWindows()
        refused = budget.take()
        if refused is not None:
            return refused
        pair = p[len("/api/v2/order_book/"):].strip("/")
        if not listed(pair):
            return RestAnswer(404, '{"status": "error", "reason": "Invalid currency pair.", "code": "API0005"}')
        b = sim.book(cls, pair)
        mt = _mt(b)
        bids, asks = b.snapshot_levels(len(b.book.bids) + len(b.book.asks))
        return orjson.dumps({"timestamp": str(mt // 1_000_000), "microtimestamp": str(mt),
                             "bids": [[p, q] for p, q, _ in bids], "asks": [[p, q] for p, q, _ in asks]}).decode()

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        self.diffs: set[str] = set()
        self.trades: set[str] = set()
        s.corrupter = self.corrupt

    def _error(self, message: str) -> None:
        self.push(orjson.dumps({"event": "bts:error", "channel": "",  # Bitstamp names no channel in errors
                                "data": {"code": None, "message": message}}).decode(), CTL)

    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
            ev = msg["event"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._error("Incorrect JSON format.")
            return
        if ev == "bts:heartbeat":
            self.push('{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}', CTL)
            return
        if ev not in ("bts:subscribe", "bts:unsubscribe"):
            self._error("Bad request.")
            return
        ch = (msg.get("data") or {}).get("channel") if isinstance(msg.get("data"), dict) else None
        kind, _, pair = ch.rpartition("_") if isinstance(ch, str) else ("", "", "")
        if kind not in ("diff_order_book", "live_trades") or not listed(pair):
            self._error("Invalid channel provided.")
            return
        chans = self.diffs if kind == "diff_order_book" else self.trades
        if ev == "bts:subscribe":
            chans.add(pair)
            self.follow(pair)
            self.push(f'{{"event":"bts:subscription_succeeded","channel":"{ch}","data":{{}}}}', CTL)
        else:
            chans.discard(pair)
            if pair not in self.diffs and pair not in self.trades:
                self.unfollow(pair)
            self.push(f'{{"event":"bts:unsubscription_succeeded","channel":"{ch}","data":{{}}}}', CTL)

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        pair = b.symbol
        mt, extra = short_lived_order(b, now)
        if pair in self.diffs:
            all_changes = list(changes) + extra
            bs = ",".join(f'["{p}","{q}"]' for s, p, q in all_changes if s == 0)
            as_ = ",".join(f'["{p}","{q}"]' for s, p, q in all_changes if s == 1)
            self.push(f'{{"data":{{"timestamp":"{mt // 1_000_000}","microtimestamp":"{mt}","bids":[{bs}],'
                      f'"asks":[{as_}]}},"channel":"diff_order_book_{pair}","event":"data"}}', BOOK, pair)
        if trade is not None and pair in self.trades:
            side, pt, qt = trade
            b.trade_id += 1
            self.push(f'{{"data":{{"id":{b.trade_id},"timestamp":"{mt // 1_000_000}","amount":{float(qt)},'
                      f'"amount_str":"{qt}","price":{float(pt)},"price_str":"{pt}","type":{0 if side == "buy" else 1},'
                      f'"microtimestamp":"{mt}","buy_order_id":{2 * b.trade_id},"sell_order_id":{2 * b.trade_id + 1}}},'
                      f'"channel":"live_trades_{pair}","event":"trade"}}', TRADE, pair)

    @staticmethod
    def corrupt(text: str) -> str:
        """A garbled diff: every price gets an extra digit (a price no level has, so its delete betrays it)."""
        if '"channel":"diff_order_book_' not in text:
            return text
        return _PAIR_PRICE.sub(lambda m: m.group(1) + m.group(2) + "7" + m.group(3), text)


def _mt(b: SimBook) -> int:
    """The microtimestamp of the last event the book holds (now, for a book no event has moved yet)."""
    mt = getattr(b, "sl_mt", 0)
    if not mt:
        mt = b.sl_mt = int(time.time() * 1e6)
    return mt


def short_lived_order(b: SimBook, now: float) -> tuple[int, list]:
    """Per market event (once, however many clients): its microtimestamp, and the short-lived order's
    changes: cancel the previous one, place a new one ``FLICKER_DEPTH`` levels deep.  Its price lies
    between two ticks, with sub-tick digits from the event number, so no market level and no recent
    short-lived order ever shares it: whatever diffs a client lost, the next cancel names a level it
    never got."""
    if getattr(b, "sl_seq", None) == b.seq:
        return b.sl_mt, b.sl_extra
    mt = max(int(now * 1e6), getattr(b, "sl_mt", 0) + 1)
    extra = []
    prev = getattr(b, "sl_order", None)
    if prev is not None:
        s, pt = prev
        side = b._side(s)
        if float(pt) * side.sign in side.levels:
            side.set(float(pt), pt, "0", 0.0)
            extra.append((s, pt, b.qtext(0.0)))
    s = b.seq % 2
    side = b._side(s)
    flicker = None
    if len(side) > FLICKER_DEPTH + 1:
        anchor = b._ticks(s, side.keys[-1 - FLICKER_DEPTH])
        frac = (b.seq % 999 + 1) / 1000.0
        pt = f"{(anchor + (-frac if s == 0 else frac)) * b.tick:.{b.pd + 3}f}"
        qt = b.qtext(b._qty())
        side.set(float(pt), pt, qt, float(qt))
        extra.append((s, pt, qt))
        flicker = (s, pt)
    b.sl_order = flicker
    b.sl_seq, b.sl_mt, b.sl_extra = b.seq, mt, extra
    return mt, extra
