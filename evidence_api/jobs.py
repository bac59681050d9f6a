"""The background jobs, declared once: sealing, anchoring, the overdue scan,
webhook dispatch, the monitors' scheduler, takedown re-captures, alert webhooks,
witnessing, timestamping, certificates, the store's integrity passes and the captures'
sweep.

Each :class:`Job` names its timer, the settings giving its interval and turning
its in-process timer on, and its steps. The same declaration runs two ways:

* in-process timers (:func:`start_timers`, called by
  :func:`evidence_api.runtime.build_runtime`; embedded mode): one
  :class:`~anchoring.periodic.Periodic` per job, running its steps in order;
* Celery beat (:func:`register_tasks`, called by ``evidence worker`` and
  ``evidence beat``): one task per step, scheduled at the job's interval, on the
  app of :mod:`anchoring.tasks`. A job without task names (the integrity passes)
  runs in the API process only, in every mode.

Every step acts on the database's current state and is idempotent, so both may
run at once. A job's :attr:`Job.start` builds what its steps need in one process
(the webhook dispatcher's lanes outlive a tick); :attr:`Job.off` is called where
the job's timer does not run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from anchoring.periodic import Periodic
from evidence_api.core.config import Settings
from evidence_api.core.runtime import Runtime

Step = Callable[[], object]


@dataclass
class Running:
    """One process's instance of a job: its steps, and how to stop what they started."""

    steps: Sequence[Step]
    stop: Callable[[float], None] = lambda _timeout: None
    #: asks a step that is running to end early; called before the timer's thread is
    #: joined (``stop`` after it)
    interrupt: Callable[[], None] = lambda: None
    #: run the first time at once rather than after one interval
    at_once: bool = False


@dataclass(frozen=True)
class Job:
    #: the timer's (thread's) name
    name: str
    #: the :class:`~evidence_api.core.config.Settings` field of its interval (seconds)
    interval: str
    #: the settings field turning its in-process timer on
    switch: str
    start: Callable[[Runtime], Running]
    #: (beat entry, Celery task name), one per step; empty: never on Celery
    tasks: tuple[tuple[str, str], ...] = ()
    #: runs only with a chain configured
    needs_chain: bool = False
    off: Callable[[Runtime], None] = field(default=lambda _runtime: None)
    #: while a chain is being bound (``evidence serve``), its timer waits for the binding,
    #: which first checks that the log holds the chain's newest anchored checkpoint: the
    #: sealer must not sign on a log restored behind the chain (a fork)
    after_binding: bool = False


def _seal(runtime: Runtime) -> Running:
    return Running([lambda: sum(r.count for r in runtime.seal())])


def _anchor(runtime: Runtime) -> Running:
    return Running([runtime.confirm, runtime.anchor])


def _overdue(runtime: Runtime) -> Running:
    from evidence_api.takedowns.service import Ledger, scan_overdue  # noqa: PLC0415

    ledger = Ledger(runtime.session, runtime.sign_receipt, runtime.queued)
    return Running([lambda: scan_overdue(ledger)])


def _clue_deadlines(runtime: Runtime) -> Running:
    from evidence_api.clues.deadlines import flag_overdue  # noqa: PLC0415

    return Running([lambda: flag_overdue(runtime)])


def _credit_regrade(runtime: Runtime) -> Running:
    """Entities whose grade changes by decay alone, regraded when that time comes."""
    from evidence_api.credit.grading import regrade_due  # noqa: PLC0415

    return Running([lambda: regrade_due(runtime)])


def _violator_feed(runtime: Runtime) -> Running:
    """The serious-violator list: placements past their period expired, and the list's
    changes pushed to each platform's webhook."""
    from evidence_api.violators.dispatch import start_dispatch  # noqa: PLC0415

    steps, stop = start_dispatch(runtime)
    return Running(steps, stop=stop)


def _odr_deadlines(runtime: Runtime) -> Running:
    """ODR mediations past their deadline closed as failed."""
    from evidence_api.odr.deadlines import close_overdue  # noqa: PLC0415

    return Running([lambda: close_overdue(runtime)])


def _webhooks(runtime: Runtime) -> Running:
    from evidence_api.takedowns.webhooks import Dispatcher  # noqa: PLC0415

    dispatcher = Dispatcher(runtime.session, runtime.settings)  # its lanes outlive a tick
    return Running([dispatcher.tick], stop=dispatcher.stop)


