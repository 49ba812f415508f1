"""The installed environment is consistent: `pip check` finds no broken or conflicting requirement."""

from __future__ import annotations

import subprocess
import sys


def test_pip_check_is_clean():
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
