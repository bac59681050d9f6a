"""Smoke test of the ``package`` benchmark section: ``python -m bench package --quick`` makes a
3 x 1 MB package through the real export path on the embedded stack (anvil, SQLite, local
store), then in every run ``evidence-verify`` and ``read_package`` + ``verify_bundle`` verify all
five tiers against that anvil, and both are reported beside ``sha256sum`` and hashlib. A wrong
trusted contract or an unreachable node must come out as a problem, not as a figure."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from anchoring.node import anvil_binary
from bench import package
from bench.__main__ import SECTIONS, main
from bench.common import Progress
from tests.support.anvil import free_port

pytestmark = [pytest.mark.chain, pytest.mark.slow]

VERIFIED = ["verified"] * 5
TIMED = ("cli", "library", "read", "tiers", "tier5", "sha256sum", "hashlib", "startup")


def need_anvil() -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `npm ci --prefix contracts`")


def test_package_section_quick(tmp_path: Path) -> None:
    need_anvil()
    assert "package" in SECTIONS
    out = tmp_path / "package.json"
    assert main(["package", "--quick", "--report-only", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["sections"] == ["package"]
    assert data["ok"] is True
    assert data["service_problems"] == []
    raw = data["package"]
    runs = raw["settings"]["runs"]
    assert runs == 5
    assert raw["settings"]["files"] == 3
    assert raw["settings"]["file_bytes"] == 1_000_000
    assert raw["problems"] == []
    # Every run verified all five tiers, on the command line and in process.
    assert raw["cli_statuses"] == [VERIFIED] * runs
    assert raw["library_statuses"] == [VERIFIED] * runs
    for name in TIMED:
        assert len(raw[f"{name}_ms"]) == runs, name
        assert all(ms > 0 for ms in raw[f"{name}_ms"]), name
        assert raw["p90_ms"][name] >= raw["p50_ms"][name] > 0, name
    for total, read, tiers, tier5 in zip(
        raw["library_ms"], raw["read_ms"], raw["tiers_ms"], raw["tier5_ms"], strict=True
    ):
        assert read + tiers + tier5 <= total * 1.0001
    # The package holds the three files, and its anchor is on the stack's own chain.
    assert raw["package_bytes"] > 3_000_000
    assert raw["anchored_size"] >= 1
    assert raw["evidence_id"].startswith("ev-")
    assert raw["contract"].startswith("0x")
    figures = {f["id"]: f for f in data["figures"]}
    assert set(figures) == {f"package.{n}.p{q}" for n in ("cli", "library") for q in (50, 90)}
    for fig in figures.values():
        assert fig["ours"] > 0, fig
        assert fig["baseline"] > 0, fig
        assert fig["ratio"] == pytest.approx(fig["ours"] / fig["baseline"])
    assert figures["package.cli.p50"]["ours"] == raw["p50_ms"]["cli"]
    assert figures["package.cli.p50"]["baseline"] == raw["p50_ms"]["sha256sum"]
    assert figures["package.library.p50"]["baseline"] == raw["p50_ms"]["hashlib"]


def test_a_run_that_does_not_verify_is_a_problem(tmp_path: Path) -> None:
    need_anvil()
    settings = package.PackageSettings.make(quick=True, runs=1)
    result = package.PackageResult(settings)
    with package.appraisal(tmp_path, settings, Progress(), result) as held:
        package.one_round(held, result, 0, record=True)
        assert result.problems == []
        assert result.cli_statuses == result.library_statuses == [VERIFIED]

        wrong_contract = replace(held, contract="0x" + "11" * 20)
        package.one_round(wrong_contract, result, 1, record=True)
        assert result.cli_statuses[-1] == result.library_statuses[-1] == [*VERIFIED[:4], "failed"]
        assert any("evidence-verify tiers" in p for p in result.problems)
        assert any("read_package + verify_bundle tiers" in p for p in result.problems)

        before = len(result.problems)
        node_gone = replace(held, rpc_url=f"http://127.0.0.1:{free_port()}")
        package.one_round(node_gone, result, 2, record=True)
        assert result.library_statuses[-1][:4] == VERIFIED[:4]
        assert result.library_statuses[-1][4] != "verified"
        assert len(result.problems) == before + 2
