"""Bitstamp v2 through the real commands: ``wstui watch`` against ``wstui serve --sim`` on loopback.  Books start
from the REST ``order_book`` snapshot aligned by microtimestamp; a diff that deletes a level the book does not
hold betrays a lost or garbled diff, and that pair alone is rebuilt from a new REST snapshot."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from websockets.sync.client import connect

from conftest import read_records, real_feed
from live_util import Served
from sim_watch import assert_verified, muted_alone, reconnected_once, watch_sim

from wstui.engine import Engine
from wstui.io.sim import PROTOCOLS
from wstui.io.sim.bitstamp import BitstampClient, RateWindows
from wstui.venues.bitstamp import BitstampV2

PAIRS = ["btcusd", "ethusd", "solusd", "x0001eur"]


def test_four_books_built_from_rest_and_kept_by_diffs_and_an_unknown_pair_gets_bitstamps_error():
    w = watch_sim("bitstamp", PAIRS + ["nosuchpair"], duration=2.5)
    assert "/ -> simulated bitstamp" in " ".join(w.server)
    for pair in PAIRS:
        b = w.streams[f"bitstamp:{pair}:book"]
        assert_verified(b)
        assert (b["gaps"], b["resyncs"], b["parse_errors"]) == (0, 0, 0)
        assert b["messages"] >= 50 * 2.5 * 0.6
        assert b["book_levels"][0] >= 40 and b["book_levels"][1] >= 40  # the whole book, from REST
        assert w.streams[f"bitstamp:{pair}:trades"]["messages"] > 0
    errs = w.events_of("parse_error", "BITSTAMP.ws.1")
    assert len(errs) == 2 and all("Invalid channel provided." in e["detail"] for e in errs)  # book and trades
    assert w.streams["bitstamp:nosuchpair:book"]["book_state"] == "empty"


def _one_rebuilt(w):
    books = w.books()
    hit = [k for k, b in books.items() if b["gaps"]]
    assert len(hit) == 1, {k: b["gaps"] for k, b in books.items()}
    for k, b in books.items():
        assert (b["gaps"], b["resyncs"], b["reconnects"]) == ((1, 1, 0) if k == hit[0] else (0, 0, 0)), k
        assert_verified(b)
    assert w.summary["connections"][0]["connects"] == 1
    gap = w.events_of("gap", hit[0])[0]
    rebuilt = w.events_of("resync", hit[0])[0]
    assert "REST snapshot" in rebuilt["detail"]
    assert rebuilt["ts"] - gap["ts"] < 1.0
    return hit[0], gap


def test_a_lost_diff_on_one_of_four_books_is_rebuilt_from_rest_alone():
    w = watch_sim("bitstamp", PAIRS, faults=["gap@1.5s:1"], duration=3.0)
    assert len(w.fired()) == 1
    _key, gap = _one_rebuilt(w)
    assert "does not hold" in gap["detail"] and "a diff was lost" in gap["detail"]


def test_a_garbled_diff_is_found_and_rebuilt_the_same_way():
    w = watch_sim("bitstamp", PAIRS, faults=["corrupt@1.5s"], duration=3.0)
    _one_rebuilt(w)


def test_disconnect_reconnects_and_every_book_is_rebuilt_from_rest():
    w = watch_sim("bitstamp", ["btcusd", "ethusd"], faults=["disconnect@1s"], duration=3.5)
    reconnected_once(w, "bitstamp", ("btcusd", "ethusd"))


def test_mute_of_one_pair_leaves_the_others_flowing_and_its_book_is_rebuilt():
    # stale after 0.5 s: the muted book goes stale while the market's other books never do
    w = watch_sim("bitstamp", PAIRS, faults=["mute@1s:1s:ethusd"], duration=3.5, extra=["--stale-after", 0.5])
    muted_alone(w, "bitstamp:ethusd:book", duration=3.5)


def test_the_sim_speaks_bitstamp_over_websocket_and_rest():
    with Served("--sim", "--rate", 50) as srv:
        with connect(srv.url("/"), compression=None) as ws:
            ws.send('{"event":"bts:subscribe","data":{"channel":"diff_order_book_btcusd"}}')
            assert json.loads(ws.recv(timeout=5)) == {"event": "bts:subscription_succeeded",
                                                      "channel": "diff_order_book_btcusd", "data": {}}
            ws.send('{"event":"bts:heartbeat"}')
            seen_hb = False
            diffs = []
            while not seen_hb or len(diffs) < 3:
                m = json.loads(ws.recv(timeout=5))
                if m["event"] == "bts:heartbeat":
                    seen_hb = m["data"] == {"status": "success"}
                else:
                    diffs.append(m)
            snap = json.loads(urllib.request.urlopen(srv.url("/api/v2/order_book/btcusd/").replace("ws:", "http:"),
                                                     timeout=5).read())
            mts = [int(d["data"]["microtimestamp"]) for d in diffs]
            assert mts == sorted(mts) and len(set(mts)) == len(mts)  # every event its own microtimestamp
            assert len(snap["bids"]) >= 40 and int(snap["microtimestamp"]) >= mts[0]
            ws.send("not json")
            while (m := json.loads(ws.recv(timeout=5)))["event"] == "data":
                pass
            assert m == {"event": "bts:error", "channel": "", "data": {"code": None, "message": "Incorrect JSON format."}}
        try:
            urllib.request.urlopen(srv.url("/api/v2/order_book/nosuch/").replace("ws:", "http:"), timeout=5)
            raise AssertionError("an unknown pair was answered")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404 and "Invalid currency pair" in exc.read().decode()


def test_rest_beyond_bitstamps_limits_gets_429_with_retry_after():
    now = [0.0]
    rw = RateWindows(clock=lambda: now[0])
    assert all(rw.take() is None for _ in range(400))  # 400 requests in one second ...
    no = rw.take()  # ... and not one more
    assert no.status == 429 and no.headers["Retry-After"] == "1" and "400.002" in no.body
    for t in range(1, 25):  # 400 a second again, until 10,000 in ten minutes
        now[0] = float(t)
        assert all(rw.take() is None for _ in range(400)), t
    now[0] = 25.0
    refused = rw.take()
    assert refused is not None and refused.status == 429 and int(refused.headers["Retry-After"]) == 575
    now[0] = 600.5
    assert rw.take() is None  # the first second's requests have left the window
    assert rw.answers_429 == 2


def test_bitstamp_is_told_apart_from_coinbase_by_its_first_frame():
    first = next(r["data"] for r in read_records(real_feed("bitstamp.jsonl.gz")) if r.get("t") == "send")
    assert BitstampClient.claims("/") and BitstampClient.sniff(first)
    assert not BitstampClient.sniff('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}')
    assert BitstampClient in PROTOCOLS


def _shape(text: str) -> tuple:
    m = json.loads(text)
    return m.get("event"), tuple(sorted(m)), tuple(sorted(m["data"])) if isinstance(m.get("data"), dict) else ()


def test_sim_frames_have_the_shapes_of_the_real_capture():
    real = {}
    for r in read_records(real_feed("bitstamp.jsonl.gz")):
        if r.get("t") == "recv":
            s = _shape(r["data"])
            real[s[0]] = s
    seen = {}
    with Served("--sim", "--rate", 100) as srv:
        with connect(srv.url("/"), compression=None) as ws:
            ws.send('{"event":"bts:subscribe","data":{"channel":"diff_order_book_btcusd"}}')
            ws.send('{"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}')
            while len(seen) < 3:
                s = _shape(ws.recv(timeout=5))
                seen[s[0]] = s
    assert seen == real  # subscription_succeeded, data (diff) and trade: the same keys


def test_adapter_repairs_one_book_with_a_new_rest_snapshot():
    asked = []
    engine = Engine()
    engine.fetcher = lambda conn, url, cb, **kw: asked.append(url)
    conn = engine.open("s1", BitstampV2.url, 1.0)
    for m in conn.venue.subscribe_messages(["btcusd", "ethusd"]):
        engine.sent("s1", m, 1.0)
    st = conn.streams["bitstamp:ethusd:book"]
    assert conn.venue.resubscribe_messages(st) == []  # nothing to send: the adapter asked REST itself
    assert asked == ["https://www.bitstamp.net/api/v2/order_book/ethusd"]
    assert conn.venue.resubscribe_messages(st) == [] and len(asked) == 1  # already on its way: not twice
    assert conn.venue.resubscribe_messages(conn.streams["bitstamp:ethusd:trades"]) is None


def test_a_diff_that_fails_half_applied_refetches_that_pair_only():
    """The engine marks the book a failing frame had begun to change and asks the transport to resubscribe
    it; Bitstamp's answer is a new REST snapshot of that pair, nothing sent, nothing reconnected."""
    asked: list[tuple[str, object]] = []
    sent: list[list[str] | None] = []

    class Transport:  # what Live does with resubscribe_messages
        def resubscribe(self, conn, stream, reason):
            sent.append(conn.venue.resubscribe_messages(stream))

        def send(self, conn, text):
            raise AssertionError("nothing is sent to repair a Bitstamp book")

    engine = Engine()
    engine.fetcher = lambda conn, url, cb, **kw: asked.append((url, cb))
    conn = engine.open("s1", BitstampV2.url, 1.0, live=True, transport=Transport())
    for m in conn.venue.subscribe_messages(["btcusd", "ethusd"]):
        engine.sent("s1", m, 1.0)

    def snapshot(mt):
        return json.dumps({"timestamp": "1", "microtimestamp": str(mt),
                           "bids": [["100.0", "1.0"], ["99.0", "2.0"]], "asks": [["101.0", "1.0"]]})

    def diff(pair, mt, bids):
        return json.dumps({"data": {"timestamp": "1", "microtimestamp": str(mt), "bids": bids, "asks": []},
                           "channel": f"diff_order_book_{pair}", "event": "data"})

    for pair in ("btcusd", "ethusd"):
        engine.frame("s1", json.dumps({"event": "bts:subscription_succeeded",
                                       "channel": f"diff_order_book_{pair}", "data": {}}), 2.0)
    assert [u.rsplit("/", 1)[1] for u, _ in asked] == ["btcusd", "ethusd"]
    for url, cb in asked:
        cb(snapshot(10), None, 2.1)
    engine.frame("s1", diff("btcusd", 11, [["99.5", "1.0"]]), 3.0)
    engine.frame("s1", diff("ethusd", 11, [["99.5", "1.0"], ["98.0"]]), 3.1)  # a level with no size
    eth, btc = conn.streams["bitstamp:ethusd:book"], conn.streams["bitstamp:btcusd:book"]
    assert eth.book_state == "out_of_sync" and btc.book_state == "ok"
    assert sent == [[]] and [u.rsplit("/", 1)[1] for u, _ in asked[2:]] == ["ethusd"]
    engine.frame("s1", diff("ethusd", 12, [["97.0", "1.0"]]), 3.2)  # buffered meanwhile
    asked[2][1](snapshot(11), None, 3.3)
    engine.frame("s1", diff("btcusd", 13, [["99.0", "0"]]), 3.4)
    assert eth.book_state == "ok" and eth.resyncs == 1 and len(eth.book.bids) == 3  # snapshot + the buffered diff
    assert btc.resyncs == 0 and btc.gaps == 0 and conn.connects == 1
    # a delete of a level the book never held: a lost diff, found at once
    engine.frame("s1", diff("btcusd", 14, [["42.0", "0"]]), 3.5)
    assert btc.gaps == 1 and btc.book_state == "out_of_sync" and sent == [[], []]
