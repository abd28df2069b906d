"""A stream counts frames, not the items inside them: a Kraken v2 frame with five trades is one message
of its own size, and on every capture the streams of a venue never count more messages (or bytes) than
its connections received frames (bytes)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from conftest import REAL_FEEDS, real_feed
from wstui.engine import Engine
from wstui.io.replay import Replay

CAPTURES = sorted(p.name for p in REAL_FEEDS.glob("*.jsonl*"))


def test_the_captures_are_there():
    assert len(CAPTURES) >= 12, CAPTURES  # every venue's capture is checked below


@pytest.mark.parametrize("name", CAPTURES)
def test_streams_count_frames_not_items_on_every_capture(name):
    path = real_feed(name)
    engine = Engine(file=str(path))
    frames: Counter = Counter()  # per venue: frames received by its connections (over reconnects)
    nbytes: Counter = Counter()
    worst: list = []
    orig = engine.frame

    def frame(cid, data, ts):
        before = {k: (s.messages, s.bytes) for k, s in engine.streams.items()}
        orig(cid, data, ts)
        venue = engine.conns[cid].venue.name
        frames[venue] += 1
        nbytes[venue] += len(data)
        for k, s in engine.streams.items():
            m0, b0 = before.get(k, (0, 0))
            if s.messages - m0 > 1 or s.bytes - b0 > len(data):
                worst.append((s.key, s.messages - m0, s.bytes - b0, len(data)))

    engine.frame = frame
    asyncio.run(Replay(path, speed=None).run(engine))
    snap = engine.snapshot()
    assert not worst, f"{len(worst)} frames counted more than once by a stream, e.g. {worst[:3]}"
    assert sum(frames.values()) == snap.messages > 0
    per_venue_msgs: Counter = Counter()
    per_venue_bytes: Counter = Counter()
    for s in snap.streams:
        per_venue_msgs[s.venue] += s.messages
        per_venue_bytes[s.venue] += s.bytes
    for venue, n in per_venue_msgs.items():
        assert n <= frames[venue], (venue, n, frames[venue])
        assert per_venue_bytes[venue] <= nbytes[venue], (venue, per_venue_bytes[venue], nbytes[venue])
    # the snapshot's connections say the same where no connection was replaced
    for c in snap.connections:
        if c.connects == 1 and sum(1 for o in snap.connections if o.venue == c.venue) == 1:
            assert per_venue_msgs[c.venue] <= c.messages, (c.conn, per_venue_msgs[c.venue], c.messages)


def _feed(addr: str, frames: list[dict]) -> Engine:
    engine = Engine()
    engine.open("c", addr, 1_700_000_000.0)
    for i, f in enumerate(frames):
        engine.frame("c", json.dumps(f), 1_700_000_000.1 + i)
    return engine


def test_kraken_v2_frame_with_five_trades_is_one_message():
    trades = [{"symbol": "BTC/USD", "side": "buy" if i % 2 else "sell", "price": 50000.1 + i, "qty": 0.01,
               "ord_type": "market", "trade_id": 100 + i, "timestamp": "2023-11-14T22:13:20.123456Z"}
              for i in range(5)]
    frame = {"channel": "trade", "type": "update", "data": trades}
    engine = _feed("wss://ws.kraken.com/v2", [frame])
    snap = engine.snapshot()
    st = snap.stream("kraken:BTC/USD:trades")
    assert st is not None, [s.key for s in snap.streams]
    assert st.trades_total == 5  # every trade is on the tape
    assert st.messages == 1
    assert st.bytes == len(json.dumps(frame))
    assert snap.connections[0].messages == 1


def test_coinbase_frame_with_two_events_of_one_product_is_one_message():
    t = "2023-11-14T22:13:20.123456Z"
    frame = {"channel": "l2_data", "client_id": "", "timestamp": t, "sequence_num": 0, "events": [
        {"type": "snapshot", "product_id": "BTC-USD", "updates": [
            {"side": "bid", "event_time": t, "price_level": "100", "new_quantity": "1"},
            {"side": "offer", "event_time": t, "price_level": "101", "new_quantity": "1"}]},
        {"type": "update", "product_id": "BTC-USD", "updates": [
            {"side": "bid", "event_time": t, "price_level": "99", "new_quantity": "2"}]},
    ]}
    engine = _feed("wss://advanced-trade-ws.coinbase.com", [frame])
    st = engine.snapshot().stream("coinbase:BTC-USD:book")
    assert st is not None
    assert st.book_levels == (2, 1)  # both events applied
    assert st.messages == 1 and st.bytes == len(json.dumps(frame))
