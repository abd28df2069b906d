"""``wstui watch --headless --listen`` monitors as subprocesses on loopback, for the attach tests."""

from __future__ import annotations

import re
import signal
import subprocess
import threading

import pytest

from live_util import ENV, ROOT, wstui_cmd

VIEWERS = re.compile(r"viewers at (ws://\S+)")


class Monitor:
    """``wstui watch --headless --listen HOST:PORT STREAMS... --endpoint ...`` running; ``url`` from stderr."""

    def __init__(self, streams, endpoints: dict[str, str], *, listen: str = "127.0.0.1:0", extra=(),
                 timeout: float = 15.0) -> None:
        args = ["watch", "--headless", "--listen", listen, *streams]
        for venue, url in endpoints.items():
            args += ["--endpoint", f"{venue}={url}"]
        self.proc = subprocess.Popen(wstui_cmd(*args, *extra), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=ENV)
        self.lines: list[str] = []
        self.url: str | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout) or self.url is None:
            self.stop()
            pytest.fail(f"the monitor did not start listening: {self.lines}")

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            m = VIEWERS.search(line)
            if m and self.url is None:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
