"""Binance spot and USD-M futures on real captures: books bridged to the capture's REST snapshots with
zero gaps, final books equal to an independent reference; a dropped update is a gap and a resync."""

from __future__ import annotations

import json

import pytest

from conftest import read_records, real_feed, replay, write_records
from reference import binance_reference

CASES = [
    ("binance.jsonl.gz", "binance", False, {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}),
    ("binance_futures.jsonl.gz", "binance-futures", True, {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"}),
]


@pytest.mark.parametrize("name,venue,futures,symbols", CASES)
def test_books_bridge_with_zero_gaps_and_match_reference(name, venue, futures, symbols):
    path = real_feed(name)
    engine, snap = replay(path)
    books = {s.symbol: s for s in snap.streams if s.channel == "book"}
    assert set(books) == symbols
    assert all(s.venue == venue for s in books.values())
    ref = binance_reference(read_records(path), futures)
    for sym, s in books.items():
        assert s.gaps == 0, (sym, s.reason)
        assert s.book_state == "ok", sym
        assert s.resyncs == 0 and s.parse_errors == 0
        assert not s.crossed
        assert [[p, q] for p, q, _ in s.bids[:10]] == ref[sym].top(10)["bids"], sym
        assert [[p, q] for p, q, _ in s.asks[:10]] == ref[sym].top(10)["asks"], sym
        # the whole book, not just its top, matches
        assert s.book_levels == (len(ref[sym].bids), len(ref[sym].asks))
    assert snap.bad_records_total == 0
    # trades reach the tape with the aggressor side
    trades = [s for s in snap.streams if s.channel == "trades"]
    assert sum(s.trades_total for s in trades) > 0
    assert all(t.side in ("buy", "sell") for s in trades for t in s.trades)


def _depth_positions(records, sym):
    out = []
    for i, r in enumerate(records):
        if r.get("t") == "recv" and '"depthUpdate"' in r["data"] and f'"s":"{sym}"' in r["data"]:
            out.append(i)
    return out


@pytest.mark.parametrize("name,futures,sym", [("binance.jsonl.gz", False, "NKNUSDT"),
                                              ("binance_futures.jsonl.gz", True, "SUSHIUSDT")])
def test_dropped_update_is_a_gap_and_a_resync(tmp_path, name, futures, sym):
    path = real_feed(name)
    records = read_records(path)
    pos = _depth_positions(records, sym)
    drop = pos[len(pos) // 2]
    nxt = pos[len(pos) // 2 + 1]
    dropped = records[:drop] + records[drop + 1:]

    # without a further REST answer in the capture the book stays marked out of sync: never shown as fine
    engine, snap = replay(write_records(tmp_path / "dropped.jsonl.gz", dropped))
    s = snap.stream(f"{'binance-futures' if futures else 'binance'}:{sym}:book")
    assert s.gaps == 1
    assert s.book_state == "out_of_sync"
    kinds = [e.kind for e in snap.events if e.stream == s.key]
    assert kinds.count("gap") == 1 and "snapshot_failed" in kinds

    # with the REST answer a live client would have fetched at that moment, the book is rebuilt
    ref = binance_reference(records[: nxt + 1], futures)[sym]
    ev = json.loads(records[nxt]["data"])["data"]
    url = next(r["url"] for r in records if r.get("t") == "http" and f"symbol={sym}" in r["url"])
    snapshot = {"lastUpdateId": ev["u"], "bids": [list(x) for x in ref.sorted_bids()],
                "asks": [list(x) for x in ref.sorted_asks()]}
    http = {"t": "http", "conn": "TEST.http", "ts": records[nxt]["ts"], "url": url, "data": json.dumps(snapshot)}
    healed = write_records(tmp_path / "healed.jsonl.gz", dropped[:drop + 1] + [http] + dropped[drop + 1:])
    engine, snap = replay(healed)
    s = snap.stream(s.key)
    assert s.gaps == 1
    assert s.resyncs == 1
    assert s.book_state == "ok"
    gap = next(e for e in snap.events if e.kind == "gap")
    assert "missing" in gap.detail or "pu=" in gap.detail
    full = binance_reference(records, futures)[sym]
    assert [[p, q] for p, q, _ in s.bids[:10]] == full.top(10)["bids"]
    assert [[p, q] for p, q, _ in s.asks[:10]] == full.top(10)["asks"]


def test_missing_rest_answers_are_reported_once_and_buffers_stay_bounded(tmp_path):
    """Found in review: with no REST answer every later diff asked again (764 'snapshot_failed' events
    pushed real events out of the log) and diffs were buffered without limit."""
    from wstui.venues.checks import SNAPSHOT_BUFFER

    records = [r for r in read_records(real_feed("binance_futures.jsonl.gz")) if r.get("t") != "http"]
    engine, snap = replay(write_records(tmp_path / "norest.jsonl.gz", records))
    books = [s for s in snap.streams if s.channel == "book"]
    assert len(books) == 4
    for s in books:
        assert s.book_state == "out_of_sync"
        failed = [e for e in snap.events if e.stream == s.key and e.kind == "snapshot_failed"]
        assert len(failed) == 1 and "no (further) REST answer" in failed[0].detail
    adapter = next(iter(engine.conns.values())).venue
    assert all(len(sy.buffer) <= SNAPSHOT_BUFFER for sy in adapter.sync.values())
    assert max(len(sy.buffer) for sy in adapter.sync.values()) > 100  # it did buffer, within its bound


def test_live_snapshot_failures_retry_with_a_growing_delay():
    from wstui.venues.checks import SnapshotWait

    w = SnapshotWait()
    t = 1000.0
    w.requested = True
    waits = []
    for _ in range(8):
        w.failed(t, live=True)
        waits.append(w.retry_at - t)
        assert not w.due(t + waits[-1] - 0.01) and w.due(t + waits[-1])
        w.requested = True
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    r = SnapshotWait()
    r.requested = True
    r.failed(t, live=False)  # replay: the capture holds no further answer, never ask again
    assert not r.due(t + 1e6)
