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
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

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


#: The driver every throwaway database's URL names (psycopg 3, as the service's).
DRIVER = "postgresql+psycopg"


def create_database(server_url: str, prefix: str, template: str | None = None) -> str:
    """The SQLAlchemy URL (psycopg 3) of a new database ``<prefix>_<random>`` on the server
    of ``server_url`` (a libpq or SQLAlchemy URL of a role with CREATE DATABASE): empty,
    or a copy of the database ``template``."""
    server = make_url(server_url).set(drivername=DRIVER)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str, *, patience: float | None = None) -> None:
    """Drop the database ``name`` on the server of ``server_url``, ending its sessions.

    ``patience`` ``None``: one attempt, and nothing if it fails (the server is gone: a
    throwaway cluster stopped first). Seconds: try again until then while the server
    refuses (a session still closing, a restarting server), then raise its error.
    """
    admin = create_engine(make_url(server_url).set(drivername=DRIVER), isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + (patience or 0.0)
    try:
        while True:
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            except SQLAlchemyError:
                if patience is None:
                    return
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(
    server_url: str, prefix: str, *, template: str | None = None, patience: float | None = None
) -> Iterator[str]:
    """:func:`create_database`, dropped afterwards (:func:`drop_database` with
    ``patience``), also when the body raises."""
    url = create_database(server_url, prefix, template)
    try:
        yield url
    finally:
        drop_database(server_url, make_url(url).database or "", patience=patience)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty database; drop it afterwards (trying for
    10 s: an error then is the test session's)."""
    admin = os.environ.get("EVIDENCE_TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL)
    with _server(admin) as server, throwaway_database(server, "evidence_test", patience=10) as url:
        yield url


@contextmanager
def _server(admin: str) -> Iterator[str]:
    if _reachable(admin):
        yield admin
    else:
        with throwaway_cluster() as cluster:
            yield cluster.url
