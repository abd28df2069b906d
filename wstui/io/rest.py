"""REST snapshot requests for live feeds.

- :func:`http_get` is one plain GET with a clear error; :func:`get_in_thread` runs it in a daemon thread of
  its own, so a request that hangs never delays stopping.
- :class:`RestClient` schedules them: one request per URL in flight (every caller gets the answer), at
  least ``spacing`` seconds between two requests, a failing URL backed off (0.5 s, 1 s, ... 30 s), answers
  handed back through ``deliver`` (the engine's ``defer``), and requests still unanswered abandoned when
  stopping.  An HTTP 429 or 418 (rate limit, ban) holds every request to that host for its ``Retry-After``
  (60 s without one): nothing is sent to a host that asked us to wait, not even requests already queued.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable
from urllib.parse import urlsplit

from ..core.text import clean

REST_TIMEOUT_S = 10.0
REST_SPACING_S = 0.25  # at least this long between two REST requests (staggering)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
RATE_LIMITED = (429, 418)  # HTTP statuses that tell the client to stop for Retry-After seconds
HOLD_DEFAULT_S = 60.0  # a 429/418 without Retry-After: wait the whole rate-limit minute


class HttpStatusError(RuntimeError):
    """An HTTP error answer: its status and the ``Retry-After`` it gave (seconds; None: none)."""

    def __init__(self, text: str, status: int, retry_after: float | None) -> None:
        super().__init__(text)
        self.status = status
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds; an HTTP date is taken as 60 s)."""
    if value is None:
        return None
    try:
        v = float(value.strip())
    except ValueError:
        return HOLD_DEFAULT_S
    return v if 0 <= v < 86400 * 3 else None


def http_get(url: str, timeout: float = REST_TIMEOUT_S) -> str:
    """GET ``url`` (run in a thread).  Raises ``RuntimeError`` with a clear message on failure."""
    host = urlsplit(url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={"User-Agent": "wstui", "Accept": "application/json"})
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(200).decode("utf-8", "replace")
        except Exception:
            body = ""
        ra = _retry_after(exc.headers.get("Retry-After") if exc.headers is not None else None)
        raise HttpStatusError(f"HTTP {exc.code} {exc.reason} from {host}" + (f": {clean(body, 120)}" if body else ""),
                              exc.code, ra) from None
    except urllib.error.URLError as exc:
        r = exc.reason
        if isinstance(r, socket.gaierror):
            raise RuntimeError(f"DNS lookup failed for {host}") from None
        raise RuntimeError(f"REST request to {host} failed: {clean(r, 160)}") from None
    except (TimeoutError, socket.timeout):
        raise RuntimeError(f"REST request to {host} timed out after {timeout:g} s") from None
    except OSError as exc:
        raise RuntimeError(f"REST request to {host} failed: {clean(exc, 160)}") from None


async def get_in_thread(url: str) -> str:
    """:func:`http_get` in a daemon thread of its own.  Unlike ``asyncio.to_thread`` (whose worker
    ``asyncio.run`` and the interpreter wait for at exit) a request that hangs never delays stopping:
    cancelling the await abandons it, and an answer arriving after the loop closed is dropped."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def deliver(body: str | None, exc: BaseException | None) -> None:
        if not fut.done():
            if exc is None:
                fut.set_result(body)
            else:
                fut.set_exception(exc)

    def work() -> None:
        body = exc = None
        try:
            body = http_get(url)
        except Exception as e:
            exc = e
        try:
            loop.call_soon_threadsafe(deliver, body, exc)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this answer any more

    threading.Thread(target=work, name="wstui-rest", daemon=True).start()
    return await fut




class RestClient:
    """Schedules REST requests (see the module's docstring).  Runs on the event loop's thread."""

    def __init__(self, spacing: float = REST_SPACING_S, recorder: Any = None) -> None:
        self.spacing = spacing
        self.recorder = recorder
        self.inflight: dict[str, list[Callable]] = {}  # real URL -> callbacks waiting for it
        self.tasks: set[asyncio.Task] = set()
        self._next = 0.0
        self._fail: dict[str, tuple[int, float]] = {}  # real URL -> (failures in a row, not before)
        self._by_conn: dict[str, int] = {}  # connection id -> its requests in flight
        self._hold: dict[str, float] = {}  # host -> no request before this time (429/418 Retry-After)
        self.rate_limited = 0  # 429/418 answers received

    def pending(self, conn_id: str) -> int:
        """Requests of this connection in flight (its books wait for them: no reconnect meanwhile)."""
        return self._by_conn.get(conn_id, 0)

    def get(self, conn_id: str, url: str, real: str, callback: Callable,
            deliver: Callable[[Callable, str | None, str | None], None]) -> None:
        """GET ``real`` (``url`` is the venue's own address, as recorded); ``deliver(callback, body, error)``
        runs when it is answered."""
        waiting = self.inflight.get(real)
        if waiting is not None:
            waiting.append(callback)
            return
        self.inflight[real] = [callback]
        t = asyncio.ensure_future(self._run(conn_id, url, real, deliver))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _run(self, conn_id: str, url: str, real: str, deliver) -> None:
        body = err = None
        self._by_conn[conn_id] = self._by_conn.get(conn_id, 0) + 1
        try:
            host = urlsplit(real).netloc
            now = time.time()
            _fails, until = self._fail.get(real, (0, 0.0))
            start = max(now, self._next, until, self._hold.get(host, 0.0))
            self._next = start + self.spacing
            while True:
                delay = start - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                hold = self._hold.get(host, 0.0)
                if hold <= time.time():
                    break
                # the host said "wait" while this one was queued: wait it out too, spaced as usual
                start = max(hold, self._next)
                self._next = start + self.spacing
            body = await get_in_thread(real)
            self._fail.pop(real, None)
        except asyncio.CancelledError:
            err = "cancelled"
            raise
        except Exception as exc:
            err = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
            fails, _ = self._fail.get(real, (0, 0.0))
            self._fail[real] = (fails + 1, time.time() + min(30.0, 0.5 * 2 ** fails))
            if isinstance(exc, HttpStatusError) and exc.status in RATE_LIMITED:
                self.rate_limited += 1
                wait = exc.retry_after if exc.retry_after is not None else HOLD_DEFAULT_S
                host = urlsplit(real).netloc
                self._hold[host] = max(self._hold.get(host, 0.0), time.time() + wait)
                err = f"rate limited: no REST requests to {host} for {wait:g} s (Retry-After); {err}"
        finally:
            self._by_conn[conn_id] -= 1
            cbs = self.inflight.pop(real, [])
            if body is not None and self.recorder is not None:
                self.recorder.http(f"{conn_id.split('.ws.')[0]}.http.0", time.time(), url, body)
            if err != "cancelled":
                for cb in cbs:
                    deliver(cb, body, None if body is not None else clean(err, 200))

    def abandon(self) -> list[str]:
        """Stop: cancel every request; the URLs that were still unanswered."""
        left = list(self.inflight)
        for t in list(self.tasks):
            t.cancel()
        return left
