"""The styles (top-level ``styles/``) and the sample captures ship inside the package: a non-editable
install (a wheel) finds them with no source tree beside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_wheel_carries_the_styles_and_the_app_loads_them_from_it(tmp_path):
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    (whl,) = tmp_path.glob("wstui-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "wstui/styles/app.tcss" in names
    assert "wstui/samples/binance_futures.jsonl.gz" in names
    assert not any(n.startswith("styles/") or "/ui/styles/" in n for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(whl).extractall(site)
    # the unpacked wheel first on the path, run from elsewhere: no styles/ folder anywhere near
    code = ("import wstui.ui.app as a, wstui.cli as c; "
            "print(a.__file__); print(a.STYLES); print((a.STYLES / 'app.tcss').read_text()[:40]); "
            "print(c.sample_capture())")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    mod, styles, head, sample = p.stdout.splitlines()[:4]
    assert mod.startswith(str(site)) and styles == str(site / "wstui" / "styles")
    assert "wstui" in head
    assert sample == str(site / "wstui" / "samples" / "binance_futures.jsonl.gz")
