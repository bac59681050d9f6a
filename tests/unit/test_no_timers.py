"""``NO_TIMERS``: a runtime built with it (an admin command, a Celery worker, an extra
``evidence serve`` worker) starts no in-process timer at all, whatever the settings say —
every job's switch is covered, the monitors' and certificates' included."""

from __future__ import annotations

from pathlib import Path

from evidence_api.core.config import Settings
from evidence_api.jobs import JOBS
from evidence_api.runtime import NO_TIMERS, build_runtime


def test_no_timers_covers_every_job_switch() -> None:
    switches = {job.switch for job in JOBS}
    assert {f"start_{switch.removeprefix('run_')}" for switch in switches} <= set(NO_TIMERS)


def test_a_no_timers_runtime_starts_none(tmp_path: Path) -> None:
    # every run_* setting on: only NO_TIMERS keeps them off
    settings = Settings(data_dir=tmp_path / "data", chain="tester")
    assert settings.run_monitors and settings.run_certificates and settings.run_supervisor
    runtime = build_runtime(settings, **NO_TIMERS)
    try:
        assert runtime.timers == {}
    finally:
        runtime.close()
