"""The shared verification vectors committed under testdata/vectors (docs/proof-format.md §14)
are exactly what tests/support/vectors.py generates from the code now: every input, every
expected outcome, byte for byte. Regenerate with ``python -m tests.support.vectors --write``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.vectors import (
    FORMAT,
    GROUPS,
    REGENERATE,
    TESTDATA,
    committed_files,
    documents,
    generate,
    load,
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    return generate(tmp_path_factory.mktemp("packages"))


def test_the_committed_files_are_what_the_code_generates(
    generated: dict[str, list[dict[str, Any]]],
) -> None:
    want = documents(generated)
    have = committed_files()
    assert sorted(have) == sorted(want), f"files differ: regenerate with {REGENERATE}"
    stale = [rel for rel in want if have[rel] != want[rel]]
    assert not stale, f"stale vectors {stale}: regenerate with {REGENERATE}"


def test_loading_the_files_gives_the_generated_vectors(
    generated: dict[str, list[dict[str, Any]]],
) -> None:
    assert load() == generated


def test_every_group_file_says_what_it_is_and_names_every_vector() -> None:
    for group in GROUPS:
        document = json.loads((TESTDATA / f"{group}.json").read_text(encoding="utf-8"))
        assert document["format"] == FORMAT
        assert document["group"] == group
        assert document["regenerate"] == REGENERATE
        names = [vec["name"] for vec in document["vectors"]]
        assert len(names) >= 10, group
        assert len(set(names)) == len(names), f"{group}: names must be unique"
        assert all(name and name == name.strip() and "/" not in name for name in names)


def test_every_vector_has_its_inputs_and_its_expected_outcome() -> None:
    vectors = load()
    for vec in vectors["bundles"]:
        assert {"defect", "bundle_b64", "files", "log_keys", "through", "expected"} <= set(vec)
        assert "outcome" in vec["expected"] or vec["expected"]["error"] == "format"
    for vec in vectors["canonical"]:
        assert ("canonical_b64" in vec) != (vec.get("error") == "format"), vec["name"]
    for vec in vectors["hashes"]:
        assert {"input_b64", "sha256", "sm3"} <= set(vec)
    for vec in vectors["keys"]:
        assert isinstance(vec["ok"], bool)
    for vec in vectors["packages"]:
        assert vec["expected"].get("ok") is True or vec["expected"]["error"].endswith("Error")
    packages = sorted(p.name for p in (TESTDATA / "packages").iterdir())
    assert packages == sorted(f"{vec['name']}.zip" for vec in vectors["packages"])


def test_the_defects_are_in_the_names(tmp_path: Path) -> None:
    """A damaged bundle's name starts with what was done to it, so a failing one reads as a
    diagnosis (``modified-proof@1-bit-@4``); the valid ones say ``valid``."""
    for vec in load()["bundles"]:
        if vec["defect"] == "valid":
            assert vec["name"].startswith("valid"), vec["name"]
        else:
            assert not vec["name"].startswith("valid"), vec["name"]
