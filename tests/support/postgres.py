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
from dataclasses import dataclass
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


def _as_postgres() -> list[str]:
    """The prefix that runs a server binary as the ``postgres`` user (it refuses root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster of the installed binaries, on one loopback port and
    one data directory for its whole life: :meth:`stop` and :meth:`start` restart the same
    server (same port, same data), as an outage drill needs."""

    bindir: str
    root: str
    port: int

    @property
    def url(self) -> str:
        """The ``postgres`` database's libpq URL (trust authentication, no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> str:
        return os.path.join(self.root, "data")

    def _pg_ctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_as_postgres(), f"{self.bindir}/pg_ctl", "-D", self.data, *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections (generous: a loaded
        machine); ``RuntimeError`` with its log if it does not."""
        started = self._pg_ctl(
            "-w",
            "-t",
            "120",
            "-l",
            f"{self.root}/log",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        if started.returncode != 0:
            raise RuntimeError(
                f"throwaway PostgreSQL did not start: {started.stderr.strip()}\n"
                f"{tail(Path(self.root) / 'log')}"
            )

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``: clients are cut off mid-statement,
        as in a crash; what was committed stays, as after a crash)."""
        self._pg_ctl("-m", "immediate", "-w", "stop")


@contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """A new cluster (``initdb`` as the ``postgres`` user) started on a free port; stopped
    and removed afterwards."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        raise RuntimeError("no PostgreSQL server reachable and no initdb installed")
    root = tempfile.mkdtemp(prefix="evidence-pg-")
    try:
        shutil.chown(root, "postgres")
        cluster = PostgresCluster(os.path.dirname(bins[-1]), root, _free_port())
        initdb = [f"{cluster.bindir}/initdb", "-D", cluster.data, "-U", "postgres"]
        subprocess.run(
            [*_as_postgres(), *initdb, "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
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
        with throwaway_cluster() as cluster:
            yield cluster.url
