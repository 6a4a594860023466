#!/usr/bin/env bash
# Release check: builds the sdist and the wheel, runs `twine check` on both, installs the wheel into a
# fresh virtualenv (outside the source tree) and runs the demo and scripts/smoke_test.py against it.
# Usage: scripts/check_wheel.sh [python]   (default: .venv/bin/python, which needs the test extra)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$PY" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$PY" -m twine check --strict "$work"/dist/*
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$work"/dist/*.whl
cd "$work"
"$work/venv/bin/otelsvc" demo --duration 2 --prometheus 127.0.0.1:0 --progress-every 1
"$work/venv/bin/python" "$OLDPWD/scripts/smoke_test.py"
