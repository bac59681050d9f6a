"""Project-wide test configuration.

Under ``CI=true`` a skipped test is a failure: every integration test must
really run against its real service there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from evidence_api.accounts import passwords
from evidence_api.core.db import make_engine, upgrade
from evidence_api.schema import schema_metadata
from tests.support import migrated
from tests.support.postgres import postgres_database

# anvil, anvil_w3, tester_w3 fixtures
pytest_plugins = ["tests.support.chain_fixtures"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Tests that anchor say so (EVIDENCE_CHAIN=rpc/anvil/tester); the rest run without a chain.
os.environ.setdefault("EVIDENCE_CHAIN", "none")
# A managed anvil takes any free port: tests run side by side, and 8545 is the user's.
os.environ.setdefault("EVIDENCE_ANVIL_PORT", "0")
# One server process per `evidence serve` unless a test says otherwise: without a chain the
# default is one per core, and worker processes have their own tests (test_workers,
# test_group_commit_kill, the scale stack); the rest would pay for processes they never use.
os.environ.setdefault("EVIDENCE_WORKERS", "1")
# 存证证书 rendered in the process that issues them unless a test says otherwise: the helper
# process (the default) costs each server a spawn and a second import of reportlab and
# pyHanko; its own tests (test_certificate_pdf, test_certificates) turn it on.
os.environ.setdefault("EVIDENCE_CERTIFICATE_PROCESS", "false")
# Console logins hash with the cheaper of the two Argon2id profiles unless a test says
# otherwise: the default's 64 MiB and 3 passes cost ~0.25 s of CPU per hash, and the
# console tests log in hundreds of times. Both profiles are tested in
# tests/unit/test_accounts_passwords.py. The test process's own hashes (users made
# in-process, before any runtime) follow the same setting.
os.environ.setdefault("EVIDENCE_PASSWORD_PROFILE", "owasp-minimum")
passwords.use_profile(os.environ["EVIDENCE_PASSWORD_PROFILE"])


#: The longest test files (minutes each, measured in CI), slowest first. Under xdist's
#: --dist loadfile each file runs whole in one process, handed out in collection order: a
#: long file collected last runs alone at the end while the other processes sit idle
#: (tests/run.sh passes --no-loadscope-reorder so that xdist keeps this order).
SLOW_FIRST = (
    "tests/integration/test_openapi_contract.py",
    "tests/integration/test_bench_smoke.py",
    "tests/e2e/test_takedown_verification_stack.py",
    "tests/e2e/test_capture_stack.py",
    "tests/e2e/test_scale_stack.py",
    "tests/e2e/test_scale_outages.py",
    "tests/e2e/test_anchoring_stack.py",
    "tests/integration/test_bench_capture_smoke.py",
    "tests/integration/test_monitor_runs.py",
    "tests/e2e/test_console_browser.py",
    "tests/integration/test_capture_browser.py",
    "tests/e2e/test_embedded_anchoring.py",
    "tests/integration/test_capture_worker.py",
    "tests/integration/test_bench_scale_smoke.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run :data:`SLOW_FIRST`'s files first (a stable sort: every other order is kept)."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session", autouse=True)
def _drop_migrated_templates() -> Iterator[None]:
    """At the end of the session, remove the migrated templates this process made
    (tests/support/migrated.py)."""
    yield
    migrated.drop_templates()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {report.longrepr}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session (a real server)."""
    try:
        with postgres_database() as url:
            yield url
    except RuntimeError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in a temp dir: a copy of the process's migrated template
    (tests/support/migrated.py)."""
    migrated.seed_sqlite_file(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'evidence.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database, emptied after each test."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    with engine.begin() as conn:
        tables = ", ".join(schema_metadata().tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO merkle_log (id, size) VALUES (1, 0)"))
    engine.dispose()
