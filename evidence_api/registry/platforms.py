"""Platforms: the e-commerce platforms that receive takedown orders (admin-managed).

The webhook secret signs deliveries (HMAC-SHA256), so it cannot be hashed; it
is stored sealed with AES-256-GCM under ``EVIDENCE_SECRETS_KEY``
(:mod:`evidence_api.core.secretbox`), bound to the platform's code. It leaves the
service once: in the answer that generated it (creation without a secret, or a
rotation). An admin may also supply one; it is never echoed. Secrets stored in
clear before ``0010_webhook_secrets`` are sealed at the next start
(:func:`seal_stored_secrets`).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_api.core import secretbox
from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.registry.models import Platform
from evidence_api.registry.schemas import (
    PlatformCreate,
    PlatformPage,
    PlatformPublic,
    PlatformUpdate,
    PlatformWithSecret,
)
from evidence_api.takedowns.webhooks import allowed_hosts, literal_target_problem

MAX_PAGE = 200

log = logging.getLogger(__name__)


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def sealed_secret(settings: Settings, code: str, secret: str) -> str:
    """``secret`` as it is stored for platform ``code``: sealed."""
    key = secretbox.load_key(settings)
    return secretbox.seal(key, secret, secretbox.platform_context(code))


def seal_stored_secrets(transaction: Transaction, settings: Settings) -> int:
    """Seal every webhook secret still stored in clear; how many were.

    Run at every start (:func:`evidence_api.runtime.build_runtime`): the
    migration that made room for sealed secrets has no key, so the service,
    which has it, seals what an older version left in clear. Each row is
    updated only if it still holds the clear value it was read with.
    """
    with transaction() as session:
        rows = session.execute(
            select(Platform.id, Platform.code, Platform.webhook_secret).where(
                Platform.webhook_secret.is_not(None),
                Platform.webhook_secret.not_like(secretbox.PREFIX + "%"),
            )
        ).all()
    _warn_unopenable(transaction, settings)
    for pid, code, clear in rows:
        if clear is None:  # pragma: no cover - excluded by the query
            continue
        with transaction() as session:
            session.execute(
                update(Platform)
                .where(Platform.id == pid, Platform.webhook_secret == clear)
                .values(webhook_secret=sealed_secret(settings, code, clear))
                .execution_options(synchronize_session=False)
            )
    return len(rows)


def _warn_unopenable(transaction: Transaction, settings: Settings) -> None:
    """Say at start, once, which sealed secrets this key does not open (a lost or
    replaced EVIDENCE_SECRETS_KEY): their deliveries fail until the secrets are rotated."""
    key = secretbox.load_key(settings)
    with transaction() as session:
        sealed = session.execute(
            select(Platform.code, Platform.webhook_secret).where(
                Platform.webhook_secret.like(secretbox.PREFIX + "%")
            )
        ).all()
    lost = []
    for code, stored in sealed:
        try:
            secretbox.open_sealed(key, stored or "", secretbox.platform_context(code))
        except secretbox.SecretError:
            lost.append(code)
    if lost:
        log.warning(
            "the webhook secrets of %d platform(s) do not open with this EVIDENCE_SECRETS_KEY "
            "(%s); their deliveries fail until each secret is rotated",
            len(lost),
            ", ".join(lost[:20]),
        )


def public(row: Platform) -> PlatformPublic:
    return PlatformPublic(
        code=row.code,
        name=row.name,
        webhook_url=row.webhook_url,
        webhook_enabled=row.webhook_enabled,
        webhook_secret_set=row.webhook_secret is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_webhook(row: Platform, allow_hosts: str) -> None:
    if row.webhook_enabled and row.webhook_url is None:
        raise InvalidInputError(
            "webhook_enabled: a webhook needs a webhook_url", field="webhook_enabled"
        )
    if row.webhook_url is not None:
        problem = literal_target_problem(row.webhook_url, allowed_hosts(allow_hosts))
        if problem is not None:
            raise InvalidInputError(f"webhook_url: {problem}", field="webhook_url")


def platform_by_code(session: Session, code: str, *, field: str | None = None) -> Platform:
    """The platform ``code``: 404, or 422 naming ``field`` when it came in a request body."""
    row = session.execute(select(Platform).where(Platform.code == code)).scalar_one_or_none()
    if row is None:
        message = f"no platform {code!r}"
        if field is not None:
            raise InvalidInputError(
                f"{field}: {message} (an admin registers it first)", field=field
            )
        raise NotFoundError(message)
    return row


def create_platform(
    session: Session, settings: Settings, body: PlatformCreate
) -> PlatformWithSecret:
    now = datetime.now(UTC)
    secret = body.webhook_secret if body.webhook_secret is not None else new_secret()
    generated = None if body.webhook_secret is not None else secret
    row = Platform(
        code=body.code,
        name=body.name,
        webhook_url=body.webhook_url,
        webhook_secret=sealed_secret(settings, body.code, secret),
        webhook_enabled=body.webhook_enabled,
        created_at=now,
        updated_at=now,
    )
    _check_webhook(row, settings.webhook_allow_hosts)
    try:
        session.add(row)
        session.flush()  # a duplicate code: the caller's transaction is rolled back
        out = public(row)
    except IntegrityError as exc:
        raise ConflictError(f"platform {body.code!r} already exists", field="code") from exc
    return PlatformWithSecret(**out.model_dump(), webhook_secret=generated)


def update_platform(
    session: Session, settings: Settings, code: str, body: PlatformUpdate
) -> PlatformPublic:
    given = body.model_fields_set
    row = platform_by_code(session, code)
    if "name" in given:
        if body.name is None:
            raise InvalidInputError("name: may not be null", field="name")
        row.name = body.name
    if "webhook_url" in given:
        row.webhook_url = body.webhook_url
        if body.webhook_url is None and "webhook_enabled" not in given:
            row.webhook_enabled = False
    if "webhook_enabled" in given:
        if body.webhook_enabled is None:
            raise InvalidInputError("webhook_enabled: may not be null", field="webhook_enabled")
        row.webhook_enabled = body.webhook_enabled
    if "webhook_secret" in given:
        if body.webhook_secret is None:
            raise InvalidInputError(
                "webhook_secret: may not be null; rotate it instead", field="webhook_secret"
            )
        row.webhook_secret = sealed_secret(settings, row.code, body.webhook_secret)
    _check_webhook(row, settings.webhook_allow_hosts)
    row.updated_at = datetime.now(UTC)
    session.flush()
    return public(row)


def rotate_secret(session: Session, settings: Settings, code: str) -> PlatformWithSecret:
    """A new generated secret, shown once; the old one stops signing at once."""
    secret = new_secret()
    row = platform_by_code(session, code)
    row.webhook_secret = sealed_secret(settings, row.code, secret)
    row.updated_at = datetime.now(UTC)
    session.flush()
    out = public(row)
    return PlatformWithSecret(**out.model_dump(), webhook_secret=secret)


def get_platform(session: Session, code: str) -> PlatformPublic:
    return public(platform_by_code(session, code))


def list_platforms(session: Session, *, limit: int, cursor: str | None) -> PlatformPage:
    """Newest first; ``cursor`` continues after the last item of the previous page."""
    query = keyset(select(Platform), Platform.id, limit=limit, cursor=cursor)
    rows = list(session.execute(query).scalars())
    items = [public(r) for r in rows[:limit]]
    next_cursor = cursor_after(rows, limit, lambda r: r.id)
    return PlatformPage(items=items, next_cursor=next_cursor)
