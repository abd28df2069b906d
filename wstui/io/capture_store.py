"""A capture loaded for serving (``wstui serve FILE``): its connections' received frames and its REST
answers, matched to what a client asks for."""

from __future__ import annotations

import base64
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from ..core.text import clean
from .capture import RECORD_TYPES, iter_lines
from .replay import url_key


@dataclass
class CaptureConn:
    conn: str
    addr: str
    frames: list[tuple[float, str | bytes]]
    first_send: float | None  # capture time of the client's first send (frames after it wait for one)


def rest_key(path_query: str) -> tuple:
    """Host-free key of a REST request: path and the parameters that pick the data (as replay matches)."""
    return url_key("http://any" + path_query)


class CaptureData:
    """A capture loaded for serving: its connections and REST answers.  A bad line is skipped and kept
    in ``bad`` (line number, why), the way a replay reports it; the good lines around it are served."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conns: list[CaptureConn] = []
        self.http: dict[tuple, list[tuple[float, str]]] = defaultdict(list)
        self.bad: list[tuple[int, str]] = []
        by_id: dict[str, CaptureConn] = {}
        for n, line, err in iter_lines(self.path):
            why = self._load(line, err, by_id) if line is not None else (err or "unreadable")
            if why is not None:
                self.bad.append((n, clean(why, 200)))
        self.conns = [c for c in self.conns if c.frames]

    def _load(self, line: bytes, err: str | None, by_id: dict[str, CaptureConn]) -> str | None:
        """Take one record in; the reason it cannot be used, else None."""
        try:
            rec = orjson.loads(line)
            t = rec["t"]
        except orjson.JSONDecodeError as exc:
            return f"line is not JSON ({exc}): {line[:80]!r}"
        except (KeyError, TypeError):
            return f"record has no type field 't': {line[:80]!r}"
        if not isinstance(t, str) or t not in RECORD_TYPES:
            return f"unknown record type {clean(t, 40)!r}"
        if t not in ("http", "connect", "send", "recv"):
            return None
        try:
            ts = float(rec["ts"])
        except (KeyError, TypeError, ValueError):
            return f"{t} record without a valid 'ts'"
        if not math.isfinite(ts):
            return f"{t} record without a valid 'ts'"
        if t == "http":
            u = urlsplit(str(rec.get("url", "")))
            self.http[rest_key(u.path + ("?" + u.query if u.query else ""))].append((ts, str(rec.get("data", ""))))
            return None
        cid = rec.get("conn")
        if not isinstance(cid, str):
            return f"{t} record without a valid 'conn'"
        c = by_id.get(cid)
        if c is None:
            c = by_id[cid] = CaptureConn(cid, "", [], None)
            self.conns.append(c)
        if t == "connect":
            c.addr = c.addr or str(rec.get("addr", ""))
        elif t == "send":
            if c.first_send is None:
                c.first_send = ts
            c.addr = c.addr or str(rec.get("addr", ""))
        else:
            data = rec.get("data")
            if data is None:
                if "b64" not in rec:
                    return "recv record with neither 'data' nor 'b64'"
                try:
                    data = base64.b64decode(rec["b64"])
                except (ValueError, TypeError) as exc:
                    return f"recv record with bad base64: {exc}"
            c.frames.append((ts, data))
        return None

    def report_bad(self, out, most: int = 20) -> None:
        """The bad lines on ``out`` (stderr): ``bad record: FILE:LINE: why``, the first ``most`` of them."""
        try:
            for n, why in self.bad[:most]:
                print(f"wstui serve: bad record: {self.path}:{n}: {why}", file=out)
            if self.bad:
                more = f" ({len(self.bad) - most} more not shown)" if len(self.bad) > most else ""
                print(f"wstui serve: {len(self.bad)} bad records skipped in {self.path}{more}", file=out, flush=True)
        except (OSError, ValueError):
            pass

    def pick(self, request_path: str) -> CaptureConn | None:
        """The connection whose address best matches the client's path (then query), else the first."""
        if not self.conns:
            return None
        want = urlsplit(request_path)
        best, score = self.conns[0], (-1, -1)
        for c in self.conns:
            have = urlsplit(c.addr)
            s = (int(have.path.rstrip("/") == want.path.rstrip("/")),
                 _common_prefix(have.path + "?" + have.query, want.path + "?" + want.query))
            if s > score:
                best, score = c, s
        return best

    def answer(self, path_query: str, position: float | None) -> str | None:
        answers = self.http.get(rest_key(path_query))
        if not answers:
            return None
        if position is not None:
            for ts, body in answers:
                if ts >= position:
                    return body
            return answers[-1][1]
        return answers[0][1]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n

