"""``wstui watch --workers N``, the way a user runs it: the plant spread over N worker processes and merged
into one summary (the TUI and metrics read the same merged snapshot); a killed worker is reported and
restarted and its books rebuild; workers never outlive their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd

CAPTURE = ROOT.parent / "shared" / "real_feeds" / "coinbase.jsonl.gz"
KRAKEN = ["BTC/USD", "ETH/USD", "SOL/USD", "X0001/USD"]


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, ValueError, IndexError):
            continue
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def workers_of(parent: int, n: int, timeout: float = 15.0) -> dict[int, int]:
    """{worker number: pid} once all ``n`` workers of ``parent`` run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {}
        for pid, cmd in children(parent):
            if " --worker " in cmd:
                found[int(cmd.split(" --worker ")[1].split("/")[0])] = pid
        if len(found) == n:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{n} workers of {parent} did not start: {children(parent)}")


def summary(cmd: list, timeout: float = 60) -> tuple[int, dict, str]:
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENV)
    no_traceback(p.stderr)
    assert p.stdout.strip(), p.stderr[-3000:]
    return p.returncode, json.loads(p.stdout), p.stderr


def per_stream(out: dict) -> dict[str, tuple]:
    return {s["key"]: (s["messages"], s["gaps"], s["resyncs"], s["checksum_failed"], s.get("book_state"),
                       s.get("book_levels"), json.dumps((s.get("book") or {}).get("bids")),
                       json.dumps((s.get("book") or {}).get("asks"))) for s in out["streams"]}


def test_two_workers_give_the_same_books_and_counts_as_one_process_on_the_same_feed():
    # a recorded Coinbase session served whole to every connection: each process gets all of it
    with Served(str(CAPTURE), "--speed", "max") as srv:
        runs = {}
        for n in (1, 2):
            _rc, out, err = summary(wstui_cmd("watch", "coinbase:BTC-USD", "coinbase:ETH-USD", "--endpoint",
                                              f"coinbase={srv.url()}", "--workers", n, "--headless", "--json",
                                              "--duration", 4, "--levels", 10))
            runs[n] = out
    one, two = per_stream(runs[1]), per_stream(runs[2])
    assert set(one) == set(two) == {f"coinbase:{p}:{c}" for p in ("BTC-USD", "ETH-USD") for c in ("book", "trades")}
    assert one == two
    assert one["coinbase:BTC-USD:book"][0] > 100 and one["coinbase:BTC-USD:book"][4] == "ok"
    # one connection for one process; two (one per worker, numbered across them) for two
    assert [c["conn"] for c in runs[1]["connections"]] == ["COINBASE.ws.1"]
    assert sorted(c["conn"] for c in runs[2]["connections"]) == ["COINBASE.ws.1", "COINBASE.ws.2"]
    started = [e for e in runs[2]["events"] if e["kind"] == "worker_started"]
    assert sorted(e["stream"] for e in started) == ["worker 1", "worker 2"]


def test_a_killed_worker_is_reported_and_restarted_and_its_books_rebuild():
    with Served("--sim", "--rate", 40, "--seed", 3) as srv:
        p = subprocess.Popen(wstui_cmd("watch", *[f"kraken:{s}" for s in KRAKEN], "--endpoint",
                                       f"kraken={srv.url('/v2')}", "--workers", 2, "--headless", "--json",
                                       "--duration", 9),
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        try:
            w = workers_of(p.pid, 2)
            time.sleep(3.0)
            os.kill(w[1], signal.SIGKILL)
            try:
                out, err = p.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"watch --workers did not end: its children {children(p.pid)}") from None
        finally:
            if p.poll() is None:
                p.kill()
    no_traceback(err)
    assert p.returncode == 0, err[-3000:]
    res = json.loads(out)
    died = [e for e in res["events"] if e["kind"] == "worker_died"]
    assert len(died) == 1 and died[0]["stream"] == "worker 1" and "SIGKILL" in died[0]["detail"], died
    assert "worker 1 killed by SIGKILL" in err
    restarted = [e for e in res["events"] if e["kind"] == "worker_started" and "(restart)" in e["detail"]]
    assert len(restarted) == 1 and restarted[0]["stream"] == "worker 1"
    assert any(e["kind"] == "monitor_down" for e in res["events"])  # its streams were shown down meanwhile
    books = {s["key"]: s for s in res["streams"] if s["channel"] == "book"}
    assert set(books) == {f"kraken:{s}:book" for s in KRAKEN}
    for k, b in books.items():  # the restarted worker's books rebuilt from fresh snapshots: all verified
        assert b["book_state"] == "ok" and b["state"] == "live" and b["checksum_failed"] == 0, (k, b["state"])
        assert b["checksum_ok"] > 10, k


