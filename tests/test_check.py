"""``wstui check``, the Nagios/Icinga plugin, through the real command: against ``wstui serve --sim`` (healthy,
a gap for a WARNING), a server that goes silent (CRITICAL), and bad arguments (UNKNOWN, exit 3)."""

from __future__ import annotations

import re
import subprocess

import pytest

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd

PERF = re.compile(r"^(?:'[^'|=]+'|[A-Za-z0-9_:./-]+)=-?[0-9.]+(?:s|ms|us|%|B|KB|MB|TB|c)?(?:;-?[0-9.]*){0,4}$")
STATUS = re.compile(r"^WSTUI (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.*))?$")


def check(*args, timeout: float = 60) -> tuple[int, str, str, dict[str, str]]:
    """(exit status, status word, text, perfdata {label: value}) of one ``wstui check`` run."""
    p = subprocess.run(wstui_cmd("check", *args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                       env=ENV)
    no_traceback(p.stderr)
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout  # a plugin prints one line
    m = STATUS.match(lines[0])
    assert m, lines[0]
    perf = {}
    for item in (m.group(3) or "").split():
        assert PERF.match(item), item
        label, _, val = item.rpartition("=")
        perf[label.strip("'")] = val
    return p.returncode, m.group(1), m.group(2), perf


def endpoints(srv) -> list[str]:
    return ["--endpoint", f"kraken={srv.url('/v2')}", "--endpoint", f"binance-futures={srv.url()}"]


def test_healthy_feeds_are_ok_with_perfdata():
    with Served("--sim", "--rate", 50, "--seed", 2) as srv:
        rc, word, text, perf = check("kraken:BTC/USD", "binance-futures:btcusdt", *endpoints(srv), "--duration", "3")
    assert (rc, word) == (0, "OK"), text
    assert "4 stream(s) OK" in text
    assert perf["streams"].startswith("4;") and perf["critical"].startswith("0;")
    for key in ("kraken:BTC/USD:book", "binance-futures:BTCUSDT:book"):
        assert float(perf[f"{key}_rate"].split(";")[0]) > 10  # messages per second over the check
        assert float(perf[f"{key}_age"].rstrip("s;0")) < 2
        assert perf[f"{key}_gaps"].startswith("0c")


def test_a_silent_server_is_critical():
    # the server accepts, subscribes, then sends nothing at all
    with Served("--sim", "--rate", 50, "--seed", 2, "--fault", "stall@0s:60s") as srv:
        rc, word, text, perf = check("kraken:BTC/USD", *endpoints(srv)[:2], "--duration", "3", "--stale-after", "1")
    assert (rc, word) == (2, "CRITICAL"), text
    assert "kraken:BTC/USD:book stale" in text and "2 critical" in text
    assert perf["critical"].startswith("2;")


def test_a_gap_is_a_warning_by_the_thresholds_given():
    with Served("--sim", "--rate", 50, "--seed", 2, "--fault", "gap@1s:5") as srv:
        rc, word, text, _perf = check("binance-futures:btcusdt", *endpoints(srv)[2:], "--duration", "3.5",
                                      "--warn", "gaps>0", "--crit", "stale,down,checksum_failed>0")
    assert (rc, word) == (1, "WARNING"), text
    assert "binance-futures:BTCUSDT:book" in text and "gaps>0" in text


@pytest.mark.parametrize("args,why", [
    (["kraken:BTC/USD", "--duration", "-1"], "expected a positive number"),  # argparse's own error
    (["kraken:BTC/USD", "--bogus"], "unrecognized arguments"),
    (["nope:BTC"], "unknown venue"),
    (["kraken:BTC/USD", "--warn", "stale,foo>1"], "--warn 'foo>1'"),
    ([], "name at least one stream"),
])
def test_bad_arguments_are_unknown_exit_3(args, why):
    rc, word, text, perf = check(*args)
    assert (rc, word) == (3, "UNKNOWN") and why in text, text
