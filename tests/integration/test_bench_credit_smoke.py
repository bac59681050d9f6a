"""Smoke test of the ``credit`` benchmark section (``python -m bench credit --quick``):
2,000 entities with their credit records seeded on SQLite and PostgreSQL, graded under
policy v1, then regraded under v2 by the service's ``credit.grading.regrade_all``, printed
beside a plain SELECT of the same records and the pure grading of them. The figures are not
judged (no target); that the section's checks held (every grade on v2, a sample equal to the
pure grading, the changes counted once), and that the figures are sane, is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.credit import QUICK_ENTITIES
from tests.support.bench_sections import quick_section

BASELINE = "SELECT of the same records, grouped per entity"


def test_credit_section_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, printed = quick_section("credit", tmp_path, capsys, browser=False)
    figures = data["credit"]["figures"]
    assert [f["backend"] for f in figures] == ["sqlite", "postgres"]
    for f in figures:
        assert f["entities"] == QUICK_ENTITIES
        assert QUICK_ENTITIES <= f["records"] <= 6 * QUICK_ENTITIES
        # the policy change moves some grades and not all of them; both counts agree
        assert 0 < f["changed"] == f["expected_changes"] < QUICK_ENTITIES
        assert f["regrade_s"] > 0 and f["read_s"] > 0 and f["grade_s"] > 0
        assert f["ratio"] == pytest.approx(f["regrade_s"] / f["read_s"])
        # regrading reads the records too: it cannot beat reading them
        assert f["regrade_s"] > f["read_s"]
    rows = {r["id"]: r for r in data["figures"] if r["id"].startswith("credit.")}
    n = f"n={QUICK_ENTITIES}"
    assert set(rows) == {
        f"credit.{b}.{n}.{what}.s"
        for b in ("sqlite", "postgres")
        for what in ("regrade_all", "grade")
    }
    assert all(r["baseline_name"] == BASELINE and r["ratio"] > 0 for r in rows.values())
    assert "Credit regrading after a policy change" in printed and BASELINE in printed
