"""Smoke test of the ``audit`` benchmark section (``python -m bench audit --quick``): a log of
10,000 entries sealed by the service's sealer on SQLite and PostgreSQL, the audit's entries
and tree phases clean on it, each printed beside SHA-256 of the same bytes with the ratio.
The figures are not judged (no target); that the audit ran clean and counted every entry and
leaf once, and that each row has its baseline and ratio, is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.audit import QUICK_ENTRIES
from tests.support.bench_sections import quick_section


def test_audit_section_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, printed = quick_section("audit", tmp_path, capsys, browser=False)
    figures = data["audit"]["figures"]
    assert [f["backend"] for f in figures] == ["sqlite", "postgres"]
    for f in figures:
        assert f["status"] == "clean"
        assert f["counts"]["entries"] == f["counts"]["leaves"] == QUICK_ENTRIES
        assert f["audit_s"] > 0 and f["sha256_s"] > 0 and f["bytes"] > QUICK_ENTRIES * 100
        assert f["ratio"] == pytest.approx(f["audit_s"] / f["sha256_s"])
    rows = {r["id"]: r for r in data["figures"] if r["id"].startswith("audit.")}
    assert set(rows) == {f"audit.{b}.n={QUICK_ENTRIES}.seconds" for b in ("sqlite", "postgres")}
    assert all(r["baseline_name"] == "SHA-256 of the same bytes" for r in rows.values())
    assert "Full audit (evidence audit)" in printed and "SHA-256 of the same bytes" in printed
