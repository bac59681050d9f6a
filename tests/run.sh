#!/usr/bin/env bash
# The whole test suite: unit, integration (real services) and e2e.
# Services the tests need are started by fixtures on free loopback ports.
# Three processes by default (PYTEST_WORKERS=0 for one): most integration and e2e
# time is spent waiting on real services. --dist loadfile keeps each file in
# one process, so module fixtures (a browser, a stack) are shared as written.
# --no-loadscope-reorder: files are handed out in collection order (tests/conftest.py
# puts the longest first), not xdist's default of the files with most tests first,
# which left the few-but-slow files to run alone at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# Cache compiled modules whatever the environment says (see the Makefile): each worker
# collects the whole suite, and the tests start hundreds of Python processes.
unset PYTHONDONTWRITEBYTECODE
WORKERS="${PYTEST_WORKERS:-3}"
if [ "$WORKERS" = 0 ]; then
    exec $BIN/pytest -q tests "$@"
fi
exec $BIN/pytest -q -n "$WORKERS" --dist loadfile --no-loadscope-reorder tests "$@"
