"""What one attached viewer costs a monitor: `wstui watch --headless --listen` on N streams from
`wstui serve --sim`, its CPU measured without a viewer, then with one viewer attached the way the TUI is
(a screenful of streams in focus: their books and tapes travel), then with a viewer that wants every book.

    .venv/bin/python bench/attach.py [--streams 2000] [--rate 1000] [--seconds 10] [--warmup 5] [--fps 10]

The simulator and the monitor run in their own processes; the monitor's CPU is read from /proc (process
time / wall, % of one core).  The viewer runs in this process (AttachSource + RemoteEngine, as `wstui attach`),
and its own CPU, the bytes it received per second and the size and time of its first full state are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wstui.remote import protocol as P  # noqa: E402
from wstui.remote.client import AttachSource, RemoteEngine  # noqa: E402
from wstui.runner import run_source  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def spawn(args: list[str], pattern: str, on_stderr: bool = False) -> tuple[subprocess.Popen, str]:
    """``wstui ARGS`` started; the first match of ``pattern`` on its stdout (or stderr)."""
    out = subprocess.PIPE
    proc = subprocess.Popen([sys.executable, "-m", "wstui", *args], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL if on_stderr else out,
                            stderr=out if on_stderr else subprocess.DEVNULL)
    stream = proc.stderr if on_stderr else proc.stdout
    for line in stream:
        m = re.search(pattern, line)
        if m:
            threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()
            return proc, m.group(1)
    raise SystemExit(f"wstui {args[0]} did not start")


def measure(pid: int, seconds: float) -> float:
    c0, t0 = cpu_s(pid), time.perf_counter()
    time.sleep(seconds)
    return (cpu_s(pid) - c0) / (time.perf_counter() - t0)


class Viewer:
    """AttachSource + RemoteEngine on a thread, counting what it receives."""

    def __init__(self, url: str, focus_n: int | None, fps: float) -> None:
        self.engine = RemoteEngine(book_depth=200)
        self.src = AttachSource([url], fps=fps, prefix_keys=False)
        self.focus_n = focus_n
        self.first_s: float | None = None
        self.first_bytes = 0
        self.bytes = 0
        self.cpu0 = 0.0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        t0 = time.perf_counter()
        orig = P.loads

        def counting(data):  # every message the viewer reads, counted
            n = len(data)
            self.bytes += n
            if self.first_s is None and b'"full":true' in (data if isinstance(data, bytes) else data.encode()):
                self.first_s = time.perf_counter() - t0
                self.first_bytes = n
            return orig(data)

        P.loads = counting
        task = asyncio.ensure_future(run_source(self.engine, self.src, 10))
        while not task.done():
            snap = self.engine.latest
            if snap is not None and snap.streams:
                keys = [s.key for s in snap.streams if s.has_book]
                self.engine.focus = None if self.focus_n is None else frozenset(keys[:self.focus_n])
            await asyncio.sleep(0.1)

    def start(self) -> "Viewer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.src.stop()
        self.thread.join(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=1000.0, help="book events per second in all (about)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=10.0, help="the viewer's frames per second")
    a = ap.parse_args()
    syms = a.streams // 2
    sim, port = spawn(["serve", "--sim", "--port", "0", "--rate", f"{a.rate / syms:g}", "--seed", "1"],
                      r"listening on ws://127\.0\.0\.1:(\d+)")
    mon = None
    try:
        mon, url = spawn(["watch", "--headless", "--listen", "127.0.0.1:0", "--stale-after", "30",
                          "--endpoint", f"kraken=ws://127.0.0.1:{port}",
                          *[f"kraken:X{i:04d}/USD" for i in range(syms)]], r"viewers at (ws://\S+)", on_stderr=True)
        time.sleep(a.warmup)
        print(f"python {sys.version.split()[0]}; {a.streams} streams (Kraken v2 books and trades), ~{a.rate:g} "
              f"book events/s in all; {a.seconds:g} s measured per row; viewer at {a.fps:g} fps")
        print(f"{'monitor with':<34} {'monitor CPU':>11} {'RSS MB':>7} | {'viewer CPU':>10} {'recv KB/s':>9} "
              f"{'first state':>16}")
        base = measure(mon.pid, a.seconds)
        print(f"{'no viewer':<34} {base * 100:>10.1f}% {rss_mb(mon.pid):>7.0f} |", flush=True)
        for name, focus in (("one viewer, 40 books in focus (TUI)", 40), ("one viewer, every book in focus", None)):
            v = Viewer(url, focus, a.fps).start()
            time.sleep(3.0)
            b0, c0, t0 = v.bytes, time.process_time(), time.perf_counter()
            cpu = measure(mon.pid, a.seconds)
            wall = time.perf_counter() - t0
            vcpu = (time.process_time() - c0) / wall
            kbs = (v.bytes - b0) / wall / 1024
            first = f"{v.first_bytes / 1024:,.0f} KB {v.first_s or 0:.2f}s"
            print(f"{name:<34} {cpu * 100:>10.1f}% {rss_mb(mon.pid):>7.0f} | {vcpu * 100:>9.1f}% {kbs:>9,.0f} "
                  f"{first:>16}", flush=True)
            v.stop()
            time.sleep(1.0)
        again = measure(mon.pid, a.seconds)  # the machine's noise: the same as the first row, measured last
        print(f"{'no viewer (again)':<34} {again * 100:>10.1f}% {rss_mb(mon.pid):>7.0f} |", flush=True)
    finally:
        for p in (mon, sim):
            if p is not None:
                p.terminate()
                p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
