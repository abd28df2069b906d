"""The ``wstui watch --config FILE`` TOML file: streams, endpoints and stale thresholds (``wstui replay
--config FILE`` takes its thresholds only).

::

    stale_after = 5            # an explicit threshold in seconds for every stream (the command line's
                               # --stale-after wins; without either, health learns each stream's cadence)
    lag_after = 3
    streams = [
      "kraken:BTC/USD",
      { venue = "binance-futures", symbol = "btcusdt", stale_after = 2 },
      { url = "wss://example.org/feed", stale_after = 60 },
    ]

    [endpoints]                # VENUE = URL, like --endpoint
    kraken = "ws://127.0.0.1:8765"

    [stale]                    # stream key or glob -> seconds
    "binance-futures:*:trades" = 30

Every value is checked; a bad one is a :class:`ConfigError` naming the file and the key (the command
prints it and exits 2), never a traceback.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .spec import SpecError, check_ws_url, parse_endpoint, parse_stream


class ConfigError(SpecError):
    pass


@dataclass
class WatchConfig:
    streams: list[str] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)
    stale_after: float | None = None
    lag_after: float | None = None
    stale_overrides: dict[str, float] = field(default_factory=dict)


TOP_KEYS = {"streams", "endpoints", "stale", "stale_after", "lag_after"}
STREAM_KEYS = {"venue", "symbol", "url", "stale_after"}


def _seconds(v: object, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{where} must be a positive number of seconds, not {v!r}")
    return float(v)


def _text(v: object, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where} must be a non-empty string, not {v!r}")
    return v.strip()


def load_config(path: str | Path) -> WatchConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config {p}: cannot read it: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config {p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {p}: not valid TOML: {exc}") from None
    try:
        return parse_config(doc)
    except SpecError as exc:
        raise ConfigError(f"config {p}: {exc}") from None


def parse_config(doc: dict) -> WatchConfig:
    cfg = WatchConfig()
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))} (expected: {', '.join(sorted(TOP_KEYS))})")
    if "stale_after" in doc:
        cfg.stale_after = _seconds(doc["stale_after"], "stale_after")
    if "lag_after" in doc:
        cfg.lag_after = _seconds(doc["lag_after"], "lag_after")
    eps = doc.get("endpoints", {})
    if not isinstance(eps, dict):
        raise ConfigError("[endpoints] must be a table of VENUE = \"ws://...\"")
    for venue, url in eps.items():
        name, u = parse_endpoint(f"{venue}={_text(url, f'endpoints.{venue}')}")
        cfg.endpoints[name] = u
    stale = doc.get("stale", {})
    if not isinstance(stale, dict):
        raise ConfigError("[stale] must be a table of \"stream key or glob\" = seconds")
    table = {key: _seconds(v, f"stale.{key!r}") for key, v in stale.items()}
    streams = doc.get("streams", [])
    if not isinstance(streams, list):
        raise ConfigError("streams must be a list of \"VENUE:SYMBOL\" strings or tables")
    for i, item in enumerate(streams):
        where = f"streams[{i}]"
        if isinstance(item, str):
            parse_stream(item)
            cfg.streams.append(item.strip())
            continue
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a \"VENUE:SYMBOL\" string or a table, not {item!r}")
        bad = set(item) - STREAM_KEYS
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))} (expected: {', '.join(sorted(STREAM_KEYS))})")
        if "url" in item:
            if "venue" in item or "symbol" in item:
                raise ConfigError(f"{where}: give either url or venue and symbol, not both")
            spec = check_ws_url(_text(item["url"], f"{where}.url"), f"{where}.url")
        else:
            spec = f"{_text(item.get('venue'), f'{where}.venue')}:{_text(item.get('symbol'), f'{where}.symbol')}"
        cls, sym, url = parse_stream(spec)
        cfg.streams.append(spec)
        if "stale_after" in item:
            secs = _seconds(item["stale_after"], f"{where}.stale_after")
            if url is not None:
                u = urlsplit(url)
                cfg.stale_overrides[f"{u.hostname}:{u.path or '/'}:*"] = secs
            else:
                cfg.stale_overrides[f"{cls.name}:{sym}:*"] = secs
    # the first match wins: a stream's own stale_after, then the [stale] table in file order
    for key, secs in table.items():
        cfg.stale_overrides.setdefault(key, secs)
    return cfg
