"""Smoke test of the ``monitoring`` benchmark section: ``python -m bench monitoring --quick``
runs monitor runs in real Chromium on the fixture market beside plain GETs of the same
pages, and times the scheduler's tick at 10,000 monitors on SQLite and PostgreSQL beside a
full scan. The figures are not judged (the issue sets no target); that the section's checks
held, that every row has both lines and their ratio, and that a tick reads far less than
the full scan (the index, not every monitor), is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bench_sections import quick_section

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

ROWS = {
    "monitoring.runs_per_min.w2",
    *(
        f"monitoring.tick.{backend}.{line}.{figure}"
        for backend in ("sqlite", "postgres")
        for line in ("idle", "due50")
        for figure in ("p50", "p99", "reads")
    ),
}


def test_monitoring_section_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, printed = quick_section("monitoring", tmp_path, capsys)
    raw = data["monitoring"]
    assert len(raw["run_times"]) == raw["runs"] == 4
    assert raw["gets"] >= 200
    for backend in ("sqlite", "postgres"):
        tick = raw["ticks"][backend]
        assert tick["uses_index"] is True, tick["plan"]
        # a tick reads a sliver of what a full scan reads: it does not scan every monitor
        assert tick["reads_idle"] * 100 < tick["reads_scan"], tick
        assert tick["reads_due"] * 10 < tick["reads_scan"], tick
    assert raw["ticks"]["postgres"]["reads_scan"] == 10_000
    assert raw["ticks"]["postgres"]["reads_idle"] == 0
    figures = {f["id"]: f for f in data["figures"]}
    assert set(figures) == ROWS
    for fig in figures.values():
        assert fig["baseline"] > 0, fig
        if fig["ours"] > 0:
            assert fig["ratio"] == pytest.approx(fig["ours"] / fig["baseline"])
        assert fig["verdict"] == "-" and fig["target"] == ""
        assert fig["figure"] in printed
    assert "Monitoring: runs per minute on the fixture market" in printed
