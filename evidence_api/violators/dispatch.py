"""The ``violator-feed`` job: placements past their period expired, and the list's changes
pushed to each platform's webhook.

Sending is the platforms' webhooks' own (:mod:`evidence_api.takedowns.webhooks`): the same
signature headers (:mod:`~evidence_api.takedowns.webhook_sign`), address checks, timeouts
and deadline (:func:`~evidence_api.takedowns.webhooks.send_signed`), the same claims (a
lease in the database: :func:`~evidence_api.takedowns.webhooks.claim_first`) and the same
retries (:func:`~evidence_api.takedowns.webhooks.settle`: ``webhook_backoff`` doubling per
attempt until ``webhook_max_attempts``). One lane (thread) per platform, each sending its
deliveries in change order; the delivery id is stable across retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from evidence_api.core import secretbox
from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.registry.models import Platform
from evidence_api.takedowns.service import ledger_of
from evidence_api.takedowns.webhooks import (
    MAX_LANES,
    Outbox,
    Outcome,
    claim_first,
    lease,
    open_secret,
    send_signed,
    settle,
)
from evidence_api.violators.models import ViolatorDelivery
from evidence_api.violators.service import expire_due

log = logging.getLogger(__name__)

#: The list's deliveries as an outbox.
VIOLATOR_OUTBOX = Outbox(
    ViolatorDelivery.seq, ViolatorDelivery.state, ViolatorDelivery.next_attempt_at
)
LANE_BATCH = 100


def claim_next(
    transaction: Transaction, settings: Settings, platform_id: int, now: datetime
) -> int | None:
    """Claim the platform's oldest due delivery (a lease of one attempt's length), or None."""
    return claim_first(
        transaction,
        VIOLATOR_OUTBOX,
        (ViolatorDelivery.platform_id == platform_id,),
        now,
        now + lease(settings),
    )


def deliver(
    transaction: Transaction, settings: Settings, seq: int, *, now: datetime | None = None
) -> Outcome:
    """Send one claimed delivery to its platform's current webhook URL with its current
    secret, and settle the row: delivered, due again after the backoff, or failed."""
    with transaction() as session:
        delivery = session.get_one(ViolatorDelivery, seq)
        platform = session.get_one(Platform, delivery.platform_id)
        body, delivery_id, event = delivery.payload.encode("utf-8"), delivery.id, delivery.event
        url = platform.webhook_url if platform.webhook_enabled else None
        secret: str | None = None
        problem: str | None = None
        try:
            secret = open_secret(settings, platform)
        except secretbox.SecretError as exc:
            problem = f"webhook secret: {exc}"
    if problem is not None:
        outcome = Outcome(None, problem[:512], 0)
    elif not url or not secret:
        outcome = Outcome(None, "the platform has no webhook URL or secret", 0)
    else:
        outcome = send_signed(
            url, secret, body, delivery_id=delivery_id, event=event, settings=settings
        )
    at = now or datetime.now(UTC)
    with transaction() as session:
        row = session.get_one(ViolatorDelivery, seq)
        row.attempts += 1
        settle(row, outcome, at, settings)
    return outcome


def due_platforms(transaction: Transaction, now: datetime, *, skip: set[int]) -> list[int]:
    query = (
        select(ViolatorDelivery.platform_id)
        .where(ViolatorDelivery.state == "pending", ViolatorDelivery.next_attempt_at <= now)
        .distinct()
        .limit(MAX_LANES)
    )
    if skip:
        query = query.where(ViolatorDelivery.platform_id.not_in(skip))
    with transaction() as session:
        return [int(p) for p in session.execute(query).scalars()]


class Pusher:
    """One process's sender of the list's deliveries: a lane per platform with due ones.
    :meth:`tick` starts the lanes not running here and returns at once."""

    def __init__(self, transaction: Transaction, settings: Settings) -> None:
        self.transaction = transaction
        self.settings = settings
        self._lanes: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def tick(self) -> int:
        if self._stop.is_set():
            return 0
        with self._lock:
            running = set(self._lanes)
        started = 0
        for platform_id in due_platforms(self.transaction, datetime.now(UTC), skip=running):
            lane = threading.Thread(
                target=self._lane, args=(platform_id,), name=f"violators-{platform_id}", daemon=True
            )
            with self._lock:
                if platform_id in self._lanes or len(self._lanes) >= MAX_LANES:
                    continue
                self._lanes[platform_id] = lane
            lane.start()
            started += 1
        return started

    def _lane(self, platform_id: int) -> None:
        try:
            for _ in range(LANE_BATCH):
                if self._stop.is_set():
                    return
                seq = claim_next(self.transaction, self.settings, platform_id, datetime.now(UTC))
                if seq is None:
                    return
                deliver(self.transaction, self.settings, seq)
        except Exception:  # a database hiccup ends the lane; the next tick starts it again
            log.exception("serious-violator webhook lane of platform %d failed", platform_id)
        finally:
            with self._lock:
                self._lanes.pop(platform_id, None)

    def wait(self, timeout: float | None = None) -> bool:
        ends = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                lanes = list(self._lanes.values())
            if not lanes:
                return True
            for lane in lanes:
                lane.join(None if ends is None else max(ends - time.monotonic(), 0))
            if ends is not None and time.monotonic() >= ends:
                with self._lock:
                    return not self._lanes

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wait(timeout)


def push_due(transaction: Transaction, settings: Settings, *, timeout: float = 60.0) -> int:
    """Send every due delivery now and wait (tests, the CLI); how many lanes ran."""
    pusher = Pusher(transaction, settings)
    started = pusher.tick()
    pusher.wait(timeout)
    return started


def start_dispatch(runtime: Any) -> tuple[list[Callable[[], object]], Callable[[float], None]]:
    """The job's one step in this process (expire, then start the pushes) and how to stop
    what it started (given a timeout in seconds). One step, since the job has one Celery
    task (``evidence.violator_feed``) and beat runs step 0 alone."""
    pusher = Pusher(runtime.session, runtime.settings)
    ledger = ledger_of(runtime)

    def step() -> tuple[int, int]:
        return expire_due(ledger), pusher.tick()

    return [step], pusher.stop
