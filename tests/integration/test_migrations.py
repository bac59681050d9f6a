"""The single Alembic history, on real SQLite and PostgreSQL databases.

``upgrade head`` on an empty database creates exactly the tables the code
declares (the log's in :mod:`anchoring.store.sql`, the service's in
:mod:`evidence_api.models`); the history has one base and one head; it runs
down to nothing and back up; and ``evidence db upgrade`` does the same from a
shell.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Engine, MetaData, inspect, select, text

from anchoring import MerkleLog
from anchoring.entries import make_entry
from anchoring.queue import QueuedEntry, enqueue
from anchoring.schema import log_entry
from anchoring.store.sql import SqlNodeStore, merkle_log
from anchoring.store.sql import metadata as log_metadata
from evidence_api.core.db import MIGRATIONS, alembic_config, make_engine, upgrade
from evidence_api.core.models import Base
from evidence_api.schema import schema_metadata
from tests.support.api import fresh_postgres_database
from tests.support.migrated import seed_sqlite_file
from verifier.merkle import leaf_hash, node_hash

REPO = Path(__file__).resolve().parents[2]
EVIDENCE_CLI = Path(sys.executable).parent / "evidence"


# --- databases ----------------------------------------------------------------------


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """An empty database of its own on the session's PostgreSQL server."""
    with fresh_postgres_database(postgres_url, migrated=False) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, not yet migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def engine_of() -> Iterator[Any]:
    engines: list[Engine] = []

    def make(url: str) -> Engine:
        engines.append(make_engine(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


# --- comparisons --------------------------------------------------------------------


def schema_diffs(engine: Engine, metadata: MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1
    return heads[0]


def check_migrated_to_head(engine: Engine) -> None:
    """The database holds exactly the declared schema, at head, with an empty working log."""
    assert schema_diffs(engine, schema_metadata()) == []
    assert table_names(engine) == set(schema_metadata().tables) | {"alembic_version"}
    assert current_revision(engine) == head_revision()
    # The log's own tables are exactly anchoring.store.sql.metadata; the only other
    # differences are the service's tables, which that metadata does not declare.
    for diff in schema_diffs(engine, log_metadata):
        kind, obj = diff if isinstance(diff, tuple) else diff[0][:2]
        table = obj.name if kind == "remove_table" else getattr(obj, "table", None)
        table_name = getattr(table, "name", table)
        assert kind in ("remove_table", "remove_index"), diff
        assert table_name in Base.metadata.tables, diff
    # An empty log that works: size row (1, 0), then a two-leaf tree.
    with engine.connect() as conn:
        assert conn.execute(merkle_log.select()).all() == [(1, 0)]
    log = MerkleLog(SqlNodeStore(engine))
    log.append([b"a", b"b"])
    assert log.root() == node_hash(leaf_hash(b"a"), leaf_hash(b"b"))


# --- upgrade head -------------------------------------------------------------------


def test_upgrade_head_creates_exactly_the_declared_schema(fresh_url: str, engine_of: Any) -> None:
    engine = engine_of(fresh_url)
    assert table_names(engine) == set()
    upgrade(fresh_url)
    check_migrated_to_head(engine)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_test_suites_migrated_copies_are_exactly_at_head(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The copies most tests start from (tests/support/migrated.py) are what ``upgrade
    head`` makes, so the service's start leaves them alone as it would a migrated one."""
    with ExitStack() as stack:
        if kind == "sqlite":
            seed_sqlite_file(tmp_path / "data")
            assert (tmp_path / "data" / "evidence.db").stat().st_mode & 0o777 == 0o600
            url = f"sqlite:///{tmp_path / 'data' / 'evidence.db'}"
        else:
            url = stack.enter_context(
                fresh_postgres_database(request.getfixturevalue("postgres_url"))
            )
        engine = make_engine(url)
        stack.callback(engine.dispose)
        check_migrated_to_head(engine)


def test_upgrade_head_twice_changes_nothing(fresh_url: str, engine_of: Any) -> None:
    upgrade(fresh_url)
    engine = engine_of(fresh_url)
    MerkleLog(SqlNodeStore(engine)).append([b"kept"])
    upgrade(fresh_url)
    assert MerkleLog(SqlNodeStore(engine)).root() == leaf_hash(b"kept")
    assert schema_diffs(engine, schema_metadata()) == []


def test_comparison_sees_a_schema_that_is_not_at_head(tmp_path: Path, engine_of: Any) -> None:
    # Guard against a vacuous check: one revision short, compare_metadata must object.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001_merkle_log")
    diffs = schema_diffs(engine_of(url), schema_metadata())
    added = {diff[1].name for diff in diffs if isinstance(diff, tuple) and diff[0] == "add_table"}
    assert added == set(schema_metadata().tables) - {"merkle_tile", "merkle_log"}


def declared_checks(metadata: MetaData, table: str) -> set[str]:
    return {
        str(c.name) for c in metadata.tables[table].constraints if isinstance(c, CheckConstraint)
    }


def test_check_constraints_match_the_declared_schema(fresh_url: str, engine_of: Any) -> None:
    upgrade(fresh_url)
    engine = engine_of(fresh_url)
    declared = schema_metadata()
    with engine.connect() as conn:
        inspector = inspect(conn)
        for table in declared.tables:
            reflected = {str(c["name"]) for c in inspector.get_check_constraints(table)}
            assert reflected == declared_checks(declared, table), table


# --- the history --------------------------------------------------------------------


def test_one_linear_history_with_one_base_and_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()
    assert len(script.get_bases()) == 1, script.get_bases()
    chain = list(script.walk_revisions())  # head first
    assert chain[0].revision == script.get_current_head()
    assert chain[-1].revision == script.get_bases()[0]
    for newer, older in pairwise(chain):
        assert newer.down_revision == older.revision, "a merge or a branch in the history"
        assert not newer.branch_labels
    assert chain[-1].down_revision is None
    files = sorted(p.stem for p in (MIGRATIONS / "versions").glob("*.py") if p.stem != "__init__")
    assert files == sorted(r.revision for r in chain), "a migration file outside the history"


def test_the_repository_has_one_alembic_environment() -> None:
    skip = {".venv", ".git", "node_modules", ".hypothesis", ".mypy_cache", ".ruff_cache"}
    found = [
        path.relative_to(REPO).as_posix()
        for path in REPO.rglob("env.py")
        if not skip & set(path.relative_to(REPO).parts)
        and "run_migrations" in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert found == ["evidence_api/migrations/env.py"]


# --- down and up again --------------------------------------------------------------


def test_downgrade_base_then_upgrade_head(fresh_url: str, engine_of: Any) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    engine = engine_of(fresh_url)
    MerkleLog(SqlNodeStore(engine)).append([b"lost on downgrade"])

    command.downgrade(config, "base")
    assert table_names(engine) == {"alembic_version"}
    assert current_revision(engine) is None

    command.upgrade(config, "head")
    check_migrated_to_head(engine)


def test_a_failed_upgrade_changes_nothing(fresh_url: str, engine_of: Any) -> None:
    """One transaction for the whole upgrade, SQLite included (whose driver would otherwise
    commit each DDL statement alone): a migration that fails near the end leaves the
    database at the revision it started from, without the tables of the steps before it."""
    config = alembic_config(fresh_url)
    command.upgrade(config, "0005_platforms")
    engine = engine_of(fresh_url)
    before = table_names(engine)
    with engine.begin() as conn:  # 0011 creates this table: its step fails
        conn.execute(text("CREATE TABLE integrity_incident (id INTEGER PRIMARY KEY)"))

    with pytest.raises(Exception, match="integrity_incident"):
        command.upgrade(config, "head")

    assert current_revision(engine) == "0005_platforms"
    assert table_names(engine) == before | {"integrity_incident"}


def test_stamp_digests_are_filled_in_for_entries_recorded_before_0008(
    fresh_url: str, engine_of: Any
) -> None:
    """0008 indexes a stamp's digest; stamps already in the log get it from their JSON,
    other kinds stay without one, and stamps recorded afterwards carry it from the start."""
    config = alembic_config(fresh_url)
    command.upgrade(config, "0007_takedowns")
    engine = engine_of(fresh_url)
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    old = [make_entry("stamp", f"st-old-{i}", {"sha256": d.hex()}) for i, d in enumerate(digests)]
    other = make_entry("custody", "cu-old", {"evidence_id": "ev-x", "action": "download"})
    rows = [
        {
            "entry_id": e.id,
            "kind": e.kind,
            "entry": e.leaf_data().decode(),
            "leaf_hash": leaf_hash(e.leaf_data()),
            "received_at": datetime.now(UTC),
            "receipt": "-",
        }
        for e in [*old, other]
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO log_entry (entry_id, kind, entry, leaf_hash, received_at, receipt) "
                "VALUES (:entry_id, :kind, :entry, :leaf_hash, :received_at, :receipt)"
            ),
            rows,
        )
    command.upgrade(config, "head")
    new = make_entry("stamp", "st-new", {"sha256": digests[0].hex()})
    with engine.begin() as conn:
        enqueue(conn, [QueuedEntry(new, leaf_hash(new.leaf_data()), datetime.now(UTC), "-")])
    with engine.connect() as conn:
        stored = dict(conn.execute(select(log_entry.c.entry_id, log_entry.c.stamp_sha256)).all())
        seek = list(
            conn.execute(
                select(log_entry.c.entry_id)
                .where(log_entry.c.stamp_sha256 == digests[0])
                .order_by(log_entry.c.seq)
            ).scalars()
        )
    assert {k: (bytes(v) if v is not None else None) for k, v in stored.items()} == {
        "st-old-0": digests[0],
        "st-old-1": digests[1],
        "st-old-2": digests[2],
        "cu-old": None,
        "st-new": digests[0],
    }
    assert seek == ["st-old-0", "st-new"]
    assert "ix_log_entry_stamp_sha256" in {
        ix["name"] for ix in inspect(engine).get_indexes("log_entry")
    }


# --- the console script -------------------------------------------------------------


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return subprocess.run(
        [str(EVIDENCE_CLI), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_evidence_db_upgrade_on_a_fresh_sqlite_file(tmp_path: Path, engine_of: Any) -> None:
    assert EVIDENCE_CLI.exists(), f"console script missing: {EVIDENCE_CLI}"
    db = tmp_path / "cli.db"
    url = f"sqlite:///{db}"
    elsewhere = tmp_path / "cwd"  # the command must not depend on the working directory
    elsewhere.mkdir()

    done = run_cli("db", "upgrade", "--url", url, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert "database at revision head" in done.stdout
    assert db.exists()
    check_migrated_to_head(engine_of(url))

    again = run_cli("db", "upgrade", "--url", url, cwd=elsewhere)
    assert again.returncode == 0, again.stderr


def test_evidence_db_upgrade_by_revision_and_environment(tmp_path: Path, engine_of: Any) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    first = run_cli(
        "db",
        "upgrade",
        "--revision",
        "0001_merkle_log",
        cwd=tmp_path,
        env={"EVIDENCE_DATABASE_URL": url},
    )
    assert first.returncode == 0, first.stderr
    engine = engine_of(url)
    assert current_revision(engine) == "0001_merkle_log"
    assert table_names(engine) == {"alembic_version", "merkle_tile", "merkle_log"}

    rest = run_cli("db", "upgrade", cwd=tmp_path, env={"EVIDENCE_DATABASE_URL": url})
    assert rest.returncode == 0, rest.stderr
    check_migrated_to_head(engine)


def test_evidence_db_upgrade_without_a_url_is_refused(tmp_path: Path) -> None:
    done = run_cli("db", "upgrade", cwd=tmp_path)
    assert done.returncode == 2
    assert "--url" in done.stderr
    assert list(tmp_path.iterdir()) == []
