"""A service runtime for unit tests of the services: SQLite and the local store under a
test's folder, no chain, no timers (``NO_TIMERS``: nothing seals, anchors or ticks
unless the test calls it), no server and no subprocess; and an officer to act as."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evidence_api.core.auth import Principal, create_token
from evidence_api.core.config import Settings
from evidence_api.runtime import NO_TIMERS, Runtime, build_runtime
from tests.support.migrated import seed_sqlite


@contextmanager
def offline_runtime(data: Path, **settings: Any) -> Iterator[Runtime]:
    """The runtime on ``data``, captures allowed to 127.0.0.1 only, no integrity timer;
    ``settings`` added or overriding. Closed on exit."""
    values: dict[str, Any] = {
        "data_dir": data,
        "chain": "none",
        "capture_allow": "127.0.0.1",
        "run_integrity": False,
    }
    chosen = Settings(**(values | settings))
    seed_sqlite(chosen)
    built = build_runtime(chosen, **NO_TIMERS)
    try:
        yield built
    finally:
        built.close()


def new_officer(runtime: Runtime, name: str = "officer one") -> Principal:
    """A fresh officer token in the runtime's database, as the principal it authenticates."""
    with runtime.session() as session:
        row, _ = create_token(session, role="officer", name=name)
        return Principal(token_id=row.id, name=row.name, role=row.role, platform=None)
