"""Group commit loses nothing: clients submit evidence and stamps concurrently to a real
``evidence serve`` (SQLite with one process; PostgreSQL with two worker processes), every
server process is killed with SIGKILL mid-stream, and every submission that was
acknowledged (201 with a receipt, 200 with stamp receipts) is in the database with
the receipt it was answered with, and is sealed after a restart."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import select

from anchoring.schema import log_entry
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine
from evidence_api.intake.models import Evidence
from tests.support.api import (
    auth_header,
    evidence_form,
    fresh_postgres_database,
    provision_tokens,
    serve_subprocess,
)
from tests.support.waiting import wait_until

CLIENTS = 12
#: acknowledged submissions before the kill
BEFORE_KILL = 60


class Acknowledged:
    """What the server acknowledged: entry id -> the receipt it answered with."""

    def __init__(self) -> None:
        self.receipts: dict[str, str] = {}
        self.evidence: list[str] = []
        self.lock = threading.Lock()

    def __len__(self) -> int:
        with self.lock:
            return len(self.receipts)


def submit_until_killed(base_url: str, token: str, n: int, acked: Acknowledged) -> None:
    """Alternate evidence and stamp submissions until the server stops answering."""
    with httpx.Client(base_url=base_url, headers=auth_header(token), timeout=60) as client:
        i = 0
        while True:
            i += 1
            try:
                if i % 2:
                    files = {"page.html": f"<p>client {n} item {i}</p>".encode()}
                    response = client.post("/v1/evidence", files=evidence_form(files))
                else:
                    digests = [os.urandom(32).hex() for _ in range(20)]
                    response = client.post("/v1/stamps", json={"digests": digests})
            except httpx.HTTPError:
                return  # killed: this request was never acknowledged
            if response.status_code == 201:
                body = response.json()
                with acked.lock:
                    acked.receipts[body["evidence_id"]] = body["receipt"]
                    acked.evidence.append(body["evidence_id"])
            elif response.status_code == 200:
                with acked.lock:
                    for receipt in response.json()["receipts"]:
                        acked.receipts[receipt["entry_id"]] = receipt["receipt"]
            else:
                raise AssertionError(f"{response.status_code}: {response.text[:300]}")


def kill_all(pid: int) -> None:
    """SIGKILL the server and its worker processes at once."""
    parent = psutil.Process(pid)
    processes = [*parent.children(recursive=True), parent]
    for process in processes:
        process.kill()
    psutil.wait_procs(processes, timeout=60)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(database URL, EVIDENCE_WORKERS)"""
    if request.param == "sqlite":
        # two processes: their group commits share SQLite's one writer through the lock file
        yield f"sqlite:///{tmp_path / 'data' / 'evidence.db'}", "2"
    else:
        with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
            yield url, "2"


def test_acknowledged_submissions_survive_kill_9_of_every_process(
    database: tuple[str, str], tmp_path: Path
) -> None:
    url, workers = database
    data = tmp_path / "data"
    token = provision_tokens(Settings(data_dir=data, database_url=url))["officer"]
    env = {
        "EVIDENCE_DATA_DIR": str(data),
        "EVIDENCE_DATABASE_URL": url,
        "EVIDENCE_WORKERS": workers,
        "EVIDENCE_CHAIN": "none",
        "EVIDENCE_SEAL_INTERVAL": "0.2",  # sealing runs while submissions commit
    }
    acked = Acknowledged()
    with ExitStack() as stack:
        server = stack.enter_context(serve_subprocess(env, tmp_path / "first.log"))
        if workers != "1":
            wait_until(
                lambda: len(psutil.Process(server.process.pid).children()) == int(workers) - 1,
                120,
                "the worker processes",
            )
        clients = [
            threading.Thread(target=submit_until_killed, args=(server.base_url, token, n, acked))
            for n in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        wait_until(lambda: len(acked) >= BEFORE_KILL, 300, f"{BEFORE_KILL} acknowledgements")
        kill_all(server.process.pid)
        for client in clients:
            client.join(120)
        assert not any(client.is_alive() for client in clients)
    assert acked.evidence, "no evidence was acknowledged"

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(select(log_entry.c.entry_id, log_entry.c.receipt)).all())
            evidence = set(conn.execute(select(Evidence.id)).scalars())
        missing = [entry for entry in acked.receipts if entry not in stored]
        assert not missing, f"{len(missing)} acknowledged entries lost, e.g. {missing[:3]}"
        assert all(stored[entry] == receipt for entry, receipt in acked.receipts.items())
        assert set(acked.evidence) <= evidence

        env["EVIDENCE_WORKERS"] = "1"
        with serve_subprocess(env, tmp_path / "second.log"):

            def all_sealed() -> bool:
                with engine.connect() as conn:
                    rows = conn.execute(select(log_entry.c.entry_id, log_entry.c.leaf_index))
                    index = dict(rows.all())
                return all(index[entry] is not None for entry in acked.receipts)

            wait_until(all_sealed, 120, "every acknowledged entry sealed after the restart")
        with engine.connect() as conn:
            leaves = list(conn.execute(select(log_entry.c.leaf_index)).scalars())
        sealed = [leaf for leaf in leaves if leaf is not None]
        assert sorted(sealed) == list(range(len(sealed)))  # each entry once, no gaps
    finally:
        engine.dispose()
