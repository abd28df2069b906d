"""The real Prometheus (Debian's ``prometheus``, installed by .ci/run) scrapes the real ``wstui watch --metrics``
watching ``wstui serve --sim`` with a stall, every second, and the test reads it all back through Prometheus's
HTTP API: message rates per venue, the stall as a stale state, the recovery after it.  The example alert
rules load into that Prometheus and pass ``promtool check rules`` and ``promtool test rules``; every query of
the example Grafana dashboard runs on it.

Prometheus missing is a failure, not a skip: .ci/run installs it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse

import pytest

from live_util import ENV, ROOT, Served, closed_port, no_traceback, wstui_cmd
from service_util import http_get

RULES = ROOT / "deploy" / "prometheus" / "wstui-alerts.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "wstui-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "wstui.json"
STALL_AT, STALL_FOR, STALE = 6.0, 6.0, 2.0


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: .ci/run installs Debian's prometheus (apt-get install prometheus)")
    return path


class Prometheus:
    """``prometheus`` on a free loopback port with its own config and data directory, scraping ``target``."""

    def __init__(self, tmp, target: str) -> None:
        self.port = closed_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text(json.dumps({  # YAML is a superset of JSON
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "wstui", "static_configs": [{"targets": [target]}]}],
        }))
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen([tool("prometheus"), f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp)
        self.tmp = tmp
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.logtail()
            try:
                if http_get(f"{self.base}/-/ready", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"prometheus not ready in 30 s: {self.logtail()}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logtail(self) -> str:
        return (self.tmp / "prometheus.log").read_text()[-3000:]

    def api(self, path: str, **params) -> dict:
        status, _ct, body = http_get(f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", body[:1000]
        return doc["data"]

    def query(self, q: str) -> dict[tuple, float]:
        """Instant query: {sorted label items: value}."""
        data = self.api("query", query=q)
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]}

    def wait(self, q: str, pred, timeout: float, what: str) -> dict[tuple, float]:
        deadline = time.monotonic() + timeout
        got: dict = {}
        while time.monotonic() < deadline:
            got = self.query(q)
            if pred(got):
                return got
            time.sleep(0.25)
        pytest.fail(f"{what}: {q} gave {got}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def by(label: str, got: dict[tuple, float]) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in got.items()}


def test_prometheus_scrapes_rates_the_stall_and_the_recovery(tmp_path):
    metrics_port = closed_port()
    prom = Prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
    try:
        with Served("--sim", "--rate", 40, "--seed", 4, "--fault", f"stall@{STALL_AT}s:{STALL_FOR}s") as srv:
            svc = subprocess.Popen(
                wstui_cmd("watch", "kraken:BTC/USD", "binance-futures:btcusdt", "--endpoint", f"kraken={srv.url('/v2')}",
                          "--endpoint", f"binance-futures={srv.url()}", "--headless", "--stale-after", STALE, "--json",
                          "--metrics", f"127.0.0.1:{metrics_port}"),
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            try:
                # up, and positive message rates per venue, as Prometheus computes them from its scrapes
                prom.wait('up{job="wstui"}', lambda g: list(g.values()) == [1.0], 20, "never scraped")
                rates = prom.wait('sum by (venue) (rate(wstui_stream_messages_total[5s]))',
                                  lambda g: len(g) == 2 and min(g.values()) > 5, 20, "no message rates")
                assert set(by("venue", rates)) == {"kraken", "binance-futures"}
                live = prom.query('wstui_stream_state{channel="book",state="live"}')
                assert sorted(by("venue", live).values()) == [1.0, 1.0], live

                # the stall (every connection, STALL_AT s after the first connected) is a stale state...
                stale = prom.wait('wstui_stream_state{channel="book",state="stale"} == 1',
                                  lambda g: len(g) == 2, STALL_AT + STALE + 10, "the stall never showed as stale")
                assert set(by("venue", stale)) == {"kraken", "binance-futures"}
                still = prom.query('rate(wstui_stream_messages_total{channel="book"}[2s])')
                assert max(still.values()) == 0.0, still  # ...with no messages meanwhile
                assert prom.query('wstui_connection_up') and min(prom.query('wstui_connection_up').values()) == 1.0
                # ...then the books are live again, with messages flowing, on the same connections
                prom.wait('wstui_stream_state{channel="book",state="live"} == 1', lambda g: len(g) == 2,
                          STALL_FOR + 10, "never recovered")
                prom.wait('sum by (venue) (rate(wstui_stream_messages_total{channel="book"}[3s]))',
                          lambda g: len(g) == 2 and min(g.values()) > 5, 10, "no messages after the stall")
                assert prom.query('max(wstui_connection_reconnects_total)') == {(): 0.0}

                # the whole story in one range query: live, stale, live again, for each book
                end = time.time()
                data = prom.api("query_range", query='wstui_stream_state{channel="book",state="stale"}',
                                start=end - 60, end=end, step="1s")
                for series in data["result"]:
                    vals = [float(v) for _t, v in series["values"]]
                    first, last = vals.index(1.0), len(vals) - 1 - vals[::-1].index(1.0)
                    assert vals[0] == 0.0 and vals[-1] == 0.0 and first < last, (series["metric"], vals)
                    assert STALL_FOR - STALE - 2 <= last - first + 1 <= STALL_FOR - STALE + 2, vals

                # the example rules loaded and evaluate without error against the real series
                groups = prom.api("rules")["groups"]
                rules = [r for g in groups for r in g["rules"]]
                assert {r["name"] for r in rules} >= {"WstuiStreamStale", "WstuiChecksumFailures",
                                                      "WstuiReconnectStorm"}
                assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
                pending = prom.query('ALERTS{alertname="WstuiStreamStale"}')
                assert pending == {} or set(by("alertstate", pending)) <= {"pending"}  # for: 1m, not yet firing

                # every query of the example Grafana dashboard runs on this Prometheus, and finds data
                found = {}
                for title, expr in dashboard_queries():
                    q = expr.replace("$__rate_interval", "5s").replace('"$instance"', '".*"')
                    found[title] = prom.query(q)  # raises unless the query parses and runs
                assert len(found["Messages per second by venue"]) == 2
                assert len(found["Seconds since the last message"]) == 4
                assert len(found["Exchange-to-receive latency p99"]) == 4
                alarms = found["Streams in an alarm state"]  # recovered: no book in an alarm state
                assert not [k for k in alarms if dict(k)["channel"] == "book"], alarms
            finally:
                svc.send_signal(signal.SIGTERM)
                out, err = svc.communicate(timeout=15)
        assert svc.returncode == 0, err
        no_traceback(err)
        assert json.loads(out)["messages"] > 0
    finally:
        prom.stop()


def dashboard_queries() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["panels"]
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_the_example_config_and_alert_rules_pass_promtool():
    promtool = tool("promtool")
    p = subprocess.run([promtool, "check", "config", str(RULES.parent / "prometheus.yml")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    p = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    # the rules' own unit tests: stale for more than a minute, checksum failures increasing, a reconnect storm
    p = subprocess.run([promtool, "test", "rules", str(RULES_TEST)], capture_output=True, text=True, timeout=60,
                       cwd=RULES_TEST.parent)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
