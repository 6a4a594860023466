"""Each example runs as documented: started in a subprocess, requested, scraped, stopped."""

from __future__ import annotations

import ast
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import free_port, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _run(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_fastapi_example() -> None:
    port = free_port()
    proc = _run([str(EXAMPLES / "fastapi_app.py"), "--port", str(port)])
    try:
        first = wait_until(lambda: _get(f"http://127.0.0.1:{port}/items/3"), timeout=30)
        assert first.status_code == 200
        body = httpx.get(f"http://127.0.0.1:{port}/telemetry/metrics").text
        assert 'http_route="/items/{item_id}"' in body
    finally:
        _stop(proc)


def test_flask_example() -> None:
    port = free_port()
    proc = _run([str(EXAMPLES / "flask_app.py"), "--port", str(port)])
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/items/3"), timeout=30)
        body = httpx.get(f"http://127.0.0.1:{port}/telemetry/metrics").text
        assert 'endpoint="/items/<int:item_id>"' in body
    finally:
        _stop(proc)


def test_threaded_example() -> None:
    port = free_port()
    proc = _run([str(EXAMPLES / "threaded_service.py"), "--prometheus", f"127.0.0.1:{port}"])
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("metrics: http://127.0.0.1:")
        body = wait_until(lambda: (r := _get(f"http://127.0.0.1:{port}/metrics")) and
                          "network_rpc_duration_seconds_count" in r.text and r.text, timeout=30)
        assert 'swimlane="gossip"' in body
    finally:
        _stop(proc)
    assert proc.returncode == 0


_DISTRIBUTION = {"werkzeug": "flask"}  # modules an example imports that come with another package


def _examples_extra() -> set[str]:
    text = (EXAMPLES.parent / "pyproject.toml").read_text()
    block = re.search(r"^examples = \[(.*?)\]", text, re.S | re.M)
    assert block, "pyproject.toml has no examples extra"
    return {re.split(r"[<>=!~\[ ]", item.strip().strip('"'))[0] for item in re.findall(r'"[^"]+"', block.group(1))}


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_each_example_says_what_it_needs_and_the_examples_extra_has_it(example: Path) -> None:
    source = example.read_text()
    needs = re.search(r"^Needs: (.*)$", ast.get_docstring(ast.parse(source)) or "", re.M)
    assert needs, f"{example.name}: its docstring has no 'Needs:' line"
    wanted = needs.group(1).split("(")[0]
    declared = set(wanted.removeprefix("pip install").split()) if wanted.startswith("pip install") else set()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        imported |= {name.split(".")[0] for name in names}
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in ("otelsvc", "__future__")}
    assert {_DISTRIBUTION.get(m, m) for m in third_party} <= declared, (example.name, third_party, declared)
    assert declared <= _examples_extra(), f"{example.name}: the examples extra lacks {declared - _examples_extra()}"
    if "gunicorn " in needs.string:  # run by gunicorn, not importing it
        assert "gunicorn" in declared
