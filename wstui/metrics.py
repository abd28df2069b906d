"""Prometheus metrics: ``--metrics HOST:PORT`` serves ``/metrics`` (and a landing page at ``/``).

A view like the UI: it reads only the engine's latest published :class:`~wstui.core.snapshot.Snapshot`,
at scrape time, in the HTTP server's own thread (a snapshot is immutable, so this needs no lock and never
touches the engine).  The families are built afresh from that snapshot on every scrape by a custom
collector, so only streams and connections that exist now appear: the number of series is bounded by the
streams watched (and capped at ``MAX_STREAMS``), never by history.

Naming follows Prometheus practice: one ``wstui_`` prefix, base units (seconds, bytes), ``_total`` counters,
no timestamps on samples.  Label values come from feeds and are untrusted; ``prometheus_client`` escapes
them in the exposition format.
"""

from __future__ import annotations

import platform
import socket
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from . import __version__
from .core.snapshot import Snapshot
from .core.stream import LAT_BUCKETS, STATES

MAX_STREAMS = 5000  # streams exported at most (the rest are counted in wstui_metrics_streams_omitted)
STREAM_LABELS = ("venue", "symbol", "channel")
CONN_LABELS = ("conn", "venue")
_LE = tuple(floatToGoString(b) for b in LAT_BUCKETS) + ("+Inf",)


