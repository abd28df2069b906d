"""Invalid numbers and wrong types from a feed never crash the monitor, never enter a book, and never
leave a touched book looking ``ok``: each is rejected, counted on the stream it targets, and the book is
marked out of sync.  Through the real ``wstui replay`` command on crafted captures, and the core itself."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from conftest import ROOT, write_records
from wstui.core.book import BID, BadLevel, Book

T0 = 1_700_000_000.0
BINANCE = "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms"
BINANCE_REST = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"


def rec(t: str, ts: float, conn: str = "C1", **kw) -> dict:
    return {"t": t, "conn": conn, "ts": ts, **kw}


def header(exchange: str) -> dict:
    return {"t": "header", "format": 2, "exchange": exchange, "recorded": T0}


def run_replay(path, *extra, json_out: bool = True) -> tuple[subprocess.CompletedProcess, dict | None]:
    args = [sys.executable, "-m", "wstui", "replay", str(path), "--headless", "--speed", "max", *extra]
    if json_out:
        args.append("--json")
    p = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    doc = json.loads(p.stdout) if json_out else None
    # exit 0: every stream healthy at the end; 1: some book is (rightly) marked wrong; never a crash
    want = (1 if doc["unhealthy"] else 0) if doc is not None else p.returncode
    assert p.returncode in (0, 1) and p.returncode == want, p.stderr[-3000:]
    return p, doc


def stream(doc: dict, key: str) -> dict:
    found = [s for s in doc["streams"] if s["key"] == key]
    assert found, [s["key"] for s in doc["streams"]]
    return found[0]


def book_numbers_valid(s: dict) -> None:
    for side in ("bids", "asks"):
        for p, q in s["book"][side]:
            assert isinstance(p, str) and isinstance(q, str), (p, q)
            assert math.isfinite(float(p)) and float(p) > 0, p
            assert math.isfinite(float(q)) and float(q) > 0, q


def binance_capture(tmp_path, diffs: list[dict], snapshot: dict | None = None, name="b.jsonl.gz"):
    snap = snapshot or {"lastUpdateId": 100, "bids": [["100.0", "1"], ["99.0", "2"]], "asks": [["101.0", "1"]]}
    recs = [header("BINANCE"),
            rec("http", T0, "BINANCE.http.0", url=BINANCE_REST, data=json.dumps(snap)),
            rec("connect", T0, addr=BINANCE)]
    first = {"e": "depthUpdate", "E": int(T0 * 1000), "s": "BTCUSDT", "U": 99, "u": 100, "b": [], "a": []}
    ts = T0 + 0.1
    for d in [first] + diffs:
        full = {"e": "depthUpdate", "E": int(ts * 1000), "s": "BTCUSDT", **d}
        recs.append(rec("recv", ts, data=json.dumps({"stream": "btcusdt@depth@100ms", "data": full})))
        ts += 0.1
    return write_records(tmp_path / name, recs)


# ---------------------------------------------------------------------------------------------- core
@pytest.mark.parametrize("price,size", [("nan", "1"), ("NaN", "1"), ("Infinity", "1"), ("1e400", "1"),
                                        ("-5", "1"), ("0", "1"), ("1", "nan"), ("1", "-0.5"), ("1", "inf"),
                                        ("1", "1e400")])
def test_core_rejects_non_finite_and_negative_levels(price, size):
    book = Book()
    book.load([("10", "1")], [("11", "1")])
    before = (book.top(5), len(book))
    with pytest.raises(BadLevel):
        book.bids.set(float(price), price, size, float(size))
    with pytest.raises(BadLevel):
        book.asks.update([(price, size)])
    with pytest.raises(BadLevel):
        book.load([(price, size)], [("11", "1")])
    with pytest.raises(BadLevel):
        book.apply(BID, price, size)
    assert (book.top(5), len(book)) == before  # nothing entered, nothing half-loaded


@pytest.mark.parametrize("level", ["95", ("95",), ("95", 5), (95, "5"), ("95", None), {"95": "5"}, ("95", True),
                                   ("95", ["5"])])
def test_core_rejects_wrong_shapes_and_types(level):
    book = Book()
    with pytest.raises(BadLevel):
        book.bids.update([level])
    with pytest.raises(BadLevel):
        book.load([level], [])
    assert len(book) == 0


def test_core_load_is_all_or_nothing():
    book = Book()
    book.load([("10", "1")], [("11", "1")])
    with pytest.raises(BadLevel) as ei:
        book.load([("9", "1")], [("12", "1"), ("nan", "1")])
    assert ei.value.side is book.asks
    assert book.top(5) == ([("10", "1", 1.0)], [("11", "1", 1.0)])


# ------------------------------------------------------------------------------------- through replay
def test_binance_nan_then_delete_does_not_crash_replay(tmp_path):
    """The issue's two frames: before the fix replay exited 1 with a KeyError traceback."""
    path = binance_capture(tmp_path, [
        {"U": 101, "u": 101, "b": [["NaN", "5"]], "a": []},
        {"U": 102, "u": 102, "b": [["99.0", "0"]], "a": []},
        {"U": 103, "u": 103, "b": [["98.0", "3"]], "a": []},
    ])
    _, doc = run_replay(path)
    s = stream(doc, "binance:BTCUSDT:book")
    assert s["book_state"] == "out_of_sync", s
    assert s["parse_errors"] >= 1
    assert any(e["kind"] == "out_of_sync" and e["stream"] == "binance:BTCUSDT:book" and "invalid value" in e["detail"]
               for e in doc["events"]), doc["events"]
    book_numbers_valid(s)
    assert any(e["kind"] == "parse_error" and e["stream"] == "binance:BTCUSDT:book" and "NaN" in e["detail"]
               for e in doc["events"])
    # the text summary too (the path the issue saw exit 1)
    p, _ = run_replay(path, json_out=False)
    assert "binance:BTCUSDT:book" in p.stdout and "NaN" not in p.stdout.split("bad record")[0]


