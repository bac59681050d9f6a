"""Import rules between the product packages, checked from their source.

* ``verifier`` stands alone: a court must be able to run it without the
  issuer's code, so it imports nothing from ``anchoring`` or ``evidence_api``.
* ``pymerkle`` is GPL-3.0 and a benchmark baseline only: no product module
  imports it.
* Importing any product module connects to nothing (checked in a fresh
  interpreter: ``tests/integration/test_import_side_effects.py``).
* No import cycles between product modules. Every import counts, those inside
  functions and under ``if TYPE_CHECKING:`` too: deferring an import hides a cycle
  from the interpreter, not from the reader. A module's own parent packages add
  no edge (Python initialises them first in any case).
* ``evidence_api`` imports downward only: ``evidence_api.core`` imports no
  feature package, and no feature package (nor ``core``) imports the composition
  roots (``app``, ``cli``, ``runtime``, ``worker``, ``jobs``, ``schema``,
  ``verifier_mount``).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
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


@functools.cache  # each product module's source is scanned once, not once per rule
def imported_names(source: str, module: str, is_package: bool) -> frozenset[str]:
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
    return frozenset(names)


def imports_of(path: Path) -> frozenset[str]:
    return imported_names(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )


def top_level(names: frozenset[str]) -> set[str]:
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


# --- no cycles, no upward imports --------------------------------------------------------


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports among ``modules``: a name resolved to its longest prefix
    that is one of them, the module's own parent packages left out."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        parents = {module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)}
        source = path.read_text(encoding="utf-8")
        names = imported_names(source, module, path.name == "__init__.py")
        targets = {resolve(name) for name in names}
        graph[module] = {t for t in targets if t is not None and t != module} - parents
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: no recursion limit on deep graphs
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
    ids=["chain", "pair", "triangle", "two-pairs"],
)
def test_cycle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_graph_counts_deferred_imports_and_skips_parents(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    paths = {
        "pkg": tmp_path / "pkg" / "__init__.py",
        "pkg.a": tmp_path / "pkg" / "a.py",
        "pkg.b": tmp_path / "pkg" / "b.py",
        "pkg.c": tmp_path / "pkg" / "c.py",
    }
    paths["pkg"].write_text("from pkg.a import f\n")
    paths["pkg.a"].write_text("from pkg import b\n")
    paths["pkg.b"].write_text("def g():\n    from pkg.a import f\n")
    paths["pkg.c"].write_text("if TYPE_CHECKING:\n    from pkg.b import g\n")
    graph = import_graph(paths)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.b"}}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


PRODUCT_GRAPH = import_graph({module_name(p): p for p in PRODUCT_MODULES})


def test_no_import_cycles_between_product_modules() -> None:
    assert cycles(PRODUCT_GRAPH) == []


EVIDENCE_ROOTS = {
    f"evidence_api.{name}"
    for name in ("app", "cli", "runtime", "worker", "jobs", "schema", "verifier_mount")
}
EVIDENCE_FEATURES = (
    "accounts",
    "audit",
    "capture",
    "certificates",
    "clues",
    "complaints",
    "console",
    "credit",
    "disclosure",
    "intake",
    "integrity",
    "leniency",
    "log",
    "monitoring",
    "odr",
    "registry",
    "repairs",
    "spotcheck",
    "stats",
    "takedowns",
    "tiles",
    "trust",
    "units",
    "violators",
    "witness",
)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_evidence_api_layers_are_found() -> None:
    assert set(PRODUCT_GRAPH) >= EVIDENCE_ROOTS
    for package in ("core", *EVIDENCE_FEATURES):
        assert f"evidence_api.{package}" in PRODUCT_GRAPH


@pytest.mark.parametrize(
    "module",
    sorted(m for m in PRODUCT_GRAPH if _within(m, "evidence_api.core")),
)
def test_core_imports_no_feature_and_no_root(module: str) -> None:
    upward = {
        target
        for target in PRODUCT_GRAPH[module]
        if target in EVIDENCE_ROOTS
        or any(_within(target, f"evidence_api.{f}") for f in EVIDENCE_FEATURES)
    }
    assert upward == set()


@pytest.mark.parametrize(
    "module",
    sorted(
        m for m in PRODUCT_GRAPH if any(_within(m, f"evidence_api.{f}") for f in EVIDENCE_FEATURES)
    ),
)
def test_features_import_no_composition_root(module: str) -> None:
    assert PRODUCT_GRAPH[module] & EVIDENCE_ROOTS == set()
