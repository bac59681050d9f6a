"""Smoke test of the ``capture`` benchmark section: ``python -m bench capture --quick`` runs
real captures (page, video, steps) on the HTTPS fixture website through ``run_capture`` in
worker processes, and ``chromium --headless --screenshot`` of the same page, and prints one
row per figure beside that baseline. The figures are not judged (the issue sets no target);
that every capture passed the section's checks, and that each row has both lines and their
ratio, is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bench_sections import quick_section

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROWS = {
    *(f"capture.{mode}.p{q}" for mode in ("page", "video", "steps") for q in (50, 99)),
    "capture.per_min.w1",
    "capture.per_min.w2",
    "capture.rss.peak",
}


def test_capture_section_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, printed = quick_section("capture", tmp_path, capsys)
    raw = data["capture"]
    assert {mode: len(s) for mode, s in raw["seconds"].items()} == {
        "page": 2,
        "video": 2,
        "steps": 2,
    }
    assert len(raw["baseline_seconds"]) == 2
    assert set(raw["per_minute"]) == set(raw["baseline_per_minute"]) == {"1", "2"}
    # a capture holds a browser: its tree's peak is far above the idle worker's
    assert all(peak > raw["idle_rss"] + 50 * 2**20 for peak in raw["peak_rss"])
    assert all(peak > 50 * 2**20 for peak in raw["baseline_peak_rss"])
    assert {"screenshot.png", "dom.html", "archive.wacz", "environment.json"} <= set(
        raw["files"]["page"]
    )
    assert "recording.webm" in raw["files"]["video"]
    figures = {f["id"]: f for f in data["figures"]}
    assert set(figures) == ROWS
    for fig in figures.values():
        assert fig["ours"] > 0, fig
        assert fig["baseline"] > 0, fig
        assert fig["ratio"] == pytest.approx(fig["ours"] / fig["baseline"])
        assert fig["verdict"] == "-" and fig["target"] == ""
        assert fig["baseline_name"].startswith("chromium --headless --screenshot")
    assert "Server-side capture on the fixture website" in printed
    for fig in figures.values():
        assert fig["figure"] in printed
