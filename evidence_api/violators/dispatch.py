"""The ``violator-feed`` job: placements past their period expired, and the list's changes
pushed to each platform's webhook.

Sending is the platforms' webhooks' own (:mod:`evidence_api.takedowns.webhooks`): the same
signature headers (:mod:`~evidence_api.takedowns.webhook_sign`), address checks, timeouts
and deadline (:func:`~evidence_api.takedowns.webhooks.send_signed`), the same claims (a
lease in the database: :func:`~evidence_api.takedowns.webhooks.claim_first`) and the same
retries (:func:`~evidence_api.takedowns.webhooks.settle`: ``webhook_backoff`` doubling per
attempt until ``webhook_max_attempts``), through the same dispatcher
(:class:`~evidence_api.takedowns.webhooks.Dispatcher`). One lane (thread) per platform, each
sending its deliveries in change order; the delivery id is stable across retries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.registry.models import Platform
from evidence_api.takedowns.service import ledger_of
from evidence_api.takedowns.webhooks import (
    Dispatcher,
    Outbox,
    Outcome,
    claim_first,
    endpoint,
    lease,
    settle,
)
from evidence_api.violators.models import ViolatorDelivery
from evidence_api.violators.service import expire_due

#: The list's deliveries as an outbox.
VIOLATOR_OUTBOX = Outbox(
    ViolatorDelivery.seq, ViolatorDelivery.state, ViolatorDelivery.next_attempt_at
)


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
        target = endpoint(settings, session.get_one(Platform, delivery.platform_id))
    outcome = target.send(delivery, settings)
    at = now or datetime.now(UTC)
    with transaction() as session:
        row = session.get_one(ViolatorDelivery, seq)
        row.attempts += 1
        settle(row, outcome, at, settings)
    return outcome


def due_platforms(
    transaction: Transaction, now: datetime, *, skip: set[int], limit: int
) -> list[int]:
    query = (
        select(ViolatorDelivery.platform_id)
        .where(ViolatorDelivery.state == "pending", ViolatorDelivery.next_attempt_at <= now)
        .distinct()
        .limit(limit)
    )
    if skip:
        query = query.where(ViolatorDelivery.platform_id.not_in(skip))
    with transaction() as session:
        return [int(p) for p in session.execute(query).scalars()]


class Pusher(Dispatcher):
    """One process's sender of the list's deliveries: the platforms' webhook dispatcher
    (lanes, batches, waiting and stopping) over the list's outbox. :meth:`tick` starts the
    lanes not running here and returns at once."""

    lane_name = "violators"
    lane_label = "serious-violator webhook"

    def due(self, now: datetime, skip: set[int], limit: int) -> list[int]:
        return due_platforms(self.transaction, now, skip=skip, limit=limit)

    def claim(self, platform_id: int, now: datetime) -> int | None:
        return claim_next(self.transaction, self.settings, platform_id, now)

    def send(self, seq: int) -> Outcome:
        return deliver(self.transaction, self.settings, seq)


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
