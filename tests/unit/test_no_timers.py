"""``NO_TIMERS``: a runtime built with it (an admin command, a Celery worker, an extra
``evidence serve`` worker) starts no in-process timer at all, whatever the settings say —
every job's switch is covered, the monitors' and certificates' included. And a timer that is
stopped asks its running step to end before it waits for the thread."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from evidence_api.core.config import Settings
from evidence_api.jobs import JOBS, Job, JobTimer, Running
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


def test_a_stopped_timer_interrupts_its_step_before_joining_it_then_stops_the_job() -> None:
    entered, interrupted = threading.Event(), threading.Event()
    order: list[str] = []

    def step() -> None:
        entered.set()
        interrupted.wait(60)  # a long step (a certificates drain) that ends when asked
        order.append("step ended")

    def interrupt() -> None:
        order.append("interrupted")
        interrupted.set()

    def start(_runtime: Any) -> Running:
        return Running([step], stop=lambda _timeout: order.append("stopped"), interrupt=interrupt)

    job = Job("test", "certificate_interval", "run_certificates", start)
    timer = JobTimer(job, SimpleNamespace(settings=Settings(certificate_interval=0.01)))  # type: ignore[arg-type]
    timer.start()
    assert entered.wait(60)
    timer.stop(timeout=60)
    # Without the interrupt the join would wait out its timeout and stop the job (the
    # certificate helper) while the step still ran.
    assert order == ["interrupted", "step ended", "stopped"]
