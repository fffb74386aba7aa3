"""The load benchmark in short (bench/load.py: a few clients for a few seconds on a real
`newsgraph serve`): every answer is a result or a designed refusal (503, 429), never another
error, and the server is healthy afterwards. Timings are reported, never asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LOAD = Path(__file__).resolve().parent.parent / "bench" / "load.py"


def test_a_short_load_run_has_no_error_but_the_designed_ones():
    result = subprocess.run(
        [sys.executable, str(LOAD), "--clients", "4", "--duration", "3",
         "--baseline-duration", "1", "--heavy", "0.2"],
        capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    rows = re.findall(r"^\| (\d+) \| ([\d,]+) \| .* \| (\d+) \| (\d+) \|$", result.stdout, re.M)
    assert [clients for clients, *_ in rows] == ["1", "4"], result.stdout
    for _, requests, _, others in rows:
        assert int(requests.replace(",", "")) > 0 and others == "0", result.stdout
    assert "Server healthy after the run: True." in result.stdout
