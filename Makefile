# Evidence Anchor — every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm ci (the pinned solc and anvil) again when node_modules is gone or the lock file changed
NODE_STAMP := contracts/node_modules/.installed

.PHONY: install run test test-unit bench lint fmt lock clean contracts

install: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

$(NODE_STAMP): contracts/package-lock.json contracts/package.json
	npm ci --prefix contracts --no-audit --no-fund
	@touch $(NODE_STAMP)

## contracts: reinstall the pinned compiler and rebuild contracts/build/EvidenceLog.json
contracts:
	npm ci --prefix contracts --no-audit --no-fund
	@touch $(NODE_STAMP)
	node contracts/compile.js

## run: the service on embedded defaults (SQLite, ./data, local storage, in-process sealing)
run: install
	$(BIN)/evidence serve

## test: unit, integration and e2e tests (starts throwaway services itself)
test: install
	bash tests/run.sh

test-unit: install
	$(BIN)/pytest -q tests/unit

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## lock: re-resolve requirements.lock (dev) and requirements-runtime.lock (images); needs uv
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--index-url https://pypi.org/simple --prerelease=if-necessary-or-explicit -o requirements.lock
	# The image's lock: runtime packages only, at exactly the versions the tests ran.
	grep -E '^[a-z0-9_.-]+==' requirements.lock | sed 's/ \\$$//' > .lock-constraints.txt
	uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
		--index-url https://pypi.org/simple --prerelease=if-necessary-or-explicit \
		-c .lock-constraints.txt -o requirements-runtime.lock
	rm -f .lock-constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
