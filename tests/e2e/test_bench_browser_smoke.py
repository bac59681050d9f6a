"""Smoke test of the ``browser`` benchmark section: ``python -m bench browser --quick`` runs
the portal in a real headless Chromium on a 10 MB file, verifies tiers 1-4 in every run with
the same SHA-256 as ``sha256sum``, and reports both figures beside ``sha256sum``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import SECTIONS, main
from tests.support.browser import chromium_missing

pytestmark = pytest.mark.browser


def test_browser_section_quick(tmp_path: Path) -> None:
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    assert "browser" in SECTIONS
    out = tmp_path / "browser.json"
    assert main(["browser", "--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["sections"] == ["browser"]
    assert data["ok"] is True
    assert data["service_problems"] == []
    raw = data["browser"]
    assert raw["file_bytes"] == 10_000_000
    assert len(raw["verify_ms"]) == len(raw["sha256sum_ms"]) == raw["runs"] == 3
    assert all(h < v for h, v in zip(raw["hash_ms"], raw["verify_ms"], strict=True))
    figures = {f["id"]: f for f in data["figures"]}
    assert set(figures) == {"browser.verify.p50", "browser.sha256.p50"}
    for fig in figures.values():
        assert fig["ours"] > 0
        assert fig["baseline"] > 0
        assert fig["ratio"] == pytest.approx(fig["ours"] / fig["baseline"])
        assert fig["baseline_name"] == "sha256sum of the same file"
