"""REST snapshot requests for live feeds.

- :func:`http_get` is one plain GET with a clear error; :func:`get_in_thread` runs it in a daemon thread of
  its own, so a request that hangs never delays stopping.
- :class:`RestClient` schedules them per REST host, in the order asked: one request per URL queued or in
  flight (every caller gets the answer), a failing URL backed off (0.5 s, 1 s, ... 30 s), answers handed
  back through ``deliver`` (the engine's ``defer``), and requests still unanswered abandoned when stopping.
- A host with a documented weight budget (``Limits.rest_weight_per_min``) gets a weight scheduler: a
  request is sent only when the weight sent to that host in the last minute plus its own stays within
  ``BUDGET_HEADROOM`` of the budget (room left for resyncs, for other programs on the same IP, and for
  the venue's clock counting a request a little later than we do); at most ``MAX_INFLIGHT`` requests per
  host at once, ``BUDGET_SPACING_S`` apart.  A host without one: at least ``spacing`` seconds apart.
  Hundreds of books starting at once therefore queue instead of meeting a 429, and every queued request
  knows its place and the estimated time it will be sent (:meth:`RestClient.estimate`).
- An HTTP 429 or 418 (rate limit, ban) still holds every request to that host for its ``Retry-After``
  (60 s without one): nothing is sent to a host that asked us to wait, not even requests already queued.
- Where the venue counts in an answer header the weight our address used in its minute (Binance's
  ``X-MBX-USED-WEIGHT-1M``, ``Limits.rest_used_weight_header``), that count is read too: when it says
  the address's minute is nearly spent (other programs on this address, or our other workers, spent it),
  the host is held for a minute, before the venue answers 429.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple
from urllib.parse import urlsplit

from ..core.text import clean

REST_TIMEOUT_S = 10.0
REST_SPACING_S = 0.25  # at least this long between two REST requests to a host with no known budget
BUDGET_SPACING_S = 0.01  # between two requests to a host whose weight budget is scheduled
BUDGET_HEADROOM = 0.8  # the share of a host's weight budget we spend at most
BUDGET_WINDOW_S = 61.0  # the venue's minute, plus a second for its clock counting after ours
MAX_INFLIGHT = 2  # requests to one host at once: when a 429 comes back, at most one more is on its way
LOOPBACK = ("127.0.0.1", "localhost", "::1")
RATE_LIMITED = (429, 418)  # HTTP statuses that tell the client to stop for Retry-After seconds
HOLD_DEFAULT_S = 60.0  # a 429/418 without Retry-After: wait the whole rate-limit minute
VENUE_WINDOW_S = 60.0  # the venue's own weight count (its minute): how long a count near its cap holds us


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


class Answer(NamedTuple):
    body: str
    headers: Mapping[str, str]  # (case-insensitive)


def http_get(url: str, timeout: float = REST_TIMEOUT_S) -> Answer:
    """GET ``url`` (run in a thread): its body and headers.  Raises ``RuntimeError`` with a clear message
    on failure."""
    host = urlsplit(url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={"User-Agent": "wstui", "Accept": "application/json"})
    try:
        with opener.open(req, timeout=timeout) as resp:
            return Answer(resp.read().decode("utf-8", "replace"), resp.headers)
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


async def get_in_thread(url: str) -> Answer:
    """:func:`http_get` in a daemon thread of its own.  Unlike ``asyncio.to_thread`` (whose worker
    ``asyncio.run`` and the interpreter wait for at exit) a request that hangs never delays stopping:
    cancelling the await abandons it, and an answer arriving after the loop closed is dropped."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def deliver(body: Answer | None, exc: BaseException | None) -> None:
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




@dataclass(eq=False)
class _Request:
    url: str  # the venue's own address (recorded)
    real: str  # where it is sent (an --endpoint may redirect it)
    conn_id: str
    weight: int
    deliver: Callable
    callbacks: list[Callable] = field(default_factory=list)
    waiters: list[Any] = field(default_factory=list)  # what waits for it (streams), for the queue estimate
    not_before: float = 0.0  # a failing URL's backoff
    ahead: int = 0  # requests to its host before it in the queue (see RestClient.estimate)
    eta: float = 0.0  # when it should be sent


