#!/usr/bin/env bash
# Sets up what the benchmarks need beyond the test extra, then runs them: wrk (the HTTP load generator of
# the middleware group; Debian package) when missing, and the bench extra (the other middlewares
# compared: prometheus-fastapi-instrumentator, starlette-exporter, the OTel ASGI middleware) in .venv.
# Arguments go to `python -m benchmarks`, e.g. `scripts/bench.sh --only middleware --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    AS_ROOT=()
  elif command -v sudo >/dev/null 2>&1; then
    AS_ROOT=(sudo)
  else
    echo "scripts/bench.sh: wrk is missing and installing it needs root; run apt-get install wrk (as root)," >&2
    echo "  or put wrk (or hey, or oha) on PATH, and rerun." >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/bench.sh: no apt-get here; install wrk (or hey, or oha) on PATH and rerun." >&2
    exit 1
  fi
  ${AS_ROOT[@]+"${AS_ROOT[@]}"} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${AS_ROOT[@]+"${AS_ROOT[@]}"} apt-get install -y -qq wrk >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'

exec .venv/bin/python -m benchmarks "$@"
