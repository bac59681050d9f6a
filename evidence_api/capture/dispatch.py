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

Threads, not a ThreadPoolExecutor: an executor's threads hold the interpreter's exit
until a capture ends (minutes); a capture cut by a shutdown is recovered at the next
start instead.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from evidence_api.capture import service
from evidence_api.capture.service import Captures, Runner, browser_runner
from evidence_api.core.runtime import Runtime
from evidence_api.intake.submit import Recorder

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
        recorder=Recorder(
            transaction=runtime.session,
            store=runtime.store,
            io_pool=runtime.io_pool,
            sign_receipt=runtime.sign_receipt,
            queued=runtime.queued,
            max_merge_delay=runtime.settings.max_merge_delay,
        ),
        settings=runtime.settings,
        runner=runner,
    )


class EmbeddedCaptures:
    """Captures run by ``concurrency`` threads of this process (embedded mode)."""

    def __init__(self, captures: Captures, concurrency: int) -> None:
        self._captures = captures
        self._concurrency = concurrency
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._waiting: set[str] = set()  # submitted here and not finished
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._swept = False

    def submit(self, capture_id: str) -> None:
        """Run ``capture_id`` here when a thread is free (once, however often asked)."""
        with self._lock:
            if self._stopped or capture_id in self._waiting:
                return
            self._waiting.add(capture_id)
            while len(self._threads) < self._concurrency:  # created with the first capture
                thread = threading.Thread(
                    target=self._work, name=f"capture-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put(capture_id)

    def _work(self) -> None:
        while (capture_id := self._queue.get()) is not None:
            try:
                service.run(self._captures, capture_id)
            except Exception:  # run() records its own failures; this is the database gone
                log.exception("capture %s could not be run; the sweep retries it", capture_id)
            finally:
                with self._lock:
                    self._waiting.discard(capture_id)

    def sweep(self) -> list[str]:
        """Recover what dead processes left running; run here what waits queued (at the
        first sweep, after a start: every queued capture)."""
        with self._lock:
            skip = frozenset(self._waiting)
            first, self._swept = not self._swept, True
        ids = service.sweep(
            self._captures.transaction,
            queued_before=datetime.now(UTC) if first else None,
            skip=skip,
        )
        for capture_id in ids:
            self.submit(capture_id)
        return ids

    @property
    def waiting(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._waiting)

    def stop(self, timeout: float = 10.0) -> None:
        """No new capture starts; running ones get ``timeout`` seconds to end."""
        with self._lock:
            self._stopped = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


#: This process's embedded executors, by runtime (``id``: a Runtime is not hashable).
_EMBEDDED: dict[int, EmbeddedCaptures] = {}
_EMBEDDED_LOCK = threading.Lock()


def start_embedded(
    runtime: Runtime, runner: Callable[[], Runner] = browser_runner
) -> EmbeddedCaptures:
    """The runtime's embedded executor (made once; forgotten when it stops)."""
    with _EMBEDDED_LOCK:
        found = _EMBEDDED.get(id(runtime))
        if found is None:
            found = EmbeddedCaptures(
                captures_of(runtime, runner), runtime.settings.capture_concurrency
            )
            _EMBEDDED[id(runtime)] = found
            stop = found.stop

            def forget(timeout: float = 10.0, key: int = id(runtime)) -> None:
                with _EMBEDDED_LOCK:
                    _EMBEDDED.pop(key, None)
                stop(timeout)

            found.stop = forget  # type: ignore[method-assign]
        return found


def embedded(runtime: Runtime) -> EmbeddedCaptures | None:
    with _EMBEDDED_LOCK:
        return _EMBEDDED.get(id(runtime))


# -- Celery -------------------------------------------------------------------------------

_SENDERS: dict[str, Any] = {}
_SENDERS_LOCK = threading.Lock()


def _sender(broker_url: str) -> Any:
    """A Celery app that only sends capture tasks (no default expiry: a capture waits
    for a free worker however long it takes)."""
    from celery import Celery  # noqa: PLC0415 - only a process that sends needs Celery

    with _SENDERS_LOCK:
        app = _SENDERS.get(broker_url)
        if app is None:
            app = Celery("evidence_anchor_capture_sender", broker=broker_url)
            app.conf.update(
                task_serializer="json",
                accept_content=["json"],
                broker_connection_retry_on_startup=True,
                broker_connection_timeout=5,
            )
            _SENDERS[broker_url] = app
        return app


def send(broker_url: str, capture_id: str) -> None:
    """Send the capture's task to the ``capture`` queue (raises if the broker is gone)."""
    _sender(broker_url).send_task(
        TASK,
        args=[capture_id],
        queue=QUEUE,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )


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

    app.task(name=TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(capture)
    routes = dict(app.conf.task_routes or {})
    routes[TASK] = {"queue": QUEUE}
    app.conf.task_routes = routes
