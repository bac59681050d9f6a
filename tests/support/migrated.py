"""Databases at the newest migration without running every migration again.

A fresh deployment's first start runs the whole Alembic history: about 0.5 s of CPU on
SQLite and more on PostgreSQL, which hundreds of tests paid for a database they then
threw away. Here each test process migrates one template per kind, once, and copies it:

* SQLite: :func:`seed_sqlite` copies the template file to a deployment's default
  database path (``<data_dir>/evidence.db``) when that file does not exist yet;
* PostgreSQL: :func:`postgres_template` is a database at head on the server, and
  ``CREATE DATABASE … TEMPLATE`` copies it (``tests.support.api.fresh_postgres_database``).

The service then finds the database at head and its start skips Alembic
(``evidence_api.core.db.upgrade``: one SELECT), exactly as on any later start of a
deployment. The migrations themselves are tested on empty databases in
``tests/integration/test_migrations.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

from sqlalchemy import make_url

from evidence_api.core.config import Settings
from evidence_api.core.db import upgrade
from tests.support.postgres import create_database, drop_database

_lock = threading.Lock()
_sqlite: list[Path] = []
#: server (without a database) -> (the admin URL it was made with, the template's name)
_postgres: dict[str, tuple[str, str]] = {}


def sqlite_template() -> Path:
    """This process's SQLite database at head (made on first use; removed by
    :func:`drop_templates`)."""
    with _lock:
        if not _sqlite:
            folder = Path(tempfile.mkdtemp(prefix="evidence-sqlite-head-"))
            path = folder / "evidence.db"
            upgrade(f"sqlite:///{path}")
            _sqlite.append(path)
        return _sqlite[0]


def seed_sqlite(settings: Settings) -> None:
    """Give a deployment on the default SQLite file (no ``database_url``) a copy of the
    template, if its database file does not exist yet."""
    if settings.database_url is None:
        seed_sqlite_file(settings.data_dir)


def seed_sqlite_env(env: dict[str, str]) -> None:
    """:func:`seed_sqlite` for a subprocess configured by ``EVIDENCE_*`` variables."""
    data = env.get("EVIDENCE_DATA_DIR")
    if data and not env.get("EVIDENCE_DATABASE_URL"):
        seed_sqlite_file(Path(data))


def seed_sqlite_file(data_dir: Path) -> None:
    """Copy the template to ``data_dir/evidence.db`` unless that exists: the folder is
    made 0700 and the file 0600, as the service makes them."""
    target = data_dir / "evidence.db"
    if target.exists():
        return
    template = sqlite_template()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    os.chmod(target, 0o600)


def postgres_template(server_url: str) -> str:
    """The name of a database at head on the server of ``server_url`` (an admin URL with
    CREATE DATABASE), made once per process and server (dropped by
    :func:`drop_templates`). Nothing stays connected to it, so ``CREATE DATABASE …
    TEMPLATE`` may copy it."""
    server = make_url(server_url)
    key = server.set(database="").render_as_string(hide_password=False)
    with _lock:
        if key not in _postgres:
            url = create_database(server_url, "evidence_head")
            upgrade(url)
            _postgres[key] = (server_url, make_url(url).database or "")
        return _postgres[key][1]


def drop_templates() -> None:
    """Remove the templates this process made, SQLite and PostgreSQL (tests/conftest.py
    calls it when the session ends: xdist's workers leave without running ``atexit``
    handlers)."""
    with _lock:
        for path in _sqlite:
            shutil.rmtree(path.parent, ignore_errors=True)
        _sqlite.clear()
        for server_url, name in _postgres.values():
            # through the server's maintenance database: the test session's database
            # that ``server_url`` names is dropped by then
            maintenance = make_url(server_url).set(database="postgres")
            drop_database(maintenance.render_as_string(hide_password=False), name)
        _postgres.clear()
