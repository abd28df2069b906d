"""End to end: the real ``wstui`` command in a real terminal (tmux), read from the screen, driven by keys.

``wstui`` with no arguments opens the demo (the bundled capture, looped at 1x).  The test reads the pane,
opens and closes the help, pauses (the replay position on screen stops), resumes, and quits with ``q``:
`wstui` must exit with status 0.  (.ci/run installs tmux when it is missing.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

WSTUI = Path(sys.executable).parent / "wstui"  # the venv's entry point (not resolved: keep the venv)
POSITION = re.compile(r"(\d+:\d\d\.\d) / (\d+:\d\d\.\d)")


class Tmux:
    def __init__(self, sock: Path) -> None:
        self.sock = str(sock)

    def __call__(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "e2e")

    def wait_for(self, what, timeout: float = 20.0) -> str:
        """The screen once ``what`` (a string, or a predicate on the screen) holds."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if (what in text) if isinstance(what, str) else what(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what!r}; the screen was:\n{text}")



@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: .ci/run installs it (apt-get install tmux)")
    assert WSTUI.is_file(), f"{WSTUI} missing: install the project into this venv (pip install -e .)"
    t = Tmux(tmp_path / "tmux.sock")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")}
    # a shell first, so the pane can stay after the app exits and tell its exit status
    subprocess.run(["tmux", "-S", t.sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                    "-s", "e2e", "sleep 600"], check=True, env=env, timeout=20)
    t("set-option", "-t", "e2e", "remain-on-exit", "on")
    yield t
    subprocess.run(["tmux", "-S", t.sock, "kill-server"], capture_output=True, timeout=20)


def position(screen: str) -> str:
    m = POSITION.search(screen)
    assert m, f"no replay position in the header:\n{screen}"
    return m.group(1)


def test_wstui_demo_in_a_real_terminal(tmux):
    # the shell around it prints wstui's own exit status once it is gone (tmux 3.3 can mark a pane dead
    # before it has reaped the process, and then reports no status at all)
    tmux("respawn-pane", "-k", "-t", "e2e", f"sh -c 'TERM=xterm-256color {WSTUI}; echo WSTUI_EXIT=$?; sleep 60'")
    # within a couple of seconds: the demo capture, a ladder with a spread, the streams, the events
    screen = tmux.wait_for(lambda s: "replay binance_futures.jsonl.gz" in s and "spread" in s, timeout=30)
    assert "binance-futures" in screen and "AKROUSDT" in screen
    assert "EVENTS" in screen and "q quit" in screen
    assert " 1x " in screen

    tmux("send-keys", "-t", "e2e", "?")
    screen = tmux.wait_for("wstui keys")
    assert "replay: pause; live: freeze the screen" in screen and "quit" in screen
    tmux("send-keys", "-t", "e2e", "Escape")
    tmux.wait_for(lambda s: "wstui keys" not in s)

    tmux("send-keys", "-t", "e2e", "Space")
    screen = tmux.wait_for("PAUSED")
    held = position(screen)
    time.sleep(1.2)
    assert position(tmux.screen()) == held  # paused: the replay position on screen stays put
    tmux("send-keys", "-t", "e2e", "Space")
    tmux.wait_for(lambda s: "PAUSED" not in s and position(s) != held, timeout=10)

    tmux("send-keys", "-t", "e2e", "+")
    tmux.wait_for(" 2x ")

    tmux("send-keys", "-t", "e2e", "q")
    screen = tmux.wait_for("WSTUI_EXIT=", timeout=15)
    assert "WSTUI_EXIT=0" in screen, screen


def test_books_chart_and_palette_in_a_real_terminal(tmux, tmp_path):
    """b, c, escape and ctrl+p in the real command, read off the terminal; q from the help quits."""
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parent))
    from views_util import multi_venue_capture

    cap = multi_venue_capture(tmp_path)
    tmux("respawn-pane", "-k", "-t", "e2e",
         f"sh -c 'TERM=xterm-256color {WSTUI} replay {cap} --speed 5; echo WSTUI_EXIT=$?; sleep 60'")
    tmux.wait_for(lambda s: "replay btc_eth_3_venues" in s and "spread" in s, timeout=30)
    tmux("send-keys", "-t", "e2e", "b")
    screen = tmux.wait_for(lambda s: "BOOKS" in s and "ACROSS VENUES" in s and "BTC-USD · coinbase" in s)
    assert "BTCUSD · gemini" in screen and "of 18" in screen
    tmux("send-keys", "-t", "e2e", "c")
    screen = tmux.wait_for(lambda s: "CHART" in s and "DEPTH" in s)
    assert "candles" in screen
    tmux("send-keys", "-t", "e2e", "Escape")
    tmux.wait_for(lambda s: "EVENTS" in s and "CHART" not in s)
    tmux("send-keys", "-t", "e2e", "C-p")
    tmux.wait_for("Search for commands")
    tmux("send-keys", "-t", "e2e", "-l", "bybit-linear ethusdt book")
    time.sleep(0.8)
    tmux("send-keys", "-t", "e2e", "Enter")
    tmux.wait_for(lambda s: "ETHUSDT · bybit-linear" in s and "Search for commands" not in s)
    tmux("send-keys", "-t", "e2e", "?")
    tmux.wait_for("wstui keys")
    tmux("send-keys", "-t", "e2e", "q")
    screen = tmux.wait_for("WSTUI_EXIT=", timeout=15)
    assert "WSTUI_EXIT=0" in screen, screen