def test_workers_stop_with_their_parent_even_when_it_is_killed():
    with Served("--sim", "--rate", 10, "--seed", 3) as srv:
        p = subprocess.Popen(wstui_cmd("watch", *[f"kraken:{s}" for s in KRAKEN[:2]], "--endpoint",
                                       f"kraken={srv.url('/v2')}", "--workers", 2, "--headless"),
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        w = workers_of(p.pid, 2)
        p.kill()
        p.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in w.values()):
            time.sleep(0.1)
        left = [pid for pid in w.values() if alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, "workers outlived their parent"


def test_options_that_do_not_go_with_workers_are_refused_clearly(tmp_path):
    for extra, words in ((["--record", tmp_path / "x.jsonl"], "--record does not go with --workers"),
                         (["--workers", "0"], "not a number of workers")):
        p = subprocess.run(wstui_cmd("watch", "kraken:BTC/USD", "--workers", 2, "--headless", *extra), cwd=ROOT,
                           capture_output=True, text=True, timeout=30, env=ENV)
        assert p.returncode == 2 and words in p.stderr, (extra, p.stderr)
        no_traceback(p.stderr)


def test_each_worker_spends_its_part_of_the_venues_per_address_budgets():
    """N workers share one address: each opens at most 1/N of the venue's new connections per window and
    spends at most 1/N of its REST weight per minute."""
    import asyncio
    import dataclasses

    from wstui.io.live import Live
    from wstui.io.spec import build_feeds
    from wstui.venues.binance import BinanceFutures

    feeds = build_feeds(["binance-futures:BTCUSDT"])
    assert Live(feeds)._budget(2400) == 2400
    half = Live(feeds, share=0.5)
    assert half._budget(2400) == 1200
    saved = BinanceFutures.limits
    BinanceFutures.limits = dataclasses.replace(saved, conns_per_window=(4, 0.4))
    try:
        async def opens() -> list[float]:
            t0 = asyncio.get_running_loop().time()
            out = []
            for _ in range(3):
                await half._connect_slot(feeds[0])
                out.append(asyncio.get_running_loop().time() - t0)
            return out

        times = asyncio.run(opens())
    finally:
        BinanceFutures.limits = saved
    assert times[0] < 0.1 and times[1] < 0.1  # 2 of the window's 4: this worker's half
    assert times[2] >= 0.35  # the third waits for the window


def test_the_workers_rest_use_adds_up_per_host_in_the_parents_summary():
    """Each worker fetches its own books' snapshots with its share of the budget; the parent's summary (and
    so its metrics) shows the venue's REST host once, with the workers' requests, weight and budget added."""
    syms = [f"X{i:04d}USDT" for i in range(6)]
    with Served("--sim", "--rate", 20, "--seed", 4) as srv:
        p = subprocess.run(wstui_cmd("watch", *[f"binance-futures:{s}" for s in syms], "--endpoint",
                                     f"binance-futures={srv.url()}", "--workers", 2, "--headless", "--json",
                                     "--duration", 6),
                           cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=60)
    no_traceback(p.stderr)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout)
    books = [s for s in res["streams"] if s["channel"] == "book"]
    assert len(books) == 6 and all(b["book_state"] == "ok" for b in books)
    (rest,) = res["rest"]  # one host, not one per worker
    assert rest["host"] == "fapi.binance.com"
    # six snapshots of weight 2 (the depth-50 bracket), within two halves of 2,400 a minute
    assert (rest["requests"], rest["weight"], rest["budget_per_min"], rest["cap_per_min"]) == (6, 12, 2400, 1920)
    assert rest["rate_limited"] == 0 and rest["errors"] == 0 and rest["queued"] == 0
