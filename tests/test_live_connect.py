"""Connecting: capped exponential backoff against a closed local port, removal stops retrying, and every
way a connection can fail (refused, HTTP status, TLS, DNS, server close, silence) is a clear state and
event, never a traceback.  Real websockets client and servers, loopback only."""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import subprocess
import threading
import time

import orjson
import pytest
from websockets.asyncio.server import serve

from live_util import ENV, ROOT, Served, closed_port, no_traceback, records, run_live, wstui_cmd
from sim_util import HangingRest
from wstui.engine import Engine
from wstui.io.backoff import Backoff
from wstui.io.live import Live
from wstui.io.spec import build_feeds, override_url
from wstui.runner import EngineThread, run_source


def test_backoff_stays_within_bounds_and_removal_stops_retrying():
    port = closed_port()
    base, cap = 0.02, 0.16
    removed_at: list[float] = []

    async def remove_later(source, engine):
        await asyncio.sleep(2.0)
        # from another thread, as the UI would
        assert await asyncio.to_thread(source.remove, "kraken:BTC/USD")
        removed_at.append(time.time())

    run = run_live(["kraken:BTC/USD"], {"kraken": f"ws://127.0.0.1:{port}"}, duration=3.2,
                   backoff_base=base, backoff_cap=cap, rng=random.Random(7).random, during=remove_later)
    feed = run.source.feeds[0]
    assert feed.removed and feed.task.done()
    # many failed connects, each delay inside its bound, reaching the cap and staying there
    assert len(feed.delays) >= 12
    ref = Backoff(base, cap)
    for i, d in enumerate(feed.delays):
        lo, hi = ref.bounds(i)
        assert lo <= d <= hi, (i, d, lo, hi)
    assert max(feed.delays) > cap / 2 and all(d <= cap for d in feed.delays)
    # the waits really happened: attempt n+1 starts about delay n after attempt n
    times = list(feed.attempt_times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    for d, g in zip(feed.delays, gaps):
        assert d - 0.005 <= g <= d + 0.15, (d, g)
    # removal stopped the retries: nothing after it (the last attempt began before removal)
    assert removed_at and feed.attempt_times[-1] <= removed_at[0] + 0.01
    # the stream shows down with the reason, once as a disconnect, then as failed connects
    st = run.stream("kraken:BTC/USD:book")
    assert st.state == "down"
    first = run.events("disconnect", "KRAKEN.ws.1")
    assert len(first) == 1 and f"connection refused by 127.0.0.1:{port}" in first[0].detail
    assert len(run.events("connect_failed", "KRAKEN.ws.1")) == len(feed.attempt_times) - 1


def test_backoff_without_removal_keeps_trying_with_the_remove_api_matching_names():
    port = closed_port()
    src = Live(build_feeds(["kraken:BTC/USD", "binance:btcusdt"], {"kraken": f"ws://127.0.0.1:{port}",
                                                                   "binance": f"ws://127.0.0.1:{port}"}))
    assert not src.remove("kraken:ETH/USD")  # not watched: nothing matches
    assert src.remove("BINANCE.ws.1")  # by connection id
    assert [f.removed for f in src.feeds] == [False, True]


def test_removing_one_symbol_reconnects_without_it():
    async def remove_later(source, engine):
        await asyncio.sleep(1.5)
        assert source.remove("binance-futures:ethusdt")

    with Served("--sim", "--rate", 100, "--seed", 4) as srv:
        run = run_live(["binance-futures:btcusdt", "binance-futures:ethusdt"], {"binance-futures": srv.url()},
                       duration=3.5, during=remove_later, overrides={"*:trades": 30})
    feed = run.source.feeds[0]
    assert feed.symbols == ["BTCUSDT"] and not feed.removed and feed.sessions == 2
    assert "ethusdt" not in feed.url and "btcusdt@depth" in feed.url
    assert any("ethusdt" not in line and "-> simulated binance" in line for line in srv.lines[1:])
    btc, eth = run.stream("binance-futures:BTCUSDT:book"), run.stream("binance-futures:ETHUSDT:book")
    assert btc.state == "live" and btc.book_state == "ok" and btc.reconnects == 1
    assert eth.state != "live" and eth.messages < btc.messages * 0.6


def test_override_url_keeps_the_venue_path_and_query():
    assert override_url("wss://fstream.binance.com/stream?streams=a@depth", "ws://127.0.0.1:9") == \
        "ws://127.0.0.1:9/stream?streams=a@depth"
    assert override_url("wss://ws.kraken.com/v2", "ws://127.0.0.1:9/") == "ws://127.0.0.1:9/v2"
    assert override_url("wss://ws.kraken.com/v2", "wss://proxy.example:443/kraken") == "wss://proxy.example:443/kraken"


def _fail_run(url_for, setup=None, duration=1.5, **kw):
    """Run one kraken feed against a loopback server made by ``setup`` (an async context factory)."""
    engine = Engine(stale_after=1.0, source="live")
    result = {}

    async def main():
        async def go(url):
            src = Live(build_feeds(["kraken:BTC/USD"], {"kraken": url}), duration=duration, ping_interval=1,
                       ping_timeout=1, open_timeout=2, backoff_base=5.0, backoff_cap=5.0, **kw)
            await run_source(engine, src, 10)
            result["src"] = src

        if setup is None:
            await go(url_for(None))
        else:
            async with setup() as server:
                await go(url_for(server.sockets[0].getsockname()[1]))

    asyncio.run(main())
    return engine, result["src"]


def _down_with(engine, text):
    st = engine.streams[("kraken", "BTC/USD", "book")]
    assert st.compute_state(engine.now)[0] == "down"
    evs = [e for e in engine.events if e.stream == "KRAKEN.ws.1" and e.kind == "disconnect"]
    assert evs and text in evs[0].detail, [(e.kind, e.detail) for e in engine.events]
    return evs[0].detail


def test_http_error_on_the_handshake():
    def setup():
        return serve(lambda ws: None, "127.0.0.1", 0,
                     process_request=lambda conn, req: conn.respond(429, "slow down\n"))

    engine, _ = _fail_run(lambda port: f"ws://127.0.0.1:{port}/v2", setup)
    detail = _down_with(engine, "HTTP 429")
    assert "during the WebSocket handshake" in detail and "slow down" in detail


def test_tls_failure_plain_server_answers():
    async def plain_http(reader, writer):  # a server that does not speak TLS answers the ClientHello
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    def setup():
        return _started(asyncio.start_server(plain_http, "127.0.0.1", 0))

    engine, _ = _fail_run(lambda port: f"wss://127.0.0.1:{port}/v2", setup)
    _down_with(engine, "TLS handshake with 127.0.0.1")


def test_tls_failure_untrusted_certificate(tmp_path):
    import shutil
    import ssl

    if shutil.which("openssl") is None:
        pytest.fail("this test makes a self-signed certificate with the openssl command; install openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def handler(ws):
        await asyncio.sleep(5)

    def setup():
        return serve(handler, "127.0.0.1", 0, ssl=ctx)

    engine, _ = _fail_run(lambda port: f"wss://127.0.0.1:{port}/v2", setup)
    _down_with(engine, "TLS certificate of 127.0.0.1")


class _started:
    """``async with`` for an ``asyncio.start_server`` coroutine."""

    def __init__(self, coro) -> None:
        self.coro = coro

    async def __aenter__(self):
        self.server = await self.coro
        return self.server

    async def __aexit__(self, *exc):
        self.server.close()


def test_dns_failure(monkeypatch):
    real = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def fake(self, host, *a, **kw):
        if host == "exchange.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await real(self, host, *a, **kw)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", fake)  # no lookup leaves the machine
    engine, _ = _fail_run(lambda port: "ws://exchange.invalid:1/v2")
    _down_with(engine, "DNS lookup failed for exchange.invalid")


def test_server_close_right_after_accept():
    async def handler(ws):
        await ws.close(1008, "policy violation: no such stream")

    def setup():
        return serve(handler, "127.0.0.1", 0)

    engine, src = _fail_run(lambda port: f"ws://127.0.0.1:{port}/v2", setup)
    _down_with(engine, "server closed the connection (code 1008 policy violation: no such stream)")
    assert src.feeds[0].sessions == 1


def test_first_message_never_comes_goes_stale_heartbeats_do_not_count():
    async def handler(ws):
        for _ in range(40):
            await ws.send('{"channel":"heartbeat"}')
            await asyncio.sleep(0.1)

    def setup():
        return serve(handler, "127.0.0.1", 0)

    engine, _ = _fail_run(lambda port: f"ws://127.0.0.1:{port}/v2", setup, duration=2.5)
    st = engine.streams[("kraken", "BTC/USD", "book")]
    assert st.messages == 0 and st.state == "stale"
    assert engine.conns["KRAKEN.ws.1"].heartbeats >= 15
    evs = [e for e in engine.events if e.kind == "stale" and e.stream == st.key]
    assert evs and "no first message" in evs[0].detail
    opened = [e for e in engine.events if e.kind == "connect"][0].ts
    assert evs[0].ts - opened <= 1.0 + 0.3  # on time: the ticker runs even though frames keep coming


def test_watch_cli_against_a_closed_port_reports_down_not_a_traceback():
    port = closed_port()
    p = subprocess.run(wstui_cmd("watch", "kraken:BTC/USD", "--endpoint", f"kraken=ws://127.0.0.1:{port}",
                                 "--headless", "--json", "--duration", "1.5", "--stale-after", "1"),
                       cwd=ROOT, capture_output=True, text=True, timeout=30, env=ENV)
    assert p.returncode == 1, p.stderr  # every stream down at the end: not a healthy run
    no_traceback(p.stderr)
    out = json.loads(p.stdout)
    assert out["source"] == "live"
    book = [s for s in out["streams"] if s["key"] == "kraken:BTC/USD:book"][0]
    assert book["state"] == "down" and book["reconnects"] == 0  # never connected, so never reconnected
    assert book["cause"] == "link_down" and "connection refused" in book["reason"]
    assert out["unhealthy"] == ["kraken:BTC/USD:book", "kraken:BTC/USD:trades"]
    kinds = [e["kind"] for e in out["events"] if "connection refused" in e["detail"]]
    assert kinds[0] == "disconnect" and kinds.count("connect_failed") >= 1


def test_engine_thread_runs_live_and_backlog_is_measured():
    """The TUI path: the engine and the live source on their own thread.  When processing is slower
    than the socket, the frames waiting are counted in the snapshot's backlog."""
    with Served("--sim", "--rate", 3000, "--seed", 3) as srv:
        engine = Engine(stale_after=5, source="live")
        frame = engine.frame

        def slow_frame(*a):  # processing slower than arrival
            frame(*a)
            time.sleep(0.001)

        engine.frame = slow_frame
        src = Live(build_feeds(["kraken:BTC/USD"], {"kraken": srv.url("/v2")}))
        th = EngineThread(engine, src, fps=20)
        th.start()
        peak = 0
        deadline = time.time() + 4
        while time.time() < deadline:
            snap = engine.latest
            if snap is not None:
                peak = max(peak, snap.backlog_frames)
            time.sleep(0.05)
        th.stop(5)
        assert not th.is_alive() and th.error is None
        assert src.done
    assert peak > 100
    assert engine.latest.stream("kraken:BTC/USD:book").checksum_failed == 0


@pytest.mark.parametrize("text,expect", [
    ('streams = ["kraken:BTC/USD"]\nstale_after = "soon"\n', "stale_after must be a positive number"),
    ('streams = ["krakn:BTC/USD"]\n', "unknown venue 'krakn'"),
    ('streams = [{venue = "kraken", symbol = "BTC/USD", stale_after = -2}]\n', "streams[0].stale_after"),
    ('streams = ["kraken:BTC/USD"]\n[endpoints]\nkraken = "http://127.0.0.1:1"\n', "not a ws:// or wss://"),
    ('streams = ["kraken:BTC/USD"]\nstale_afer = 2\n', "unknown key(s) stale_afer"),
    ('streams = ["kraken:BTC/USD"\n', "not valid TOML"),
    ('[stale]\n"kraken:*" = 0\n', "must be a positive number"),
    ('streams = [{url = "ws://[::1"}]\n', "streams[0].url: 'ws://[::1' is not a ws:// or wss:// address"),
    ('streams = ["ws://[::1"]\n', "'ws://[::1' is not a ws:// or wss:// address"),
    ('streams = ["kraken:BTC/USD"]\n[endpoints]\nkraken = "ws://[::1"\n', "is not a ws:// or wss://"),
])
def test_bad_config_is_a_clear_error_exit_2(tmp_path, text, expect):
    cfg = tmp_path / "feeds.toml"
    cfg.write_text(text)
    p = subprocess.run(wstui_cmd("watch", "--config", cfg, "--headless", "--duration", "1"), cwd=ROOT,
                       capture_output=True, text=True, timeout=30, env=ENV)
    assert p.returncode == 2
    no_traceback(p.stderr)
    assert expect in p.stderr and str(cfg) in p.stderr


def test_config_file_streams_endpoints_and_per_stream_thresholds(tmp_path):
    with Served("--sim", "--rate", 50, "--seed", 5) as srv:
        cfg = tmp_path / "feeds.toml"
        cfg.write_text(f'''
stale_after = 4
streams = [
  {{ venue = "kraken", symbol = "btc/usd", stale_after = 0.7 }},
  "binance-futures:ethusdt",
]
[endpoints]
kraken = "{srv.url()}"
binance-futures = "{srv.url()}"
[stale]
"binance-futures:*:trades" = 9
''')
        p = subprocess.run(wstui_cmd("watch", "--config", cfg, "--headless", "--json", "--duration", "2.5"),
                           cwd=ROOT, capture_output=True, text=True, timeout=30, env=ENV)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    by_key = {s["key"]: s for s in out["streams"]}
    assert by_key["kraken:BTC/USD:book"]["stale_after"] == 0.7
    assert by_key["kraken:BTC/USD:trades"]["stale_after"] == 0.7
    assert by_key["binance-futures:ETHUSDT:trades"]["stale_after"] == 9
    assert by_key["binance-futures:ETHUSDT:book"]["stale_after"] == 4
    assert by_key["kraken:BTC/USD:book"]["state"] == "live" and by_key["kraken:BTC/USD:book"]["checksum_ok"] > 50
    assert by_key["binance-futures:ETHUSDT:book"]["book_state"] == "ok"
    assert {c["conn"] for c in out["connections"]} == {"KRAKEN.ws.1", "BINANCE_FUTURES.ws.1"}


@pytest.mark.parametrize("args,expect", [
    (["serve"], "serve needs a CAPTURE file or --sim"),
    (["serve", "--sim", "--fault", "bogus@1s"], "unknown kind 'bogus'"),
    (["serve", "--sim", "--fault", "stall@soon"], "'soon' is not a time"),
    (["watch", "--headless"], "name at least one stream"),
    (["watch", "kraken", "--headless"], "is not VENUE:SYMBOL"),
    (["watch", "kraken:BTC/USD", "--endpoint", "krak=ws://127.0.0.1:1", "--headless"], "unknown venue 'krak'"),
    (["watch", "kraken:BTC/USD", "--endpoint", "kraken=http://127.0.0.1:1", "--headless"], "not a ws:// or wss://"),
    (["record", "kraken:BTC/USD", "-o", "/nonexistent-dir/x.jsonl.gz"], "cannot write"),
    (["watch", "--headless", "ws://[::1"], "stream: 'ws://[::1' is not a ws:// or wss:// address"),
    (["watch", "kraken:BTC/USD", "--endpoint", "kraken=ws://[::1", "--headless"], "is not a ws:// or wss://"),
    (["watch", "ws://127.0.0.1:99999/x", "--headless"], "has a bad port"),
    (["serve", "--port", "70000", "sample_feeds/kraken_v2_btcusd.jsonl.gz"], "port must be 0 to 65535, not '70000'"),
    (["serve", "--sim", "--port", "-1"], "port must be 0 to 65535"),
])
def test_bad_command_lines_are_clear_errors(args, expect):
    p = subprocess.run(wstui_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=30, env=ENV)
    assert p.returncode == 2
    no_traceback(p.stderr)
    assert expect in p.stderr


def test_serve_skips_bad_capture_lines_naming_file_and_line_and_serves_the_rest(tmp_path, real):
    src = records(real("kraken_v2_btcusd.jsonl.gz"))[:400]
    lines = [orjson.dumps(r).decode() for r in src]
    recv = [i for i, r in enumerate(src) if r["t"] == "recv"]
    bad_ts, not_json, no_conn = recv[-3:]  # the last frames: the book before them still verifies
    lines[bad_ts] = lines[bad_ts].replace(f'"ts":{orjson.dumps(src[bad_ts]["ts"]).decode()}', '"ts":"soon"')
    assert '"ts":"soon"' in lines[bad_ts]
    lines[not_json] = "{this is not json"
    lines[no_conn] = orjson.dumps({k: v for k, v in src[no_conn].items() if k != "conn"}).decode()
    cap = tmp_path / "bad.jsonl"
    cap.write_text("\n".join(lines) + "\n")
    with Served(cap, "--speed", "max") as srv:
        run = run_live(["kraken:BTC/USD"], {"kraken": srv.url("/v2")}, duration=2.0, resync_timeout=30)
    text = srv.proc.stderr.read()
    no_traceback(text)
    for n, why in ((bad_ts, "valid 'ts'"), (not_json, "not JSON"), (no_conn, "'conn'")):
        assert re.search(rf"bad record: {re.escape(str(cap))}:{n + 1}: .*{re.escape(why)}", text), text
    assert "3 bad records skipped" in text
    assert run.engine.conns["KRAKEN.ws.1"].messages == len(recv) - 3  # every good frame, once
    assert run.stream("kraken:BTC/USD:book").checksum_ok > 300


def test_a_rest_request_that_never_answers_does_not_delay_exit():
    with HangingRest() as srv:
        t0 = time.monotonic()
        p = subprocess.run(wstui_cmd("watch", "binance-futures:btcusdt", "--endpoint", f"binance-futures={srv.url()}",
                                     "--headless", "--json", "--duration", "2"),
                           cwd=ROOT, capture_output=True, text=True, timeout=30, env=ENV)
        took = time.monotonic() - t0
        asked = srv.requests
    assert p.returncode == 0, p.stderr
    no_traceback(p.stderr)
    assert asked == 1  # the snapshot was asked for, and is still unanswered
    assert took < 4.5, f"exit took {took:.1f} s after a 2 s run"
    out = json.loads(p.stdout)
    book = [s for s in out["streams"] if s["key"] == "binance-futures:BTCUSDT:book"][0]
    assert book["messages"] > 20  # diffs came over the WebSocket ...
    assert book["book_state"] == "empty" and book["book_levels"] == [0, 0]  # ... but no snapshot to build on
    assert any("REST" in n and "unanswered" in n for n in out["notes"]), out["notes"]


def test_an_answer_arriving_after_the_loop_closed_is_dropped_quietly(monkeypatch):
    import threading

    from wstui.io import rest as live

    answered = threading.Event()
    errors = []

    def slow_get(url):
        time.sleep(0.4)
        answered.set()
        return "{}"

    monkeypatch.setattr(live, "http_get", slow_get)
    monkeypatch.setattr(threading, "excepthook", lambda a: errors.append(a.exc_value))

    async def main():
        assert await live.get_in_thread("http://127.0.0.1:1/x") == "{}"  # the answer, when waited for
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(live.get_in_thread("http://127.0.0.1:1/x"), 0.05)

    t0 = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - t0 < 0.4 + 0.3  # asyncio.run did not wait for the abandoned request
    answered.clear()
    assert answered.wait(2)  # the abandoned request finished after the loop closed ...
    time.sleep(0.1)
    assert errors == []  # ... and its late answer raised nothing


def test_rest_fetcher_backs_off_a_failing_url_and_reports_each_failure_once():
    # an adapter that asks again as soon as it hears of a failure (on its next diff, every 10 ms) gets one
    # request per backoff step (0.5 s, 1 s, 2 s, ...), and one error per request
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = []

    class Fail(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(time.monotonic())
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"msg":"down"}')

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Fail)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    errors = []

    class Eng:
        notes: list = []

        def defer(self, cb, body, err):
            cb(body, err, time.time())

    class C:
        conn_id = "BINANCE_FUTURES.ws.1"

    (feed,) = build_feeds(["binance-futures:btcusdt"], {"binance-futures": f"ws://127.0.0.1:{port}"})
    src = Live([feed])
    src.engine = Eng()

    async def main():
        src._loop = asyncio.get_running_loop()
        asking = False

        def on_answer(body, err, ts):
            nonlocal asking
            errors.append(err)
            asking = False

        t_end = time.monotonic() + 2.6
        while time.monotonic() < t_end:
            if not asking:
                asking = True
                src._fetch(C(), "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000", on_answer)
            await asyncio.sleep(0.01)
        src.rest.abandon()

    try:
        asyncio.run(main())
    finally:
        httpd.shutdown()
    assert len(hits) == 3, hits  # at 0, 0.5 and 1.5 s; the next would be at 3.5 s
    gaps = [b - a for a, b in zip(hits, hits[1:])]
    assert 0.45 <= gaps[0] <= 0.8 and 0.95 <= gaps[1] <= 1.4, gaps
    assert len(errors) == 3 and all(e.startswith("HTTP 500") for e in errors), errors


