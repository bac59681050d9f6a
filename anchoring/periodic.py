"""A named background thread running one function every ``interval`` seconds.

Embedded mode runs sealing and anchoring this way, in-process; production runs
the same functions as Celery tasks on a beat schedule.

A failing function is logged once per change of state, not once per tick: one
WARNING when it starts failing (with the reason, and the traceback at DEBUG),
another if the kind of failure changes, and one INFO when it works again. A
chain node that is down for a minute is three lines, not three hundred
tracebacks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: A reason longer than this is cut in the log line.
MAX_REASON_CHARS = 300


def failure_reason(exc: BaseException) -> str:
    """One line saying what went wrong: the exception's type and first line."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return reason[:MAX_REASON_CHARS]


class FailureState:
    """What to log after each run, so that only changes of state are logged.

    :meth:`failed` returns the WARNING line to log (None: same failure as before);
    :meth:`succeeded` the INFO line (None: it was not failing). Pure, for tests.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind: str | None = None
        self.since: float | None = None
        self.count = 0

    @property
    def failing(self) -> bool:
        return self.kind is not None

    def failed(self, exc: BaseException, now: float) -> str | None:
        self.count += 1
        kind = type(exc).__name__
        if kind == self.kind:
            return None
        if self.since is None:
            self.since = now
        self.kind = kind
        return f"{self.name} failing: {failure_reason(exc)}; retrying quietly until it works"

    def succeeded(self, now: float) -> str | None:
        if self.kind is None:
            return None
        since = self.since if self.since is not None else now
        line = f"{self.name} working again after {now - since:.1f} s ({self.count} failed runs)"
        self.kind, self.since, self.count = None, None, 0
        return line


class Periodic:
    """Runs ``fn`` every ``interval`` s, or at once after :meth:`poke`; survives failures."""

    def __init__(self, name: str, interval: float, fn: Callable[[], object]) -> None:
        self.name = name
        self._interval = interval
        self._fn = fn
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.state = FailureState(name)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.run_once()

    def run_once(self) -> None:
        """One run of ``fn``; a transient failure (DB or chain restart) must not stop it."""
        try:
            self._fn()
        except Exception as exc:
            line = self.state.failed(exc, time.monotonic())
            if line is not None:
                log.warning(line)
            log.debug("%s failed", self.name, exc_info=True)
            return
        line = self.state.succeeded(time.monotonic())
        if line is not None:
            log.info(line)
