"""Bearer tokens: random, shown once, stored only as SHA-256; one role each.

Roles: ``admin``, ``officer``, ``appraiser``, ``platform`` (bound to one platform).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.errors import InvalidInputError, UnauthorizedError
from evidence_api.models import ApiToken

Role = Literal["admin", "officer", "appraiser", "platform"]
ROLES: tuple[str, ...] = get_args(Role)
TOKEN_PREFIX = "ea_"  # noqa: S105 - a prefix, not a secret
_TOKEN_SHAPE = re.compile(r"ea_[A-Za-z0-9_-]{43}")
#: What a platform code may be (the platform registry's key; tokens are bound to it).
PLATFORM_CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_PLATFORM_CODE = re.compile(PLATFORM_CODE)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id (a pseudonym in log entries), name and role."""

    token_id: int
    name: str
    role: str
    platform: str | None

    @property
    def pseudonym(self) -> str:
        return f"token-{self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_token_request(role: str, name: str, platform: str | None) -> None:
    """Refuse a bad role, name or platform binding (``InvalidInputError``), touching nothing."""
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}", field="role")
    if not 1 <= len(name) <= 128:
        raise InvalidInputError("name must be 1..128 characters", field="name")
    if role == "platform":
        if platform is None or not _PLATFORM_CODE.fullmatch(platform):
            raise InvalidInputError(
                "a platform token needs --platform CODE (lowercase letters, digits, - or _)",
                field="platform",
            )
    elif platform is not None:
        raise InvalidInputError("only platform tokens are bound to a platform", field="platform")


def create_token(
    session: Session, *, role: str, name: str, platform: str | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext, which is never stored."""
    check_token_request(role, name, platform)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        role=role,
        platform=platform,
        token_hash=hash_token(plaintext),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row, plaintext


def authenticate(session: Session, authorization: str | None) -> Principal:
    """Resolve an ``Authorization: Bearer ...`` header, or raise 401."""
    if not authorization:
        raise UnauthorizedError("missing bearer token (Authorization: Bearer <token>)")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("authorization must be 'Bearer <token>'")
    if not _TOKEN_SHAPE.fullmatch(token):
        raise UnauthorizedError("invalid or revoked token")
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise UnauthorizedError("invalid or revoked token")
    return Principal(row.id, row.name, row.role, row.platform)