def test_watch_any_websocket_with_a_subscribe_message():
    """`wstui watch ws://host/path --send TEXT`: a feed that is no known venue still gets its subscribe
    message, and its stream shows messages, bytes, rates and the latest frames."""
    got: list[str] = []
    ready = threading.Event()
    box: dict = {}

    async def handler(ws):
        msg = await ws.recv()
        got.append(msg)
        for i in range(20):
            await ws.send(json.dumps({"echo": json.loads(msg), "n": i}))
            await asyncio.sleep(0.05)
        await asyncio.sleep(5)

    def run_server():
        async def main():
            async with serve(handler, "127.0.0.1", 0) as srv:
                box["port"] = srv.sockets[0].getsockname()[1]
                ready.set()
                await asyncio.sleep(15)
        asyncio.run(main())

    threading.Thread(target=run_server, daemon=True).start()
    assert ready.wait(10)
    url = f"ws://127.0.0.1:{box['port']}/quotes"
    p = subprocess.run(wstui_cmd("watch", url, "--send", '{"op":"subscribe","args":["q"]}', "--headless", "--json",
                                 "--duration", "2.5"), capture_output=True, text=True, timeout=30, env=ENV)
    no_traceback(p.stderr)
    assert p.returncode == 0, p.stderr
    assert got == ['{"op":"subscribe","args":["q"]}']
    out = json.loads(p.stdout)
    (s,) = out["streams"]
    assert (s["venue"], s["symbol"], s["channel"], s["state"]) == ("127.0.0.1", "/quotes", "raw", "live")
    assert s["messages"] == 20 and s["bytes"] > 20 * 30
    assert json.loads(s["last_frames"][0]["text"]) == {"echo": {"op": "subscribe", "args": ["q"]}, "n": 19}
    # --send with no ws:// stream to send it on is a clear error
    p = subprocess.run(wstui_cmd("watch", "kraken:BTC/USD", "--send", "{}", "--headless", "--duration", "1"),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--send goes to ws:// streams" in p.stderr
    no_traceback(p.stderr)
