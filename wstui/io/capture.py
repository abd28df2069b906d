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


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes | None, str | None]]:
    """``(line_no, line, None)`` for each non-empty line, or ``(line_no, None, error)`` where the
    file stops making sense (a truncated or corrupt compressed stream).  Line numbers start at 1."""
    fh = open_binary(path)
    n = 0
    try:
        it = iter(fh)
        while True:
            try:
                line = next(it)
            except StopIteration:
                return
            except EOFError:
                yield n + 1, None, "compressed stream ends early (truncated file); records before it were used"
                return
            except Exception as exc:  # gzip.BadGzipFile, zlib.error, zstandard.ZstdError, OSError
                yield n + 1, None, f"compressed stream is corrupt ({type(exc).__name__}: {exc}); records before it were used"
                return
            n += 1
            if line.strip():
                yield n, line, None
    finally:
        fh.close()
