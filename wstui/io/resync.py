"""The resync watchdog of live feeds: a book that stays out of sync too long gets its connection
reconnected, whatever the reason (a resubscribe that was not answered, a snapshot that never came, a lost
one).  The clock does not run while a REST request of the connection is in flight (reconnecting would
abandon it), and the wait doubles for each reconnect that did not fix the book (up to 60 s)."""

from __future__ import annotations

from typing import Callable, Iterable

from ..core.stream import BOOK_BAD, BOOK_OK
from ..core.text import clean


class ResyncWatchdog:
    def __init__(self, resync_timeout: float | None = None) -> None:
        self.resync_timeout = resync_timeout

    def timeout(self, stream, tries: int = 0) -> float:
        """How long a book may stay out of sync on one connection before it is reconnected: the resync
        timeout (default: the stream's stale threshold, at least 3 s), doubled for each reconnect that did
        not fix it (at most 60 s, at least the timeout)."""
        base = self.resync_timeout if self.resync_timeout is not None else max(3.0, stream.stale_after)
        return max(base, min(60.0, base * 2 ** min(tries, 8)))

    def check(self, feeds: Iterable, conns: dict, now: float, rest_pending: Callable[[str], int],
              reconnect: Callable[[object, str], None]) -> None:
        """One look at every feed's books (called every tick)."""
        for f in feeds:
            conn = conns.get(f.conn_id)
            if f.ws is None or conn is None or f.close_reason is not None:
                continue
            for key, st in conn.streams.items():
                if st.book is None:
                    continue
                if st.book_state is not BOOK_BAD:
                    f.bad_since.pop(key, None)
                    if st.book_state is BOOK_OK:
                        f.bad_reconnects.pop(key, None)
                    continue
                if rest_pending(f.conn_id):
                    f.bad_since[key] = now  # a REST snapshot is on its way: reconnecting would abandon it
                    continue
                since = f.bad_since.setdefault(key, now)
                tries = f.bad_reconnects.get(key, 0)
                if now - since < self.timeout(st, tries):
                    continue
                f.bad_reconnects[key] = tries + 1
                reconnect(f, f"{key} still out of sync after {now - since:.1f} s "
                             f"({clean(st.out_of_sync_reason, 120)}): reconnecting")
                break
