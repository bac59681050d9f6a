"""Smoke test of the ``scale`` benchmark section (``python -m bench scale --quick``): on one
scale-out stack (PostgreSQL, SeaweedFS S3, Redis, 2 Celery workers + beat, anvil), small
evidence and stamps through 1 and then 2 ``evidence serve`` replicas, each run beside the
1-replica figure, the CPU split by process class sampled during each run, and the
profiled run of one replica. The figures are not judged (2 shared cores); that every run
was acknowledged in full, spread over the replicas it was given, that the CPU split saw
the processes doing the work, and that the rows carry their baseline, is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from anchoring.node import anvil_binary
from bench.scale import CLASSES, ScaleSettings, py_spy
from tests.support.bench_sections import quick_section
from tests.support.seaweed import WEED

pytestmark = [
    pytest.mark.chain,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.slow,
]

BASELINE = "1 replica, same run"


def need_tools() -> None:
    for missing in (
        None if anvil_binary() is not None else "anvil is not installed: run `make install`",
        None if WEED.is_file() else f"SeaweedFS not found at {WEED}",
        None if shutil.which("redis-server") else "redis-server is not installed",
    ):
        if missing:
            pytest.skip(missing)


def test_scale_section_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_tools()
    settings = ScaleSettings.make(quick=True)
    data, printed = quick_section("scale", tmp_path, capsys, browser=False)
    section = data["scale"]
    runs = section["runs"]
    assert [(r["replicas"], r["kind"]) for r in runs] == [
        (n, kind) for n in settings.replicas for kind in ("evidence", "stamps")
    ]
    for run in runs:
        assert run["items"] == settings.items and run["per_s"] > 0, run
        # every replica given a share of the load answered some of it
        assert len(run["per_replica"]) == run["replicas"], run["per_replica"]
        assert all(count > 0 for count in run["per_replica"].values())
        assert set(run["cpu"]) == set(CLASSES)
        for busy in ("serve replicas", "postgres", "load generator"):
            assert run["cpu"][busy] > 0, (busy, run["cpu"])
        assert 0 < run["utilisation"] <= 1.05
        # the stack's CPU per item bounds the rate from above, whatever the neighbours do
        assert run["cpu_bound_per_s"] >= run["per_s"] * 0.9, run
        assert run["bottleneck"].split(" (")[0] in CLASSES
    assert set(section["flattens"]) == {"evidence", "stamps"}
    assert section["drill"] is None  # not with --quick
    profile = section["profile"]
    if py_spy() is None:
        assert "py-spy is not installed" in profile["note"]
    elif "could not profile" in profile["note"]:
        # only a container that forbids ptrace excuses a missing profile
        assert "ermission" in profile["note"] or "not permitted" in profile["note"], profile
    else:
        assert profile["samples"] > 0 and profile["self_top"], profile
    rows = {r["id"]: r for r in data["figures"] if r["id"].startswith("scale.")}
    kinds = ("evidence", "stamps")
    assert {
        f"scale.{kind}.r{n}.{what}"
        for n in settings.replicas
        for kind in kinds
        for what in ("per_s", "cpu_bound_per_s", "p50_ms", "p99_ms")
    } == set(rows)
    for kind in kinds:
        one = rows[f"scale.{kind}.r1.per_s"]
        assert one["baseline"] == one["ours"] and one["ratio"] == pytest.approx(1.0)
        two = rows[f"scale.{kind}.r2.per_s"]
        assert two["baseline"] == one["ours"] and two["baseline_name"] == BASELINE
        assert two["ratio"] == pytest.approx(two["ours"] / one["ours"])
    assert all(r["verdict"] == "-" for r in rows.values())  # the curve, not a target
    assert "Scale-out" in printed and "CPU ms per item by process class" in printed
