"""docs/proof-format.md and its worked example cannot drift from the code.

(a) every shell command the document shows with a ``# => <output>`` line is found
    here and run with bash by tests/integration/test_docs_commands.py, which must
    print exactly that output (this covers every ``printf '…' | xxd -r -p |
    sha256sum`` in the document);
(b) the example rebuilt by ``docs/example/make_example.py`` must be byte for
    byte the committed ``docs/example`` files, and the document must quote the
    committed bundle verbatim and no 64-hex-digit value the example lacks;
(c) the committed example verifies with the CLI (exit 0 through tier 4) and
    fails (exit 1) when its file is altered.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from verifier.cli import run

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "proof-format.md"
EXAMPLE = ROOT / "docs" / "example"
EXPECT = "# => "
#: A digest standing alone (not a slice of a longer hex string).
HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
SHA256_COMMAND = re.compile(r"printf '[0-9a-f]+' \| xxd -r -p \| sha256sum")


def _load_make_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


make_example = _load_make_example()


@dataclass(frozen=True)
class Check:
    line: int  # line of the "# =>" marker in the document
    script: str
    expected: str


def doc_checks(text: str) -> list[Check]:
    """Scripts in ```sh blocks, each ended by a ``# => <expected output>`` line."""
    checks: list[Check] = []
    in_block = False
    script: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not in_block:
            in_block = line.strip() == "```sh"
            script = []
            continue
        if line.strip() == "```":
            assert not [s for s in script if s.strip()], f"line {number}: command without '# =>'"
            in_block = False
        elif line.startswith(EXPECT):
            checks.append(Check(number, "\n".join(script), line[len(EXPECT) :].strip()))
            script = []
        else:
            script.append(line)
    assert not in_block, "unterminated ```sh block"
    return checks


def normalise(output: str) -> str:
    """Drop the decorations sha256sum and openssl dgst print around a digest."""
    out = output.strip()
    out = out.removesuffix("  -")
    return re.sub(r"^[A-Z0-9-]+\(stdin\)= ", "", out)


DOC_TEXT = DOC.read_text(encoding="utf-8")
CHECKS = doc_checks(DOC_TEXT)


# --- (a) the commands in the document -------------------------------------------------


def test_doc_has_the_expected_checks() -> None:
    sha_lines = [ln for ln in DOC_TEXT.splitlines() if SHA256_COMMAND.search(ln)]
    checked = [ln for c in CHECKS for ln in c.script.splitlines() if SHA256_COMMAND.search(ln)]
    assert len(sha_lines) >= 12
    assert sorted(sha_lines) == sorted(checked), "a sha256sum command has no '# =>' line"
    assert any("openssl dgst -sm3" in c.script for c in CHECKS)


def test_normalise_strips_tool_decorations() -> None:
    assert normalise("ab  -\n") == "ab"
    assert normalise("SM3(stdin)= cd\n") == "cd"
    assert normalise("Signature Verified Successfully\n") == "Signature Verified Successfully"


# --- (b) the committed example is what the code builds --------------------------------


def test_example_files_match_a_fresh_build() -> None:
    expected = make_example.example_files(make_example.build_example())
    assert set(expected) == {"bundle.json", "log.vkey", "files/listing.html"}
    for rel, data in expected.items():
        assert (EXAMPLE / rel).read_bytes() == data, f"docs/example/{rel} is stale"


def test_doc_quotes_the_committed_bundle() -> None:
    bundle = (EXAMPLE / "bundle.json").read_text(encoding="utf-8")
    assert "```json\n" + bundle + "```" in DOC_TEXT


def test_every_digest_in_the_doc_comes_from_the_example() -> None:
    printed = make_example.describe(make_example.build_example())
    known = set(HEX64.findall(printed))
    quoted = set(HEX64.findall(DOC_TEXT))
    assert len(quoted) >= 15
    assert quoted <= known, f"digests not produced by make_example: {sorted(quoted - known)}"


# --- (c) the example verifies, and a changed file does not ----------------------------


def _argv(file: Path) -> list[str]:
    return [
        str(EXAMPLE / "bundle.json"),
        "--file",
        str(file),
        "--log-key",
        str(EXAMPLE / "log.vkey"),
        "--through",
        "4",
    ]


def test_cli_verifies_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_argv(EXAMPLE / "files" / "listing.html")) == 0
    assert "VERIFIED" in capsys.readouterr().out


def test_cli_without_through_is_incomplete(capsys: pytest.CaptureFixture[str]) -> None:
    argv = _argv(EXAMPLE / "files" / "listing.html")[:-2]
    assert run(argv) == 2  # sealed, not anchored: tier 5 is not checked
    assert "INCOMPLETE" in capsys.readouterr().out


def test_cli_fails_on_a_modified_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = (EXAMPLE / "files" / "listing.html").read_bytes()
    altered = tmp_path / "listing.html"
    altered.write_bytes(original.replace(b"99", b"98"))
    assert run(_argv(altered)) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "listing.html: size" not in out  # same size, other digest
