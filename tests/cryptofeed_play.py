"""Run under cryptofeed's Python: read a wstui recording with cryptofeed 3 directly (it refuses), then
convert it (tools/to_cryptofeed.py) and play it back, printing what the callbacks received as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from cryptofeed.capture.pcap import read_capture  # noqa: E402
from cryptofeed.capture.playback import playback  # noqa: E402
from cryptofeed.defines import L2_BOOK, TRADES  # noqa: E402

import to_cryptofeed  # noqa: E402

src, out = Path(sys.argv[1]), Path(sys.argv[2])
result: dict = {}
try:
    read_capture(str(src))
    result["direct"] = "read"
except ValueError as exc:
    result["direct"] = str(exc)
result["converted"] = to_cryptofeed.convert(src, out)
books: list = []
trades: list = []


async def on_book(book, receipt_ts):
    bids, asks = book.book.bids, book.book.asks
    books.append([str(bids.index(0)[0]) if len(bids) else None, str(asks.index(0)[0]) if len(asks) else None])


async def on_trade(trade, receipt_ts):
    trades.append([trade.side, str(trade.price), str(trade.amount)])


res = playback(str(out), callbacks={L2_BOOK: on_book, TRADES: on_trade})
result.update(books=len(books), trades=len(trades), last_top=books[-1] if books else None,
              trade_list=trades, messages=res.messages_processed, callbacks=res.callbacks)
print(json.dumps(result))
