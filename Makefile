# Evidence Anchor — every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm ci (the pinned solc and anvil) again when node_modules is gone or the lock file changed
NODE_STAMP := contracts/node_modules/.installed
# npm ci (ReplayWeb.page's ui.js and sw.js, served by the verification portal) likewise
REPLAY_DIR := verifier/service/replay
REPLAY_STAMP := $(REPLAY_DIR)/node_modules/.installed
# npm ci (htmx for the console, swagger-ui-dist for /docs, axe-core for its tests)
CONSOLE_DIR := evidence_api/console/assets
CONSOLE_STAMP := $(CONSOLE_DIR)/node_modules/.installed

# Compiled modules are cached (__pycache__) even where the environment says not to
# (PYTHONDONTWRITEBYTECODE, set on some machines): without the cache every process the
# service and the tests start compiles the project's modules again (0.4 s of CPU per
# `evidence serve`; pytest's collection of the suite 25 s instead of 14, in each worker).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install sysdeps run test test-unit bench lint fmt lock clean contracts verifier-dist

install: $(STAMP) $(NODE_STAMP) $(REPLAY_STAMP) $(CONSOLE_STAMP)

# uv (hash-pinned in requirements-uv.lock, installed by pip) installs the lock: about 5 s
# where pip took 80 s of CPU on a fresh machine. Modules are compiled on first import.
# Should uv not install or fail, pip installs the same hash-checked lock.
# (pip installs that uv: here and in `lock`)
INSTALL_UV = $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-uv.lock

$(STAMP): requirements.lock requirements-uv.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	{ $(INSTALL_UV) && $(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --no-deps \
		-r requirements.lock; } || \
		$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

$(NODE_STAMP): contracts/package-lock.json contracts/package.json
	npm ci --prefix contracts --no-audit --no-fund
	@touch $(NODE_STAMP)

# --ignore-scripts: only the two built files are used; --loglevel=error: the package's
# "engines" (node >= 22, for its Electron build) does not concern the served files.
$(REPLAY_STAMP): $(REPLAY_DIR)/package-lock.json $(REPLAY_DIR)/package.json
	npm ci --prefix $(REPLAY_DIR) --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(REPLAY_STAMP)

# --ignore-scripts: swagger-ui-dist's analytics postinstall never runs; only files are served.
$(CONSOLE_STAMP): $(CONSOLE_DIR)/package-lock.json $(CONSOLE_DIR)/package.json
	npm ci --prefix $(CONSOLE_DIR) --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(CONSOLE_STAMP)

# Debian packages the browser and report tests need: chromium (driven by
# Playwright; never `playwright install`), a CJK TrueType font for the PDF
# report, poppler-utils (PDF -> PNG). Installed only when missing.
SYSDEPS_BIN := /usr/bin/chromium /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/bin/pdftoppm /usr/bin/ffmpeg
sysdeps:
	@for f in $(SYSDEPS_BIN); do test -e $$f || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing chromium ffmpeg fonts-wqy-microhei poppler-utils (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			chromium ffmpeg fonts-wqy-microhei poppler-utils >/dev/null || \
		{ $$SUDO apt-get update >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends chromium ffmpeg fonts-wqy-microhei poppler-utils >/dev/null; }; \
	fi

## contracts: reinstall the pinned compiler and rebuild contracts/build/EvidenceLog.json
contracts:
	npm ci --prefix contracts --no-audit --no-fund
	@touch $(NODE_STAMP)
	node contracts/compile.js

## run: the service on embedded defaults (SQLite, ./data, local storage, in-process sealing)
run: install sysdeps
	$(BIN)/evidence serve

## test: unit, integration and e2e tests (starts throwaway services itself)
test: install sysdeps
	bash tests/run.sh

test-unit: install
	$(BIN)/pytest -q tests/unit

## verifier-dist: the verifier core alone (evidence-verifier: wheel, sdist and the
## hash-pinned requirements.lock of its dependencies) in build/verifier/
verifier-dist: install
	$(BIN)/python packaging/verifier/build.py build/verifier

## bench: every section; fails when a target row prints MISS (python -m bench exits 3, make
## reports "Error 3") or a check fails (exit 1).
## BENCH_ARGS passes options: make bench BENCH_ARGS="--quick --report-only"
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## lock: re-resolve requirements.lock (dev) and requirements-runtime.lock (images) with the
## pinned uv
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL_UV)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--index-url https://pypi.org/simple --prerelease=if-necessary-or-explicit -o requirements.lock
	# The image's lock: runtime packages only, at exactly the versions the tests ran.
	grep -E '^[a-z0-9_.-]+==' requirements.lock | sed 's/ \\$$//' > .lock-constraints.txt
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
		--index-url https://pypi.org/simple --prerelease=if-necessary-or-explicit \
		-c .lock-constraints.txt -o requirements-runtime.lock
	rm -f .lock-constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
