"""Helpers for the service tests: ``wstui watch --headless --metrics 127.0.0.1:0`` as a subprocess, its metrics
address read from its stderr, and scrapes parsed with prometheus_client's own parser.  Loopback only."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from live_util import ENV, ROOT, wstui_cmd

METRICS_AT = re.compile(r"metrics at http://127\.0\.0\.1:(\d+)/metrics")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """(status, content type, body) of a GET on loopback; an HTTP error status is returned, not raised."""
    try:
        with _OPENER.open(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


class Service:
    """``wstui ARGS`` running with ``--metrics 127.0.0.1:0``; ``port`` read from its stderr."""

    def __init__(self, *args, timeout: float = 15.0) -> None:
        self.proc = subprocess.Popen(wstui_cmd(*args, "--metrics", "127.0.0.1:0"), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=ENV)
        self.err: list[str] = []
        self.port: int | None = None
        self._ready = threading.Event()
        self._out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._out_thread = threading.Thread(target=lambda: self._out.append(self.proc.stdout.read()), daemon=True)
        self._out_thread.start()
        if not self._ready.wait(timeout) or self.port is None:
            self.proc.kill()
            pytest.fail(f"no metrics address from wstui: {self.err}")

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.err.append(line.rstrip("\n"))
            m = METRICS_AT.search(line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def scrape(self) -> dict[str, dict[tuple, float]]:
        """``{sample name: {sorted label items: value}}`` from one GET /metrics."""
        status, ctype, body = http_get(self.base + "/metrics")
        assert status == 200 and ctype.startswith("text/plain"), (status, ctype, body[:500])
        return parse(body)

    def wait_for(self, pred, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        m: dict = {}
        while time.monotonic() < deadline:
            m = self.scrape()
            try:
                if pred(m):
                    return m
            except AssertionError:  # a series not there yet
                pass
            time.sleep(0.2)
        raise AssertionError(f"metrics never satisfied the condition; last: { {k: v for k, v in m.items()} }")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, str]:
        """Signal it, wait; (exit status, stdout).  ``stopped_in`` is how long it took to exit."""
        assert self.proc.poll() is None, f"wstui ended by itself: {self.err[-20:]}"
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"wstui still running {timeout} s after signal {sig}: {self.err[-20:]}")
        self.stopped_in = time.monotonic() - t0
        self._out_thread.join(5)
        return self.proc.returncode, "".join(self._out)

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def parse(text: str) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def series(m: dict, name: str, **labels) -> dict[tuple, float]:
    """The samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return {k: v for k, v in m.get(name, {}).items() if want <= set(k)}


def value(m: dict, name: str, **labels) -> float:
    got = series(m, name, **labels)
    assert len(got) == 1, (name, labels, got)
    return next(iter(got.values()))
