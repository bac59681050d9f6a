"""Alert notifications to a department system: signed webhooks of every alert event.

:func:`evidence_api.monitoring.alert_log.record_event` writes an
:class:`~evidence_api.monitoring.models.AlertDelivery` (the exact JSON body) with each
alert event when ``alert_webhook_url`` and ``alert_webhook_secret`` are set; the
``alert-webhooks`` job sends them here. Sending is the platforms' webhooks' own
(:func:`evidence_api.takedowns.webhooks.send_signed`: the same signature headers, the
same address checks under ``webhook_allow_hosts``, the same per-operation timeout and
overall deadline), and so is claiming (:func:`~evidence_api.takedowns.webhooks.claim_first`:
a lease in the database, so several processes may send at once). Delivery is at least
once, in event order, retried with ``webhook_backoff`` doubling per attempt until
``webhook_max_attempts``; the delivery id is stable across retries.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.core.runtime import Runtime
from evidence_api.monitoring.models import AlertDelivery
from evidence_api.takedowns.webhooks import (
    Outbox,
    Outcome,
    claim_first,
    lease,
    send_signed,
    settle,
)

log = logging.getLogger(__name__)

Steps = tuple[list[Callable[[], object]], Callable[[float], None]]

#: The alert deliveries as an outbox.
ALERT_OUTBOX = Outbox(AlertDelivery.seq, AlertDelivery.state, AlertDelivery.next_attempt_at)
#: Deliveries one lane sends before it makes way (the next tick starts it again).
LANE_BATCH = 100


def configured(settings: Settings) -> tuple[str, str] | None:
    """The department webhook's URL and secret, or None when either is unset."""
    if not settings.alert_webhook_url or settings.alert_webhook_secret is None:
        return None
    secret = settings.alert_webhook_secret.get_secret_value()
    return (settings.alert_webhook_url, secret) if secret else None


def claim_next(transaction: Transaction, settings: Settings, now: datetime) -> int | None:
    """Claim the oldest due alert delivery (a lease of one attempt's length), or None."""
    return claim_first(transaction, ALERT_OUTBOX, (), now, now + lease(settings))


def deliver(
    transaction: Transaction, settings: Settings, seq: int, *, now: datetime | None = None
) -> Outcome:
    """Send one claimed delivery and record its outcome: ``delivered``; or retried after
    the backoff; or ``failed`` after ``webhook_max_attempts``."""
    with transaction() as session:
        delivery = session.get_one(AlertDelivery, seq)
        body = delivery.payload.encode("utf-8")
        delivery_id = delivery.id
        event = str(json.loads(delivery.payload).get("event", "alert"))
    target = configured(settings)
    if target is None:
        outcome = Outcome(None, "no alert webhook URL or secret is configured", 0)
    else:
        url, secret = target
        outcome = send_signed(
            url, secret, body, delivery_id=delivery_id, event=event, settings=settings
        )
    at = now or datetime.now(UTC)
    with transaction() as session:
        row = session.get_one(AlertDelivery, seq)
        row.attempts += 1
        settle(row, outcome, at, settings)
    return outcome


class Notifier:
    """One process's sender of alert deliveries: one lane (thread), as the deliveries go
    to one receiver in event order. :meth:`tick` starts the lane when none runs here and
    returns at once."""

    def __init__(self, transaction: Transaction, settings: Settings) -> None:
        self.transaction = transaction
        self.settings = settings
        self._lane: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def tick(self) -> bool:
        """Start the lane if it is not running; whether it was started."""
        if self._stop.is_set() or configured(self.settings) is None:
            return False
        with self._lock:
            if self._lane is not None and self._lane.is_alive():
                return False
            self._lane = threading.Thread(target=self._run, name="alert-webhooks", daemon=True)
            self._lane.start()
        return True

    def _run(self) -> None:
        try:
            for _ in range(LANE_BATCH):
                if self._stop.is_set():
                    return
                seq = claim_next(self.transaction, self.settings, datetime.now(UTC))
                if seq is None:
                    return
                deliver(self.transaction, self.settings, seq)
        except Exception:  # a database hiccup ends the lane; the next tick starts it again
            log.exception("alert webhook lane failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the lane to end; whether it did within ``timeout``."""
        with self._lock:
            lane = self._lane
        if lane is None:
            return True
        lane.join(timeout)
        return not lane.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Start no more sends; wait up to ``timeout`` for the one in flight."""
        self._stop.set()
        self.wait(timeout)


def send_due(transaction: Transaction, settings: Settings, *, timeout: float = 60.0) -> int:
    """Send every due delivery now and wait (tests, the CLI); how many were attempted."""
    sent = 0
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        seq = claim_next(transaction, settings, datetime.now(UTC))
        if seq is None:
            break
        deliver(transaction, settings, seq)
        sent += 1
    return sent


def start_notifier(runtime: Runtime) -> Steps:
    """The ``alert-webhooks`` job's steps in this process. Returns (steps, stop): the steps each
    tick runs in order, and how to stop what they started (given a timeout in seconds)."""
    notifier = Notifier(runtime.session, runtime.settings)
    return [notifier.tick], notifier.stop
