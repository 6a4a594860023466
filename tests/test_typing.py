"""mypy --strict accepts the typing fixture that exercises the public API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_typing_fixture_passes_mypy_strict() -> None:
    fixture = Path(__file__).parent / "typing" / "api_usage.py"
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", str(fixture)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
