#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them: Prometheus and promtool
# (Debian package) and tmux (drives `otelsvc top` in a terminal) when missing, a virtualenv in .venv
# with the test extra (which brings the rotel collector), then pytest on two workers. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1 \
   || ! command -v tmux >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus tmux >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
