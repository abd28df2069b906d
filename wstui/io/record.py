"""Write capture format 2 while a live session runs (``wstui record``, ``wstui watch --record``).

The file is what ``wstui replay`` reads (cryptofeed 3 reads only its own pcap captures: convert with
``tools/to_cryptofeed.py``, see the README): a header line, then one typed record per line::

    {"t":"header","format":2,"exchange":"KRAKEN","config":{"l2_book":["BTC-USD"]},"recorded":...}
    {"t":"connect","conn":"KRAKEN.ws.1","ts":...,"addr":"wss://ws.kraken.com/v2"}   (+ "endpoint" if moved)
    {"t":"send","conn":"KRAKEN.ws.1","ts":...,"addr":"wss://...","data":"<text sent>"}
    {"t":"recv","conn":"KRAKEN.ws.1","ts":<receive time>,"data":"<frame, verbatim>"}
    {"t":"http","conn":"BINANCE.http.0","ts":...,"url":"https://...","data":"<REST answer>"}
    {"t":"disconnect","conn":"KRAKEN.ws.1","ts":...,"reason":"..."}

Compression follows the file name: ``.gz`` gzip, ``.zst`` zstd (needs ``zstandard``), anything else plain.

Losing nothing: records are serialised in the caller's thread (cheap) and handed to a writer thread
that compresses and writes them, flushing the compressor and the file at least every ``FLUSH_EVERY``
seconds.  ``close()`` (clean exit, Ctrl-C, SIGTERM) drains everything and finishes the file; after a
``kill -9`` at most the last flush interval is missing and the file still replays (the reader reports
the truncated end and a torn last line, and uses every record before them).
"""

from __future__ import annotations

import base64
import gzip
import threading
import time
from pathlib import Path
from typing import IO, Any

import orjson

from .capture import CaptureError
from .spec import exchange_id

FLUSH_EVERY = 0.5  # seconds between flushes to disk (the kill -9 loss bound)
MAX_BUFFER = 64 * 2**20  # bytes of records waiting for the writer; past this (a stalled disk) they are dropped
FORMAT = 2


def open_writer(path: Path) -> tuple[IO[bytes], Any]:
    """(writer, flush) for ``path``, compressed by its name.  ``flush()`` makes what was written so far
    decodable from the file on disk."""
    name = path.name.lower()
    try:
        raw = open(path, "wb")
    except OSError as exc:
        raise CaptureError(f"cannot write {path}: {exc.strerror or exc}") from None
    if name.endswith(".gz"):
        gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6)

        def flush_gz() -> None:
            gz.flush()  # zlib Z_SYNC_FLUSH: everything so far decodes
            raw.flush()

        return _Closing(gz, raw), flush_gz
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raw.close()
            raise CaptureError("writing a .zst capture needs the 'zstandard' package: pip install 'wstui[zstd]' "
                               "(or name the file .jsonl.gz)") from None
        zw = zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)

        def flush_zst() -> None:
            zw.flush(zstandard.FLUSH_BLOCK)
            raw.flush()

        return _Closing(zw, raw), flush_zst
    return raw, raw.flush


class _Closing:
    """A compressing writer whose ``close`` also closes the raw file under it."""

    def __init__(self, inner: Any, raw: IO[bytes]) -> None:
        self.inner = inner
        self.raw = raw

    def write(self, b: bytes) -> int:
        return self.inner.write(b)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            if not self.raw.closed:
                self.raw.close()


