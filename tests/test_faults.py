"""The fault language of `wstui serve --fault` (wstui.io.faults) and what the mute fault holds back."""

import asyncio

import pytest

from wstui.io.faults import BOOK, CTL, TRADE, parse_fault
from wstui.io.server import Session


def test_mute_spec_forms():
    f = parse_fault("mute@5s:3s")
    assert (f.kind, f.at, f.duration, f.symbol, f.channel, f.every) == ("mute", 5.0, 3.0, None, None, None)
    f = parse_fault("mute@1:2:BTC/USD")  # a slash inside a symbol is not /EVERY
    assert (f.symbol, f.every) == ("BTC/USD", None)
    f = parse_fault("mute@1:2:BTC/USD:trades/30s")
    assert (f.symbol, f.channel, f.every) == ("BTC/USD", "trades", 30.0)
    for bad in ("mute@1", "mute@1:2:X:ticker", "mute@1:2:X:book:more", "mute@1:5/3s"):
        with pytest.raises(ValueError, match="fault"):
            parse_fault(bad)


class _WS:
    def __init__(self):
        self.sent = []
        self.request = None

    async def send(self, data):
        self.sent.append(data)


class _Server:
    log = None


def test_mute_holds_back_one_market_or_one_stream_while_the_rest_flows():
    async def main():
        ws = _WS()
        s = Session(_Server(), ws, 1)
        s.apply(parse_fault("mute@0:60:ETHUSDT:book"))
        await s.emit("eth book", BOOK, "ETHUSDT")
        await s.emit("eth trade", TRADE, "ETHUSDT")
        await s.emit("btc book", BOOK, "BTCUSDT")
        await s.emit("ack", CTL)
        s.apply(parse_fault("mute@0:60"))  # no symbol: the first market the connection carried
        await s.emit("eth trade 2", TRADE, "ETHUSDT")
        await s.emit("btc book 2", BOOK, "BTCUSDT")
        s.apply(parse_fault("mute@0:60:BTCUSDT"))  # a capture's frames: matched on the symbol's text
        await s.emit('{"s":"BTCUSDT","e":"depthUpdate"}', BOOK)
        await s.emit('{"s":"SOLUSDT","e":"depthUpdate"}', BOOK)
        return ws.sent

    assert asyncio.run(main()) == ["eth trade", "btc book", "ack", "btc book 2", '{"s":"SOLUSDT","e":"depthUpdate"}']


def test_a_gap_hits_one_market_only():
    async def main():
        ws = _WS()
        s = Session(_Server(), ws, 1)
        s.apply(parse_fault("gap@0:2"))
        for i in range(3):
            for sym in ("A", "B"):
                await s.emit(f"{sym}{i}", BOOK, sym)
        return ws.sent

    assert asyncio.run(main()) == ["B0", "B1", "A2", "B2"]
