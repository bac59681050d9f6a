"""Webhook dispatch: signed POSTs of takedown events to platforms, with retries.

Deliveries are written in the same transaction as the change they announce
(an outbox), so none is lost; :func:`dispatch_due` sends those that are due,
at least once each: a worker that dies mid-send leaves its claim to expire and
the delivery is sent again with the same ``X-Evidence-Delivery`` id, which the
receiver uses to ignore repeats. Every attempt is logged (status, error,
duration). Failures back off exponentially (``webhook_backoff`` doubled per
attempt, at most an hour) until ``webhook_max_attempts``, then the delivery is
``failed`` and stays in the officer's view.

Webhook URLs must not become an SSRF hole: the host is resolved once, every
address it resolves to must be public unless the host or address is in
``EVIDENCE_WEBHOOK_ALLOW_HOSTS``, and the connection goes to the address that
was checked (no second resolution, no redirects followed).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update

from evidence_api.models_registry import Platform
from evidence_api.models_takedown import WebhookAttempt, WebhookDelivery
from evidence_api.runtime import Runtime
from evidence_api.services import webhook_sign

MAX_BACKOFF_S = 3600.0
#: how much of an answer is read (and then ignored): receivers need only answer 2xx
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "evidence-anchor-webhook/1"


class WebhookTargetError(Exception):
    """The webhook URL is unusable or points somewhere the service must not connect."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def allowed_hosts(setting: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in setting.split(",") if h.strip())


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


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
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    if _is_public(ip):
        return None
    return (
        f"webhook host {host!r} is not a public address; allow it with EVIDENCE_WEBHOOK_ALLOW_HOSTS"
    )


def resolve_target(url: str, allow: frozenset[str]) -> Target:
    """Check ``url`` and pick the address to connect to; :class:`WebhookTargetError` if not."""
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
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not _is_public(ip) and host not in allow and address not in allow:
            raise WebhookTargetError(
                f"webhook host {host!r} resolves to non-public address {address}; "
                "allow it with EVIDENCE_WEBHOOK_ALLOW_HOSTS"
            )
    if not addresses:  # pragma: no cover - getaddrinfo raises instead
        raise WebhookTargetError(f"{host!r} resolves to no address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses[0])


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate checks for the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to ``target``; the status code (redirects are not followed)."""
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPS(target, timeout)
    else:
        conn = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and not target.host.startswith("["):
        host = (
            f"[{target.host}]" if target.port == default_port else f"[{target.host}]:{target.port}"
        )
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                "Host": host,
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                **headers,
            },
        )
        answer = conn.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        return int(answer.status)
    finally:
        conn.close()


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def attempt(
    url: str | None, secret: str | None, delivery: WebhookDelivery, *, runtime: Runtime
) -> Outcome:
    """One signed POST of ``delivery``; never raises (the outcome says what happened)."""
    started = time.monotonic()

    def done(code: int | None, error: str | None) -> Outcome:
        return Outcome(code, error, int((time.monotonic() - started) * 1000))

    if not url or not secret:
        return done(None, "the platform has no webhook URL or secret")
    settings = runtime.settings
    try:
        target = resolve_target(url, allowed_hosts(settings.webhook_allow_hosts))
        body = delivery.payload.encode("utf-8")
        headers = webhook_sign.delivery_headers(
            secret, int(time.time()), body, delivery_id=delivery.id, event=delivery.event
        )
        code = post(target, body, headers, settings.webhook_timeout)
    except WebhookTargetError as exc:
        return done(None, f"refused: {exc}"[:512])
    except (OSError, http.client.HTTPException) as exc:
        return done(None, f"{type(exc).__name__}: {exc}"[:512])
    return done(code, None if 200 <= code < 300 else f"HTTP {code}")


def backoff(settings_backoff: float, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: ``backoff * 2**(attempts-1)``, at most an hour."""
    return timedelta(seconds=min(settings_backoff * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


def _claim(runtime: Runtime, now: datetime, limit: int) -> list[int]:
    """Claim due deliveries by pushing their next attempt past the send (a lease); a claim
    another dispatcher won first is skipped. A dead dispatcher's claims simply expire."""
    lease = timedelta(seconds=runtime.settings.webhook_timeout * 2 + 30)
    with runtime.session() as session:
        due = session.execute(
            select(WebhookDelivery.seq, WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        ).all()
    claimed = []
    for seq, seen in due:
        with runtime.session() as session:
            result = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.seq == seq,
                    WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at == seen,
                )
                .values(next_attempt_at=now + lease)
                .execution_options(synchronize_session=False)
            )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(seq)
    return claimed


def deliver(runtime: Runtime, seq: int, *, now: datetime | None = None) -> Outcome:
    """Send one claimed delivery and record the attempt and the delivery's new state."""
    with runtime.session() as session:
        delivery = session.get_one(WebhookDelivery, seq)
        platform = session.get_one(Platform, delivery.platform_id)
        url = platform.webhook_url if platform.webhook_enabled else None
        secret = platform.webhook_secret
    outcome = attempt(url, secret, delivery, runtime=runtime)
    at = now or datetime.now(UTC)
    settings = runtime.settings
    with runtime.session() as session:
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
        if outcome.ok:
            row.state, row.delivered_at, row.last_error = "delivered", at, None
        else:
            row.last_error = outcome.error
            if row.attempts >= settings.webhook_max_attempts:
                row.state = "failed"
            else:
                row.next_attempt_at = at + backoff(settings.webhook_backoff, row.attempts)
    return outcome


def dispatch_due(runtime: Runtime, *, limit: int = 50) -> int:
    """Send every due delivery (up to ``limit``); returns how many were attempted."""
    now = datetime.now(UTC)
    claimed = _claim(runtime, now, limit)
    for seq in claimed:
        deliver(runtime, seq)
    return len(claimed)