class Recorder:
    """A capture format 2 file being written.  ``write_*`` may be called from any one thread."""

    def __init__(self, path: str | Path, *, exchange: str = "WSTUI", config: dict | None = None,
                 flush_every: float = FLUSH_EVERY, max_buffer: int = MAX_BUFFER) -> None:
        self.path = Path(path)
        self.flush_every = flush_every
        self.max_buffer = max_buffer
        self.buffered_bytes = 0  # waiting for the writer (bounded by ``max_buffer``)
        self.overflowed = 0  # records dropped because the writer fell behind by ``max_buffer``
        self._fh, self._flush = open_writer(self.path)
        self._lock = threading.Lock()
        self._buf: list[bytes] = []
        self._wake = threading.Event()
        self._closed = False
        self.records = 0  # records handed to the writer
        self.frames = 0  # recv records among them
        self.dropped = 0  # records not written: after a write failure, or with the buffer full
        self.late = 0  # records offered after close
        self.bytes_written = 0
        self.error: str | None = None  # set (once) when writing failed: nothing more is written
        header = {"t": "header", "format": FORMAT, "exchange": exchange, "config": config or {},
                  "recorded": time.time(), "writer": "wstui"}
        self._put(header)
        self._thread = threading.Thread(target=self._run, name="wstui-recorder", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- records
    def connect(self, conn: str, ts: float, addr: str, endpoint: str | None = None) -> None:
        """``addr`` names the venue (replay picks its adapter by it); ``endpoint``, when it differs, is
        where the connection really went (``--endpoint``, a local server)."""
        rec = {"t": "connect", "conn": conn, "ts": ts, "addr": addr}
        if endpoint and endpoint != addr:
            rec["endpoint"] = endpoint
        self._put(rec)

    def send(self, conn: str, ts: float, addr: str, data: str | bytes) -> None:
        self._put(_payload({"t": "send", "conn": conn, "ts": ts, "addr": addr}, data))

    def recv(self, conn: str, ts: float, data: str | bytes) -> None:
        self.frames += 1
        self._put(_payload({"t": "recv", "conn": conn, "ts": ts}, data))

    def http(self, conn: str, ts: float, url: str, data: str) -> None:
        self._put({"t": "http", "conn": conn, "ts": ts, "url": url, "data": data})

    def disconnect(self, conn: str, ts: float, reason: str) -> None:
        self._put({"t": "disconnect", "conn": conn, "ts": ts, "reason": reason})

    def _put(self, rec: dict) -> None:
        line = orjson.dumps(rec) + b"\n"
        with self._lock:
            if self._closed:
                self.late += 1  # offered after close (a session ending while stopping): counted
                return
            if self.error is not None:
                self.dropped += 1
                return
            if self.buffered_bytes + len(line) > self.max_buffer:
                self.dropped += 1  # the writer is that far behind: counted, never unbounded memory
                self.overflowed += 1
                return
            self._buf.append(line)
            self.buffered_bytes += len(line)
            self.records += 1

    # ---------------------------------------------------------------- writer thread
    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_every)
            self._wake.clear()
            stop = self._closed
            if not self._drain() or stop:
                return

    def _drain(self) -> bool:
        if self.error is not None:
            return False
        with self._lock:
            buf, self._buf = self._buf, []
            self.buffered_bytes = 0
        try:
            if buf:
                data = b"".join(buf)
                self._fh.write(data)
                self.bytes_written += len(data)
            self._flush()
            return True
        except (OSError, ValueError) as exc:  # disk full, file closed under us: reported, not raised
            with self._lock:
                # what this write held may be partly on disk: counted as lost, like everything after it
                self.dropped += len(buf) + len(self._buf)
                self.records -= len(buf) + len(self._buf)
                self._buf = []
                self.buffered_bytes = 0
                self.error = f"recording to {self.path} failed: {exc}"
            return False

    def overflow_note(self) -> str | None:
        """A line for the summary when the writer fell behind and records were dropped."""
        if not self.overflowed:
            return None
        return (f"recording to {self.path}: the disk fell {self.max_buffer // 2**20 or self.max_buffer} "
                f"{'MiB' if self.max_buffer >= 2**20 else 'bytes'} behind; {self.overflowed} records dropped")

    def close(self) -> None:
        """Write everything received so far and finish the file (idempotent, any thread)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join(10.0)
        self._drain()
        try:
            self._fh.close()
        except (OSError, ValueError) as exc:
            self.error = self.error or f"closing {self.path} failed: {exc}"

    @property
    def closed(self) -> bool:
        return self._closed


def _payload(rec: dict, data: str | bytes) -> dict:
    if isinstance(data, (bytes, bytearray, memoryview)):
        rec["b64"] = base64.b64encode(bytes(data)).decode()
    else:
        rec["data"] = data
    return rec


# ---------------------------------------------------------------------------------- header
def capture_exchange(feeds) -> str:
    names = {exchange_id(f.venue.name) for f in feeds if f.symbols}
    return names.pop() if len(names) == 1 else "MULTI"


def capture_config(feeds, specs) -> dict:
    """A cryptofeed-style header config (best effort: BTC/USD -> BTC-USD, BTCUSDT -> BTC-USDT)."""
    books: list[str] = []
    for f in feeds:
        for sym in f.symbols:
            books.append(cryptofeed_symbol(f.venue.name, sym))
    return {"l2_book": books, "trades": list(books), "wstui": {"streams": list(specs)}}


QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "TRY", "BTC", "ETH", "BNB")


def cryptofeed_symbol(venue: str, sym: str) -> str:
    if "/" in sym:
        return sym.replace("/", "-")
    for q in QUOTES:
        if sym.endswith(q) and len(sym) > len(q):
            base = f"{sym[:-len(q)]}-{q}"
            return base + "-PERP" if venue == "binance-futures" else base
    return sym