@pytest.mark.parametrize("bad", [["-65289.5", "0.5"], ["100.5", "-5"], ["Infinity", "1"], ["1e400", "1"],
                                 ["100.5", "NaN"]])
def test_binance_invalid_numbers_never_become_levels(tmp_path, bad):
    path = binance_capture(tmp_path, [{"U": 101, "u": 101, "b": [bad], "a": []},
                                      {"U": 102, "u": 102, "b": [["98.0", "3"]], "a": []}])
    _, doc = run_replay(path)
    s = stream(doc, "binance:BTCUSDT:book")
    assert s["book_state"] == "out_of_sync" and s["parse_errors"] == 1, s
    book_numbers_valid(s)


@pytest.mark.parametrize("b", [["95"], {"12": "1"}, [["95", 5]], [[95, "5"]], [["95", "5", "x"]], "95", [["95"]]])
def test_binance_wrong_types_are_rejected_not_unpacked(tmp_path, b):
    path = binance_capture(tmp_path, [{"U": 101, "u": 101, "b": b, "a": []}])
    _, doc = run_replay(path)
    s = stream(doc, "binance:BTCUSDT:book")
    assert s["book_state"] == "out_of_sync" and s["parse_errors"] == 1, s
    book_numbers_valid(s)
    prices = [p for p, _ in s["book"]["bids"]]
    assert prices == ["100.0", "99.0"], prices  # nothing like "9" from "95" unpacked


def test_binance_rest_snapshot_with_nan_is_unusable(tmp_path):
    path = binance_capture(tmp_path, [{"U": 101, "u": 101, "b": [["98.0", "3"]], "a": []}],
                           snapshot={"lastUpdateId": 100, "bids": [["NaN", "1"], ["99.0", "2"]], "asks": []})
    _, doc = run_replay(path)
    s = stream(doc, "binance:BTCUSDT:book")
    assert s["book_state"] == "out_of_sync" and s["parse_errors"] >= 1, s
    assert s["book_levels"] == [0, 0]
    assert any("snapshot" in e["detail"] and e["stream"] == "binance:BTCUSDT:book" for e in doc["events"])


def kraken_v2_capture(tmp_path, updates: list[dict], name="k.jsonl.gz"):
    from wstui.core.book import Book as B
    from wstui.venues.kraken import book_checksum

    bids = [{"price": "100.0", "qty": "1.0"}, {"price": "99.0", "qty": "2.0"}]
    asks = [{"price": "101.0", "qty": "1.0"}]
    b = B()
    b.load([(x["price"], x["qty"]) for x in bids], [(x["price"], x["qty"]) for x in asks])
    snap = {"channel": "book", "type": "snapshot",
            "data": [{"symbol": "BTC/USD", "bids": bids, "asks": asks, "checksum": book_checksum(b)}]}
    sub = {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 10}}
    recs = [header("KRAKEN"), rec("connect", T0, addr="wss://ws.kraken.com/v2"),
            rec("send", T0, data=json.dumps(sub)), rec("recv", T0 + 0.1, data=json.dumps(snap))]
    ts = T0 + 0.2
    for u in updates:
        raw = u.pop("_raw", None)
        data = raw if raw is not None else json.dumps({"channel": "book", "type": "update",
                                                       "data": [{"symbol": "BTC/USD", "checksum": 0, **u}]})
        recs.append(rec("recv", ts, data=data))
        ts += 0.1
    return write_records(tmp_path / name, recs)


