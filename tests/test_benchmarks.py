"""``python -m benchmarks``: figures alone on stdout (the markdown table keeps its columns), log lines
on stderr only, prefixed, and warnings only with --verbose."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_ROW = re.compile(r"^.{48} otelsvc +[\d,.]+ \S+ +.{18} +[\d,.]+ \S+ +ratio +[\d.]+x$")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "memory", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_stdout_has_the_figures_alone_and_the_markdown_table_keeps_its_columns() -> None:
    proc = _bench("--markdown")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    table_at = lines.index("| measure | otelsvc | other side | other | ratio |")
    rows = [line for line in lines[1:table_at] if line]
    assert rows and all(_ROW.match(line) for line in rows), rows
    assert lines[table_at + 1] == "|---|---|---|---|---|"
    table = lines[table_at + 2:]
    assert len(table) == len(rows)
    assert all(line.startswith("| ") and line.count(" | ") == 4 and line.endswith("x |") for line in table), table
    assert "otelsvc:" not in proc.stdout and "log:" not in proc.stdout
    # the expected push failures (a closed port on purpose) are warnings, not shown by default
    assert "WARNING" not in proc.stderr
    assert all(line.startswith("log: ERROR ") for line in proc.stderr.splitlines()), proc.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_log_lines_go_to_stderr_prefixed_and_warnings_only_when_verbose(
    verbose: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.run import _route_logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("otelsvc", "opentelemetry")})
    try:
        _route_logs(verbose)
        logging.getLogger("otelsvc").warning("otelsvc: push failed")
        logging.getLogger("otelsvc").error("otelsvc: render failed")
        out, err = capsys.readouterr()
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    assert out == ""
    expected = ["log: ERROR otelsvc: otelsvc: render failed"]
    if verbose:
        expected.insert(0, "log: WARNING otelsvc: otelsvc: push failed")
    assert err.splitlines() == expected