class HostSchedule:
    """One REST host: its queue, its weight budget per minute (None: none known) and what was spent."""

    def __init__(self, host: str, per_min: int | None, spacing: float) -> None:
        self.host = host
        self.per_min = per_min
        self.cap = int(per_min * BUDGET_HEADROOM) if per_min else None
        self.spacing = min(spacing, BUDGET_SPACING_S) if per_min else spacing
        self.queue: list[_Request] = []  # in the order asked
        self.spent: deque[tuple[float, int]] = deque()  # (sent at, weight) within the window
        self.used = 0  # weight in ``spent``
        self.next_at = 0.0
        self.hold = 0.0  # no request before this time (429/418 Retry-After)
        self.inflight = 0
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.requests = 0  # sent
        self.weight = 0  # weight sent
        self.errors = 0  # answered with an error (or none)
        self.rate_limited = 0  # 429/418 answers
        self.abandoned = 0  # queued or in flight when stopping
        self.peak_used = 0  # most weight within one window
        self.latency = 0.0  # seconds a request takes, smoothed (the queue moves at most MAX_INFLIGHT per that)
        # the venue's own count of the weight our address used (Binance: X-MBX-USED-WEIGHT-1M), against the
        # whole address's budget: other programs on this address (or our other workers) spend it too
        self.used_header: str | None = None
        self.address_cap: int | None = None
        self.venue_used: int | None = None  # the last count the venue gave
        self.venue_holds = 0  # times the venue's count held the queue (its minute nearly spent)

    def venue_count(self, headers: Mapping[str, str] | None, weight: int, now: float) -> None:
        """An answer's headers: when the venue says our address has spent so much of its minute that
        another request of ``weight`` would go over the address's cap, nothing more is sent for a minute
        (the venue's count has rolled over by then), as for a 429 but before it comes."""
        if self.used_header is None or headers is None:
            return
        raw = headers.get(self.used_header)
        try:
            used = int(str(raw).strip())
        except ValueError:
            return  # absent or not a number: nothing learnt
        if used < 0:
            return
        self.venue_used = used
        if self.address_cap is not None and used + weight > self.address_cap:
            self.venue_holds += 1
            self.hold = max(self.hold, now + VENUE_WINDOW_S)

    def _expire(self, now: float) -> None:
        spent = self.spent
        while spent and now - spent[0][0] >= BUDGET_WINDOW_S:
            self.used -= spent.popleft()[1]

    def free_at(self, now: float, weight: int) -> float:
        """The earliest time from ``now`` a request of ``weight`` fits in the budget."""
        self._expire(now)
        return _free_at(self.spent, self.used, self.cap, now, weight)

    def spend(self, now: float, weight: int) -> None:
        self._expire(now)
        self.spent.append((now, weight))
        self.used += weight
        self.peak_used = max(self.peak_used, self.used)
        self.requests += 1
        self.weight += weight
        self.next_at = now + self.spacing

    def stats(self, now: float) -> dict[str, Any]:
        self._expire(now)
        q = self.queue
        return {"host": self.host, "budget_per_min": self.per_min, "cap_per_min": self.cap,
                "requests": self.requests, "weight": self.weight, "weight_last_min": self.used,
                "peak_weight_per_min": self.peak_used, "queued": len(q), "inflight": self.inflight,
                "next_eta_s": round(max(0.0, q[-1].eta - now), 1) if q else None,
                "latency_ms": round(self.latency * 1000, 1), "errors": self.errors,
                "rate_limited": self.rate_limited, "abandoned": self.abandoned,
                "venue_used_weight": self.venue_used, "venue_holds": self.venue_holds}


