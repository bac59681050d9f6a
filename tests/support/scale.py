"""The scale-out stack (issue 19): N ``evidence serve`` replicas, M Celery workers and one
beat on one PostgreSQL, one S3 with Object Lock (SeaweedFS), one Redis and one anvil, on
loopback ports. The replicas run no in-process timers (``EVIDENCE_NO_TIMERS``-style: no
sealer, anchorer or other job in the API processes); the workers seal and anchor, and
the cluster-wide locks of :mod:`anchoring.locks` make one act at a time.

CONTRACT (filled in by the stack's implementation; the signatures below are fixed: the
drills in ``tests/e2e/test_scale_*.py`` and ``bench/scale.py`` call them).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from tests.support.api import ChainFacts


@dataclass
class Replica:
    """One ``evidence serve`` process of the stack."""

    index: int
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class ScaleStack:
    root: Path
    #: the environment every process of the stack shares
    env: dict[str, str]
    database_url: str
    redis_url: str
    engine: Engine
    #: an officer's bearer token
    token: str
    #: the log's verifier key (C2SP vkey)
    vkey: str
    chain: ChainFacts
    replicas: list[Replica] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None

    def urls(self) -> list[str]:
        """Base URLs of the replicas alive now, in index order."""
        raise NotImplementedError

    def kill_replica(self, index: int) -> None:
        """``kill -9`` replica ``index`` (waits until it is gone)."""
        raise NotImplementedError

    def start_replica(self, index: int, timeout: float = 120.0) -> None:
        """(Re)start replica ``index`` on its port; return once it answers ``/readyz``."""
        raise NotImplementedError

    def kill_worker(self, index: int) -> None:
        raise NotImplementedError

    def start_worker(self, index: int, timeout: float = 120.0) -> None:
        """(Re)start worker ``index``; return once it consumes tasks."""
        raise NotImplementedError

    def kill_beat(self) -> None:
        raise NotImplementedError

    def start_beat(self) -> None:
        raise NotImplementedError

    def lock_holder(self, name: str = "sealer") -> int | None:
        """The index of the worker whose process holds lock ``name`` (``"sealer"``,
        ``"anchorer"``) now, from ``anchoring.locks.holders``; ``None``: nobody holds it."""
        raise NotImplementedError


@contextmanager
def scale_stack(
    root: Path,
    *,
    replicas: int = 3,
    workers: int = 2,
    database_url: str,
    s3_env: dict[str, str],
    seal_interval: float = 0.2,
    anchor_interval: float = 1.0,
    block_time: float | None = 1.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[ScaleStack]:
    """Start the stack on ``database_url`` (a fresh database: the caller owns the server,
    so a drill can restart it) and the S3 server described by ``s3_env`` (the
    ``EVIDENCE_S3_*`` settings; the caller owns the server); Redis and anvil are the
    stack's own. The first replica's start deploys the contract and binds the chain; the
    others start after it. Everything is stopped on exit."""
    raise NotImplementedError
    yield  # pragma: no cover
