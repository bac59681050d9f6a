"""Scratch databases for the benchmarks: a migrated SQLite file, or a throwaway PostgreSQL
database, each dropped afterwards.

The compose deployment runs PostgreSQL and the embedded one SQLite, so a figure
about the SQL log is measured on both. PostgreSQL is the server at
``EVIDENCE_BENCH_PG_ADMIN_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
trust auth); the bench creates a database of its own on it and drops it when
done. No server reachable is an error, not a skipped figure: a bench that
quietly leaves PostgreSQL out is the misleading one this module exists to avoid.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine

from bench.common import support
from evidence_api.core.config import Settings as ServiceSettings
from evidence_api.core.db import make_engine, upgrade

SQLITE = "sqlite"
POSTGRES = "postgres"
BACKENDS = (SQLITE, POSTGRES)
LABELS = {SQLITE: "SQLite", POSTGRES: "PostgreSQL"}
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

#: the service's default ``max_batch``: the sealer's batch as users run it
SERVICE_MAX_BATCH: int = ServiceSettings.model_fields["max_batch"].default


def pg_admin_url() -> str:
    return os.environ.get("EVIDENCE_BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL)


@contextmanager
def scratch_postgres(admin_url: str | None = None) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty database on the PostgreSQL server; dropped after
    (trying for 30 s while the server refuses, then failing the run): the tests' throwaway
    database (``tests.support.postgres.throwaway_database``)."""
    postgres = support("postgres")
    with postgres.throwaway_database(
        admin_url or pg_admin_url(), "evidence_bench", patience=30
    ) as url:
        yield url


@contextmanager
def scratch_engine(backend: str, directory: Path) -> Iterator[Engine]:
    """A migrated database of ``backend`` (``sqlite``: a file in ``directory``), as the
    service's engine (:func:`make_engine`) sees it; removed afterwards."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose from {', '.join(BACKENDS)}")
    with ExitStack() as stack:
        if backend == SQLITE:
            directory.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{directory / f'scratch-{uuid.uuid4().hex[:8]}.db'}"
        else:
            url = stack.enter_context(scratch_postgres())
        upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        yield engine
