"""Database engines and migrations. Nothing here runs at import time."""

from __future__ import annotations

import fcntl
import os
import select
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    DateTime,
    Dialect,
    Engine,
    TypeDecorator,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session

from anchoring.locks import application_name

if TYPE_CHECKING:  # Alembic loads only when there is something to migrate
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent.parent / "migrations"
#: The newest migration: a database at it needs no Alembic run (a start skips loading Alembic
#: and its scripts). tests/unit/test_db_head.py keeps it equal to Alembic's own head.
HEAD = "0027_odr"

#: A unit of work: each call opens a session in a transaction that commits when the block
#: ends (rolls back on an exception). Services take this, not the runtime.
Transaction = Callable[[], AbstractContextManager[Session]]


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and read back aware (UTC) on every database.

    PostgreSQL keeps ``timestamptz`` as an instant; SQLite keeps the wall-clock
    fields only and hands them back naive. Writing UTC and marking what is read as
    UTC makes both give the same aware value, so no service fixes up what it reads.
    A naive value written is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """An engine with the settings this project relies on (SQLite: WAL, FKs, busy timeout)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # No pool_pre_ping: it costs a round trip on every checkout, as much as the one-statement
    # proof read itself. A connection the server closed while it sat in the pool has its
    # goodbye (an error message, then EOF) waiting on the socket, which a zero-timeout poll
    # sees without a round trip; a connection that dies unnoticed fails its statement, and
    # the reads that matter retry once (anchoring.store.sql.read_retrying).
    engine = create_engine(url, connect_args=_connect_args(url))
    event.listen(engine, "checkout", _drop_if_closed_by_server)
    event.listen(engine, "do_connect", _name_connection)
    return engine


#: A context manager held around a write transaction (:func:`writer_lock`).
WriterLock = Callable[[], AbstractContextManager[None]]


def writer_lock(engine: Engine) -> WriterLock:
    """What the group commit writers of all processes on one database hold around each
    transaction: for a SQLite file, an exclusive ``flock`` on ``<database>-writer.lock``
    beside it; for other databases, nothing.

    Several ``evidence serve`` processes share one SQLite file, and SQLite has one writer.
    A writer that finds the file locked polls for it, sleeping 1, 2, 5 … up to 100 ms
    between tries, so under steady load one process's writes waited hundreds of
    milliseconds while the other's kept going (1 KB evidence p99 775 ms at 32 clients on
    2 processes). Waiting on the lock file instead, a writer is woken by the kernel the
    moment the other lets go. Each acquisition opens the file anew: locks on separate
    opens exclude each other in one process too. PostgreSQL writers take row locks and
    need nothing more."""
    url = engine.url
    database = url.database or ""
    if (
        url.get_backend_name() != "sqlite"
        or database in ("", ":memory:")
        or url.query.get("mode") == "memory"
    ):
        return nullcontext
    path = Path(database + "-writer.lock")

    @contextmanager
    def held() -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    return held


#: Seconds a new PostgreSQL connection may take (libpq ``connect_timeout``) unless the URL
#: says otherwise: a server that is down or hung fails the request (503) within this bound
#: instead of holding it for the operating system's TCP timeout (minutes).
CONNECT_TIMEOUT = 5


def _connect_args(url: str) -> dict[str, Any]:
    """``connect_timeout`` of :data:`CONNECT_TIMEOUT`, unless ``url`` sets its own."""
    return {} if "connect_timeout" in make_url(url).query else {"connect_timeout": CONNECT_TIMEOUT}


def _name_connection(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
    """Each PostgreSQL connection names its process (``evidence worker pid 4242``), so
    ``pg_stat_activity`` shows which process holds a lock (anchoring.locks.holders)."""
    params.setdefault("application_name", application_name())


def _drop_if_closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection with unread input: an idle PostgreSQL connection is sent
    nothing unless the server is closing it. The pool then opens a fresh one."""
    fileno = getattr(dbapi_conn, "fileno", None)
    if fileno is None:
        return
    poller = select.poll()
    try:
        poller.register(fileno(), select.POLLIN)
    except Exception as exc:  # closed on our side: no socket left (the error is the driver's)
        raise DisconnectionError(f"pooled connection unusable: {exc}") from exc
    closed = bool(poller.poll(0))
    if closed:
        raise DisconnectionError("the server closed this pooled connection")


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # noqa: PLC0415

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revisions(url: str) -> set[str]:
    """The revisions the database at ``url`` records (empty: none, or no database yet)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table: a new database
        return set()
    finally:
        engine.dispose()
    return {str(row[0]) for row in rows}


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (default: the newest). A database
    already at :data:`HEAD` is left alone without loading Alembic (one SELECT)."""
    if revision == "head" and current_revisions(url) == {HEAD}:
        return
    from alembic import command  # noqa: PLC0415

    command.upgrade(alembic_config(url), revision)
