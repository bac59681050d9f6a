"""Work items run on threads of this process (embedded mode), and sent as Celery tasks.

Captures and monitor runs are both queued rows that some process claims: embedded, by
:class:`LocalWorkers` (``concurrency`` threads, started with the first item, fed by a
queue; a sweep hands them what waits in the database); otherwise as one-argument Celery
tasks (:func:`send_task`, :func:`register_task`). The feature modules supply the work
function and the sweep; the machinery here is the same for all of them.

Threads, not a ThreadPoolExecutor: an executor's threads hold the interpreter's exit
until an item ends (minutes for a capture); an item cut by a shutdown is recovered by
the sweep at the next start instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from evidence_api.core.runtime import Runtime

log = logging.getLogger(__name__)

#: A sweep: given the ids already waiting here and whether this is the executor's first
#: sweep (after a start: everything left queued), the ids to run here.
Sweep = Callable[[frozenset[str], bool], list[str]]


class LocalWorkers:
    """Items run by ``concurrency`` threads of this process, each id at most once at a time.

    ``work(id)`` runs one item and records its own failures (an exception escaping it is
    logged: the database is gone, and the sweep retries the item). ``what`` names the
    items in thread names (``<what>-1``) and logs."""

    def __init__(
        self,
        work: Callable[[str], object],
        find: Sweep,
        concurrency: int,
        *,
        what: str,
        thread_name: str,
    ) -> None:
        self._work_one = work
        self._find = find
        self._concurrency = concurrency
        self._what = what
        self._thread_name = thread_name
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._waiting: set[str] = set()  # submitted here and not finished
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._swept = False
        self._on_stop: Callable[[], None] = lambda: None

    def submit(self, item_id: str) -> None:
        """Run ``item_id`` here when a thread is free (once, however often asked)."""
        with self._lock:
            if self._stopped or item_id in self._waiting:
                return
            self._waiting.add(item_id)
            while len(self._threads) < self._concurrency:  # created with the first item
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self._thread_name}-{len(self._threads) + 1}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put(item_id)

    def _work(self) -> None:
        while (item_id := self._queue.get()) is not None:
            try:
                self._work_one(item_id)
            except Exception:  # the work records its own failures; this is the database gone
                log.exception("%s %s could not be run; the sweep retries it", self._what, item_id)
            finally:
                with self._lock:
                    self._waiting.discard(item_id)

    def sweep(self) -> list[str]:
        """The sweep's ids (recovered and waiting ones; at the first sweep after a start,
        every queued one), minus those already waiting here, each submitted here."""
        with self._lock:
            skip = frozenset(self._waiting)
            first, self._swept = not self._swept, True
        ids = self._find(skip, first)
        for item_id in ids:
            self.submit(item_id)
        return ids

    @property
    def waiting(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._waiting)

    def when_stopped(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` first when :meth:`stop` is called (the registry's forget)."""
        self._on_stop = callback

    def stop(self, timeout: float = 10.0) -> None:
        """No new item starts; running ones get ``timeout`` seconds to end. The
        :meth:`when_stopped` callback runs first (its registry forgets it)."""
        self._on_stop()
        with self._lock:
            self._stopped = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


W = TypeVar("W", bound=LocalWorkers)


class PerRuntime(Generic[W]):
    """One embedded executor per runtime of this process (by ``id``: a Runtime is not
    hashable): made once, forgotten when it stops."""

    def __init__(self) -> None:
        self._found: dict[int, W] = {}
        self._lock = threading.Lock()

    def start(self, runtime: Runtime, make: Callable[[], W]) -> W:
        """The runtime's executor, made by ``make`` if it has none."""
        key = id(runtime)
        with self._lock:
            found = self._found.get(key)
            if found is None:
                found = make()
                self._found[key] = found

                def forget() -> None:
                    with self._lock:
                        self._found.pop(key, None)

                found.when_stopped(forget)
            return found

    def get(self, runtime: Runtime) -> W | None:
        with self._lock:
            return self._found.get(id(runtime))

    def stop(self, runtime: Runtime, timeout: float) -> None:
        """Stop (and forget) the runtime's executor, if it has one."""
        found = self.get(runtime)
        if found is not None:
            found.stop(timeout)


# -- Celery -------------------------------------------------------------------------------

_SENDERS: dict[str, Any] = {}
_SENDERS_LOCK = threading.Lock()


def sender(broker_url: str) -> Any:
    """A Celery app that only sends tasks, one per broker (no default expiry: an item
    waits for a free worker however long it takes)."""
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


def send_task(broker_url: str, task: str, argument: object, queue_name: str) -> None:
    """Send ``task(argument)`` to ``queue_name`` (two quick retries; raises if the broker
    is gone)."""
    sender(broker_url).send_task(
        task,
        args=[argument],
        queue=queue_name,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )


def register_task(app: Any, name: str, run: Callable[..., object], queue_name: str) -> None:
    """Register ``run`` as the task ``name`` on ``app``, routed to ``queue_name``;
    acknowledged late and rejected when its worker is lost (a killed worker's item is
    delivered again; the item's atomic claim makes that safe)."""
    app.task(name=name, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(run)
    routes = dict(app.conf.task_routes or {})
    routes[name] = {"queue": queue_name}
    app.conf.task_routes = routes