def _captures(runtime: Runtime) -> Running:
    """Embedded (``run_captures``): this process's capture threads, and their sweep (at
    start: what the last process left). On Celery: beat's sweep, sending again to the
    ``capture`` queue what a lost message left queued."""
    from evidence_api.capture import dispatch  # noqa: PLC0415

    if runtime.settings.run_captures:
        local = dispatch.start_embedded(runtime)
        return Running([local.sweep], stop=local.stop, at_once=True)
    return Running([lambda: dispatch.sweep_to_celery(runtime)])


def _monitors(runtime: Runtime) -> Running:
    """The monitor scheduler's tick (due monitors queued, each moved to its next time)
    and, embedded, this process's runs of them."""
    from evidence_api.monitoring.dispatch import start_monitors  # noqa: PLC0415

    steps, stop = start_monitors(runtime)
    return Running(steps, stop=stop, at_once=True)


def _takedown_checks(runtime: Runtime) -> Running:
    """The re-captures of completed takedown orders that are due."""
    from evidence_api.monitoring.takedown_checks import start_checks  # noqa: PLC0415

    steps, stop = start_checks(runtime)
    return Running(steps, stop=stop)


def _alert_webhooks(runtime: Runtime) -> Running:
    """Alert events pushed to the department system's webhook."""
    from evidence_api.monitoring.notify import start_notifier  # noqa: PLC0415

    steps, stop = start_notifier(runtime)
    return Running(steps, stop=stop)


def _witnessing(runtime: Runtime) -> Running:
    """The newest checkpoint submitted to each configured witness (none: nothing)."""
    from evidence_api.trust.cosigning import start_witnessing  # noqa: PLC0415

    steps, stop = start_witnessing(runtime)
    return Running(steps, stop=stop)


def _timestamping(runtime: Runtime) -> Running:
    """Anchored checkpoints sent to each configured RFC 3161 authority (none: nothing)."""
    from evidence_api.trust.timestamping import start_timestamping  # noqa: PLC0415

    steps, stop = start_timestamping(runtime)
    return Running(steps, stop=stop)


def _certificates(runtime: Runtime) -> Running:
    """存证证书 issued for the evidence items that have none yet."""
    from evidence_api.certificates.issuing import start_issuing  # noqa: PLC0415

    steps, stop, interrupt = start_issuing(runtime)
    return Running(steps, stop=stop, interrupt=interrupt, at_once=True)


def _integrity_checker(runtime: Runtime) -> Any:
    from evidence_api.audit.service import readiness_check  # noqa: PLC0415
    from evidence_api.integrity.service import Holdings, IntegrityChecker  # noqa: PLC0415

    checker = IntegrityChecker(Holdings.of(runtime))
    runtime.checks["integrity"] = checker.readiness
    runtime.checks["audit"] = readiness_check(runtime.engine)  # a failed, unacknowledged audit
    return checker


def _integrity(runtime: Runtime) -> Running:
    checker = _integrity_checker(runtime)
    return Running([checker.run_pass], at_once=True)  # the first pass at once, in the background


def _integrity_off(runtime: Runtime) -> None:
    _integrity_checker(runtime).mark_done()


