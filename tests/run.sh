#!/usr/bin/env bash
# The whole test suite: unit, integration (real services) and e2e.
# Services the tests need are started by fixtures on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
$BIN/pytest -q tests "$@"
