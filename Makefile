# Evidence Anchor — every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit bench lint fmt lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

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

## lock: re-resolve requirements.lock (needs uv; not part of the normal flow)
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--index-url https://pypi.org/simple --prerelease=if-necessary-or-explicit -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