JOBS: tuple[Job, ...] = (
    Job(
        "sealer",
        "seal_interval",
        "run_sealer",
        _seal,
        tasks=(("seal", "evidence.seal"),),
        after_binding=True,
    ),
    Job(
        "anchorer",
        "anchor_interval",
        "run_anchorer",
        _anchor,
        tasks=(("confirm", "evidence.confirm"), ("anchor", "evidence.anchor")),
        needs_chain=True,
    ),
    Job(
        "overdue",
        "overdue_interval",
        "run_supervisor",
        _overdue,
        tasks=(("takedown-overdue", "evidence.takedown_overdue"),),
    ),
    Job(
        "clue-deadlines",
        "clue_deadline_interval",
        "run_supervisor",
        _clue_deadlines,
        tasks=(("clue-deadlines", "evidence.clue_deadlines"),),
    ),
    Job(
        "credit-regrade",
        "credit_regrade_interval",
        "run_supervisor",
        _credit_regrade,
        tasks=(("credit-regrade", "evidence.credit_regrade"),),
    ),
    Job(
        "violator-feed",
        "webhook_interval",
        "run_supervisor",
        _violator_feed,
        tasks=(("violator-feed", "evidence.violator_feed"),),
    ),
    Job(
        "odr-deadlines",
        "odr_deadline_interval",
        "run_supervisor",
        _odr_deadlines,
        tasks=(("odr-deadlines", "evidence.odr_deadlines"),),
    ),
    Job(
        "webhooks",
        "webhook_interval",
        "run_supervisor",
        _webhooks,
        tasks=(("webhook-dispatch", "evidence.webhook_dispatch"),),
    ),
    Job(
        "monitors",
        "monitor_tick_interval",
        "run_monitors",
        _monitors,
        tasks=(("monitor-tick", "evidence.monitor_tick"),),
    ),
    Job(
        "takedown-checks",
        "monitor_tick_interval",
        "run_monitors",
        _takedown_checks,
        tasks=(("takedown-checks", "evidence.takedown_checks"),),
    ),
    Job(
        "alert-webhooks",
        "webhook_interval",
        "run_supervisor",
        _alert_webhooks,
        tasks=(("alert-webhooks", "evidence.alert_webhooks"),),
    ),
    Job(
        "witnessing",
        "witness_interval",
        "run_sealer",
        _witnessing,
        tasks=(("witness", "evidence.witness"),),
    ),
    Job(
        "timestamping",
        "timestamp_interval",
        "run_anchorer",
        _timestamping,
        tasks=(("timestamp", "evidence.timestamp"),),
        needs_chain=True,
    ),
    Job(
        "certificates",
        "certificate_interval",
        "run_certificates",
        _certificates,
        tasks=(("certificates", "evidence.certificates"),),
    ),
    Job("integrity", "integrity_interval", "run_integrity", _integrity, off=_integrity_off),
    Job(
        "captures",
        "capture_sweep_interval",
        "run_captures",
        _captures,
        tasks=(("capture-sweep", "evidence.capture_sweep"),),
    ),
)


class JobTimer(Periodic):
    """A job on an in-process timer; stopping it also stops what its steps started."""

    def __init__(self, job: Job, runtime: Runtime) -> None:
        self.running = job.start(runtime)
        super().__init__(job.name, getattr(runtime.settings, job.interval), self._tick)

    def _tick(self) -> None:
        for step in self.running.steps:
            step()

    def stop(self, timeout: float = 10.0) -> None:
        self.running.interrupt()
        super().stop(timeout)
        self.running.stop(timeout)


def start_timers(
    runtime: Runtime, switches: dict[str, bool | None], *, needing_chain: bool = False
) -> None:
    """Start the in-process timer of each job switched on (``switches`` by settings field
    name override the settings); call :attr:`Job.off` for the others. A job that needs the
    chain is left out while the runtime has none, a job :attr:`Job.after_binding` while its
    chain is being bound; ``needing_chain``: only those jobs (the chain was bound after the
    others started)."""
    binding = runtime.binding is not None and runtime.chain is None
    for job in JOBS:
        waits = job.needs_chain or job.after_binding
        if needing_chain and not waits:
            continue
        if job.after_binding and binding and not needing_chain:
            continue
        wanted = switches.get(job.switch)
        on = wanted if wanted is not None else bool(getattr(runtime.settings, job.switch))
        if job.needs_chain and runtime.chain is None:
            continue
        if not on:
            job.off(runtime)
            continue
        timer = JobTimer(job, runtime)
        runtime.timers[job.name] = timer
        if timer.running.at_once:
            timer.poke()
        timer.start()


def register_tasks(
    app: Any, runtime: Callable[[], Runtime], settings: Settings
) -> dict[str, dict[str, Any]]:
    """Register one Celery task per job step on ``app``; the beat schedule to install.

    ``runtime`` builds this process's runtime on first use (once per worker process,
    without in-process timers: beat drives the jobs here).
    """
    schedule: dict[str, dict[str, Any]] = {}
    for job in JOBS:
        running: list[Running] = []  # one per process, built on the first task

        def step(index: int, job: Job = job, running: list[Running] = running) -> object:
            if not running:
                running.append(job.start(runtime()))
            return running[0].steps[index]()

        for index, (beat, name) in enumerate(job.tasks):
            app.task(name=name)(_bound(step, index))
            schedule[beat] = {"task": name, "schedule": getattr(settings, job.interval)}
    return schedule


def _bound(step: Callable[[int], object], index: int) -> Callable[[], object]:
    def task() -> object:
        return step(index)

    return task
