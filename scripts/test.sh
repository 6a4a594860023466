#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them: Prometheus and promtool
# (Debian package) and tmux (drives `otelsvc top` in a terminal) when missing, a virtualenv in .venv
# with the test extra (which brings the rotel collector), then pytest on two workers. Extra
# arguments go to pytest.
# (The SDK/Python matrix is `nox`, see noxfile.py; the release check is scripts/check_wheel.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1 \
   || ! command -v tmux >/dev/null 2>&1; then
  # Root runs apt-get itself; anyone else needs sudo, and without it gets told what to install.
  if [ "$(id -u)" = 0 ]; then
    AS_ROOT=()
  elif command -v sudo >/dev/null 2>&1; then
    AS_ROOT=(sudo)
  else
    echo "scripts/test.sh: Prometheus, promtool or tmux is missing, and installing them needs root; run" >&2
    echo "  apt-get install prometheus tmux   (as root), or put them on PATH, then rerun." >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: no apt-get here; install Prometheus (prometheus and promtool) and tmux on PATH, and rerun." >&2
    exit 1
  fi
  ${AS_ROOT[@]+"${AS_ROOT[@]}"} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${AS_ROOT[@]+"${AS_ROOT[@]}"} apt-get install -y -qq prometheus tmux >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
