"""Importing any product module connects to nothing, opens no database and builds no
engine or storage client (settings and engines are built on use).

Each check runs a fresh interpreter (a subprocess), hence this tier; the import
rules read from source are in ``tests/unit/test_architecture.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.unit.test_architecture import PRODUCT_MODULES, PRODUCT_PACKAGES, ROOT, module_name

# --- importing connects to nothing -------------------------------------------------------

# Run in a fresh interpreter: every connection primitive raises, then every
# product module is imported. Alembic's env.py is a script Alembic runs with
# its own context, not a module one imports, so it is left out.
IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json, pkgutil, socket, sqlite3, sys

    class Forbidden(BaseException):
        pass

    def forbid(what):
        def refuse(*args, **kwargs):
            raise Forbidden(f"{what} at import time")
        return refuse

    socket.socket.connect = forbid("socket connect")
    socket.socket.connect_ex = forbid("socket connect")
    socket.create_connection = forbid("socket connect")
    socket.getaddrinfo = forbid("DNS lookup")
    sqlite3.connect = forbid("SQLite connection")
    try:
        import psycopg
        psycopg.connect = forbid("PostgreSQL connection")
        psycopg.Connection.connect = classmethod(forbid("PostgreSQL connection"))
    except ImportError:
        pass
    import sqlalchemy, sqlalchemy.engine
    sqlalchemy.create_engine = forbid("SQLAlchemy engine")
    sqlalchemy.engine.create_engine = forbid("SQLAlchemy engine")
    try:
        import minio
        minio.Minio.__init__ = forbid("S3 client")
    except ImportError:
        pass

    # The guard must really guard.
    try:
        socket.create_connection(("127.0.0.1", 9))
    except Forbidden:
        pass
    else:
        sys.exit("socket guard not in place")

    SKIP = {"evidence_api.migrations.env"}
    imported, failed = [], {}

    def onerror(name):
        failed[name] = repr(sys.exc_info()[1])

    for package in sys.argv[1:]:
        root = importlib.import_module(package)
        imported.append(package)
        for info in pkgutil.walk_packages(root.__path__, package + ".", onerror=onerror):
            if info.name in SKIP:
                continue
            try:
                importlib.import_module(info.name)
            except BaseException as exc:
                failed[info.name] = repr(exc)
            else:
                imported.append(info.name)
    print(json.dumps({"imported": imported, "failed": failed}))
    sys.exit(1 if failed else 0)
    """
)


def test_importing_every_product_module_connects_to_nothing() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *PRODUCT_PACKAGES],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.stdout, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert proc.returncode == 0, proc.stderr
    imported = set(result["imported"])
    expected = {
        module_name(p)
        for p in PRODUCT_MODULES
        if module_name(p) != "evidence_api.migrations.env" and "versions" not in p.parts
    }
    assert expected <= imported, sorted(expected - imported)


def test_import_guard_catches_modules_that_connect(tmp_path: Path) -> None:
    package = tmp_path / "leaky"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "net.py").write_text(
        "import socket\nsocket.create_connection(('example.com', 80))\n"
    )
    (package / "db.py").write_text("import sqlite3\nsqlite3.connect(':memory:')\n")
    (package / "engine.py").write_text(
        "from sqlalchemy import create_engine\ncreate_engine('sqlite://')\n"
    )
    (package / "quiet.py").write_text("X = 1\n")
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, "leaky"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 1
    assert set(result["failed"]) == {"leaky.net", "leaky.db", "leaky.engine"}
    assert all("at import time" in reason for reason in result["failed"].values())
    assert "leaky.quiet" in result["imported"]
