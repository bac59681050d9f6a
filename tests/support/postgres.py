"""A real PostgreSQL for tests: a throwaway database on a running server, or a
throwaway cluster started from the installed binaries when none is reachable."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.support.process import tail

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _throwaway_cluster() -> Iterator[str]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        raise RuntimeError("no PostgreSQL server reachable and no initdb installed")
    bindir = os.path.dirname(bins[-1])
    root = tempfile.mkdtemp(prefix="evidence-pg-")
    shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    port = _free_port()
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_pg, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    started = subprocess.run(
        [
            *as_pg,
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-w",
            "-t",
            "120",  # generous: a loaded machine
            "-l",
            f"{root}/log",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        server_log = tail(Path(root) / "log")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"throwaway PostgreSQL did not start: {started.stderr.strip()}\n{server_log}"
        )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_pg, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty database; drop it afterwards."""
    admin = os.environ.get("EVIDENCE_TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL)
    with _server(admin) as server:
        name = f"evidence_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
                + f"/{name}"
            )
        finally:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with psycopg.connect(server, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except psycopg.Error:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)


@contextmanager
def _server(admin: str) -> Iterator[str]:
    if _reachable(admin):
        yield admin
    else:
        with _throwaway_cluster() as url:
            yield url
