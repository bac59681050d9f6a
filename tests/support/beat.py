"""A service with no timers of its own beside a real Celery worker and beat on a real Redis,
on a fresh PostgreSQL database: what the deadline and credit tests that let the beat's
schedule reach the worker share.

:func:`beat_stack` gives the in-process stack (no sealer, no supervisor) and the
environment of the worker and beat; :func:`worker_and_beat` starts ``evidence worker`` and
``evidence beat`` with it, logging to ``worker.log`` and ``beat.log`` in a directory, and
waits until the worker is ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evidence_api.core.config import Settings
from tests.support.api import (
    Stack,
    evidence_subprocess,
    fresh_postgres_database,
    running_stack,
    stop_subprocess,
)
from tests.support.redis import redis_server
from tests.support.waiting import wait_until

#: Generous: the worker imports the whole service on a loaded 2-core machine.
WORKER_READY_WITHIN = 90.0


@contextmanager
def beat_stack(
    data: Path, postgres_url: str, env: dict[str, str], **settings: Any
) -> Iterator[tuple[Stack, dict[str, str]]]:
    """The stack on a fresh database under ``data`` (``chain="none"``, sealing every half
    second but by no sealer of its own), with ``settings`` added, and the worker's
    environment: the same database and data, Redis as broker and result backend, ``env``
    added (the job intervals a test wants)."""
    with fresh_postgres_database(postgres_url) as url, redis_server() as redis_url:
        config = Settings(
            database_url=url,
            data_dir=data,
            chain="none",
            run_sealer=False,
            run_supervisor=False,
            seal_interval=0.5,
            **settings,
        )
        worker_env = {
            "EVIDENCE_DATA_DIR": str(data),
            "EVIDENCE_DATABASE_URL": url,
            "EVIDENCE_CHAIN": "none",
            "EVIDENCE_BROKER_URL": f"{redis_url}/0",
            "EVIDENCE_RESULT_BACKEND": f"{redis_url}/1",
            "EVIDENCE_SEAL_INTERVAL": "0.5",
            "EVIDENCE_RUN_SUPERVISOR": "false",
            **env,
        }
        with running_stack(config) as stack:
            yield stack, worker_env


@contextmanager
def worker_and_beat(env: dict[str, str], logs: Path) -> Iterator[None]:
    """``evidence worker`` and ``evidence beat`` with ``env``, their output in
    ``logs/worker.log`` and ``logs/beat.log``; ready once the worker says so; both
    stopped afterwards."""
    worker = evidence_subprocess(["worker"], env, logs / "worker.log")
    beat = evidence_subprocess(["beat"], env, logs / "beat.log")
    try:
        wait_until(
            lambda: b" ready." in (logs / "worker.log").read_bytes(),
            WORKER_READY_WITHIN,
            "the worker",
        )
        yield
    finally:
        stop_subprocess(beat)
        stop_subprocess(worker)
