"""Where a capture runs: in this process (embedded mode) or on a Celery worker.

* Embedded (``EVIDENCE_RUN_CAPTURES=true``, the default; ``evidence serve`` with no
  broker): :class:`EmbeddedCaptures`, ``capture_concurrency`` threads of this process,
  started with the first capture and stopped when the runtime closes. Its sweep
  (the ``captures`` job's timer, first run at start) hands it the captures left
  ``queued`` and recovers those a dead process left ``running`` (retried once, then
  failed with :data:`~evidence_api.capture.service.INTERRUPTED`).
* Production (``EVIDENCE_RUN_CAPTURES=false`` in the API process): ``POST`` sends the
  task ``evidence.capture`` to the Celery queue ``capture``, consumed by
  ``evidence worker --queues capture`` on hosts that have Chromium. The task is
  acknowledged late and rejected when its worker is lost, so a killed worker's capture
  is delivered again; the atomic claim makes that safe (a redelivery of a run whose
  process is alive does nothing; of one whose process is gone, retries it once). Beat's
  ``evidence.capture_sweep`` sends again what a lost message left ``queued``.

The threads, the queue and the Celery plumbing are :mod:`evidence_api.core.workers`'
(shared with monitor runs); this module supplies the capture's work and sweep.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from evidence_api.capture import service
from evidence_api.capture.service import Captures, Runner, browser_runner
from evidence_api.core.runtime import Runtime
from evidence_api.core.workers import LocalWorkers, PerRuntime, register_task, send_task
from evidence_api.intake.submit import recorder_of

log = logging.getLogger(__name__)

#: The Celery queue of capture tasks (workers with Chromium consume it).
QUEUE = "capture"
#: The Celery task running one capture (its one argument: the capture id).
TASK = "evidence.capture"
#: The beat task sending again what a lost message left queued.
SWEEP_TASK = "evidence.capture_sweep"
CAPTURE_ID = re.compile(r"^cap-[0-9a-f]{28}$")


def captures_of(runtime: Runtime, runner: Callable[[], Runner] = browser_runner) -> Captures:
    """What running captures uses, out of a process's runtime."""
    return Captures(
        transaction=runtime.session,
        recorder=recorder_of(runtime),
        settings=runtime.settings,
        runner=runner,
    )


class EmbeddedCaptures(LocalWorkers):
    """Captures run by ``concurrency`` threads of this process (embedded mode). Its sweep
    recovers what dead processes left running and runs here what waits queued (at the
    first sweep, after a start: every queued capture)."""

    def __init__(self, captures: Captures, concurrency: int) -> None:
        def find(skip: frozenset[str], first: bool) -> list[str]:
            return service.sweep(
                captures.transaction,
                queued_before=datetime.now(UTC) if first else None,
                skip=skip,
            )

        super().__init__(
            lambda capture_id: service.run(captures, capture_id),
            find,
            concurrency,
            what="capture",
            thread_name="capture",
        )


#: This process's embedded executors, by runtime.
_EMBEDDED: PerRuntime[EmbeddedCaptures] = PerRuntime()


def start_embedded(
    runtime: Runtime, runner: Callable[[], Runner] = browser_runner
) -> EmbeddedCaptures:
    """The runtime's embedded executor (made once; forgotten when it stops)."""
    return _EMBEDDED.start(
        runtime,
        lambda: EmbeddedCaptures(
            captures_of(runtime, runner), runtime.settings.capture_concurrency
        ),
    )


def embedded(runtime: Runtime) -> EmbeddedCaptures | None:
    return _EMBEDDED.get(runtime)


# -- Celery -------------------------------------------------------------------------------


def send(broker_url: str, capture_id: str) -> None:
    """Send the capture's task to the ``capture`` queue (raises if the broker is gone)."""
    send_task(broker_url, TASK, capture_id, QUEUE)


def enqueue(runtime: Runtime, capture_id: str) -> None:
    """Start a committed capture: on this process's executor (embedded) or through
    Celery. A failure to send is logged, not raised: the capture is recorded ``queued``
    and the sweep sends it again."""
    local = embedded(runtime)
    if local is not None:
        local.submit(capture_id)
        return
    if runtime.settings.run_captures:
        log.info("capture %s waits for the sweep of a process that runs captures", capture_id)
        return
    try:
        send(runtime.settings.broker_url, capture_id)
    except Exception as exc:
        log.warning(
            "capture %s not sent to queue %s (the sweep retries): %s", capture_id, QUEUE, exc
        )


def sweep_to_celery(runtime: Runtime) -> list[str]:
    """Beat's sweep: recover abandoned runs, send again what waits queued."""
    ids = service.sweep(runtime.session)
    for capture_id in ids:
        send(runtime.settings.broker_url, capture_id)
    return ids


def register_celery(app: Any, runtime: Callable[[], Runtime]) -> None:
    """Register ``evidence.capture`` on ``app`` (routed to the ``capture`` queue)."""

    def capture(capture_id: str) -> str:
        if not isinstance(capture_id, str) or not CAPTURE_ID.fullmatch(capture_id):
            log.warning("ignored a capture task for %r: not a capture id", capture_id)
            return "ignored"
        result = service.run(captures_of(runtime()), capture_id)
        return result.status or "not claimed"

    register_task(app, TASK, capture, QUEUE)