class MetricsError(ValueError):
    """A ``--metrics`` address that cannot be used (a clear error, exit 2)."""


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9780"``, ``"[::1]:9780"``, ``":9780"`` (all interfaces) -> (host, port)."""
    t = text.strip()
    host, sep, port = t.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise MetricsError(f"--metrics {text!r} is not HOST:PORT (e.g. 127.0.0.1:9780)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


class SnapshotCollector:
    """Builds every ``wstui_`` family from ``latest()`` (a Snapshot or None) each time it is collected."""

    def __init__(self, latest: Callable[[], Snapshot | None], max_streams: int = MAX_STREAMS) -> None:
        self.latest = latest
        self.max_streams = max_streams

    def describe(self) -> list[Metric]:
        return []  # the families depend on the snapshot: do not collect at registration

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("wstui_build_info", "wstui version and Python running it (always 1)",
                                 labels=["version", "python"])
        info.add_metric([__version__, platform.python_version()], 1)
        yield info
        snap = self.latest()
        if snap is None:
            return
        yield from self._engine(snap)
        yield from self._streams(snap)
        yield from self._connections(snap)
        yield from self._rest(snap)

    def _engine(self, snap: Snapshot) -> Iterator[Metric]:
        g = GaugeMetricFamily("wstui_backlog_frames", "Frames received but not yet processed")
        g.add_metric([], getattr(snap, "backlog_frames", None) or getattr(snap, "backlog", 0))
        yield g
        c = CounterMetricFamily("wstui_events_total", "Events the engine raised (gap, stale, reconnect, ...)")
        c.add_metric([], snap.events_total)
        yield c
        c = CounterMetricFamily("wstui_bad_records_total", "Frames or capture lines that could not be read")
        c.add_metric([], snap.bad_records_total)
        yield c
        g = GaugeMetricFamily("wstui_snapshot_age_seconds",
                              "Wall seconds since the engine last published (a stuck engine grows this)")
        g.add_metric([], max(0.0, time.time() - snap.wall))
        yield g

    def _streams(self, snap: Snapshot) -> Iterator[Metric]:
        streams = snap.streams[: self.max_streams]
        omitted = GaugeMetricFamily("wstui_metrics_streams_omitted",
                                    f"Streams left out of these metrics (more than {self.max_streams})")
        omitted.add_metric([], len(snap.streams) - len(streams))
        yield omitted
        labels = list(STREAM_LABELS)
        multi = any(getattr(s, "monitor", "") for s in streams)  # wstui attach: the same stream of two monitors
        if multi:
            labels.append("monitor")
        msgs = CounterMetricFamily("wstui_stream_messages_total", "Data messages received per stream", labels=labels)
        nbytes = CounterMetricFamily("wstui_stream_bytes_total", "Bytes of data messages received per stream",
                                     labels=labels)
        last = GaugeMetricFamily("wstui_stream_last_message_timestamp_seconds",
                                 "Receive time (Unix seconds, or capture time in a replay) of the last message",
                                 labels=labels)
        state = GaugeMetricFamily("wstui_stream_state", "Health state of the stream: 1 for the current one",
                                  labels=[*labels, "state"])
        cause = GaugeMetricFamily("wstui_stream_alarm_cause", "Why the stream is in an alarm state (label cause), "
                                  "1; no series while it is healthy", labels=[*labels, "cause"])
        since = GaugeMetricFamily("wstui_stream_state_since_timestamp_seconds",
                                  "When the stream entered its current state", labels=labels)
        stale_after = GaugeMetricFamily("wstui_stream_stale_threshold_seconds",
                                        "Silence after which the stream is stale", labels=labels)
        lat = HistogramMetricFamily("wstui_stream_latency_seconds",
                                    "Delay from the exchange's timestamp to receipt", labels=labels)
        parse = CounterMetricFamily("wstui_stream_parse_errors_total", "Messages of the stream not understood",
                                    labels=labels)
        cks = CounterMetricFamily("wstui_book_checksum_failures_total", "Book checksum mismatches", labels=labels)
        cks_ok = CounterMetricFamily("wstui_book_checksums_total", "Book checksums verified (matching or not)",
                                     labels=labels)
        gaps = CounterMetricFamily("wstui_book_gaps_total", "Sequence gaps in the book's updates", labels=labels)
        resyncs = CounterMetricFamily("wstui_book_resyncs_total", "Books rebuilt from a fresh snapshot after "
                                      "going out of sync", labels=labels)
        synced = GaugeMetricFamily("wstui_book_in_sync", "1 while the book is known correct", labels=labels)
        for s in streams:
            lv = [s.venue, s.symbol, s.channel, s.monitor] if multi else [s.venue, s.symbol, s.channel]
            msgs.add_metric(lv, s.messages)
            nbytes.add_metric(lv, s.bytes)
            if s.last_age_s is not None:
                last.add_metric(lv, snap.now - s.last_age_s)
            current = s.state
            for name in STATES if current in STATES else (*STATES, current):
                state.add_metric([*lv, name], 1.0 if name == current else 0.0)
            why = getattr(s, "cause", "") or ""  # the health model's cause, where it gives one
            if why:
                cause.add_metric([*lv, why], 1.0)
            since.add_metric(lv, s.state_since)
            stale_after.add_metric(lv, s.stale_after)
            parse.add_metric(lv, s.parse_errors)
            counts = s.latency_counts
            if counts:
                cum, buckets = 0, []
                for le, n in zip(_LE, counts):
                    cum += n
                    buckets.append((le, cum))
                lat.add_metric(lv, buckets, s.latency_sum)
            if s.has_book:
                cks.add_metric(lv, s.checksum_failed)
                cks_ok.add_metric(lv, s.checksum_ok + s.checksum_failed)
                gaps.add_metric(lv, s.gaps)
                resyncs.add_metric(lv, s.resyncs)
                synced.add_metric(lv, 1.0 if s.book_state == "ok" else 0.0)
        yield from (msgs, nbytes, last, state, cause, since, stale_after, lat, parse, cks, cks_ok, gaps, resyncs, synced)

    def _connections(self, snap: Snapshot) -> Iterator[Metric]:
        labels = list(CONN_LABELS)
        up = GaugeMetricFamily("wstui_connection_up", "1 while the connection is open", labels=labels)
        rec = CounterMetricFamily("wstui_connection_reconnects_total", "Times the connection was opened again",
                                  labels=labels)
        msgs = CounterMetricFamily("wstui_connection_messages_total", "Frames received on the connection",
                                   labels=labels)
        nbytes = CounterMetricFamily("wstui_connection_bytes_total", "Bytes received on the connection",
                                     labels=labels)
        errs = CounterMetricFamily("wstui_connection_parse_errors_total", "Frames on the connection not understood",
                                   labels=labels)
        unsol = CounterMetricFamily("wstui_connection_unsolicited_frames_total",
                                    "Frames naming a stream the connection did not subscribe", labels=labels)
        for c in snap.connections[: self.max_streams]:
            lv = [c.conn, c.venue]
            up.add_metric(lv, 1.0 if c.up else 0.0)
            rec.add_metric(lv, max(0, c.connects - 1))
            msgs.add_metric(lv, c.messages)
            nbytes.add_metric(lv, c.bytes)
            errs.add_metric(lv, c.parse_errors)
            n = getattr(c, "unsolicited", None)  # counted where the engine counts them
            if n is not None:
                unsol.add_metric(lv, n)
        yield from (up, rec, msgs, nbytes, errs, unsol)


    def _rest(self, snap: Snapshot) -> Iterator[Metric]:
        """Per venue REST host (book snapshots): requests and weight spent, the last minute against the
        venue's documented budget, the venue's own count, what waits, and rate-limit answers."""
        fams = {key: (CounterMetricFamily if counter else GaugeMetricFamily)(name, doc, labels=["host"])
                for key, counter, name, doc in REST_FAMILIES}
        for h in snap.rest:
            host = str(h.get("host", ""))
            for key, fam in fams.items():
                v = h.get(key)
                if type(v) in (int, float):
                    fam.add_metric([host], v)
        yield from fams.values()


# (the field of a snapshot's rest[] entry, a counter?, the family, its help)
REST_FAMILIES = (
    ("requests", True, "wstui_rest_requests_total", "REST requests sent to the host"),
    ("weight", True, "wstui_rest_weight_total", "Request weight spent at the host, as the venue counts it"),
    ("weight_last_min", False, "wstui_rest_weight_last_minute", "Weight spent in the last 60 s"),
    ("budget_per_min", False, "wstui_rest_weight_budget_per_minute",
     "The venue's documented weight budget a minute (this process's share)"),
    ("cap_per_min", False, "wstui_rest_weight_cap_per_minute", "The weight a minute wstui keeps to (a share of the budget)"),
    ("venue_used_weight", False, "wstui_rest_venue_used_weight",
     "The weight the venue says our address used in its window (every program on it)"),
    ("venue_holds", True, "wstui_rest_venue_holds_total", "Times the venue's own count held the queue (its window nearly spent)"),
    ("queued", False, "wstui_rest_queued_requests", "Requests waiting for the weight budget"),
    ("inflight", False, "wstui_rest_inflight_requests", "Requests sent, not yet answered"),
    ("errors", True, "wstui_rest_errors_total", "Requests that failed (network, HTTP error, bad body)"),
    ("rate_limited", True, "wstui_rest_rate_limited_total", "HTTP 429/418 answers (the host held for Retry-After)"),
)


LANDING = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>wstui exporter</title></head>
<body><h1>wstui exporter</h1>
<p>Freshness and integrity of market-data WebSocket feeds, for Prometheus.</p>
<p><a href="/metrics">/metrics</a></p>
</body></html>
"""


def make_app(registry: CollectorRegistry) -> Callable:
    """WSGI: ``/metrics`` through prometheus_client, ``/`` the landing page, anything else 404."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            return metrics(environ, start_response)
        if path in ("/", "/index.html"):
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                      ("Content-Length", str(len(LANDING)))])
            return [LANDING]
        body = b"not found: see /metrics\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a line each
        pass


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Threading6(_Threading):
    address_family = socket.AF_INET6


class MetricsServer:
    """``/metrics`` served from a daemon thread until :meth:`close`."""

    def __init__(self, latest: Callable[[], Snapshot | None], host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(latest))
        cls = _Threading6 if ":" in host else _Threading
        try:
            self.httpd = make_server(host, port, make_app(self.registry), server_class=cls, handler_class=_Quiet)
        except OSError as exc:
            raise MetricsError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.25},
                                       name="wstui-metrics", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_metrics(engine: Any, listen: str) -> MetricsServer:
    host, port = parse_listen(listen)
    return MetricsServer(lambda: engine.latest, host, port)
