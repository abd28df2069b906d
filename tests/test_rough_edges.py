"""Rough edges a new user met (issue 14), each through the real command or the app under Pilot."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time

from conftest import SAMPLES, read_records, real_feed
from live_util import ENV, ROOT, Served, closed_port, no_traceback, wstui_cmd
from test_ui_app import ended, header, make_app, until

from wstui.core.snapshot import ConnView
from wstui.engine import Engine
from wstui.io.live import Live
from wstui.io.spec import build_feeds
from wstui.ui.app import FOLLOW_HINT, WstuiApp, header_text
from wstui.ui.widgets.ladder import LadderView
from wstui.ui.widgets.tape import TapeView

FUTURES = SAMPLES / "binance_futures.jsonl.gz"


def run(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(wstui_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV)


def test_a_file_that_is_not_a_capture_is_one_clear_error_exit_2(tmp_path):
    for extra in ((), ("--headless",)):
        p = run("replay", ROOT / "README.md", *extra)
        assert p.returncode == 2, p.stderr
        assert p.stdout == ""
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "README.md is not a capture: line 1" in lines[0], p.stderr
        no_traceback(p.stderr)
    # and so for serve, which serves captures too
    p = run("serve", ROOT / "README.md", "--port", "0")
    assert p.returncode == 2 and "is not a capture" in p.stderr


def test_an_empty_capture_says_it_is_empty(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    p = run("replay", empty, "--headless")
    assert p.returncode == 2 and f"{empty} is empty: the capture holds no records" in p.stderr
    header_only = tmp_path / "header.jsonl"
    header_only.write_text('{"t":"header","format":2,"exchange":"KRAKEN"}\n')
    p = run("replay", header_only)
    assert p.returncode == 2 and "holds a header but no recorded frames" in p.stderr


def test_a_capture_with_a_bad_first_line_still_replays(tmp_path):
    lines = (real_feed("kraken_v2_btcusd.jsonl.gz")).open("rb").read()
    import gzip

    body = gzip.decompress(lines).decode().splitlines()
    path = tmp_path / "first_bad.jsonl"
    path.write_text("\n".join(["garbage line"] + body[:200]) + "\n")
    p = run("replay", path, "--headless", "--json")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["bad_records"]) == 1


def test_record_refuses_to_overwrite_unless_forced_and_reports_progress(tmp_path):
    out = tmp_path / "btc.jsonl.gz"
    out.write_bytes(b"precious")
    p = run("record", "kraken:BTC/USD", "--endpoint", f"kraken=ws://127.0.0.1:{closed_port()}", "-o", out,
            "--duration", "1")
    assert p.returncode == 2 and "already exists" in p.stderr and "--force" in p.stderr
    assert out.read_bytes() == b"precious"
    # watch --record too
    p = run("watch", "kraken:BTC/USD", "--record", out, "--headless", "--duration", "1")
    assert p.returncode == 2 and "already exists" in p.stderr
    with Served("--sim", "--rate", 50, "--seed", 3) as srv:
        p = run("record", "kraken:BTC/USD", "--endpoint", f"kraken={srv.url()}", "-o", out, "--force",
                "--duration", "2.6", "--progress", "0.5")
    assert p.returncode == 0, p.stderr
    no_traceback(p.stderr)
    progress = [ln for ln in p.stderr.splitlines() if "connection(s) up" in ln]
    assert len(progress) >= 3, p.stderr
    assert "1/1 connection(s) up" in progress[-1]
    frames = [int(ln.split(" frames")[0].split()[-1].replace(",", "")) for ln in progress]
    assert frames == sorted(frames) and frames[-1] > 20
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # overwritten with a real capture


def test_headless_replay_without_speed_runs_at_max():
    path = real_feed("kraken_v2_btcusd.jsonl.gz")
    recs = read_records(path)
    stamps = [r["ts"] for r in recs if "ts" in r]
    span = max(stamps) - min(stamps)
    assert span > 20
    t0 = time.monotonic()
    p = run("replay", path, "--headless", "--json")
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["messages"] == 2104
    assert took < span / 3, (took, span)
    assert "max with --headless" in run("replay", "--help").stdout


def test_ctrl_c_while_importing_is_no_traceback():
    # a KeyboardInterrupt raised while the command imports its modules (what Ctrl-C at start-up does)
    code = ("import builtins, sys\n"
            "real = builtins.__import__\n"
            "def imp(name, *a, **k):\n"
            "    if name in ('.cli', 'cli') or name.endswith('wstui.cli') or (a and a[2] and 'cli' in str(a[2])):\n"
            "        raise KeyboardInterrupt\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = imp\n"
            "from wstui.launch import main\n"
            "sys.exit(main())\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 130, p.stderr
    no_traceback(p.stderr)
    # and a real SIGINT once it runs
    proc = subprocess.Popen(wstui_cmd("replay", real_feed("kraken_v2_btcusd.jsonl.gz"), "--headless", "--speed", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    no_traceback(err)
    assert out.startswith("replay ")  # what was replayed so far is summarised


async def test_r_restart_resets_clock_counts_tape_and_reconnects():
    app = make_app(FUTURES, speed=4.0, mode="thread", fps=20.0)
    async with app.run_test(size=(120, 40)) as pilot:
        tape = app.query_one(TapeView)
        assert await until(pilot, lambda: app.snap is not None and app.snap.start is not None
                           and app.snap.now - app.snap.start > 14.0)
        before, engine = app.snap, app.engine
        await pilot.press("r")
        assert await until(pilot, lambda: app.engine is not engine and app.snap is not None
                           and app.snap is app.engine.latest and app.snap.start is not None, step=0.01)
        assert app.snap.now - app.snap.start < before.now - before.start - 6.0  # the clock starts over
        snap = app.snap
        assert snap.messages < before.messages
        assert sum(s.reconnects for s in snap.streams) == 0
        assert all(c.connects == 1 for c in snap.connections)
        sel = snap.stream(app.selected)
        trades = [s for s in snap.streams if s.has_tape and s.symbol == sel.symbol]
        shown = [r for r in tape.rows_text[2:] if r.strip() and "no trades yet" not in r]
        assert len(shown) <= max([len(s.trades) for s in trades] + [0])  # the tape of the pass before is gone
        await pilot.press("q")


async def test_following_the_busiest_book_is_said_on_screen():
    app = make_app(FUTURES)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        ladder = app.query_one(LadderView)
        assert app.follow_busiest
        variants = FOLLOW_HINT.split("|")
        assert any(v in ladder.rows_text[1] for v in variants), ladder.rows_text[1]
        await pilot.press("down")
        await pilot.pause(0.1)
        assert not app.follow_busiest
        assert not any(v in ladder.rows_text[1] for v in variants)
        assert "depth" in ladder.rows_text[1]
    app = make_app(FUTURES)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.1)
        assert any(v in app.query_one(LadderView).rows_text[1] for v in variants)


def test_the_header_says_live_only_while_a_connection_is_up():
    import asyncio

    from conftest import replay

    _e, snap = replay(FUTURES)
    conn = ConnView("c1", "wss://x", "kraken", 1, 1, 0, 0, 1, True, snap.now)
    live = dataclasses.replace(snap, source="live", ended=False, connections=())
    assert "connecting" in str(header_text(live, 120)) and "● live" not in str(header_text(live, 120))
    down = dataclasses.replace(live, connections=(dataclasses.replace(conn, up=False),))
    assert "no connection up" in str(header_text(down, 120))
    up = dataclasses.replace(live, connections=(conn, dataclasses.replace(conn, conn="c2", up=False)))
    assert "● live" in str(header_text(up, 120)) and "1/2 connections up" in str(header_text(up, 120))
    assert "stopped" in str(header_text(dataclasses.replace(live, ended=True), 120))
    del asyncio


async def test_a_live_app_with_nothing_connected_does_not_say_live():
    feeds = build_feeds(["kraken:BTC/USD"], {"kraken": f"ws://127.0.0.1:{closed_port()}"})
    engine = Engine(source="live")
    app = WstuiApp(engine, Live(feeds, duration=30), fps=20.0, engine_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.snap is not None and app.snap.connections)
        await pilot.pause(0.3)
        h = header(app)
        assert "● live" not in h and ("no connection up" in h or "connecting" in h), h
        await pilot.press("q")


async def test_quitting_a_live_tui_closes_its_sockets_without_asyncio_warnings(caplog, recwarn):
    """q used to leave the engine loop's socket closes pending: 'Task was destroyed but it is pending!'
    and 'coroutine ... was never awaited' on stderr at every quit (a tmux review)."""
    import gc

    with Served("--sim", "--rate", "20", "--seed", "2") as srv:
        feeds = build_feeds(["kraken:BTC/USD", "kraken:ETH/USD", "binance-futures:BTCUSDT"],
                            {"kraken": srv.url("/v2"), "binance-futures": srv.url()})
        app = WstuiApp(Engine(source="live"), Live(feeds, duration=60), fps=20.0, engine_mode="thread")
        async with app.run_test(size=(120, 40)) as pilot:
            assert await until(pilot, lambda: app.snap is not None and len(app.snap.connections) == 2
                               and all(c.up for c in app.snap.connections))
            await pilot.press("q")
        assert not app.thread.is_alive()
        gc.collect()
    said = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not said, said
    assert not [str(w.message) for w in recwarn if "never awaited" in str(w.message)]


async def test_while_the_ladder_follows_the_busiest_book_the_table_shows_its_worst_rows():
    """At start-up the cursor sits on the busiest book's row; the table used to scroll there, away from
    the alarms at its top (a tmux review at 1,000 streams).  Now it stays at the top until a stream is
    picked, and the first move key starts from the top row."""
    from wstui.ui.widgets.streams import StreamsTable

    app = make_app(SAMPLES / "binance_futures.jsonl.gz")
    async with app.run_test(size=(120, 24)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.pause(0.2)
        table = app.query_one(StreamsTable)
        rows = table.size.height - 1
        assert app.follow_busiest and len(table.lines) > rows
        busiest = table.lines.index(app.selected)
        assert busiest >= rows, (busiest, rows)  # (the busiest book's row is below the first screen)
        assert table.top == 0 and table.cursor == busiest
        assert table.rows_text[1].split()[1] in table.lines[0]  # the worst row is on screen
        await pilot.press("down")
        await pilot.pause(0.2)
        assert not app.follow_busiest and table.cursor == 0 and app.selected == table.lines[0]
        await pilot.press("down")
        await pilot.pause(0.2)
        assert table.cursor == 1 and app.selected == table.lines[1]


async def test_q_quits_from_the_help_screen():
    app = make_app(FUTURES)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: ended(app))
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert app.screen.query("#help-text")
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_code == 0
