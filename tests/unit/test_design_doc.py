"""docs/design.md exists and every citation of it points at a real section: the code, tests
and docs cite "docs/design.md §N" (or, in docs/, "[design §N](design.md)"), and no bare
"DESIGN §" citation is left pointing at a file the repository does not have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
CITATION = re.compile(r"(?:docs/design\.md|design) §(\d+(?:\.\d+)?)")
SEARCHED = ("verifier", "anchoring", "evidence_api", "tests", "bench", "docs", "contracts")
SUFFIXES = {".py", ".md", ".js", ".mjs", ".sol", ".toml", ".yml"}


def sections() -> set[str]:
    heads = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", DESIGN.read_text(encoding="utf-8"), re.M)
    return set(heads)


def sources() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "docker-compose.yml"]
    for top in SEARCHED:
        found += [
            p
            for p in (ROOT / top).rglob("*")
            if p.suffix in SUFFIXES and "node_modules" not in p.parts and p.is_file()
        ]
    return found


def test_design_has_its_numbered_sections() -> None:
    have = sections()
    assert {str(n) for n in range(1, 12)} <= have
    assert {"11.1", "11.6"} <= have


def test_every_citation_names_a_real_section() -> None:
    have = sections()
    cited: dict[str, list[str]] = {}
    for path in sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number in CITATION.findall(text):
            cited.setdefault(number, []).append(str(path.relative_to(ROOT)))
    assert cited, "nothing cites docs/design.md"
    missing = {n: where for n, where in cited.items() if n not in have}
    assert not missing, missing


def test_no_citation_of_a_design_file_the_repo_lacks() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path in sources()
        if path != Path(__file__).resolve()
        and "DESIGN §" in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not stale, stale