def test_kraken_v2_nan_price_rejected_and_marked(tmp_path):
    path = kraken_v2_capture(tmp_path, [{"bids": [{"price": "nan", "qty": "1.0"}], "asks": []},
                                        {"bids": [{"price": "99.0", "qty": "0"}], "asks": []}])
    _, doc = run_replay(path)
    s = stream(doc, "kraken:BTC/USD:book")
    assert s["book_state"] == "out_of_sync" and s["parse_errors"] >= 1, s
    book_numbers_valid(s)


def test_kraken_v2_number_prices_print_as_strings(tmp_path):
    """A number where Kraken writes a number keeps its text; the summary prints strings."""
    raw = ('{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":98.50,"qty":3}],'
           '"asks":[],"checksum":0}]}')
    path = kraken_v2_capture(tmp_path, [{"_raw": raw}])
    _, doc = run_replay(path)
    s = stream(doc, "kraken:BTC/USD:book")
    book_numbers_valid(s)
    assert ["98.50", "3"] in s["book"]["bids"]


# --------------------------------------------------------------------- other venues, in process
def _replay(tmp_path, recs, name="v.jsonl.gz"):
    from conftest import replay

    return replay(write_records(tmp_path / name, recs))[1]


def _valid(view) -> bool:
    return all(type(p) is str and type(q) is str and 0 < float(p) < math.inf and 0 < float(q) < math.inf
               for p, q, _ in view.bids + view.asks)


GEMINI = "wss://api.gemini.com/v2/marketdata"


def _gemini(changes_list):
    sub = {"type": "subscribe", "subscriptions": [{"name": "l2", "symbols": ["BTCUSD"]}]}
    recs = [rec("connect", T0, addr=GEMINI), rec("send", T0, data=json.dumps(sub))]
    for i, ch in enumerate(changes_list):
        data = ch if isinstance(ch, str) else json.dumps({"type": "l2_updates", "symbol": "BTCUSD", "changes": ch})
        recs.append(rec("recv", T0 + 0.1 * (i + 1), data=data))
    return recs


@pytest.mark.parametrize("bad", [[["buy", "-65289.5", "0.5981"]], [["buy", "100.5", "NaN"]], {"ab": "1"},
                                 [["buy", 100.5, "1"]], [["buy", "100.5"]]])
def test_gemini_invalid_update_rejected_and_marked(tmp_path, bad):
    snap = _replay(tmp_path, _gemini([[["buy", "100", "1"], ["sell", "101", "1"]], bad, [["buy", "99", "1"]]]))
    s = snap.stream("gemini:BTCUSD:book")
    assert s.book_state == "out_of_sync" and s.parse_errors == 1, (s.book_state, s.parse_errors)
    assert _valid(s)


def test_gemini_unreadable_update_marks_the_book(tmp_path):
    """No sequence numbers: a frame that cannot even be read may have been an update."""
    torn = '{"type":"l2_updates","symbol":"BTCUSD","changes":[["buy","100",'
    snap = _replay(tmp_path, _gemini([[["buy", "100", "1"], ["sell", "101", "1"]], torn]))
    s = snap.stream("gemini:BTCUSD:book")
    assert s.book_state == "out_of_sync"
    assert any(e.kind == "out_of_sync" and "could not be read" in e.detail for e in snap.events)


