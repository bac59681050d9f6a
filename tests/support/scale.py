"""The scale-out stack (issue 19): N ``evidence serve`` replicas, M Celery workers and one
beat on one PostgreSQL, one S3 with Object Lock (SeaweedFS), one Redis and one anvil, on
loopback ports. The replicas run no in-process timers (``EVIDENCE_NO_TIMERS``-style: no
sealer, anchorer or other job in the API processes); the workers seal and anchor, and
the cluster-wide locks of :mod:`anchoring.locks` make one act at a time.

CONTRACT (filled in by the stack's implementation; the signatures below are fixed: the
drills in ``tests/e2e/test_scale_*.py`` and ``bench/scale.py`` call them).

Every process shares one data folder (``root / "data"``): the first replica's start
writes the log's development key there, so every replica and worker signs with the one
key. Beat alone gets a folder of its own per start (``root / "beat-<n>"``), where Celery
keeps its schedule file: a beat killed with SIGKILL may leave that shelve half written,
and a fresh file per start means the next beat never reads it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from anchoring import locks
from anchoring.node import ANVIL_DEV_KEY, ManagedAnvil
from evidence_api.core.auth import create_token
from evidence_api.core.db import make_engine
from evidence_api.core.storage.s3 import S3ObjectStore
from tests.support.anvil import READY_TIMEOUT
from tests.support.api import (
    ChainFacts,
    chain_facts,
    evidence_subprocess,
    free_port,
    started,
    stop_subprocess,
)
from tests.support.redis import redis_server
from tests.support.waiting import wait_until

#: Every in-process timer switch of ``evidence_api.core.config.Settings`` (``run_*``):
#: all off in a replica, whose only work is answering requests.
NO_TIMERS_ENV = {
    f"EVIDENCE_RUN_{name}": "false"
    for name in (
        "SEALER",
        "ANCHORER",
        "SUPERVISOR",
        "MONITORS",
        "INTEGRITY",
        "CERTIFICATES",
        "CAPTURES",
    )
}


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

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


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
    #: how many times beat was started (each start has its own schedule folder)
    beat_starts: int = 0

    def urls(self) -> list[str]:
        """Base URLs of the replicas alive now, in index order."""
        return [replica.base_url for replica in self.replicas if replica.alive]

    def kill_replica(self, index: int) -> None:
        """``kill -9`` replica ``index`` (waits until it is gone)."""
        _kill(self.replicas[index].process)

    def start_replica(self, index: int, timeout: float = 120.0) -> None:
        """(Re)start replica ``index`` on its port; return once it answers ``/readyz``."""
        replica = self.replicas[index]
        assert not replica.alive, f"replica {index} is running"
        env = {**self.env, "EVIDENCE_HOST": "127.0.0.1", "EVIDENCE_PORT": str(replica.port)}
        replica.process = evidence_subprocess(["serve"], env, replica.log_path)
        process = replica.process

        def ready() -> bool:
            if process.poll() is not None:
                tail = replica.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"replica {index} exited ({process.returncode}): {tail}")
            return _ready(replica.base_url)

        wait_until(ready, timeout, f"replica {index} at {replica.base_url} to be ready", 0.1)

    def kill_worker(self, index: int) -> None:
        """``kill -9`` worker ``index`` (``--pool=solo``: one process; waits until gone)."""
        _kill(self.workers[index])

    def start_worker(self, index: int, timeout: float = 120.0) -> None:
        """(Re)start worker ``index``; return once it consumes tasks."""
        while len(self.workers) <= index:
            self.workers.append(None)
        current = self.workers[index]
        assert current is None or current.poll() is not None, f"worker {index} is running"
        log_path = self.root / f"worker-{index}.log"
        seen = log_path.stat().st_size if log_path.exists() else 0
        process = evidence_subprocess(["worker"], self.env, log_path)
        self.workers[index] = process

        def ready() -> bool:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker {index} exited ({process.returncode}): {tail}")
            return b" ready." in log_path.read_bytes()[seen:]

        wait_until(ready, timeout, f"worker {index} to consume tasks", 0.1)

    def kill_beat(self) -> None:
        """``kill -9`` beat (waits until it is gone)."""
        _kill(self.beat)

    def start_beat(self) -> None:
        """(Re)start beat, with a schedule file of its own (see the module's docstring)."""
        assert self.beat is None or self.beat.poll() is not None, "beat is running"
        self.beat_starts += 1
        folder = self.root / f"beat-{self.beat_starts}"
        folder.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "EVIDENCE_DATA_DIR": str(folder)}
        self.beat = evidence_subprocess(["beat"], env, self.root / "beat.log")

    def lock_holder(self, name: str = "sealer") -> int | None:
        """The index of the worker whose process holds lock ``name`` (``"sealer"``,
        ``"anchorer"``) now, from ``anchoring.locks.holders``; ``None``: nobody holds it."""
        with self.engine.connect() as conn:
            holder = locks.holders(conn).get(name)
        pid = locks.holder_pid(holder) if holder is not None else None
        for index, worker in enumerate(self.workers):
            if pid is not None and worker is not None and worker.pid == pid:
                return index
        return None

    def stop(self) -> None:
        """SIGTERM every process of the stack (beat, workers, replicas), SIGKILL the slow."""
        for process in [self.beat, *self.workers, *(r.process for r in self.replicas)]:
            if process is not None:
                stop_subprocess(process)


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL ``process`` and reap it."""
    assert process is not None and process.poll() is None, "not running"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)


def _ready(base_url: str) -> bool:
    """Whether the replica answers ``/readyz`` with 200 and its chain is bound."""
    try:
        response = httpx.get(f"{base_url}/readyz", timeout=5)
        return response.status_code == 200 and started(base_url)
    except httpx.HTTPError:
        return False


def _create_bucket(env: dict[str, str]) -> None:
    """Create the stack's bucket (with Object Lock) before any replica starts, as an
    operator would: a replica's ``/readyz`` says "unavailable" while it does not exist."""
    S3ObjectStore(
        env["EVIDENCE_S3_ENDPOINT"],
        env["EVIDENCE_S3_ACCESS_KEY"],
        env["EVIDENCE_S3_SECRET_KEY"],
        env["EVIDENCE_S3_BUCKET"],
        retention_days=int(env.get("EVIDENCE_RETENTION_DAYS", "1")),
    ).ensure_bucket()


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
    root.mkdir(parents=True, exist_ok=True)
    node = ManagedAnvil(root / "anvil-state.json", block_time=block_time)
    with ExitStack() as stack:
        node.start(timeout=READY_TIMEOUT)
        stack.callback(node.stop)
        redis_url = stack.enter_context(redis_server())
        env = {
            "EVIDENCE_DATA_DIR": str(root / "data"),
            "EVIDENCE_DATABASE_URL": database_url,
            "EVIDENCE_WORKERS": "1",
            "EVIDENCE_CHAIN": "rpc",
            "EVIDENCE_CHAIN_RPC_URL": node.url,
            "EVIDENCE_CHAIN_KEY": ANVIL_DEV_KEY,
            "EVIDENCE_CONFIRMATIONS": "1",
            "EVIDENCE_SEAL_INTERVAL": str(seal_interval),
            "EVIDENCE_ANCHOR_INTERVAL": str(anchor_interval),
            # A transaction a restarted node forgot is re-sent after this many seconds.
            "EVIDENCE_ANCHOR_DROP_AFTER": "8",
            "EVIDENCE_BROKER_URL": f"{redis_url}/0",
            "EVIDENCE_RESULT_BACKEND": f"{redis_url}/1",
            **NO_TIMERS_ENV,
            **s3_env,
            **(extra_env or {}),
        }
        _create_bucket(env)
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        scale = ScaleStack(
            root, env, database_url, redis_url, engine, "", "", ChainFacts("", 0, "", b"")
        )
        stack.callback(scale.stop)
        for index in range(replicas):
            scale.replicas.append(
                Replica(index, f"http://127.0.0.1:{free_port()}", root / f"serve-{index}.log")
            )
        scale.start_replica(0)  # deploys EvidenceLog, binds the chain, writes the log key
        for index in range(1, replicas):
            scale.start_replica(index)
        with Session(engine) as session, session.begin():
            _, scale.token = create_token(session, role="officer", name="scale stack officer")
        scale.vkey = httpx.get(f"{scale.replicas[0].base_url}/v1/log/key", timeout=30).text
        scale.chain = chain_facts(engine, node.url)
        for index in range(workers):
            scale.start_worker(index)
        scale.start_beat()
        yield scale
