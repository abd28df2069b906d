"""Binance spoken by the simulator: ``depthUpdate`` events with contiguous ``U``/``u``/``pu`` update ids
(valid for both the spot and the futures bridging rules) and ``aggTrade``; REST snapshots
``/api/v3/depth`` (spot), ``/fapi/v1/depth`` (USD-M) and ``/dapi/v1/depth`` (COIN-M) on the same port,
plain HTTP, answered from the live book with its ``lastUpdateId``.

Strict the way Binance is:

- an unknown symbol: REST answers HTTP 400 ``{"code":-1121,"msg":"Invalid symbol."}``; a stream of an
  unknown symbol gets an error frame in Binance's WebSocket error shape (``{"error":{"code":2,"msg":...}}``)
  and no data;
- at most ``MAX_STREAMS`` streams per connection and ``MAX_MSGS_PER_S`` incoming messages per second: a
  connection beyond either is closed with code 1008 ("Too many requests"), as Binance disconnects it;
- REST weight per rolling minute (``WeightBudget``): 429 + ``Retry-After`` beyond it, 418 (IP ban) for a
  client that keeps asking while told to wait.

The spot and USD-M WebSocket paths are the same (``/stream``, ``/ws``), so a connection only knows which
market it serves from its ``Host`` header: a spot host (``stream.binance.com``...) gets spot's 5 messages/s;
any other (a loopback address, as ``--endpoint`` gives, ``fstream``/``dstream``, and USD-M's own routed
paths ``/market/...``, ``/public/...``) USD-M's 10/s, so that no client of either market is refused for
keeping to its own limit.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from urllib.parse import parse_qsl, urlsplit

import orjson

from ..faults import BOOK, CTL, TRADE
from .market import SimBook, split_concat
from .proto import RestAnswer, SimClient, WeightBudget

# REST weight budgets per minute (REQUEST_WEIGHT rate limit of exchangeInfo):
#   spot  6,000/min  https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits
#   USD-M 2,400/min  https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
#   COIN-M 2,400/min (same documentation family)
SPOT_WEIGHT_PER_MIN = 6000
FUTURES_WEIGHT_PER_MIN = 2400
BAN_AFTER_429 = 2  # requests refused with 429 in a row after which the client is banned (418)
INVALID_SYMBOL = '{"code":-1121,"msg":"Invalid symbol."}'


def spot_depth_weight(limit: int) -> int:
    """GET /api/v3/depth weight by ``limit``: 1-100: 5, 101-500: 25, 501-1000: 50, 1001-5000: 250
    (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints)."""
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def futures_depth_weight(limit: int) -> int:
    """GET /fapi/v1/depth weight by ``limit``: 5/10/20/50: 2, 100: 5, 500: 10, 1000: 20
    (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Order-Book)."""
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


_PAIR = re.compile(r'\["[0-9.]+","([0-9.]+)"\]')


def corrupt_depth(text: str) -> str:
    """``--fault corrupt`` on Binance, which has no checksum to fail: the frame's last size becomes text
    that is no number, so the frame fails half-applied (its earlier levels are in the book already)."""
    last = None
    for last in _PAIR.finditer(text):
        pass
    if last is None:
        return text
    return text[:last.end(1)] + ".5.5" + text[last.end(1):]


def ws_error(code: int, msg: str, req_id=None) -> str:
    out: dict = {"error": {"code": code, "msg": msg}}
    if req_id is not None:
        out["id"] = req_id
    return orjson.dumps(out).decode()


class BinanceClient(SimClient):
    """Binance spot and USD-M (``/stream?streams=...``, ``/ws/...``, ``SUBSCRIBE``)."""

    style = "binance"
    corrupt = staticmethod(corrupt_depth)
    # "A single connection can listen to a maximum of 1024 streams." (spot: Web Socket Streams, general
    # information; USD-M: Websocket Market Streams)
    MAX_STREAMS = 1024
    # "WebSocket connections have a limit of 5 incoming messages per second" (spot, same page; Binance
    # counts pings and pongs too, the simulator only text messages: websockets answers pings itself);
    # USD-M: 10.  Beyond it the connection is closed with 1008 "Too many requests".
    MAX_MSGS_PER_S = 5

    @classmethod
    def claims(cls, path: str) -> bool:
        p = urlsplit(path).path
        # /stream?streams=..., /ws (SUBSCRIBE later), /ws/<symbol>@<stream>... (not OKX's /ws/v5/...)
        return p.startswith("/stream") or p.rstrip("/") == "/ws" or (p.startswith("/ws/") and "@" in p)

    @classmethod
    def budget(cls, sim, market: str) -> WeightBudget:
        b = sim.budgets.get(market)
        if b is None:
            per = SPOT_WEIGHT_PER_MIN if market == "binance" else FUTURES_WEIGHT_PER_MIN
            b = sim.budgets[market] = WeightBudget(per, ban_after=BAN_AFTER_429)
        return b

    @classmethod
    def rest(cls, sim, path_query: str) -> RestAnswer | str | None:
        """A depth snapshot (``/api/v3/depth``, ``/fapi/v1/depth``, ``/dapi/v1/depth``) from the live book,
        its weight taken from the market's budget first (Binance counts refused requests too)."""
        p = urlsplit(path_query)
        path = p.path.rstrip("/")
        if path == "/api/v3/depth":
            market, cap, weigh = "binance", 5000, spot_depth_weight
        elif path in ("/fapi/v1/depth", "/dapi/v1/depth"):
            market, cap, weigh = "binance-futures", 1000, futures_depth_weight
        else:
            return None
        q = dict(parse_qsl(p.query))
        try:
            limit = max(1, min(cap, int(q.get("limit", "100" if market == "binance" else "500"))))
        except ValueError:
            limit = 100
        refused = cls.budget(sim, market).take(weigh(limit))
        if refused is not None:
            return refused
        sym = q.get("symbol", "")
        if not sym:
            return RestAnswer(400, '{"code":-1102,"msg":"Mandatory parameter \'symbol\' was not sent, was empty/null, '
                                   'or malformed."}')
        if sym != sym.upper() or split_concat(sym) is None:
            return RestAnswer(400, INVALID_SYMBOL)
        b = sim.book(cls, sym)
        ms = int(time.time() * 1000)
        bids, asks = b.snapshot_levels(limit)
        body = orjson.dumps({"lastUpdateId": b.seq, "E": ms, "T": ms,
                             "bids": [[p, q] for p, q, _ in bids], "asks": [[p, q] for p, q, _ in asks]}).decode()
        return RestAnswer(200, body, {"X-MBX-USED-WEIGHT-1M": str(cls.budget(sim, market).used)})

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        p = urlsplit(s.path)
        self.combined = "/stream" in p.path
        self.depth_syms: dict[str, str] = {}  # SYMBOL -> stream name
        self.trade_syms: dict[str, str] = {}
        self.streams: set[str] = set()
        self.msg_times: deque[float] = deque()
        self.msg_limit = self.MAX_MSGS_PER_S if self.spot_host(s) else BinanceFuturesClient.MAX_MSGS_PER_S
        self.refused: str | None = None  # why the connection is closed at once
        names: list[str] = []
        for k, v in parse_qsl(p.query):
            if k == "streams":
                names += [n for n in v.split("/") if n]
        i = p.path.find("/ws/")
        if i >= 0:
            names += [n for n in p.path[i + 4:].split("/") if n]
        if len(set(names)) > self.MAX_STREAMS:
            self.refused = f"Too many streams: {len(set(names))} > {self.MAX_STREAMS}"
            return
        for n in names:
            err = self._add(n)
            if err is not None:
                self.push(ws_error(2, err), CTL)

    @staticmethod
    def spot_host(s) -> bool:
        """Does the client's ``Host`` header name a Binance spot stream host?"""
        try:
            host = (s.ws.request.headers.get("Host") or "").split(":")[0].lower()
        except Exception:
            return False
        return host.endswith(("stream.binance.com", "data-stream.binance.vision", "stream.binance.us",
                              "testnet.binance.vision"))

    async def run(self, first: str | None = None) -> None:
        if self.refused is not None:
            await self.s.ws.close(1008, self.refused)
            return
        await super().run(first)

    def _add(self, name: str) -> str | None:
        """Start sending stream ``name``; the error text when it cannot be."""
        sym, _, kind = name.partition("@")
        if not sym:
            return f"Invalid request: invalid stream name {name[:60]!r}"
        if sym != sym.lower() or split_concat(sym) is None:
            return f"Invalid request: invalid symbol {sym.upper()[:30]!r} in stream {name[:60]!r}"
        sym = sym.upper()
        if name not in self.streams and len(self.streams) >= self.MAX_STREAMS:
            return f"Invalid request: too many streams (at most {self.MAX_STREAMS} per connection)"
        if kind.startswith("depth"):
            self.depth_syms[sym] = name
        elif kind in ("aggTrade", "trade"):
            self.trade_syms[sym] = name
        else:
            return None  # a stream the simulator does not produce: accepted, silent
        self.streams.add(name)
        self.follow(sym)
        return None

    def _remove(self, name: str) -> None:
        sym = name.partition("@")[0].upper()
        self.streams.discard(name)
        if self.depth_syms.get(sym) == name:
            del self.depth_syms[sym]
        if self.trade_syms.get(sym) == name:
            del self.trade_syms[sym]
        if sym not in self.depth_syms and sym not in self.trade_syms:
            self.unfollow(sym)

    def on_text(self, text: str) -> None:
        now = time.monotonic()
        mt = self.msg_times
        mt.append(now)
        while mt and now - mt[0] >= 1.0:
            mt.popleft()
        if len(mt) > self.msg_limit:
            # "A connection that goes beyond the limit will be disconnected"
            self.s.closed = True
            asyncio.ensure_future(self.s.ws.close(1008, "Too many requests"))
            return
        try:
            msg = orjson.loads(text)
            method = msg["method"]
            params = msg.get("params") or []
            req_id = msg.get("id")
        except orjson.JSONDecodeError:
            self.push(ws_error(3, "Invalid JSON: expected value"), CTL)
            return
        except (KeyError, TypeError, AttributeError):
            self.push(ws_error(2, "Invalid request: missing field `method`"), CTL)
            return
        if method == "SUBSCRIBE":
            names = {str(n) for n in params}
            if len(self.streams | names) > self.MAX_STREAMS:  # refused whole, nothing subscribed
                self.push(ws_error(2, f"Invalid request: too many streams (at most {self.MAX_STREAMS} per "
                                      f"connection)", req_id), CTL)
                return
            for n in params:
                err = self._add(str(n))
                if err is not None:
                    self.push(ws_error(2, err, req_id), CTL)
                    return
        elif method == "UNSUBSCRIBE":
            for n in params:
                self._remove(str(n))
        elif method == "LIST_SUBSCRIPTIONS":
            self.push(orjson.dumps({"result": sorted(self.streams), "id": req_id}).decode(), CTL)
            return
        else:
            self.push(ws_error(2, f"Invalid request: unknown variant `{str(method)[:30]}`", req_id), CTL)
            return
        self.push(orjson.dumps({"result": None, "id": req_id}).decode(), CTL)

    def _wrap(self, name: str, inner: str) -> str:
        return f'{{"stream":"{name}","data":{inner}}}' if self.combined else inner

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        ms = int(now * 1000)
        name = self.depth_syms.get(sym)
        if name is not None and changes:
            bs = ",".join(f'["{p}","{q}"]' for s, p, q in changes if s == 0)
            as_ = ",".join(f'["{p}","{q}"]' for s, p, q in changes if s == 1)
            u = b.seq
            self.push(self._wrap(name, f'{{"e":"depthUpdate","E":{ms},"T":{ms},"s":"{sym}","U":{u},"u":{u},'
                                       f'"pu":{u - 1},"b":[{bs}],"a":[{as_}]}}'), BOOK, sym)
        tname = self.trade_syms.get(sym)
        if tname is not None and trade is not None:
            side, pt, qt = trade
            b.trade_id += 1
            m = "true" if side == "sell" else "false"
            self.push(self._wrap(tname, f'{{"e":"aggTrade","E":{ms},"s":"{sym}","a":{b.trade_id},"p":"{pt}",'
                                        f'"q":"{qt}","f":{b.trade_id},"l":{b.trade_id},"T":{ms},"m":{m}}}'), TRADE, sym)


class BinanceFuturesClient(BinanceClient):
    """USD-M on its own routed paths (``/market/stream``, ``/public/ws/...``): 10 incoming messages/s."""

    # "WebSocket connections have a limit of 10 incoming messages per second." (USD-M Websocket Market
    # Streams)
    MAX_MSGS_PER_S = 10

    @classmethod
    def claims(cls, path: str) -> bool:
        p = urlsplit(path).path
        return p.startswith(("/market/", "/public/")) and super().claims(p[p.index("/", 1):])
