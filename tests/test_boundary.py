"""The core and the venues stay pure: importing them pulls in neither Textual nor sockets."""

from __future__ import annotations

import subprocess
import sys


def test_core_and_venues_do_not_import_textual_or_sockets():
    code = (
        "import sys\n"
        "import wstui.core, wstui.venues, wstui.engine, wstui.summary\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'websockets', 'socket', 'ssl'))\n"
        "print(','.join(bad))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == ""


def test_the_boundary_check_can_fail():
    """The same check does see textual when something imports it (so the test above is not vacuous)."""
    code = "import sys, textual.app\nprint('textual' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "True"
