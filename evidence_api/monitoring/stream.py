"""``GET /v1/alerts/stream``: every alert event as a server-sent event (text/event-stream).

One event per :class:`~evidence_api.monitoring.models.AlertEvent`, oldest first::

    id: 42
    event: alert.open
    data: {"event":"alert.open","event_id":42,"alert_id":"alr-…",…}

``id`` is the event's id, so a client that reconnects with ``Last-Event-ID`` (browsers do
it by themselves) or ``?after=`` resumes exactly after what it saw; without either the
stream starts after the newest event at connection time. The stream reads the database
(every API replica serves the same events), polling every :attr:`StreamGate.poll`
seconds in a worker thread (never on the event loop); a comment (``: keepalive``) goes
out every :attr:`StreamGate.heartbeat` seconds so proxies keep the connection; each
connection lasts at most :attr:`StreamGate.lifetime` seconds and asks the client to
reconnect after ``retry:`` milliseconds; a process serves at most
:attr:`StreamGate.limit` streams at once (beyond: 503 with ``Retry-After``).

Event ids are given when an event's transaction inserts it, so on PostgreSQL a lower id
can commit after a higher one was read. A stream therefore holds back what follows a gap
in the ids for up to :data:`GAP_WAIT` seconds, until the gap fills or is taken for good
(a rolled-back transaction also leaves one): nothing is skipped for being late.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy import func, select
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from anchoring.entries import utc_timestamp
from evidence_api.core.auth import Principal
from evidence_api.core.db import Transaction
from evidence_api.core.errors import InvalidInputError, ServiceUnavailableError
from evidence_api.core.jurisdiction import covers
from evidence_api.core.models import OrgUnit
from evidence_api.monitoring.models import Alert, AlertEvent, Monitor
from evidence_api.monitoring.observation import RULE_LABELS
from evidence_api.takedowns.models import TakedownOrder

#: Seconds a stream waits for a gap in the event ids to fill before passing it.
GAP_WAIT = 3.0
#: Longest ``Last-Event-ID`` accepted (an event id: digits).
MAX_EVENT_ID_CHARS = 19


@dataclass
class StreamGate:
    """One process's event streams: how many at once, and how each runs."""

    #: streams open at once in this process; one more gets 503
    limit: int = 64
    #: seconds one connection lasts before the client is asked to reconnect
    lifetime: float = 300.0
    #: seconds between database reads
    poll: float = 1.0
    #: seconds between keepalive comments
    heartbeat: float = 15.0
    #: the ``retry:`` sent: milliseconds before the client reconnects
    retry_ms: int = 2000
    #: events read at once
    batch: int = 200
    _open: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def open(self) -> int:
        with self._lock:
            return self._open

    def enter(self) -> None:
        """Take a place; :class:`ServiceUnavailableError` (503) when all are taken."""
        with self._lock:
            if self._open >= self.limit:
                raise ServiceUnavailableError(
                    f"{self.limit} alert streams are open in this process; retry shortly",
                    retry_after=max(1, self.retry_ms // 1000),
                )
            self._open += 1

    def leave(self) -> None:
        with self._lock:
            self._open -= 1


def gate_of(state: Any) -> StreamGate:
    """The app's gate (``app.state.alert_streams``), made on first use."""
    gate: StreamGate | None = getattr(state, "alert_streams", None)
    if gate is None:
        gate = StreamGate()
        state.alert_streams = gate
    return gate


def resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """Where the stream resumes: ``Last-Event-ID`` (422 if it is not an event id), else
    ``after``; None: after the newest event."""
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not value.isascii() or not value.isdigit() or len(value) > MAX_EVENT_ID_CHARS:
            raise InvalidInputError(
                "Last-Event-ID must be an event id this stream sent (digits)",
                field="Last-Event-ID",
            )
        return int(value)
    return after


def event_payload(
    event: AlertEvent,
    alert: Alert,
    monitor_id: str | None,
    order_id: str | None,
    unit: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """The event as the department webhook's payload has it (without a delivery id), and
    the alert's ``unit`` (code and name; None: the top), which the console's live list
    shows."""
    return {
        "event": f"alert.{event.to_status}",
        "event_id": event.id,
        "alert_id": alert.id,
        "rule": alert.rule,
        "rule_label": RULE_LABELS.get(alert.rule, alert.rule),
        "status": event.to_status,
        "previous_status": event.from_status,
        "reason": alert.reason,
        "evidence_id": alert.evidence_id,
        "monitor_id": monitor_id,
        "order_id": order_id,
        "recipient": alert.recipient,
        "at": utc_timestamp(event.at),
        "entry_id": event.entry_id,
        "alert_url": f"/v1/alerts/{alert.id}",
        "unit": unit[0],
        "unit_name": unit[1],
    }


def frame(payload: dict[str, Any]) -> str:
    """One server-sent event (``id``, ``event``, one ``data`` line)."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {payload['event_id']}\nevent: {payload['event']}\ndata: {data}\n\n"


@dataclass(frozen=True)
class Read:
    """One poll: the events after the cursor (every recipient's, for gap detection)."""

    ids: list[int]
    payloads: list[dict[str, Any] | None]  # None: not for this stream's recipient


def newest(transaction: Transaction) -> int:
    with transaction() as session:
        return int(session.execute(select(func.max(AlertEvent.id))).scalar() or 0)


def read_after(
    transaction: Transaction,
    after: int,
    recipient: str | None,
    batch: int,
    principal: Principal | None = None,
) -> Read:
    """Up to ``batch`` events after ``after``, oldest first; the payloads of those not for
    ``recipient`` or outside ``principal``'s jurisdiction are None."""
    with transaction() as session:
        rows = session.execute(
            select(
                AlertEvent,
                Alert,
                Monitor.id,
                TakedownOrder.id,
                OrgUnit.path,
                OrgUnit.code,
                OrgUnit.name,
            )
            .join(Alert, Alert.seq == AlertEvent.alert_seq)
            .outerjoin(OrgUnit, OrgUnit.id == Alert.unit_id)
            .outerjoin(Monitor, Monitor.seq == Alert.monitor_seq)
            .outerjoin(TakedownOrder, TakedownOrder.seq == Alert.order_seq)
            .where(AlertEvent.id > after)
            .order_by(AlertEvent.id)
            .limit(batch)
        ).all()
        ids: list[int] = []
        payloads: list[dict[str, Any] | None] = []
        for event, alert, monitor_id, order_id, path, code, name in rows:
            ids.append(event.id)
            wanted = recipient is None or alert.recipient == recipient
            wanted = wanted and (principal is None or covers(principal, path))
            unit = (code, name)
            payloads.append(
                event_payload(event, alert, monitor_id, order_id, unit) if wanted else None
            )
        return Read(ids, payloads)


async def _connected() -> bool:
    return False


async def events(
    transaction: Transaction,
    gate: StreamGate,
    after: int | None,
    recipient: str | None,
    disconnected: Callable[[], Awaitable[bool]] = _connected,
    principal: Principal | None = None,
) -> AsyncIterator[str]:
    """The stream's text: ``retry:``, then events and keepalives until the lifetime ends
    or the client is gone (asked once per poll, so its place is free within a poll)."""
    # The start is fixed before the first line goes out: a client that has read it knows
    # that every later event will follow.
    cursor = after if after is not None else await anyio.to_thread.run_sync(newest, transaction)
    yield f"retry: {gate.retry_ms}\n: alert stream; resume with Last-Event-ID\n\n"
    started = time.monotonic()
    ends = started + gate.lifetime
    beat = started
    gaps: dict[int, float] = {}  # an id after a gap -> when the gap was first seen
    while (now := time.monotonic()) < ends:
        if await disconnected():
            return
        # A caller without a unit reads as before units existed (every alert in reach).
        scoped = () if principal is None or principal.unit_path is None else (principal,)
        read = await anyio.to_thread.run_sync(
            read_after, transaction, cursor, recipient, gate.batch, *scoped
        )
        out: list[str] = []
        for event_id, payload in zip(read.ids, read.payloads, strict=True):
            if event_id != cursor + 1 and now - gaps.setdefault(event_id, now) < GAP_WAIT:
                break  # a lower id may still commit: wait for it (a while)
            gaps.pop(event_id, None)
            cursor = event_id
            if payload is not None:
                out.append(frame(payload))
        if out:
            yield "".join(out)
            beat = time.monotonic()
        elif time.monotonic() - beat >= gate.heartbeat:
            yield ": keepalive\n\n"
            beat = time.monotonic()
        if len(read.ids) == gate.batch and read.ids[-1] == cursor:
            continue  # more are waiting: read on at once
        await anyio.sleep(max(0.0, min(gate.poll, ends - time.monotonic())))


class EventStream(StreamingResponse):
    """A text/event-stream response that gives its place in the gate back however it
    ends (finished, the client gone, or never started)."""

    media_type = "text/event-stream"

    def __init__(
        self, content: AsyncIterator[str], gate: StreamGate, status_code: int = 200
    ) -> None:
        super().__init__(
            content,
            status_code=status_code,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.gate.leave()


def open_stream(
    transaction: Transaction,
    gate: StreamGate,
    *,
    last_event_id: str | None,
    after: int | None,
    recipient: str | None,
    disconnected: Callable[[], Awaitable[bool]] = _connected,
    principal: Principal | None = None,
) -> EventStream:
    """The response of one stream (its place in ``gate`` taken: 503 when none is free);
    ``disconnected``: whether the client has gone (``Request.is_disconnected``)."""
    start = resume_point(last_event_id, after)
    gate.enter()
    return EventStream(events(transaction, gate, start, recipient, disconnected, principal), gate)
