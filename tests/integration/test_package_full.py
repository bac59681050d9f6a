"""The full-size cases of tests/unit/test_package.py (which keeps a 64 MiB bomb to stay fast): a
gigabyte of zeros deflated into about a megabyte is refused while inflating, and from its
header under a smaller member limit; the 100,000-entry ZIP the hostile ``100000-entries``
case is built from is one zipfile reads (ZIP64 end records)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.support.factories import sealed_evidence
from tests.unit.test_package import (
    GiB,
    _many_entries,
    bomb_member_of,
    bomb_sealed_of,
    check_bomb_refused_while_inflating,
    inflating_is_refused,
    raw_package,
    raw_zip,
)
from verifier.errors import ZipBombError
from verifier.package import PackageLimits, read_package
from verifier.zipread import Budget

pytestmark = pytest.mark.slow


def test_gigabyte_zip_bomb_is_refused_while_inflating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_bomb_refused_while_inflating(bomb_sealed_of(GiB), bomb_member_of(GiB), tmp_path, capsys)


def test_gigabyte_zip_bomb_beyond_the_member_limit_is_refused_from_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.zip"
    path.write_bytes(raw_zip(raw_package(bomb_sealed_of(GiB), bomb_member_of(GiB))))
    monkeypatch.setattr(Budget, "pump", inflating_is_refused)
    with pytest.raises(ZipBombError, match=f"declares {GiB} bytes, limit {GiB - 1}"):
        read_package(path, PackageLimits(max_member_bytes=GiB - 1))


def test_the_100000_entry_zip_is_a_real_zip(tmp_path: Path) -> None:
    path = _many_entries(sealed_evidence(), tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert len(zf.infolist()) == 100_000
