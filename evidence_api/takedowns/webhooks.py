"""Webhook dispatch: signed POSTs of takedown events to platforms, with retries.

An outbox written with the change it announces, at-least-once delivery with a stable delivery
id, one lane per platform, an overall deadline per attempt, and connections only to checked
addresses (docs/design.md §11.4).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute

from evidence_api.core import secretbox
from evidence_api.core.config import Settings
from evidence_api.registry.models import Platform
from evidence_api.takedowns import netcheck, webhook_sign
from evidence_api.takedowns.models import WebhookAttempt, WebhookDelivery

if TYPE_CHECKING:
    from evidence_api.core.db import Transaction

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0
#: how much of an answer is read (and then ignored): receivers need only answer 2xx
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "evidence-anchor-webhook/1"
#: platforms sent to at once by one process; past that, a platform waits for a free lane
#: (never for a particular other platform)
MAX_LANES = 32
#: deliveries one lane sends before it makes way (the next tick starts it again)
LANE_BATCH = 100


class WebhookTargetError(Exception):
    """The webhook URL is unusable or points somewhere the service must not connect."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    #: every address the host resolved to, each checked; tried in this order
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.addresses[0]


def allowed_hosts(setting: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in setting.split(",") if h.strip())


def target_problem(address: str, host: str, allow: frozenset[str]) -> str | None:
    """Why a connection to ``address`` (which ``host`` resolved to) is refused, or None.

    :func:`evidence_api.takedowns.netcheck.address_problem` decides; a host or an
    address in ``EVIDENCE_WEBHOOK_ALLOW_HOSTS`` is let through (tests deliver to
    ``127.0.0.1``).
    """
    ip = netcheck.parse_address(address)
    if ip is None:
        return f"{address!r} is not an IP address"
    if host in allow or address in allow or str(ip) in allow:
        return None
    return netcheck.address_problem(ip)


def literal_target_problem(url: str, allow: frozenset[str]) -> str | None:
    """Why ``url`` is refused at registration without a DNS lookup, or None.

    A literal non-public address (or ``localhost``) is refused at once unless
    allow-listed; names are resolved and checked again at every delivery
    (:func:`resolve_target`), since what they resolve to can change.
    """
    host = (urlsplit(url).hostname or "").lower()
    if not host or host in allow:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"webhook host {host!r} is loopback; allow it with EVIDENCE_WEBHOOK_ALLOW_HOSTS"
    literal = host.split("%", 1)[0]  # an IPv6 zone (fe80::1%25eth0) names no other host
    if netcheck.parse_address(literal) is None:
        return None
    problem = target_problem(literal, host, allow)
    if problem is None:
        return None
    return (
        f"webhook host {host!r} is not a public address ({problem}); "
        "allow it with EVIDENCE_WEBHOOK_ALLOW_HOSTS"
    )


def resolve_target(url: str, allow: frozenset[str]) -> Target:
    """Check ``url`` and pick the addresses to connect to; :class:`WebhookTargetError` if not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookTargetError("webhook URL must be http:// or https://")
    if parts.username or parts.password:
        raise WebhookTargetError("webhook URL must not carry credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise WebhookTargetError("webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookTargetError(f"webhook URL has a bad port: {exc}") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookTargetError(f"cannot resolve {host!r}: {exc}") from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:  # pragma: no cover - getaddrinfo raises instead
        raise WebhookTargetError(f"{host!r} resolves to no address")
    for address in addresses:  # every one: a name must not mix public and private answers
        problem = target_problem(address, host, allow)
        if problem is not None:
            raise WebhookTargetError(
                f"webhook host {host!r} resolves to non-public address {address} ({problem}); "
                "allow it with EVIDENCE_WEBHOOK_ALLOW_HOSTS"
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses)


class DeadlineExceededError(OSError):
    """The attempt's overall deadline passed; the connection was cut."""


