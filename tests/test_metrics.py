"""``--metrics HOST:PORT``: the Prometheus exposition of the engine's snapshots, read as Prometheus would read it
(prometheus_client's own parser) from the real ``wstui watch`` against ``wstui serve --sim`` on loopback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

from prometheus_client.parser import text_string_to_metric_families

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd
from service_util import Service, http_get, parse, series, value
from wstui import __version__
from wstui.core.stream import STATES
from wstui.engine import Engine
from wstui.metrics import SnapshotCollector

KRAKEN = dict(venue="kraken", symbol="BTC/USD", channel="book")
FUTURES = dict(venue="binance-futures", symbol="BTCUSDT", channel="book")


def test_watch_serves_metrics_while_running_and_stops_on_sigterm():
    with Served("--sim", "--rate", 50, "--seed", 7) as srv, \
            Service("watch", "kraken:BTC/USD", "binance-futures:btcusdt", "--endpoint", f"kraken={srv.url('/v2')}",
                    "--endpoint", f"binance-futures={srv.url()}", "--headless", "--json") as svc:
        m1 = svc.wait_for(lambda m: all(value(m, "wstui_stream_messages_total", **lb) > 20 for lb in (KRAKEN, FUTURES))
                          and value(m, "wstui_stream_state", state="live", **KRAKEN) == 1)
        time.sleep(1.0)
        status, ctype, body = http_get(svc.base + "/metrics")
        m2 = parse(body)

        # the landing page links to the metrics; anything else is a 404
        status_root, ctype_root, page = http_get(svc.base + "/")
        assert status_root == 200 and ctype_root.startswith("text/html") and 'href="/metrics"' in page
        assert http_get(svc.base + "/nope")[0] == 404

        # no timestamps on samples, every family typed and documented
        fams = list(text_string_to_metric_families(body))
        assert all(s.timestamp is None for f in fams for s in f.samples)
        assert all(f.name.startswith("wstui_") and f.documentation for f in fams)
        assert value(m2, "wstui_build_info", version=__version__) == 1

        for lb in (KRAKEN, FUTURES):
            # counters grow between scrapes
            assert value(m2, "wstui_stream_messages_total", **lb) > value(m1, "wstui_stream_messages_total", **lb)
            assert value(m2, "wstui_stream_bytes_total", **lb) > 1000
            # one series per state, exactly one of them 1
            states = series(m2, "wstui_stream_state", **lb)
            assert {dict(k)["state"] for k in states} == set(STATES)
            assert sorted(states.values()) == [0.0] * (len(STATES) - 1) + [1.0]
            assert value(m2, "wstui_stream_state", state="live", **lb) == 1
            # the last message is recent wall time
            assert abs(value(m2, "wstui_stream_last_message_timestamp_seconds", **lb) - time.time()) < 3
            # a real cumulative histogram of exchange-to-receive delay
            buckets = sorted(((float(dict(k)["le"]), v) for k, v in
                              series(m2, "wstui_stream_latency_seconds_bucket", **lb).items()))
            counts = [v for _le, v in buckets]
            assert counts == sorted(counts) and buckets[-1][0] == float("inf")
            assert counts[-1] == value(m2, "wstui_stream_latency_seconds_count", **lb) > 20
            assert 0 <= value(m2, "wstui_stream_latency_seconds_sum", **lb) < counts[-1] * 1.0
            assert value(m2, "wstui_book_checksum_failures_total", **lb) == 0
            assert value(m2, "wstui_book_gaps_total", **lb) == 0
            assert value(m2, "wstui_book_resyncs_total", **lb) == 0
            assert value(m2, "wstui_book_in_sync", **lb) == 1
        assert value(m2, "wstui_book_checksums_total", **KRAKEN) > 20  # kraken's books are verified
        for conn, venue in (("KRAKEN.ws.1", "kraken"), ("BINANCE_FUTURES.ws.1", "binance-futures")):
            assert value(m2, "wstui_connection_up", conn=conn, venue=venue) == 1
            assert value(m2, "wstui_connection_reconnects_total", conn=conn, venue=venue) == 0
        assert value(m2, "wstui_backlog_frames") >= 0
        # the futures book's snapshot came from the venue's REST host, within its weight budget
        host = dict(host="fapi.binance.com")
        assert value(m2, "wstui_rest_requests_total", **host) == 1
        assert value(m2, "wstui_rest_weight_total", **host) == value(m2, "wstui_rest_weight_last_minute", **host) == 2
        assert value(m2, "wstui_rest_weight_budget_per_minute", **host) == 2400
        assert value(m2, "wstui_rest_weight_cap_per_minute", **host) == 1920
        assert value(m2, "wstui_rest_queued_requests", **host) == value(m2, "wstui_rest_inflight_requests", **host) == 0
        assert 2 <= value(m2, "wstui_rest_venue_used_weight", **host) <= 4  # the simulator's own count (a rolling minute)
        assert value(m2, "wstui_rest_venue_holds_total", **host) == 0
        assert value(m2, "wstui_rest_rate_limited_total", **host) == value(m2, "wstui_rest_errors_total", **host) == 0
        assert value(m2, "wstui_snapshot_age_seconds") < 2.0  # published 10 times a second

        t0 = time.monotonic()
        rc, out = svc.stop(signal.SIGTERM)
        assert rc == 0 and time.monotonic() - t0 < 2.0
        assert '"source":"live"' in out
        no_traceback("\n".join(svc.err))


def test_series_follow_the_current_snapshot_and_label_values_are_escaped():
    engine = Engine(source="live")
    evil = 'BTC"USD\\\nx{}='
    engine.get_stream("kraken", evil, "book", book=True)
    gone = engine.get_stream("kraken", "ETH/USD", "trades", tape=True)
    gone.data(1.0, 10, exch_ts=0.9995)
    gone.data(1.0, 10, exch_ts=-5.0)  # 6 s late
    gone.data(1.0, 10, exch_ts=2.0)  # a clock ahead: counted in the first bucket, adds nothing to the sum
    snaps = [engine.publish()]
    collector = SnapshotCollector(lambda: snaps[-1])

    def exposition() -> dict:
        from prometheus_client import CollectorRegistry, generate_latest

        reg = CollectorRegistry(auto_describe=False)
        reg.register(collector)
        return parse(generate_latest(reg).decode())

    m = exposition()
    assert value(m, "wstui_stream_messages_total", symbol=evil) == 0  # the label came back intact
    assert value(m, "wstui_stream_messages_total", symbol="ETH/USD") == 3
    lat = {dict(k)["le"]: v for k, v in series(m, "wstui_stream_latency_seconds_bucket", symbol="ETH/USD").items()}
    assert lat["0.001"] == 2 and lat["5.0"] == 2 and lat["10.0"] == 3 and lat["+Inf"] == 3
    assert abs(value(m, "wstui_stream_latency_seconds_sum", symbol="ETH/USD") - 6.0005) < 1e-6
    assert "wstui_book_gaps_total" in m and not series(m, "wstui_book_gaps_total", symbol="ETH/USD")  # books only

    # a stream the engine no longer has is gone from the next scrape: series never accumulate
    del engine.streams[("kraken", "ETH/USD", "trades")]
    snaps.append(engine.publish())
    m = exposition()
    assert not series(m, "wstui_stream_messages_total", symbol="ETH/USD")
    assert not series(m, "wstui_stream_state", symbol="ETH/USD")
    assert len(series(m, "wstui_stream_state")) == len(STATES)

    # past the cap, streams are counted, not exported
    collector.max_streams = 0
    m = exposition()
    assert not series(m, "wstui_stream_messages_total") and value(m, "wstui_metrics_streams_omitted") == 1


def test_a_state_outside_the_known_set_is_exported_too():
    from dataclasses import replace

    engine = Engine(source="live")
    engine.get_stream("kraken", "BTC/USD", "book", book=True)
    snap = engine.publish()
    snap = replace(snap, streams=tuple(replace(s, state="quiet") for s in snap.streams))
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    m = parse(generate_latest(reg).decode())
    assert value(m, "wstui_stream_state", state="quiet") == 1
    assert sum(series(m, "wstui_stream_state").values()) == 1


def test_a_bad_or_busy_metrics_address_is_a_clear_error():
    for addr, why in (("localhost", "is not HOST:PORT"), ("127.0.0.1:99999", "is not HOST:PORT")):
        p = subprocess.run(wstui_cmd("watch", "kraken:BTC/USD", "--headless", "--metrics", addr), cwd=ROOT,
                           capture_output=True, text=True, timeout=30, env=ENV)
        assert p.returncode == 2 and why in p.stderr, p.stderr
        no_traceback(p.stderr)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        p = subprocess.run(wstui_cmd("replay", ROOT / "sample_feeds" / "binance.jsonl.gz", "--headless",
                                     "--metrics", f"127.0.0.1:{port}"), cwd=ROOT, capture_output=True, text=True,
                           timeout=30, env=ENV)
    finally:
        busy.close()
    assert p.returncode == 2 and f"cannot serve metrics on 127.0.0.1:{port}" in p.stderr, p.stderr
    no_traceback(p.stderr)


def test_a_replay_serves_metrics_too():
    with Service("replay", ROOT / "sample_feeds" / "binance_futures.jsonl.gz", "--headless", "--json", "--loop", "0",
                 "--speed", "5") as svc:
        m = svc.wait_for(lambda m: value(m, "wstui_stream_messages_total", venue="binance-futures",
                                         symbol="AKROUSDT", channel="book") > 10)
        assert value(m, "wstui_connection_up", conn="BINANCE_FUTURES.ws.1", venue="binance-futures") == 1
        rc, out = svc.stop(signal.SIGINT)
    assert rc in (0, 1), svc.err  # 1: a stream unhealthy when stopped (the headless exit status)
    assert json.loads(out)["source"] == "replay"
    no_traceback("\n".join(svc.err))


def test_a_cause_given_by_the_health_model_is_exported_while_in_alarm():
    from dataclasses import fields
    from types import SimpleNamespace

    engine = Engine(source="live")
    engine.get_stream("kraken", "BTC/USD", "book", book=True)
    engine.get_stream("kraken", "BTC/USD", "trades", tape=True)
    snap = engine.publish()

    def with_cause(v, state, why):  # a view as a health model with causes publishes it
        d = {f.name: getattr(v, f.name) for f in fields(v)}
        return SimpleNamespace(**{**d, "state": state, "cause": why})

    book, trades = snap.streams
    fake = SimpleNamespace(**{f.name: getattr(snap, f.name) for f in fields(snap)})
    fake.streams = (with_cause(book, "stale", "connection_silent"), with_cause(trades, "live", ""))
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: fake))
    m = parse(generate_latest(reg).decode())
    assert value(m, "wstui_stream_alarm_cause", channel="book", cause="connection_silent") == 1
    assert len(series(m, "wstui_stream_alarm_cause")) == 1  # a healthy stream has none