def _free_at(spent, used: int, cap: int | None, now: float, weight: int) -> float:
    if cap is None or used + weight <= cap:
        return now
    need = used + weight - cap
    for t, w in spent:
        need -= w
        if need <= 0:
            return max(now, t + BUDGET_WINDOW_S)
    # heavier than the whole budget (a venue's limits misdeclared): sent alone in its window
    return max(now, spent[-1][0] + BUDGET_WINDOW_S) if spent else now


class RestClient:
    """Schedules REST requests (see the module's docstring).  Runs on the event loop's thread."""

    def __init__(self, spacing: float = REST_SPACING_S, recorder: Any = None) -> None:
        self.spacing = spacing
        self.recorder = recorder
        self.inflight: dict[str, _Request] = {}  # real URL -> its request, queued or sent
        self.tasks: set[asyncio.Task] = set()
        self.hosts: dict[str, HostSchedule] = {}
        self._fail: dict[str, tuple[int, float]] = {}  # real URL -> (failures in a row, not before)
        self._by_conn: dict[str, int] = {}  # connection id -> its requests queued or in flight

    @property
    def rate_limited(self) -> int:
        """429/418 answers received, all hosts."""
        return sum(h.rate_limited for h in self.hosts.values())

    def pending(self, conn_id: str) -> int:
        """Requests of this connection queued or in flight (its books wait for them: no reconnect meanwhile)."""
        return self._by_conn.get(conn_id, 0)

    def host(self, url: str, per_min: int | None = None, used_header: str | None = None,
             address_per_min: int | None = None) -> HostSchedule:
        """The schedule of ``url``'s host (the venue's own REST host: its budget is the venue's, wherever
        ``--endpoint`` sends the request).  ``used_header``: the answer header in which the venue counts
        the weight our address used in its minute, against ``address_per_min`` (the whole address's budget;
        ``per_min`` is this process's part of it)."""
        netloc = urlsplit(url).netloc
        h = self.hosts.get(netloc)
        if h is None:
            h = self.hosts[netloc] = HostSchedule(netloc, per_min, self.spacing)
        elif per_min and h.per_min != per_min:  # learnt later (or changed): the tighter one
            h.per_min = min(per_min, h.per_min or per_min)
            h.cap = int(h.per_min * BUDGET_HEADROOM)
            h.spacing = min(self.spacing, BUDGET_SPACING_S)
        if used_header is not None:
            h.used_header = used_header
            if address_per_min:
                h.address_cap = int(address_per_min * BUDGET_HEADROOM)
        return h

    def get(self, conn_id: str, url: str, real: str, callback: Callable,
            deliver: Callable[[Callable, str | None, str | None], None], *, weight: int = 1,
            per_min: int | None = None, waiter: Any = None, used_header: str | None = None,
            address_per_min: int | None = None) -> None:
        """GET ``real`` (``url`` is the venue's own address, as recorded); ``deliver(callback, body, error)``
        runs when it is answered.  ``weight``: what the request costs of its host's budget of ``per_min``
        a minute (None: no budget known); ``waiter``: what waits for it (see :meth:`estimate`)."""
        req = self.inflight.get(real)
        if req is not None:
            req.callbacks.append(callback)
            if waiter is not None and waiter not in req.waiters:
                req.waiters.append(waiter)
            return
        h = self.host(url if urlsplit(url).netloc else real, per_min, used_header, address_per_min)
        req = _Request(url, real, conn_id, max(1, int(weight)), deliver, [callback],
                       [waiter] if waiter is not None else [], self._fail.get(real, (0, 0.0))[1])
        self.inflight[real] = req
        self._by_conn[conn_id] = self._by_conn.get(conn_id, 0) + 1
        h.queue.append(req)
        h.wake.set()
        if h.task is None or h.task.done():
            h.task = asyncio.ensure_future(self._dispatch(h))
            self.tasks.add(h.task)
            h.task.add_done_callback(self.tasks.discard)

    async def _dispatch(self, h: HostSchedule) -> None:
        """Send ``h``'s queued requests, in order, as its budget, spacing, hold and backoffs allow."""
        while h.queue:
            now = time.time()
            h.wake.clear()
            ready = [r for r in h.queue if r.not_before <= now]
            if not ready or h.inflight >= MAX_INFLIGHT:
                wait = min((r.not_before for r in h.queue), default=now + 1.0) - now if not ready else 1.0
                await self._sleep(h, max(0.001, wait))
                continue
            req = ready[0]
            at = max(now, h.hold, h.next_at, h.free_at(now, req.weight))
            if at > now:
                await self._sleep(h, at - now)
                continue
            h.queue.remove(req)
            h.spend(now, req.weight)
            h.inflight += 1
            t = asyncio.ensure_future(self._run(h, req))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _sleep(h: HostSchedule, delay: float) -> None:
        try:
            await asyncio.wait_for(h.wake.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _run(self, h: HostSchedule, req: _Request) -> None:
        body = err = None
        real = req.real
        t0 = time.time()
        try:
            answer = await get_in_thread(real)
            body = answer.body
            took = time.time() - t0
            h.venue_count(answer.headers, req.weight, time.time())
            h.latency = took if not h.latency else 0.8 * h.latency + 0.2 * took
            self._fail.pop(real, None)
        except asyncio.CancelledError:
            err = "cancelled"
            raise
        except Exception as exc:
            err = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
            h.errors += 1
            fails, _ = self._fail.get(real, (0, 0.0))
            self._fail[real] = (fails + 1, time.time() + min(30.0, 0.5 * 2 ** fails))
            if isinstance(exc, HttpStatusError) and exc.status in RATE_LIMITED:
                h.rate_limited += 1
                wait = exc.retry_after if exc.retry_after is not None else HOLD_DEFAULT_S
                h.hold = max(h.hold, time.time() + wait)
                err = f"rate limited: no REST requests to {h.host} for {wait:g} s (Retry-After); {err}"
        finally:
            h.inflight -= 1
            h.wake.set()
            self._done(req)
            if body is not None and self.recorder is not None:
                self.recorder.http(f"{req.conn_id.split('.ws.')[0]}.http.0", time.time(), req.url, body)
            if err != "cancelled":
                for cb in req.callbacks:
                    req.deliver(cb, body, None if body is not None else clean(err, 200))

    def _done(self, req: _Request) -> None:
        if self.inflight.get(req.real) is req:
            del self.inflight[req.real]
        self._by_conn[req.conn_id] = self._by_conn.get(req.conn_id, 1) - 1

    def estimate(self, now: float | None = None) -> list[_Request]:
        """Every queued request with its place (``ahead``: requests to its host before it) and the time
        it should be sent (``eta``), replaying each host's schedule: its budget, spacing and hold."""
        now = time.time() if now is None else now
        out: list[_Request] = []
        for h in self.hosts.values():
            if not h.queue:
                continue
            h._expire(now)
            spent = deque(h.spent)
            used = h.used
            t = max(now, h.hold, h.next_at)
            step = max(h.spacing, h.latency / MAX_INFLIGHT)
            for i, req in enumerate(h.queue):
                t = max(t, req.not_before)
                while spent and t - spent[0][0] >= BUDGET_WINDOW_S:
                    used -= spent.popleft()[1]
                t = _free_at(spent, used, h.cap, t, req.weight)
                while spent and t - spent[0][0] >= BUDGET_WINDOW_S:
                    used -= spent.popleft()[1]
                req.ahead, req.eta = i, t
                spent.append((t, req.weight))
                used += req.weight
                t += step
                out.append(req)
        return out

    def stats(self) -> list[dict[str, Any]]:
        """Per host: requests and weight sent, the budget, what is queued, errors and 429/418s."""
        now = time.time()
        return [h.stats(now) for h in self.hosts.values()]

    def abandon(self) -> list[str]:
        """Stop: cancel every request (queued or sent); the URLs that were still unanswered."""
        left = list(self.inflight)
        for t in list(self.tasks):
            t.cancel()
        for h in self.hosts.values():
            h.abandoned += len(h.queue) + h.inflight
            h.queue.clear()
        return left
