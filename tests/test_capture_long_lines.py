"""Lines longer than the reader's chunk (Coinbase's level2 snapshots are 5.8 MB on one line) come out
whole and in order, plain or gzip, also when the file ends without a newline or is cut short."""

from __future__ import annotations

import gzip

from wstui.io.capture import CHUNK, iter_lines


def _lines() -> list[bytes]:
    return [b'{"t":"a"}', b"x" * (3 * CHUNK + 17), b'{"t":"b"}', b"y" * (CHUNK - 1), b"z" * CHUNK, b'{"t":"c"}']


def test_long_lines_come_out_whole(tmp_path):
    lines = _lines()
    body = b"\n".join(lines)
    for name, data in (("plain.jsonl", body + b"\n"), ("no_newline.jsonl", body)):
        p = tmp_path / name
        p.write_bytes(data)
        assert [(n, line) for n, line, _ in iter_lines(p)] == list(enumerate(lines, 1))
    gz = tmp_path / "long.jsonl.gz"
    gz.write_bytes(gzip.compress(body + b"\n"))
    assert [line for _, line, _ in iter_lines(gz)] == lines


def test_a_cut_stream_inside_a_long_line_is_one_error(tmp_path):
    lines = _lines()
    full = gzip.compress(b"\n".join(lines) + b"\n")
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(full[: len(full) // 2])
    out = list(iter_lines(p))
    assert [line for _, line, err in out if err is None] == lines[: len(out) - 1]
    assert out[-1][1] is None and "ends early" in out[-1][2]
