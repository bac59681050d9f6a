"""Platforms: the e-commerce platforms that receive takedown orders (admin-managed).

The webhook secret signs deliveries (HMAC-SHA256), so it is stored as given.
It leaves the service once: in the answer that generated it (creation without a
secret, or a rotation). An admin may also supply one; it is never echoed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_api.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.models_registry import Platform
from evidence_api.runtime import Runtime
from evidence_api.services.pagination import decode_cursor, encode_cursor
from evidence_api.services.registry_schemas import (
    PlatformCreate,
    PlatformPage,
    PlatformPublic,
    PlatformUpdate,
    PlatformWithSecret,
)
from evidence_api.services.webhooks import allowed_hosts, literal_target_problem

MAX_PAGE = 200


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC. SQLite hands back the stored UTC time without its zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def public(row: Platform) -> PlatformPublic:
    return PlatformPublic(
        code=row.code,
        name=row.name,
        webhook_url=row.webhook_url,
        webhook_enabled=row.webhook_enabled,
        webhook_secret_set=row.webhook_secret is not None,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
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


def create_platform(runtime: Runtime, body: PlatformCreate) -> PlatformWithSecret:
    now = datetime.now(UTC)
    generated = None if body.webhook_secret is not None else new_secret()
    row = Platform(
        code=body.code,
        name=body.name,
        webhook_url=body.webhook_url,
        webhook_secret=body.webhook_secret or generated,
        webhook_enabled=body.webhook_enabled,
        created_at=now,
        updated_at=now,
    )
    _check_webhook(row, runtime.settings.webhook_allow_hosts)
    try:
        with runtime.session() as session:
            session.add(row)
            session.flush()
            out = public(row)
    except IntegrityError as exc:
        raise ConflictError(f"platform {body.code!r} already exists", field="code") from exc
    return PlatformWithSecret(**out.model_dump(), webhook_secret=generated)


def update_platform(runtime: Runtime, code: str, body: PlatformUpdate) -> PlatformPublic:
    given = body.model_fields_set
    with runtime.session() as session:
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
            row.webhook_secret = body.webhook_secret
        _check_webhook(row, runtime.settings.webhook_allow_hosts)
        row.updated_at = datetime.now(UTC)
        session.flush()
        return public(row)


def rotate_secret(runtime: Runtime, code: str) -> PlatformWithSecret:
    """A new generated secret, shown once; the old one stops signing at once."""
    secret = new_secret()
    with runtime.session() as session:
        row = platform_by_code(session, code)
        row.webhook_secret = secret
        row.updated_at = datetime.now(UTC)
        session.flush()
        out = public(row)
    return PlatformWithSecret(**out.model_dump(), webhook_secret=secret)


def get_platform(runtime: Runtime, code: str) -> PlatformPublic:
    with runtime.session() as session:
        return public(platform_by_code(session, code))


def list_platforms(runtime: Runtime, *, limit: int, cursor: str | None) -> PlatformPage:
    """Newest first; ``cursor`` continues after the last item of the previous page."""
    query = select(Platform).order_by(Platform.id.desc()).limit(limit + 1)
    if cursor:
        query = query.where(Platform.id < decode_cursor(cursor))
    with runtime.session() as session:
        rows = list(session.execute(query).scalars())
        items = [public(r) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return PlatformPage(items=items, next_cursor=next_cursor)
