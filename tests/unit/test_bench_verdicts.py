"""The benchmarks' verdicts and exit status (bench.common): every target row carries its own
verdict, a missed target fails the run unless it only reports, and a failed check fails it
always. Pure functions: no bench runs here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common import (
    EXIT_BROKEN,
    EXIT_MISSED,
    EXIT_OK,
    MISS,
    NO_TARGET,
    NOT_JUDGED,
    PASS,
    Row,
    exit_status,
    format_table,
    missed,
    tally,
    unjudged,
    verdict,
    verdict_summary,
)


def row(name: str, ours: float, target: str = "", judged: str = NO_TARGET) -> Row:
    return Row(
        id=name,
        figure=f"figure {name}",
        unit="k entries/s",
        ours=ours,
        baseline=10.0,
        baseline_name="target 10k entries/s",
        higher_is_better=True,
        target=target,
        verdict=judged,  # type: ignore[arg-type]
    )


PASSING = row("sealer.sqlite", 40.0, ">= 10k entries/s", verdict(40.0 >= 10))
MISSING = row("sealer.postgres", 9.5, ">= 10k entries/s", verdict(9.5 >= 10))
PLAIN = row("extra", 3.0)
SKIPPED = row("append", 5.0, ">= 3.00x", NOT_JUDGED)


def test_verdict_is_pass_or_miss() -> None:
    assert verdict(True) == PASS
    assert verdict(False) == MISS


def test_all_passing_exits_zero() -> None:
    assert exit_status([PASSING, PLAIN], [], report_only=False) == EXIT_OK


def test_a_missed_target_fails_the_run() -> None:
    assert exit_status([PASSING, MISSING, PLAIN], [], report_only=False) == EXIT_MISSED
    assert EXIT_MISSED not in (EXIT_OK, EXIT_BROKEN, 2)  # 2 is argparse's usage error


def test_report_only_prints_a_miss_without_failing() -> None:
    assert exit_status([PASSING, MISSING], [], report_only=True) == EXIT_OK


@pytest.mark.parametrize("report_only", [False, True])
def test_a_failed_check_fails_even_when_only_reporting(report_only: bool) -> None:
    problems = ["sealing: check failed: no leaf hash issued twice"]
    assert exit_status([PASSING], problems, report_only=report_only) == EXIT_BROKEN
    # a failed check outranks a miss
    assert exit_status([MISSING], problems, report_only=report_only) == EXIT_BROKEN


@pytest.mark.parametrize("report_only", [False, True])
def test_a_target_row_without_verdict_is_a_broken_bench(report_only: bool) -> None:
    bare = row("forgot", 1.0, ">= 10k entries/s")  # target set, verdict left "-"
    assert unjudged([bare]) == ["row forgot has the target '>= 10k entries/s' but no verdict"]
    assert exit_status([bare], [], report_only=report_only) == EXIT_BROKEN
    stray = row("stray", 1.0, "", PASS)
    assert unjudged([stray]) == ["row stray has the verdict PASS but no target"]


def test_a_skipped_baseline_is_counted_not_judged() -> None:
    assert exit_status([PASSING, SKIPPED], [], report_only=False) == EXIT_OK
    assert tally([PASSING, MISSING, SKIPPED, PLAIN]) == {PASS: 1, MISS: 1, NOT_JUDGED: 1}


def test_missed_lists_only_target_rows_that_missed() -> None:
    assert missed([PASSING, MISSING, PLAIN, SKIPPED]) == [MISSING]


def test_every_target_row_prints_its_own_verdict() -> None:
    table = format_table("t", [PASSING, MISSING, PLAIN])
    lines = {line.split()[1]: line for line in table.splitlines() if line.startswith("figure ")}
    assert lines["sealer.sqlite"].rstrip().endswith(PASS)
    assert lines["sealer.postgres"].rstrip().endswith(MISS)
    assert lines["extra"].rstrip().endswith(NO_TARGET)


def test_summary_names_each_miss_and_the_report_only_mode() -> None:
    text = verdict_summary([PASSING, MISSING, PLAIN], report_only=False)
    assert text.splitlines()[0] == "Targets: 1 PASS, 1 MISS, 0 N/A (baseline skipped) of 2"
    assert "MISS: figure sealer.postgres: 9.5 k entries/s" in text
    assert "--report-only" not in text
    assert "--report-only" in verdict_summary([MISSING], report_only=True)
    assert "--report-only" not in verdict_summary([PASSING], report_only=True)


def test_the_command_line_takes_report_only() -> None:
    from bench.__main__ import parse_args  # noqa: PLC0415 (imports every section)

    assert parse_args(["--report-only"]).report_only is True
    assert parse_args([]).report_only is False


def fake_run(problems: list[str]) -> Callable[..., Any]:
    """``bench.__main__.run`` replaced: a sealing section whose PostgreSQL capacity misses."""
    from bench import sealing  # noqa: PLC0415
    from bench.__main__ import Results  # noqa: PLC0415

    def run(
        settings: Any, progress: Any, sections: tuple[str, ...], full_drill: bool = False
    ) -> Results:
        measured = sealing.SealingResult(
            sealing.SealingSettings.make(quick=True),
            entries=3_000,
            submit_seconds=1.0,
            sealed_seconds=1.1,
            max_batch=1_000,
            capacity_seconds={"sqlite": 0.1, "postgres": 1.0},  # 30k/s and 3k/s
            capacity_seals={"sqlite": 3, "postgres": 3},
            problems=list(problems),
        )
        return Results(settings, sections, sealing=measured)

    return run


@pytest.mark.parametrize(
    ("flags", "problems", "status"),
    [
        ([], [], EXIT_MISSED),
        (["--report-only"], [], EXIT_OK),
        ([], ["entry st-1 lost"], EXIT_BROKEN),
        (["--report-only"], ["entry st-1 lost"], EXIT_BROKEN),
    ],
)
def test_main_exit_status_and_results_json(
    flags: list[str],
    problems: list[str],
    status: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bench.__main__ as cli  # noqa: PLC0415

    monkeypatch.setattr(cli, "run", fake_run(problems))
    monkeypatch.setattr(cli, "_meta", lambda seconds: {})  # no `git rev-parse` in unit tests
    out = tmp_path / "r.json"
    assert cli.main(["sealing", *flags, "--out", str(out)]) == status
    data = json.loads(out.read_text())
    assert data["exit_status"] == status
    assert data["report_only"] is bool(flags)
    assert data["verdicts"] == {PASS: 1, MISS: 1, NOT_JUDGED: 0}
    assert data["missed"] == ["sealing.sealer_capacity.postgres"]
    verdicts = {f["id"]: f["verdict"] for f in data["figures"] if f["target"]}
    assert verdicts == {
        "sealing.sealer_capacity.sqlite": PASS,
        "sealing.sealer_capacity.postgres": MISS,
    }
    printed = capsys.readouterr()
    assert "MISS: seal 3,000 stamps: seal_pending on a backlog of 3,000, PostgreSQL" in printed.out
    if status == EXIT_MISSED:
        assert "TARGET MISSED" in printed.err
    if problems:
        assert "SERVICE CHECK FAILED" in printed.err


def test_the_append_target_is_judged_on_the_sealer_per_database() -> None:
    from bench.log_append import SealerAppend, SealerCheckpoint, sealer_rows  # noqa: PLC0415

    measured = SealerAppend(
        max_batch=1_000,
        checkpoints=[
            SealerCheckpoint(
                10_001,
                {"sqlite": 0.1, "postgres": 2.0, "pymerkle-memory": 0.5},
                {"sqlite": 10, "postgres": 10},
                warm=1,
            )
        ],
    )
    rows = {r.id: r for r in sealer_rows(measured)}
    sqlite = rows["append.sealer.sqlite.vs.pymerkle-memory.n=10001"]
    postgres = rows["append.sealer.postgres.vs.pymerkle-memory.n=10001"]
    assert sqlite.ours == pytest.approx(100_000)  # the warm-up leaf is not counted
    assert sqlite.baseline == pytest.approx(20_000)
    assert sqlite.ratio == pytest.approx(5.0)
    assert (sqlite.target, sqlite.verdict) == (">= 3.00x", PASS)
    assert postgres.ratio == pytest.approx(0.25)
    assert postgres.verdict == MISS
    assert unjudged(rows.values()) == []
