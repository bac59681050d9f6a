"""Import rules between the product packages, checked from their source.

* ``verifier`` stands alone: a court must be able to run it without the
  issuer's code, so it imports nothing from ``anchoring`` or ``evidence_api``.
* ``pymerkle`` is GPL-3.0 and a benchmark baseline only: no product module
  imports it.
* Importing any product module connects to nothing, opens no database and
  builds no engine or storage client (settings and engines are built on use).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("verifier", "anchoring", "evidence_api")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every module ``source`` imports, relative imports resolved, dynamic ones included."""
    anchor = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def imports_of(path: Path) -> set[str]:
    return imported_names(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


# --- the scanner itself --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import anchoring.log", "anchoring"),
        ("from evidence_api.core.db import upgrade", "evidence_api"),
        ("from pymerkle import InmemoryTree", "pymerkle"),
        ("def f():\n    import pymerkle.hasher", "pymerkle"),
        ("if TYPE_CHECKING:\n    from anchoring import MerkleLog", "anchoring"),
        ("import importlib\nimportlib.import_module('evidence_api.app')", "evidence_api"),
        ("__import__('pymerkle')", "pymerkle"),
    ],
    ids=["import", "from-import", "third-party", "nested", "type-checking", "dynamic", "dunder"],
)
def test_scanner_sees_every_kind_of_import(source: str, found: str) -> None:
    assert found in top_level(imported_names(source, "verifier.example", False))


def test_scanner_resolves_relative_imports() -> None:
    names = imported_names("from .merkle import leaf_hash", "verifier.bundle", False)
    assert "verifier.merkle" in names
    names = imported_names("from . import merkle", "verifier", True)
    assert "verifier.merkle" in names


# --- the rules -----------------------------------------------------------------------


VERIFIER_MODULES = modules_of("verifier")


def test_verifier_modules_are_found() -> None:
    names = {module_name(p) for p in VERIFIER_MODULES}
    assert {"verifier", "verifier.merkle", "verifier.bundle", "verifier.cli"} <= names


@pytest.mark.parametrize("path", VERIFIER_MODULES, ids=[module_name(p) for p in VERIFIER_MODULES])
def test_verifier_imports_nothing_of_the_issuer(path: Path) -> None:
    assert top_level(imports_of(path)) & {"anchoring", "evidence_api"} == set()


PRODUCT_MODULES = [p for package in PRODUCT_PACKAGES for p in modules_of(package)]


@pytest.mark.parametrize("path", PRODUCT_MODULES, ids=[module_name(p) for p in PRODUCT_MODULES])
def test_no_product_module_imports_pymerkle(path: Path) -> None:
    assert "pymerkle" not in top_level(imports_of(path))


def test_pymerkle_is_a_dev_only_dependency() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    runtime = pyproject.split("[project.optional-dependencies]")[0]
    assert "pymerkle" not in runtime


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