class _Deadline:
    """Closes a connection's socket when ``seconds`` have passed since it was made.

    Socket timeouts bound each read or write, not their sum; shutting the socket
    down from a timer thread ends a blocked read or write at once, whatever the
    receiver does (a TLS socket is shut at the TCP level, under its TLS layer).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise DeadlineExceededError(f"deadline of {self.seconds:g} s passed")
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            expired = self.expired
        if expired:
            self._shut(sock)

    @property
    def passed(self) -> bool:
        """The deadline is over, whether or not the timer thread has run yet (under load a
        socket timeout equal to the deadline can fire first)."""
        return self.expired or time.monotonic() >= self.ends

    def cancel(self) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # already closed
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the TCP socket, even under TLS


def _connect(target: Target, timeout: float, deadline: _Deadline) -> socket.socket:
    """A TCP connection to the first checked address that answers."""
    error: OSError | None = None
    for address in target.addresses:
        try:
            sock = socket.create_connection(
                (address, target.port), min(timeout, deadline.remaining())
            )
        except DeadlineExceededError:
            raise
        except OSError as exc:
            error = exc
            continue
        deadline.watch(sock)
        return sock
    assert error is not None
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a checked address, under an overall deadline."""

    def __init__(self, target: Target, timeout: float, deadline: _Deadline) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target, self._deadline = target, deadline

    def connect(self) -> None:
        self.sock = _connect(self._target, self.timeout or 10.0, self._deadline)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate checks for the host name."""

    def __init__(self, target: Target, timeout: float, deadline: _Deadline) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._target, self._deadline = target, deadline

    def connect(self) -> None:
        sock = _connect(self._target, self.timeout or 10.0, self._deadline)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self._deadline.watch(self.sock)


def host_header(target: Target) -> str:
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default_port else f"{host}:{target.port}"


def post(
    target: Target, body: bytes, headers: dict[str, str], timeout: float, deadline: float
) -> int:
    """POST ``body`` to ``target``; the status code (redirects are not followed).

    ``timeout`` bounds each network operation, ``deadline`` the whole exchange:
    past it, :class:`DeadlineExceededError`.
    """
    limit = _Deadline(deadline)
    conn: http.client.HTTPConnection
    per_read = min(timeout, deadline)
    if target.scheme == "https":
        conn = _PinnedHTTPS(target, per_read, limit)
    else:
        conn = _PinnedHTTP(target, per_read, limit)
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                "Host": host_header(target),
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                **headers,
            },
        )
        answer = conn.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        if limit.passed:
            raise DeadlineExceededError(f"deadline of {deadline:g} s passed")
        return int(answer.status)
    except (OSError, http.client.HTTPException) as exc:
        if limit.passed and not isinstance(exc, DeadlineExceededError):
            raise DeadlineExceededError(
                f"deadline of {deadline:g} s passed before a complete answer"
            ) from exc
        raise
    finally:
        limit.cancel()
        conn.close()


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send_signed(
    url: str, secret: str, body: bytes, *, delivery_id: str, event: str, settings: Settings
) -> Outcome:
    """One POST of ``body`` to ``url``, signed with ``secret`` (:mod:`webhook_sign`): the
    address checked (``webhook_allow_hosts``), bounded by ``webhook_timeout`` per operation
    and ``webhook_deadline`` in all; never raises. Platforms' and the department system's
    (alert) webhooks both send through it."""
    started = time.monotonic()

    def done(code: int | None, error: str | None) -> Outcome:
        return Outcome(code, error, int((time.monotonic() - started) * 1000))

    try:
        target = resolve_target(url, allowed_hosts(settings.webhook_allow_hosts))
        headers = webhook_sign.delivery_headers(
            secret, int(time.time()), body, delivery_id=delivery_id, event=event
        )
        code = post(target, body, headers, settings.webhook_timeout, settings.webhook_deadline)
    except WebhookTargetError as exc:
        return done(None, f"refused: {exc}"[:512])
    except DeadlineExceededError as exc:
        return done(None, f"deadline: {exc}"[:512])
    except (OSError, http.client.HTTPException) as exc:
        return done(None, f"{type(exc).__name__}: {exc}"[:512])
    return done(code, None if 200 <= code < 300 else f"HTTP {code}")


class Deliverable(Protocol):
    """An outbox row as sent: the platforms' takedown deliveries and the serious-violator
    list's."""

    @property
    def id(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def payload(self) -> str: ...


def attempt(
    url: str | None, secret: str | None, delivery: Deliverable, *, settings: Settings
) -> Outcome:
    """One signed POST of ``delivery`` (``secret`` in clear); never raises."""
    if not url or not secret:
        return Outcome(None, "the platform has no webhook URL or secret", 0)
    return send_signed(
        url,
        secret,
        delivery.payload.encode("utf-8"),
        delivery_id=delivery.id,
        event=delivery.event,
        settings=settings,
    )


def backoff(settings_backoff: float, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: ``backoff * 2**(attempts-1)``, at most an hour."""
    return timedelta(seconds=min(settings_backoff * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


def lease(settings: Settings) -> timedelta:
    """How long a claim holds: one attempt's deadline, and a margin to record it."""
    return timedelta(seconds=settings.webhook_deadline + 30)


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)


def due_platforms(
    transaction: Transaction, now: datetime, *, skip: set[int], limit: int
) -> list[int]:
    """Ids of platforms with a due delivery, besides those in ``skip``."""
    query = select(WebhookDelivery.platform_id).where(*_due(now)).distinct().limit(limit)
    if skip:
        query = query.where(WebhookDelivery.platform_id.not_in(skip))
    with transaction() as session:
        return [int(pid) for pid in session.execute(query).scalars()]


@dataclass(frozen=True)
class Outbox:
    """An outbox table's columns: rows ``pending`` until delivered, due at ``next_attempt_at``."""

    seq: InstrumentedAttribute[int]
    state: InstrumentedAttribute[str]
    next_attempt_at: InstrumentedAttribute[datetime]


def claim_first(
    transaction: Transaction,
    outbox: Outbox,
    where: Sequence[ColumnElement[bool]],
    now: datetime,
    until: datetime,
) -> int | None:
    """Claim the oldest due row of ``outbox`` matching ``where`` by pushing its next attempt
    to ``until`` (a lease), or None. A claim another sender won first is skipped; a dead
    sender's claims simply expire. Platforms' and alert webhooks claim through it."""
    seq_col, state, next_at = outbox.seq, outbox.state, outbox.next_attempt_at
    for _ in range(5):
        with transaction() as session:
            row = session.execute(
                select(seq_col, next_at)
                .where(state == "pending", next_at <= now, *where)
                .order_by(next_at, seq_col)
                .limit(1)
            ).first()
            if row is None:
                return None
            seq, seen = row
            result = session.execute(
                update(seq_col.class_)
                .where(seq_col == seq, state == "pending", next_at == seen)
                .values({next_at: until})
                .execution_options(synchronize_session=False)
            )
        if getattr(result, "rowcount", 0) == 1:
            return int(seq)
    return None


#: The platforms' deliveries as an outbox.
PLATFORM_OUTBOX = Outbox(
    WebhookDelivery.seq, WebhookDelivery.state, WebhookDelivery.next_attempt_at
)


def claim_next(
    transaction: Transaction, settings: Settings, platform_id: int, now: datetime
) -> int | None:
    """Claim the platform's next due delivery (:func:`claim_first`), or None."""
    return claim_first(
        transaction,
        PLATFORM_OUTBOX,
        (WebhookDelivery.platform_id == platform_id,),
        now,
        now + lease(settings),
    )


def open_secret(settings: Settings, platform: Platform) -> str | None:
    """The platform's webhook secret in clear (None when it has none)."""
    if platform.webhook_secret is None:
        return None
    key = secretbox.load_key(settings)
    return secretbox.open_sealed(
        key, platform.webhook_secret, secretbox.platform_context(platform.code)
    )


@dataclass(frozen=True)
class Endpoint:
    """A platform's webhook as an attempt finds it: the URL (None while disabled), the
    secret in clear (None when it has none), or why the sealed secret would not open."""

    url: str | None
    secret: str | None
    sealed_error: str | None = None

    def send(self, delivery: Deliverable, settings: Settings) -> Outcome:
        """One attempt (:func:`attempt`); never raises."""
        if self.sealed_error is not None:
            return Outcome(None, f"webhook secret: {self.sealed_error}"[:512], 0)
        return attempt(self.url, self.secret, delivery, settings=settings)


def endpoint(settings: Settings, platform: Platform) -> Endpoint:
    """The platform's webhook now (read in the session that loaded ``platform``). The
    takedowns' and the serious-violator list's deliveries both find it here."""
    url = platform.webhook_url if platform.webhook_enabled else None
    try:
        return Endpoint(url, open_secret(settings, platform))
    except secretbox.SecretError as exc:
        return Endpoint(url, None, str(exc))


def deliver(
    transaction: Transaction, settings: Settings, seq: int, *, now: datetime | None = None
) -> Outcome:
    """Send one claimed delivery and record the attempt and the delivery's new state."""
    with transaction() as session:
        delivery = session.get_one(WebhookDelivery, seq)
        target = endpoint(settings, session.get_one(Platform, delivery.platform_id))
    outcome = target.send(delivery, settings)
    at = now or datetime.now(UTC)
    with transaction() as session:
        row = session.get_one(WebhookDelivery, seq)
        row.attempts += 1
        session.add(
            WebhookAttempt(
                delivery_seq=seq,
                number=row.attempts,
                at=at,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        settle(row, outcome, at, settings)
    return outcome


def settle(row: Any, outcome: Outcome, at: datetime, settings: Settings) -> None:
    """A delivery row after an attempt (its ``attempts`` already counted): ``delivered``,
    else due again after :func:`backoff`, or ``failed`` past ``webhook_max_attempts``.
    Platform webhooks and alert webhooks settle their rows alike."""
    if outcome.ok:
        row.state, row.delivered_at, row.last_error = "delivered", at, None
    else:
        row.last_error = outcome.error
        if row.attempts >= settings.webhook_max_attempts:
            row.state = "failed"
        else:
            row.next_attempt_at = at + backoff(settings.webhook_backoff, row.attempts)


class Dispatcher:
    """One process's webhook sender: a lane (thread) per platform with due deliveries.

    :meth:`tick` (on a timer, or a Celery beat task) starts a lane for each
    platform that has due deliveries and none running here, and returns at
    once; a lane sends its platform's due deliveries in order, one at a time,
    then ends. Several processes may dispatch at once: claims are leases in the
    database. This one sends the takedowns' outbox; another outbox of deliveries to
    the platforms subclasses it with its own :meth:`due`, :meth:`claim` and :meth:`send`
    (the serious-violator list: :class:`evidence_api.violators.dispatch.Pusher`).
    """

    #: the lanes' thread names: ``<lane_name>-<platform id>``
    lane_name = "webhook"
    #: what a failed lane's log line calls it
    lane_label = "webhook"

    def __init__(
        self, transaction: Transaction, settings: Settings, *, max_lanes: int = MAX_LANES
    ) -> None:
        self.transaction = transaction
        self.settings = settings
        self.max_lanes = max_lanes
        self._lanes: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def due(self, now: datetime, skip: set[int], limit: int) -> list[int]:
        """Ids of platforms with a due delivery, besides those in ``skip``."""
        return due_platforms(self.transaction, now, skip=skip, limit=limit)

    def claim(self, platform_id: int, now: datetime) -> int | None:
        """Claim the platform's next due delivery, or None."""
        return claim_next(self.transaction, self.settings, platform_id, now)

    def send(self, seq: int) -> Outcome:
        """Send one claimed delivery and settle it."""
        return deliver(self.transaction, self.settings, seq)

    def busy(self) -> set[int]:
        with self._lock:
            return set(self._lanes)

    def tick(self) -> int:
        """Start lanes for the platforms with due deliveries; how many were started."""
        if self._stop.is_set():
            return 0
        running = self.busy()
        free = self.max_lanes - len(running)
        if free <= 0:
            return 0
        started = 0
        for platform_id in self.due(datetime.now(UTC), running, free):
            lane = threading.Thread(
                target=self._lane,
                args=(platform_id,),
                name=f"{self.lane_name}-{platform_id}",
                daemon=True,
            )
            with self._lock:
                if platform_id in self._lanes:
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
                seq = self.claim(platform_id, datetime.now(UTC))
                if seq is None:
                    return
                self.send(seq)
        except Exception:  # a database hiccup ends the lane; the next tick starts it again
            log.exception("%s lane of platform %d failed", self.lane_label, platform_id)
        finally:
            with self._lock:
                self._lanes.pop(platform_id, None)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running lanes to end; whether they all did within ``timeout``."""
        ends = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                lanes = list(self._lanes.values())
            if not lanes:
                return True
            for lane in lanes:
                left = None if ends is None else max(ends - time.monotonic(), 0)
                lane.join(left)
                if ends is not None and time.monotonic() >= ends:
                    return not self.busy()

    def stop(self, timeout: float = 10.0) -> None:
        """Start no more sends; wait up to ``timeout`` for those in flight."""
        self._stop.set()
        self.wait(timeout)


def dispatch_due(
    transaction: Transaction, settings: Settings, *, timeout: float | None = None
) -> int:
    """Send every due delivery now, lanes in parallel, and wait for them; how many lanes ran."""
    dispatcher = Dispatcher(transaction, settings)
    started = dispatcher.tick()
    dispatcher.wait(timeout)
    return started
