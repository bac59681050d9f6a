"""Alembic environment: the project's single migration history.

The database URL comes from the Alembic config (set by
:func:`evidence_api.core.db.upgrade`) — never from a module-level engine.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, engine_from_config, event, pool

config = context.config


def _one_sqlite_transaction(engine: Engine) -> None:
    """Run SQLite's migrations in one transaction: one commit (one fsync) instead of one per
    statement, and all or nothing. pysqlite leaves DDL outside any transaction unless it is
    told to stay out of transaction control and BEGIN is emitted explicitly."""

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN")


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        _one_sqlite_transaction(engine)
    with engine.connect() as conn:
        context.configure(connection=conn, transactional_ddl=True if sqlite else None)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
