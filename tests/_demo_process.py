"""``otelsvc demo`` as a subprocess serving /metrics on a free port, for tests that read a running service."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def running_demo(*extra: str, clean_exit: bool = True) -> Iterator[str]:
    """Start the demo, yield its metrics URL, stop it with SIGTERM; require exit 0 unless ``clean_exit`` is off.

    (A demo whose pushes are refused ends with a failed final flush, which is not what its callers test.)
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "otelsvc", "demo", "--prometheus", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("metrics: http://127.0.0.1:"), first + proc.stderr.read() if proc.stderr else first
        yield first.split(" ", 1)[1]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    if clean_exit:
        assert proc.returncode == 0, err
