"""Monitors that serve their state (``watch --headless --listen``) and viewers that attach to them
(``wstui attach``), the way a user meets them: the real commands as subprocesses on loopback against the
simulator, a second reader written from the README, and the client in process where timing matters."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from live_util import ENV, ROOT, Served, closed_port, no_traceback, wstui_cmd
from remote_reader import Reader
from remote_util import Monitor

KRAKEN_BOOK = "kraken:BTC/USD:book"
BINANCE_BOOK = "binance:BTCUSDT:book"


@pytest.fixture(scope="module")
def sim():
    with Served("--sim", "--rate", 20, "--seed", 11) as srv:
        yield srv


@pytest.fixture(scope="module")
def pair(sim):
    """Two monitors on the simulator: one on Kraken (checksummed books), one on Binance (REST snapshots)."""
    a = Monitor(["kraken:BTC/USD"], {"kraken": sim.url("/v2")})
    b = Monitor(["binance:btcusdt"], {"binance": sim.url()})
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def label(url: str) -> str:
    return url.split("://", 1)[1]


def attach(*args, timeout: float = 30.0) -> subprocess.CompletedProcess:
    cmd = wstui_cmd("attach", *args)
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(ENV, PYTHONFAULTHANDLER="1"))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGABRT)  # where it hung, on stderr
        out, err = p.communicate(timeout=10)
        pytest.fail(f"{cmd} hung:\n{err[-5000:]}")
    no_traceback(err)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def wait_events(mon: Monitor, kinds: set[str], timeout: float = 15.0) -> None:
    """Until the monitor has raised events of these kinds (read through the second reader)."""
    async def go() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with Reader(mon.url, focus=[]) as r:
                await r.next_state()
                if kinds <= {e[2] for e in r.events}:
                    return
            await asyncio.sleep(0.3)
        raise AssertionError(f"no {kinds} events on {mon.url}")
    asyncio.run(go())


# ---------------------------------------------------------------- the late viewer
def test_late_viewer_sees_both_monitors_books_and_their_history(pair):
    a, b = pair
    wait_events(a, {"connect"})
    wait_events(b, {"connect"})
    t_attach = time.time()
    p = attach(a.url, b.url, "--headless", "--json", "--duration", "2", "--levels", "5")
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    by_key = {s["key"]: s for s in out["streams"]}
    la, lb = label(a.url), label(b.url)
    for lab, key in ((la, KRAKEN_BOOK), (lb, BINANCE_BOOK)):
        s = by_key.get(f"{lab}/{key}")
        assert s is not None, sorted(by_key)
        assert s["monitor"] == lab
        assert s["state"] == "live" and s["book_state"] == "ok", s
        assert len(s["book"]["bids"]) == 5 and len(s["book"]["asks"]) == 5, s["book"]
        best_bid, best_ask = float(s["book"]["bids"][0][0]), float(s["book"]["asks"][0][0])
        assert 0 < best_bid < best_ask  # a verified book, not crossed
        assert s["book_levels"][0] >= 10
    assert by_key[f"{la}/{KRAKEN_BOOK}"]["checksum_ok"] > 10  # Kraken's checksums verified by its monitor
    # the history: each monitor's connect happened before this viewer existed, and it sees it
    for lab in (la, lb):
        early = [e for e in out["events"] if e["kind"] == "connect" and e["stream"].startswith(lab + "/")
                 and e["ts"] < t_attach]
        assert early, (lab, out["events"])
    assert out["events_total"] >= 2
    assert out["unhealthy"] == []


# ---------------------------------------------------------------- the protocol, read by another reader
async def test_a_second_reader_follows_the_protocol_from_the_readme(pair):
    a, _b = pair
    async with Reader(a.url, focus=[], fps=20) as r:
        assert r.hello["type"] == "hello" and r.hello["protocol"].split(".")[0] == "1"
        first = await r.next_state()
        assert first["full"] is True
        book = r.streams[KRAKEN_BOOK]
        assert book["venue"] == "kraken" and book["symbol"] == "BTC/USD" and book["channel"] == "book"
        assert book["bids"] == [] and book["asks"] == []  # not in focus: no book travels
        assert any(e[2] == "connect" and len(e) == 5 for e in r.events)
        assert r.events_total >= len(r.events) >= 1
        msgs0 = book["messages"]
        sizes = []
        for _ in range(5):
            st = await r.next_state()
            assert st["full"] is False
            sizes.extend(len(s) for s in st["streams"])
        assert r.streams[KRAKEN_BOOK]["messages"] > msgs0
        assert sizes and min(sizes) < 20  # changes only: a diff carries a few of the ~50 fields
        await r.set_focus([KRAKEN_BOOK])
        for _ in range(20):
            await r.next_state()
            if r.streams[KRAKEN_BOOK]["bids"]:
                break
        bids, asks = r.streams[KRAKEN_BOOK]["bids"], r.streams[KRAKEN_BOOK]["asks"]
        assert bids and asks, r.streams[KRAKEN_BOOK]
        price, size, qty = bids[0]
        assert isinstance(price, str) and isinstance(size, str) and isinstance(qty, (int, float))
        assert float(bids[0][0]) < float(asks[0][0])
        assert r.streams["kraken:BTC/USD:trades"]["trades"] == []  # focus is per stream
        assert r.snapshot["messages"] >= r.streams[KRAKEN_BOOK]["messages"]
        conn = next(iter(r.connections.values()))
        assert conn["up"] is True and conn["venue"] == "kraken"


async def test_another_major_version_is_refused_clearly(pair):
    from websockets.exceptions import ConnectionClosed

    a, _b = pair
    r = Reader(a.url, protocol="2.0")
    await r.__aenter__()
    assert r.hello["type"] == "error" and "1.0" in r.hello["error"], r.hello
    with pytest.raises(ConnectionClosed) as ei:
        await r.ws.recv()
    assert ei.value.rcvd.code == 4426


# ---------------------------------------------------------------- a hostile or broken monitor
async def test_a_broken_monitor_does_not_crash_the_viewer():
    """A monitor that sends nonsense (a bad state, then not JSON, then a version it cannot speak) is counted,
    reported and retried; the viewer keeps running and shows the other monitor."""
    from websockets.asyncio.server import serve

    from wstui.remote.client import AttachSource, RemoteEngine
    from wstui.runner import run_source

    attempts = []

    async def broken(ws):
        await ws.recv()
        attempts.append(1)
        await ws.send(json.dumps({"type": "hello", "protocol": "1.0", "monitor": {"pid": 1}}))
        if len(attempts) == 1:
            await ws.send(json.dumps({"type": "state", "full": True, "seq": 1, "snapshot": {},
                                      "streams": [{"key": "x", "state": 5}], "connections": [], "events": [],
                                      "events_total": 0}))
        else:
            await ws.send("{not json \x1b[2J")
        await asyncio.sleep(5)

    async def future(ws):
        await ws.recv()
        await ws.send(json.dumps({"type": "hello", "protocol": "2.0"}))
        await asyncio.sleep(5)

    async with serve(broken, "127.0.0.1", 0) as s1, serve(future, "127.0.0.1", 0) as s2:
        u1 = f"ws://127.0.0.1:{s1.sockets[0].getsockname()[1]}"
        u2 = f"ws://127.0.0.1:{s2.sockets[0].getsockname()[1]}"
        engine = RemoteEngine()
        src = AttachSource([u1, u2], duration=2.5)
        await asyncio.wait_for(run_source(engine, src, 10), 15)
    m1, m2 = src.monitors
    assert m1.bad_messages >= 2 and len(attempts) >= 2  # counted, and connected again
    assert not m1.connected and "bad message" in m1.down_reason
    assert m2.refused and "2.0" in m2.refused  # refused for good: not retried
    notes = " ".join(engine.latest.notes)
    assert "bad message" in notes and "refused" in notes
    rows = engine.latest.streams  # each monitor a down row with its reason, never silently absent
    assert [r.key for r in rows] == [f"{m1.label}/monitor", f"{m2.label}/monitor"]
    assert all(r.state == "down" for r in rows)
    assert "bad message" in rows[0].reason and "2.0" in rows[1].reason


def test_protocol_round_trip_is_generic():
    """Every field of the frozen dataclasses travels, named tuples included, and a field the reader does not
    know (a newer monitor's) is ignored while a value of the wrong type is refused."""
    from dataclasses import replace

    from wstui.core.snapshot import ConnView, StreamView
    from wstui.core.stream import Problem, Trade
    from wstui.remote import protocol as P

    v = StreamView(**dict(key="k", venue="v", symbol="s\x1b[31m", channel="book", state="live", state_since=1.5,
                          reason="", messages=3, bytes=9, last_size=2, rate_1s=1.0, rate_10s=0.5,
                          history=(1, 2, 3), last_age_s=None, latency_ms_p50=1.25, latency_ms_p99=None,
                          latency_counts=(0, 1), latency_sum=0.1, gaps=0, checksum_ok=4, checksum_failed=0,
                          resyncs=0, reconnects=1, parse_errors=0, crossed=False, has_book=True, book_state="ok",
                          bids=(("1.5", "2", 2.0),), asks=(("1.6", "3", 3.0),), book_levels=(1, 1),
                          book_updates=7, has_tape=True, trades=(Trade(1.0, None, "buy", "1.5", "1", 1.0),),
                          trades_total=1, stale_after=5.0, frames=((1.0, "x"),), has_frames=False, version=12,
                          last_problem=Problem("stale", "stream_silent", "why", 1.0, None)))
    d = json.loads(P.dumps(P.stream_dict(v, True)))
    back = P.decode_stream(d | {"from_the_future": [1, 2]})
    assert back == v
    assert P.decode_stream(json.loads(P.dumps(P.stream_dict(v, False)))).bids == ()
    delta = P.stream_delta(v, True, replace(v, messages=4), True)
    assert delta == {"messages": 4, "key": "k"}
    assert P.patch(v, json.loads(P.dumps(delta))) == replace(v, messages=4)
    with pytest.raises(P.ProtocolError):
        P.decode_stream(d | {"messages": "3"})
    with pytest.raises(P.ProtocolError):
        P.decode_stream({"key": "k"})  # required fields missing
    c = ConnView("c", "ws://x", "kraken", 1, 2, 0, 0, 1, True, None, recent=((1.0, b"\x00\xff"), (2.0, "t")))
    assert P.decode_conn(json.loads(P.dumps({f: getattr(c, f) for f in P.CONN_FIELDS}))) == c


# ---------------------------------------------------------------- a viewer that stops reading
def raw_viewer(url: str, hello: dict) -> socket.socket:
    """A WebSocket viewer by hand that says hello and then never reads (a tiny receive buffer)."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    payload = json.dumps(hello).encode()
    mask = os.urandom(4)
    n = len(payload)
    header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    s.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return s


def test_a_viewer_that_stops_reading_does_not_grow_the_monitor(sim):
    """A viewer that never reads (its socket's buffers full) gets fewer frames, not a queue: the monitor's
    memory stays flat while it publishes 30 snapshots a second of 12 books."""
    syms = ["btcusdt", "ethusdt", "solusdt", "xrpusdt", "adausdt", "dogeusdt", "bnbusdt", "ltcusdt", "dotusdt",
            "linkusdt", "trxusdt", "avaxusdt"]
    with Monitor([f"binance:{s}" for s in syms], {"binance": sim.url()}, extra=["--fps", "30"]) as mon:
        wait_events(mon, {"connect"})
        s = raw_viewer(mon.url, {"type": "hello", "protocol": "1.0", "fps": 30, "focus": None,
                                 "book_depth": 1000, "tape_depth": 1000})
        me = "%s:%d" % s.getsockname()[:2]
        try:
            time.sleep(5.0)  # the kernel's buffers (a few MB on loopback) fill first
            rss = []
            for _ in range(8):
                rss.append(mon.rss_kb())
                time.sleep(0.5)
        finally:
            s.close()
        deadline = time.monotonic() + 10
        line = None
        while time.monotonic() < deadline and line is None:
            line = next((ln for ln in mon.lines if f"viewer {me} detached after" in ln), None)
            time.sleep(0.1)
    assert line is not None, mon.lines
    m = re.search(r"after (\d+) frames, ([\d,]+) bytes \((\d+) snapshots skipped", line)
    frames, sent, skipped = int(m.group(1)), int(m.group(2).replace(",", "")), int(m.group(3))
    # the viewer got fewer frames than the monitor published (skipped ones were never built), not a queue
    assert skipped > 10, line
    assert max(rss) - rss[0] < 1024, rss  # kB: flat while the viewer is stuck (a queue of its frames: MB)
    print(f"stuck viewer: {frames} frames ({sent:,} bytes) sent, {skipped} skipped; RSS {rss[0]}..{max(rss)} kB")


# ---------------------------------------------------------------- the token
def outside_address() -> str | None:
    """This host's non-loopback address, if it has one (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(("192.0.2.1", 9))
            addr = u.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def test_off_loopback_needs_a_token_and_a_viewer_must_present_it(sim, tmp_path):
    p = subprocess.run(wstui_cmd("watch", "--headless", "--listen", "0.0.0.0:0", "kraken:BTC/USD"), cwd=ROOT,
                       capture_output=True, text=True, timeout=30, env=ENV)
    assert p.returncode == 2 and "needs --token-file" in p.stderr, p.stderr
    tok = tmp_path / "token"
    tok.write_text("s3cret-token-for-tests\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token-at-all\n")
    with Monitor(["kraken:BTC/USD"], {"kraken": sim.url("/v2")}, listen="0.0.0.0:0",
                 extra=["--token-file", tok]) as mon:
        port = mon.url.rsplit(":", 1)[1]
        host = outside_address() or "127.0.0.1"
        url = f"ws://{host}:{port}"
        none = attach(url, "--headless", "--json", "--duration", "1")
        assert none.returncode == 2 and "4401" in none.stderr, none.stderr
        bad = attach(url, "--headless", "--json", "--duration", "1", "--token-file", wrong)
        assert bad.returncode == 2 and "401" in bad.stderr and "wrong token" in bad.stderr, bad.stderr
        good = attach(url, "--headless", "--json", "--duration", "1.5", "--token-file", tok)
        assert good.returncode in (0, 1), good.stderr
        assert any(s["key"].endswith(KRAKEN_BOOK) for s in json.loads(good.stdout)["streams"])

        async def reader_token() -> None:  # the token in the hello (the second reader)
            async with Reader(url, token="s3cret-token-for-tests") as r:
                assert r.hello["type"] == "hello"
                await r.next_state()
                assert KRAKEN_BOOK in r.streams
        asyncio.run(reader_token())
        assert sum("refused" in ln for ln in mon.lines) >= 2, mon.lines


# ---------------------------------------------------------------- a monitor killed and restarted
def test_a_killed_monitor_shows_down_then_recovers_when_restarted(sim):
    from wstui.remote.client import AttachSource, RemoteEngine
    from wstui.runner import run_source

    port = closed_port()
    args = (["kraken:BTC/USD"], {"kraken": sim.url("/v2")})
    mon = Monitor(*args, listen=f"127.0.0.1:{port}")
    lab = f"127.0.0.1:{port}"
    key = f"{lab}/{KRAKEN_BOOK}"
    seen: dict[str, object] = {}

    async def main() -> None:
        nonlocal mon
        engine = RemoteEngine()
        src = AttachSource([f"ws://{lab}"])
        task = asyncio.ensure_future(run_source(engine, src, 10))

        async def until(pred, timeout: float, what: str):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                snap = engine.latest
                s = snap.stream(key) if snap is not None else None
                if s is not None and pred(s):
                    return s
                await asyncio.sleep(0.05)
            raise AssertionError(f"timed out waiting for {what}: {engine.latest and engine.latest.stream(key)}")

        try:
            await until(lambda s: s.state == "live" and s.book_state == "ok", 15, "live")
            await asyncio.to_thread(mon.kill)
            down = await until(lambda s: s.state == "down", 8, "down")
            seen["down"] = down
            assert down.cause == "link_down" and "unreachable" in down.reason and lab in down.reason
            assert down.rate_1s == 0.0
            await asyncio.sleep(1.0)
            later = engine.latest.stream(key)
            assert later is not None and later.state == "down"  # still there, still down
            assert later.last_age_s > down.last_age_s  # never looks fresh: its age keeps growing
            assert not any(c.up for c in engine.latest.connections)
            assert engine.latest.unhealthy
            mon = await asyncio.to_thread(Monitor, *args, listen=f"127.0.0.1:{port}")
            back = await until(lambda s: s.state == "live" and s.book_state == "ok", 25, "live again")
            seen["back"] = back
            kinds = [e.kind for e in engine.latest.events if e.stream == lab]
            assert kinds[:2] == ["monitor_down", "monitor_up"], kinds
        finally:
            src.stop()
            await asyncio.wait_for(task, 10)

    try:
        asyncio.run(main())
    finally:
        mon.stop()
    assert seen["back"].monitor == lab


# ---------------------------------------------------------------- the TUI attached
def test_the_tui_attached_in_a_terminal_shows_the_monitors_book(tmp_path):
    """``wstui attach`` on two monitors of the same market in tmux: the ladder shows the book, the same
    levels a headless viewer gets at the same moment (a slow market: the book holds still for seconds), and
    the rows name their monitor."""
    import shutil

    from test_ui_e2e import WSTUI, Tmux

    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: .ci/run installs it (apt-get install tmux)")
    with Served("--sim", "--rate", 0.2, "--seed", 5) as slow, \
            Monitor(["kraken:BTC/USD"], {"kraken": slow.url("/v2")}) as mon, \
            Monitor(["kraken:BTC/USD"], {"kraken": slow.url("/v2")}) as other:  # the same market, twice
        t = Tmux(tmp_path / "tmux.sock")
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")}
        subprocess.run(["tmux", "-S", t.sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                        "-s", "e2e", f"sh -c 'TERM=xterm-256color {WSTUI} attach {mon.url} {other.url}; "
                        "echo WSTUI_EXIT=$?; sleep 60'"], check=True, env=env, timeout=20)
        try:
            t.wait_for(lambda s: "BTC/USD" in s and "spread" in s and label(other.url) in s, timeout=30)
            for attempt in range(6):
                p = attach(mon.url, "--headless", "--json", "--duration", "0.5", "--levels", "3")
                book = next(s for s in json.loads(p.stdout)["streams"] if s["key"].endswith(KRAKEN_BOOK))["book"]
                screen = t.screen()
                prices = [lv[0] for lv in book["bids"] + book["asks"]]
                if all(pr in screen for pr in prices):
                    break
                time.sleep(0.5)
            else:
                raise AssertionError(f"the ladder does not show {prices}:\n{screen}")
            assert label(mon.url) in screen  # two monitors: rows name theirs
            t("send-keys", "-t", "e2e", "q")
            screen = t.wait_for("WSTUI_EXIT=", timeout=15)
            assert "WSTUI_EXIT=0" in screen, screen
        finally:
            subprocess.run(["tmux", "-S", t.sock, "kill-server"], capture_output=True, timeout=20)


def test_the_detail_screen_names_the_monitor_and_a_monitor_never_reached_is_a_down_row():
    """A stream's detail screen says which monitor it comes from; a monitor the viewer could not reach is a
    down row with the reason (the banner and the exit status count it), its text cleaned like any feed's."""
    from wstui.remote.client import AttachSource, RemoteEngine
    from wstui.ui.widgets.detail import detail_text

    port = closed_port()
    engine = RemoteEngine()
    src = AttachSource([f"ws://127.0.0.1:{port}"], duration=0.6)
    from wstui.runner import run_source

    asyncio.run(run_source(engine, src, 10))
    snap = engine.latest
    (row,) = snap.streams
    assert row.key == f"127.0.0.1:{port}/monitor" and row.state == "down" and row.monitor == f"127.0.0.1:{port}"
    assert "not reached" in row.reason and "cannot connect" in row.reason
    assert snap.unhealthy == (row,)
    text = detail_text(snap, row.key, 160).plain
    assert f"monitor 127.0.0.1:{port}" in text and "not reached" in text
