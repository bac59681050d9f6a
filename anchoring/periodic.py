"""A named background thread running one function every ``interval`` seconds.

Embedded mode runs sealing and anchoring this way, in-process; production runs
the same functions as Celery tasks on a beat schedule.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``fn`` every ``interval`` s, or at once after :meth:`poke`; survives failures."""

    def __init__(self, name: str, interval: float, fn: Callable[[], object]) -> None:
        self.name = name
        self._interval = interval
        self._fn = fn
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

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
            try:
                self._fn()
            except Exception:  # a transient failure (DB or chain restart) must not stop it
                log.exception("%s failed; retrying in %.1f s", self.name, self._interval)
