"""Bitfinex WebSocket v2 spoken by the simulator (``/ws/2``).

- ``{"event":"info",...}`` on connect; ``conf`` flags acknowledged (``SEQ_ALL`` 65536: every array frame
  ends with a per-connection sequence number from 1; ``CHECKSUM`` 131072: ``[chanId,"cs",crc]`` frames).
- ``subscribe`` ``book`` (``prec`` P0, ``len`` 1/25/100/250) and ``trades`` -> ``subscribed`` with a
  ``chanId`` of this connection; the book snapshot ``[chanId,[[price,count,amount],...]]`` (bids best
  first, then asks best first, ask amounts negative), then one level per frame ``[chanId,[p,c,a]]``
  (count 0 deletes, amount 1/-1); a level leaving the ``len`` window arrives as a delete, one entering it
  as an add.  ``cs`` after each event that changed the served book: the signed CRC32 of the top 25
  (:func:`wstui.venues.bitfinex.book_checksum` over the texts served, so both sides agree by
  construction).  The real venue sends them about every 2.5 s on a busy book; sending one per change
  makes a fault show at once, and a client must not count on either cadence.
- Trades at the touch: ``[chanId,"te",[id,mts,amount,price]]`` then ``"tu"`` (amount > 0: buy).  The
  history snapshot on subscribing is empty (the simulated market has no past).
- ``[chanId,"hb"]`` every 15 s on every channel; ``{"event":"ping","cid":N}`` -> ``pong``.
- ``unsubscribe`` by ``chanId`` -> ``unsubscribed``; nothing more is sent on that id.
- Strict: an unknown pair, precision, length, channel or event, a second subscription of the same
  channel, and a 26th channel on one connection get Bitfinex's own ``{"event":"error",...}`` frames.
- Numbers are written the way the venue's JavaScript writes them (no trailing zeros).

Faults: sequence numbers are given as a frame leaves (a ``mute`` silences frames before they are
numbered; a ``gap`` loses numbered frames, as a real loss would); ``corrupt`` changes the amount of the
next book level that is not a delete, so the next ``cs`` fails.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from urllib.parse import urlsplit
from zlib import crc32

import orjson

from ...core.book import Book
from ...venues.bitfinex import CHECKSUM, CHECKSUM_LEVELS, SEQ_ALL, book_checksum
from ..faults import BOOK, BOOK_DEEP, CTL, SNAPSHOT, TRADE, bump_digit
from .market import SimBook, known_base, known_quote, split_concat
from .proto import SimClient

_LEVEL = re.compile(r"^(\[\d+,\[[-0-9.e]+,)([1-9]\d*),(-?)([0-9.]+)(\]\])$")


def js_num(text: str) -> str:
    """A decimal text as JavaScript's ``String(number)`` writes it: ``60000.0`` -> ``60000``,
    ``0.50000000`` -> ``0.5``."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _quote_ok(quote: str) -> bool:
    # Bitfinex spells USDT "UST"; perpetuals add "F0" to both sides (tBTCF0:USTF0)
    q = quote.removesuffix("F0")
    return known_quote("USDT" if q == "UST" else q)


def pair_of(symbol: str) -> str | None:
    """``tBTCUSD`` / ``BTCUSD`` / ``tBTCUST`` / ``tBTCF0:USTF0`` -> the pair (``BTCUSD``) when it is listed."""
    s = symbol[1:] if symbol.startswith("t") else symbol
    if not s or s != s.upper():
        return None  # pairs are upper case ("btcusd is invalid", Bitfinex ws-general)
    if ":" in s:
        base, _, quote = s.partition(":")
        return s if known_base(base.removesuffix("F0")) and _quote_ok(quote) else None
    if s.endswith("UST") and len(s) > 3:
        return s if known_base(s[:-3]) else None
    return s if split_concat(s) is not None else None


