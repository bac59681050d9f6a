"""Build ``evidence-verifier``: the verifier core as a distribution of its own.

    python packaging/verifier/build.py OUT_DIR        (or: make verifier-dist)

Copies the core modules (``verifier/*.py``, ``verifier/chain/``, and
``verifier/report/`` for the ``report`` extra; never ``verifier/service/``) with
this folder's ``pyproject.toml`` and ``README.md`` into a temporary tree, builds
a wheel and an sdist there with setuptools (no network), and writes beside them
the hash-pinned lines of ``requirements.lock`` for the core's dependencies and
theirs (``requirements.lock``), and with the report's (``requirements-report.lock``).

Refuses to build when the core imports a third-party module it does not declare,
when a declared range differs from evidence-anchor's, or when the versions differ.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: The core's files, relative to the repository root, and the report's.
CORE = ("verifier/*.py", "verifier/py.typed", "verifier/chain/*.py")
REPORT = ("verifier/report/*.py",)
#: Import name -> distribution, for every third-party module the shipped code may import.
DISTRIBUTIONS = {
    "Crypto": "pycryptodome",
    "pydantic": "pydantic",
    "rfc8785": "rfc8785",
    "reportlab": "reportlab",
    "rfc3161_client": "rfc3161-client",
}
LOCK = ROOT / "requirements.lock"


class BuildError(Exception):
    pass


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def files_of(patterns: Iterable[str]) -> list[Path]:
    return sorted(p for pattern in patterns for p in ROOT.glob(pattern))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        isinstance(k, ast.Name) and k.id in ("ImportError", "ModuleNotFoundError") for k in kinds
    )


def third_party_imports(paths: Iterable[Path]) -> set[str]:
    """Top-level names of the non-stdlib, non-``verifier`` modules ``paths`` import,
    except where an ``ImportError`` is caught (an optional speed-up, say)."""
    found: set[str] = set()
    for path in paths:
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers)
            for stmt in node.body
            for inner in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names}
    return {n for n in found if n not in sys.stdlib_module_names and n != "verifier"}


def check_declared(project: dict[str, object], main: dict[str, object]) -> None:
    deps = project["dependencies"]
    extras = project["optional-dependencies"]
    main_deps = main["dependencies"]
    assert isinstance(deps, list) and isinstance(extras, dict) and isinstance(main_deps, list)
    if project["version"] != main["version"]:
        raise BuildError(f"version {project['version']} is not evidence-anchor's {main['version']}")
    for label, paths, declared in (
        ("the core", files_of(CORE), deps),
        ("the report", files_of((*CORE, *REPORT)), [*deps, *extras["report"]]),
    ):
        needed = {DISTRIBUTIONS.get(m, m) for m in third_party_imports(paths)}
        have = {_name(d) for d in declared}
        if needed != have:
            raise BuildError(
                f"{label} imports {sorted(needed)} but declares {sorted(have)}: "
                "update packaging/verifier/pyproject.toml"
            )
    for dep in [*deps, *extras["report"]]:
        if dep not in main_deps:
            raise BuildError(f"{dep!r} is not evidence-anchor's range for {_name(dep)}")


def lock_subset(roots: Sequence[str], lock_text: str) -> str:
    """The blocks of a uv-compiled lock for ``roots`` and everything they pull in,
    followed through the lock's ``# via`` comments; in the lock's order."""
    blocks: dict[str, list[str]] = {}
    parents: dict[str, set[str]] = {}
    current = None
    for line in lock_text.splitlines():
        pinned = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)==\S+", line)
        if pinned:
            current = _name(pinned.group(1))
            blocks[current], parents[current] = [line], set()
        elif current is None:
            continue
        elif line.startswith("    --hash="):
            blocks[current].append(line)
        elif line.lstrip().startswith("#"):
            said = line.strip().removeprefix("#").strip()
            said = said.removeprefix("via").strip() if said.split()[:1] == ["via"] else said
            if said and not said.startswith("-"):
                parents[current].add(_name(said))
    wanted = {_name(r) for r in roots}
    missing = wanted - blocks.keys()
    if missing:
        raise BuildError(f"{sorted(missing)} not in requirements.lock")
    grew = True
    while grew:
        grew = False
        for name, of in parents.items():
            if name not in wanted and of & wanted:
                wanted.add(name)
                grew = True
    lines = [
        "# The hash-pinned dependencies of evidence-verifier, cut from evidence-anchor's",
        "# requirements.lock by packaging/verifier/build.py:",
        "#   pip install --require-hashes --no-deps -r THIS_FILE",
    ]
    for name, block in blocks.items():
        if name in wanted:
            lines += block
    return "\n".join(lines) + "\n"


def build(out: Path) -> list[Path]:
    project = tomllib.loads((HERE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    main = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    check_declared(project, main)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evidence-verifier-") as tmp:
        tree = Path(tmp) / "src"
        for path in files_of((*CORE, *REPORT)):
            target = tree / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(HERE / name, tree / name)
        script = (
            # (build_sdist rewrites sys.argv: the folder is read first)
            "import sys, setuptools.build_meta as b\n"
            "out = sys.argv[1]\n"
            "names = [b.build_sdist(out), b.build_wheel(out)]\n"
            "print('built:', *names)\n"
        )
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-c", script, str(out.resolve())],
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BuildError(f"setuptools failed:\n{done.stdout}{done.stderr}")
        said = [line for line in done.stdout.splitlines() if line.startswith("built: ")]
        built = [out / name for name in said[-1].split()[1:]]
    lock_text = LOCK.read_text(encoding="utf-8")
    deps = [str(d) for d in project["dependencies"]]
    for name, roots in (
        ("requirements.lock", deps),
        ("requirements-report.lock", [*deps, *project["optional-dependencies"]["report"]]),
    ):
        (out / name).write_text(lock_subset(roots, lock_text), encoding="utf-8")
        built.append(out / name)
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the wheel, sdist and locks")
    args = parser.parse_args(argv)
    try:
        built = build(args.out)
    except BuildError as exc:
        sys.stderr.write(f"build_verifier: {exc}\n")
        return 1
    sys.stdout.write("".join(f"{path}\n" for path in built))
    return 0


if __name__ == "__main__":
    sys.exit(main())