def _bitfinex(frames):
    addr = "wss://api-pub.bitfinex.com/ws/2"
    recs = [rec("connect", T0, addr=addr),
            rec("send", T0, data=json.dumps({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD"})),
            rec("recv", T0, data=json.dumps({"event": "subscribed", "channel": "book", "chanId": 5,
                                             "symbol": "tBTCUSD", "prec": "P0"}))]
    for i, f in enumerate(frames):
        recs.append(rec("recv", T0 + 0.1 * (i + 1), data=f))
    return recs


def test_bitfinex_count_as_text_does_not_turn_a_delete_into_a_set(tmp_path):
    snap = _replay(tmp_path, _bitfinex(['[5,[[100,1,2],[99,1,3],[101,1,-1]]]', '[5,[99,"0",1]]']))
    s = snap.stream("bitfinex:tBTCUSD:book")
    assert s.book_state == "out_of_sync" and s.parse_errors == 1
    assert [p for p, _q, _ in s.bids] == ["100", "99"]  # the level was not overwritten with size 1


@pytest.mark.parametrize("frame", ['[5,[[100,1,2],[-99,1,3]]]', '[5,[[100,1,"NaN"]]]', '[5,[[1e400,1,2]]]',
                                   '[5,[[100,1]]]', '[5,[[100,1,true]]]'])
def test_bitfinex_invalid_snapshot_never_enters(tmp_path, frame):
    snap = _replay(tmp_path, _bitfinex([frame]))
    s = snap.stream("bitfinex:tBTCUSD:book")
    assert s.parse_errors == 1 and s.book_state == "out_of_sync"
    assert s.book_levels == (0, 0)


def test_kraken_v1_half_applied_update_marks_the_book(tmp_path):
    """v1 applied the asks before stamping the stream: a frame failing on its bids left the book ok."""
    addr = "wss://ws.kraken.com"
    snapshot = [7, {"as": [["101.0", "1.0", "1.0"]], "bs": [["100.0", "1.0", "1.0"]]}, "book-10", "XBT/USD"]
    update = [7, {"a": [["101.0", "0.0", "2.0"]]}, {"b": [["99.0", "1.0"]], "c": "1"}, "book-10", "XBT/USD"]
    recs = [rec("connect", T0, addr=addr), rec("recv", T0 + 0.1, data=json.dumps(snapshot)),
            rec("recv", T0 + 0.2, data=json.dumps(update))]
    snap = _replay(tmp_path, recs)
    s = snap.stream("kraken-v1:XBT/USD:book")
    assert s.book_state == "out_of_sync" and s.parse_errors == 1


@pytest.mark.parametrize("level", [["new", "NaN", 1], ["new", -5, 1], ["change", 100, None], "new",
                                   ["frob", 100, 1]])
def test_deribit_invalid_change_rejected(tmp_path, level):
    addr = "wss://www.deribit.com/ws/api/v2"
    ch = "book.BTC-PERPETUAL.100ms"

    def note(d):
        return json.dumps({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": ch, "data": d}})

    recs = [rec("connect", T0, addr=addr),
            rec("send", T0, data=json.dumps({"method": "public/subscribe", "params": {"channels": [ch]}})),
            rec("recv", T0 + 0.1, data=note({"type": "snapshot", "change_id": 1, "timestamp": int(T0 * 1000),
                                             "bids": [["new", 100, 1]], "asks": [["new", 101, 1]]})),
            rec("recv", T0 + 0.2, data=note({"type": "change", "change_id": 2, "prev_change_id": 1,
                                             "timestamp": int(T0 * 1000), "bids": [level], "asks": []}))]
    snap = _replay(tmp_path, recs)
    s = snap.stream("deribit:BTC-PERPETUAL:book")
    assert s.book_state == "out_of_sync" and s.parse_errors == 1
    assert _valid(s)


def test_invalid_trade_is_rejected_on_its_stream(tmp_path):
    trade = {"type": "trade", "symbol": "BTCUSD", "price": "NaN", "quantity": "1", "side": "buy",
             "timestamp": int(T0 * 1000)}
    snap = _replay(tmp_path, _gemini([[["buy", "100", "1"]], json.dumps(trade)]))
    s = snap.stream("gemini:BTCUSD:trades")
    assert s.parse_errors == 1 and s.trades_total == 0


# ------------------------------------------------------------------------------ out-of-order captures
def test_out_of_order_capture_is_ordered_in_bounded_memory(tmp_path):
    """One record stamped 100 s ahead made the whole file load into memory to be sorted; now a window
    of records puts it in place, and the records played are in time order."""
    import asyncio

    from wstui.engine import Engine
    from wstui.io import replay as rp
    from wstui.runner import run_source

    n = 3 * rp.WINDOW_RECORDS
    recs = [rec("connect", T0, "G", addr="wss://api.gemini.com/v2/marketdata")]
    for i in range(n):
        ts = T0 + 1 + i * 0.001 + (100.0 if i == 5 else 0.0)
        recs.append(rec("recv", ts, "G", data='{"type":"heartbeat"}'))
    path = write_records(tmp_path / "ahead.jsonl.gz", recs)
    seen = []
    engine = Engine(file=str(path))
    orig = engine.frame
    engine.frame = lambda c, d, ts: (seen.append(ts), orig(c, d, ts))[1]
    source = rp.Replay(path, speed=None)
    asyncio.run(run_source(engine, source, fps=20))
    assert len(seen) == n
    assert seen == sorted(seen)  # the record ahead went where its time says
    assert 0 < source.held_peak <= rp.WINDOW_RECORDS + 2, source.held_peak
    assert any("time order" in note for note in engine.latest.notes)
