"""Smoke test of the ``start`` benchmark section (``python -m bench start``): one round times
``python -c pass``, the three ``--help`` lines and ``evidence serve`` (fresh folder and restart,
managed anvil) until ``/healthz``, and reports each beside the bare interpreter. The figures
are not judged here (a shared machine can miss a target by chance); that they exist, are
positive and are reported beside the same baseline is."""

from __future__ import annotations

from pathlib import Path

import pytest

from anchoring.node import anvil_binary
from bench import start
from bench.__main__ import SECTIONS
from bench.common import Progress

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_start_section_one_round() -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `npm ci --prefix contracts`")
    assert "start" in SECTIONS
    result = start.run(start.StartSettings(runs=1), Progress())
    assert result.problems == []
    lines = {"pass", "evidence", "create-token", "evidence-verify", "serve.cold", "serve.warm"}
    assert set(result.seconds) == lines
    assert all(len(v) == 1 and v[0] > 0 for v in result.seconds.values())
    rows = {row.id: row for row in start.rows(result)}
    assert set(rows) == {f"start.{name}" for name in lines - {"pass"}}
    bare = result.median("pass")
    for row in rows.values():
        assert row.baseline == bare
        assert row.ratio == pytest.approx(row.ours / bare)
        assert row.verdict in ("PASS", "MISS")
    raw = start.raw(result)
    assert raw["above_bare_s"]["evidence"] == pytest.approx(result.seconds["evidence"][0] - bare)
    assert "python -c pass" in start.legend(result)


def test_a_command_that_fails_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed line is reported as a problem and gives no figure; the others still run."""
    monkeypatch.setitem(start.HELP_LINES, "evidence", [str(start.BIN / "evidence"), "no-such"])
    monkeypatch.setattr(start, "_serve_pair", lambda *args: 0.0)
    result = start.StartResult(start.StartSettings(runs=1))
    start.one_round(tmp_path, result, 0)
    assert [p for p in result.problems if "round 1, evidence:" in p and "exited 2" in p]
    assert "evidence" not in result.seconds
    assert len(result.seconds["evidence-verify"]) == 1
