"""Capture format 2 files: typed JSON Lines, plain, gzip or zstd (cryptofeed's ``.jsonl.zst``).

Reading never raises on bad content: a truncated compressed stream, a line that is not JSON or a
record of an unknown type comes out as an error with its line number, and the good records around it
are still used.  Only a file that cannot be opened at all raises :class:`CaptureError`.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import BinaryIO, Iterator

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

RECORD_TYPES = frozenset(("header", "connect", "send", "recv", "http", "disconnect", "close"))


class CaptureError(Exception):
    """The capture cannot be read at all (missing file, no permission, missing zstd support)."""


def _zstd_reader(raw: BinaryIO) -> BinaryIO:
    try:
        import zstandard
    except ImportError:
        raise CaptureError(
            "this capture is zstd-compressed and reading it needs the 'zstandard' package: "
            "pip install 'wstui[zstd]'  (or: pip install zstandard)"
        ) from None
    reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return io.BufferedReader(reader, buffer_size=1 << 16)


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading lines, decompressing by its magic bytes (or its name)."""
    p = Path(path)
    try:
        raw = open(p, "rb")
    except OSError as exc:
        raise CaptureError(f"cannot open capture {p}: {exc.strerror or exc}") from None
    head = raw.read(4)
    raw.seek(0)
    name = p.name.lower()
    if head.startswith(GZIP_MAGIC) or (not head and name.endswith(".gz")):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if head.startswith(ZSTD_MAGIC) or name.endswith(".zst"):
        try:
            return _zstd_reader(raw)
        except CaptureError:
            raw.close()
            raise
    return raw


CHUNK = 1 << 18


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes | None, str | None]]:
    """``(line_no, line, None)`` for each non-empty line, or ``(line_no, None, error)`` where the
    file stops making sense (a truncated or corrupt compressed stream).  Line numbers start at 1.

    The file is read (and decompressed) in large chunks and split here: several times cheaper per line
    than ``readline`` on a compressed stream, and replay speed is mostly per-line cost."""
    fh = open_binary(path)
    n = 0
    tail = b""
    long: list[bytes] = []  # chunks of a line longer than a chunk (Coinbase snapshots: 5.8 MB)
    try:
        while True:
            try:
                chunk = fh.read1(CHUNK)  # read1: what a cut stream did hold is not thrown away with the error
            except EOFError:
                err = "compressed stream ends early (truncated file); records before it were used"
            except Exception as exc:  # gzip.BadGzipFile, zlib.error, zstandard.ZstdError, OSError
                err = f"compressed stream is corrupt ({type(exc).__name__}: {exc}); records before it were used"
            else:
                if chunk:
                    if b"\n" not in chunk:
                        # the line goes on: gather its pieces, split once it ends (re-splitting the
                        # growing line at every chunk made reading quadratic in the line's length)
                        long.append(chunk)
                        continue
                    if long:
                        long.append(chunk)
                        chunk = b"".join(long)
                        long.clear()
                    lines = (tail + chunk).split(b"\n")
                    tail = lines.pop()
                    for line in lines:
                        n += 1
                        if line and not line.isspace():
                            yield n, line, None
                    continue
                err = None
            if long:
                tail += b"".join(long)
            if err is not None:
                # a cut stream: its last, partial line goes with it (one error, not two)
                yield n + 1, None, err
            elif tail and not tail.isspace():
                # a last line without a newline still counts (it may be torn: the JSON parse will say)
                yield n + 1, tail, None
            return
    finally:
        fh.close()
