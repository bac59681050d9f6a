"""A ZIP is a ZIP by its end record (package-format §3): data before the first local
header — a self-extractor stub — does not turn a package into a "bundle".

``evidence-verify`` used to decide by the first four bytes (``PK\\x03\\x04``), so a
stubbed package was read as JSON and refused as an unusable bundle.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.support.factories import Sealed, sealed_evidence
from tests.unit.test_package import members_of, write_zip
from verifier.cli import run
from verifier.package import read_package
from verifier.zipread import has_zip_end_record, is_zip_file

STUB = b"MZ\x90\x00" + b"self-extractor stub " * 50


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return sealed_evidence()


def stubbed(sealed: Sealed, tmp_path: Path) -> Path:
    plain = write_zip(tmp_path / "plain.zip", members_of(sealed))
    path = tmp_path / "stubbed.zip"
    path.write_bytes(STUB + plain.read_bytes())
    return path


def test_a_stubbed_package_is_read_as_a_package(sealed: Sealed, tmp_path: Path) -> None:
    path = stubbed(sealed, tmp_path)
    with path.open("rb") as fh:
        assert is_zip_file(fh)
        assert fh.tell() == 0
    package = read_package(path)
    assert package.source == "zip"
    assert package.bundle == sealed.bundle


def test_evidence_verify_verifies_a_stubbed_package(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = stubbed(sealed, tmp_path)
    key = tmp_path / "log.vkey"
    key.write_text(sealed.signer.verifier().to_text() + "\n", encoding="utf-8")
    code = run([str(path), "--log-key", str(key), "--through", "4", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    assert json.loads(out)["outcome"] == "verified"


@pytest.mark.parametrize(
    ("name", "data", "expected"),  # named after their shape
    [
        ("empty-zip", b"PK\x05\x06" + bytes(18), True),
        ("empty-zip-with-comment", b"PK\x05\x06" + bytes(16) + b"\x02\x00hi", True),
        ("stub-then-empty-zip", b"#!/bin/sh\n" + b"PK\x05\x06" + bytes(18), True),
        ("comment-length-short", b"x" + b"PK\x05\x06" + bytes(16) + b"\x01\x00hi", False),
        ("comment-length-long", b"x" + b"PK\x05\x06" + bytes(16) + b"\x03\x00hi", False),
        ("end-record-truncated", b"x" + b"PK\x05\x06" + bytes(17), False),
        ("magic-inside-json", b'{"x": "PK\x05\x06' + bytes(18) + b'"}', False),
        ("json-bundle", b'{"format": "evidence-proof/v1"}', False),
        ("nothing", b"", False),
    ],
)
def test_end_record_rule(name: str, data: bytes, expected: bool) -> None:
    assert has_zip_end_record(data) is expected, name
    assert is_zip_file(io.BytesIO(data)) is expected, name