class BitfinexClient(SimClient):
    """Bitfinex WebSocket v2 on ``/ws/2``."""

    style = "bitfinex"
    qty_decimals = 8
    qty_mean = 0.5

    # "You can subscribe to 25 channels at the same time on the same connection"
    # (https://docs.bitfinex.com/docs/ws-public); the 26th is refused with code 10305 "subscribe: limit".
    MAX_CHANNELS = 25
    LENGTHS = (1, 25, 100, 250)  # the book lengths Bitfinex accepts (else 10300 "length: invalid")
    HEARTBEAT_S = 15.0  # "[CHANNEL_ID,"hb"]" every 15 s on every channel (Bitfinex ws-general)

    @classmethod
    def claims(cls, path: str) -> bool:
        return urlsplit(path).path.rstrip("/") == "/ws/2"

    @classmethod
    def sniff(cls, text: str) -> bool:
        # /ws/2 is also a Binance /ws/<stream> path: a Bitfinex client speaks in "event" objects
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        return isinstance(msg, dict) and isinstance(msg.get("event"), str)

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        self.flags = 0
        self.seq = 0
        self._ids = itertools.count(10000 + (crc32(f"{s.id}".encode()) % 50000))
        self.chans: dict[int, tuple[str, str, dict]] = {}  # chanId -> (channel, symbol, ack)
        self.book_chan: dict[str, int] = {}  # symbol -> chanId of its book
        self.book_len: dict[str, int] = {}
        self.trade_chan: dict[str, int] = {}
        self.push(orjson.dumps({"event": "info", "version": 2, "serverId": str(uuid.uuid4()),
                                "platform": {"status": 1}}).decode(), CTL)

    def extra_tasks(self) -> list:
        return [asyncio.ensure_future(self._heartbeats())]

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.HEARTBEAT_S)
            for cid, (_ch, sym, _ack) in list(self.chans.items()):
                self.push(f'[{cid},"hb"]', CTL, sym)

    def depth_for(self, symbol: str) -> int:
        return self.book_len.get(symbol, 0)

    # ---- frames out: numbered as they leave
    def outgoing(self, text: str, kind: int, symbol: str | None) -> str | None:
        s = self.s
        if s.mutes and s._muted(text, kind, symbol, time.monotonic()):
            return None  # silenced: never numbered, as if the venue had not sent it
        if s.corrupt and kind == BOOK:
            m = _LEVEL.match(text)
            if m is not None:
                s.corrupt -= 1
                text = m.group(1) + m.group(2) + "," + m.group(3) + bump_digit(m.group(4)) + m.group(5)
        if self.flags & SEQ_ALL and text[0] == "[":
            self.seq += 1
            text = f"{text[:-1]},{self.seq}]"
        return text

    def _error(self, msg: str, code: int, echo: dict | None = None) -> None:
        self.push(orjson.dumps({**(echo or {}), "event": "error", "msg": msg, "code": code}).decode(), CTL)

    # ---- client frames
    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return  # the venue does not answer text that is not JSON
        if not isinstance(msg, dict):
            return
        ev = msg.get("event")
        if ev == "conf":
            try:
                flags = int(msg.get("flags") or 0)
            except (TypeError, ValueError):
                self._error("conf: invalid", 10000)
                return
            self.flags = flags
            self.push(orjson.dumps({"event": "conf", "status": "OK", "flags": flags}).decode(), CTL)
        elif ev == "ping":
            self.push(orjson.dumps({"event": "pong", "ts": int(time.time() * 1000),
                                    **({"cid": msg["cid"]} if "cid" in msg else {})}).decode(), CTL)
        elif ev == "subscribe":
            self._subscribe(msg)
        elif ev == "unsubscribe":
            self._unsubscribe(msg.get("chanId"))
        else:
            self._error(f"event: invalid ({str(ev)[:40]})", 10000)

    def _subscribe(self, msg: dict) -> None:
        channel = msg.get("channel")
        raw = msg.get("symbol") or msg.get("pair") or ""
        raw = raw if isinstance(raw, str) else ""
        echo: dict = {"channel": channel}
        if raw:
            echo["symbol"] = raw if raw.startswith("t") else "t" + raw
        if channel == "book":
            echo.update({"prec": msg.get("prec", "P0"), "freq": msg.get("freq", "F0"),
                         "len": str(msg.get("len", "25"))})
        if channel not in ("book", "trades"):
            self._error("channel: unknown" if channel not in ("ticker", "candles", "status") else
                        "channel: not simulated by wstui serve", 10300, echo)
            return
        pair = pair_of(raw)
        if pair is None:
            self._error("symbol: invalid", 10300, {**echo, "pair": raw.removeprefix("t")})
            return
        sym = "t" + pair
        echo["symbol"] = sym
        echo["pair"] = pair
        if channel == "book":
            if echo["prec"] != "P0":
                self._error("precision: invalid" if echo["prec"] not in ("P1", "P2", "P3", "P4", "R0") else
                            "precision: not simulated by wstui serve", 10300, echo)
                return
            try:
                length = int(echo["len"])
            except ValueError:
                length = 0
            if length not in self.LENGTHS:
                self._error("length: invalid", 10300, echo)
                return
        have = self.book_chan if channel == "book" else self.trade_chan
        if sym in have:
            self._error("subscribe: dup", 10301, {**echo, "chanId": have[sym]})
            return
        if len(self.chans) >= self.MAX_CHANNELS:
            self._error("subscribe: limit", 10305, echo)
            return
        cid = next(self._ids)
        ack = {"event": "subscribed", "channel": channel, "chanId": cid, "symbol": sym}
        if channel == "book":
            ack.update({"prec": "P0", "freq": echo["freq"], "len": echo["len"]})
        ack["pair"] = pair
        self.chans[cid] = (channel, sym, ack)
        self.push(orjson.dumps(ack).decode(), CTL)
        b = self.follow(sym)
        if channel == "book":
            self.book_chan[sym] = cid
            self.book_len[sym] = length
            self._snapshot(cid, b, length)
        else:
            self.trade_chan[sym] = cid
            self.push(f"[{cid},[]]", TRADE, sym)  # the recent-trades history: none in a new market

    def _unsubscribe(self, cid) -> None:
        ch = self.chans.pop(cid, None) if isinstance(cid, int) else None
        if ch is None:
            self._error("unsubscribe: invalid", 10400)
            return
        channel, sym, _ack = ch
        if channel == "book":
            self.book_chan.pop(sym, None)
            self.book_len.pop(sym, None)
        else:
            self.trade_chan.pop(sym, None)
        if sym not in self.book_chan and sym not in self.trade_chan:
            self.unfollow(sym)
        self.push(orjson.dumps({"event": "unsubscribed", "status": "OK", "chanId": cid}).decode(), CTL)

    # ---- the market
    @staticmethod
    def _count(pt: str) -> int:
        return 1 + crc32(pt.encode()) % 3  # orders at a level: the simulated book does not keep them

    def _level(self, s: int, pt: str, qt: str) -> str:
        if float(qt) == 0.0:
            return f"[{js_num(pt)},0,{1 if s == 0 else -1}]"
        return f"[{js_num(pt)},{self._count(pt)},{'-' if s == 1 else ''}{js_num(qt)}]"

    def _snapshot(self, cid: int, b: SimBook, length: int) -> None:
        bids, asks = b.snapshot_levels(length)
        levels = [self._level(0, p, q) for p, q, _ in bids] + [self._level(1, p, q) for p, q, _ in asks]
        self.push(f"[{cid},[{','.join(levels)}]]", SNAPSHOT, b.symbol)
        self._checksum(cid, b, length)

    def _checksum(self, cid: int, b: SimBook, length: int) -> None:
        if not self.flags & CHECKSUM:
            return
        n = min(length, CHECKSUM_LEVELS)
        served = Book()
        for side, levels in ((served.bids, b.book.bids.top(n)), (served.asks, b.book.asks.top(n))):
            for p, q, _ in levels:
                pt, qt = js_num(p), js_num(q)
                side.set(float(pt), pt, qt, float(qt))
        self.push(f'[{cid},"cs",{book_checksum(served)}]', BOOK_DEEP, b.symbol)

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        cid = self.book_chan.get(sym)
        if cid is not None and changes:
            n = self.book_len[sym]
            bids, asks = b.book.bids, b.book.asks
            old = before[n]
            new = (set(bids.keys[-n:]), set(asks.keys[-n:]))
            if n > CHECKSUM_LEVELS:  # only changes within the checksummed top 25 are top-of-book frames
                top = tuple(set(sorted(o)[-CHECKSUM_LEVELS:]) | set(sd.keys[-CHECKSUM_LEVELS:])
                            for o, sd in ((old[0], bids), (old[1], asks)))
            else:
                top = (old[0] | new[0], old[1] | new[1])
            frames: list[tuple[str, int]] = []
            seen: set[tuple[int, float]] = set()
            for s, pt, qt in changes:
                k = float(pt) * (1.0 if s == 0 else -1.0)
                if (s, k) in seen or not (k in old[s] or k in new[s]):
                    continue
                seen.add((s, k))
                frames.append((self._level(s, pt, qt if k in new[s] else "0"), BOOK if k in top[s] else BOOK_DEEP))
            for s, side in ((0, bids), (1, asks)):
                for k in old[s] - new[s]:  # pushed out of the window: a delete
                    if (s, k) not in seen:
                        pt = f"{abs(k):.{b.pd}f}"
                        frames.append((self._level(s, pt, "0"), BOOK if k in top[s] else BOOK_DEEP))
                for k in new[s] - old[s]:  # come into the window: an add
                    if (s, k) not in seen:
                        pt, qt, _ = side.levels[k]
                        frames.append((self._level(s, pt, qt), BOOK if k in top[s] else BOOK_DEEP))
            for text, kind in frames:
                self.push(f"[{cid},{text}]", kind, sym)
            if frames:
                self._checksum(cid, b, n)
        tcid = self.trade_chan.get(sym)
        if trade is not None and tcid is not None:
            side, pt, qt = trade
            b.trade_id += 1
            t = f"[{b.trade_id},{int(now * 1000)},{'-' if side == 'sell' else ''}{js_num(qt)},{js_num(pt)}]"
            self.push(f'[{tcid},"te",{t}]', TRADE, sym)
            self.push(f'[{tcid},"tu",{t}]', TRADE, sym)
