"""Bearer tokens: random, shown once, stored only as SHA-256; one role each.

Roles: ``admin``, ``officer``, ``appraiser``, ``platform`` (bound to one platform).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from evidence_api.core.errors import InvalidInputError, NotFoundError, UnauthorizedError
from evidence_api.core.models import ApiToken

Role = Literal["admin", "officer", "appraiser", "platform"]
ROLES: tuple[str, ...] = get_args(Role)
#: The registry's platform table, read by name: core imports no feature package.
_PLATFORM = table("platform", column("id"), column("code"))
_UNIT = table("org_unit", column("id"), column("path"), column("code"), column("name"))
TOKEN_PREFIX = "ea_"  # noqa: S105 - a prefix, not a secret
_TOKEN_SHAPE = re.compile(r"ea_[A-Za-z0-9_-]{43}")
#: What a platform code may be (the platform registry's key; tokens are bound to it).
PLATFORM_CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_PLATFORM_CODE = re.compile(PLATFORM_CODE)
#: ``--expires`` as a duration: a count and a unit (days, hours, minutes).
_DURATION = re.compile(r"([1-9][0-9]{0,5})([dhm])")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
#: The longest lifetime ``--expires`` accepts (a token that outlives its holder's post
#: is a risk; one with no ``--expires`` at all never expires).
MAX_LIFETIME = timedelta(days=3660)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id (a pseudonym in log entries), name and role."""

    token_id: int
    name: str
    role: str
    platform: str | None
    #: The unit the holder acts in and its tree path (``/1/4/``); None: the whole tree.
    unit_id: int | None = None
    unit_path: str | None = None

    @property
    def pseudonym(self) -> str:
        return f"token-{self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_expiry(text: str, now: datetime) -> datetime:
    """``--expires``: a duration from ``now`` (``90d``, ``12h``, ``30m``) or an ISO 8601
    date or time (``2027-06-30``: the end of that day, UTC; a time without an offset is
    UTC). Refuses the past and more than :data:`MAX_LIFETIME` ahead."""
    text = text.strip()
    shape = _DURATION.fullmatch(text)
    if shape is not None:
        expires = now + int(shape.group(1)) * _UNITS[shape.group(2)]
    else:
        try:
            if len(text) == 10:  # a date alone: valid through that day (UTC)
                expires = datetime.combine(
                    date.fromisoformat(text) + timedelta(days=1), time(), tzinfo=UTC
                )
            else:
                expires = datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInputError(
                "expires must be a duration (90d, 12h, 30m) or an ISO 8601 date or time",
                field="expires",
            ) from exc
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
    if expires <= now:
        raise InvalidInputError("expires is in the past", field="expires")
    if expires - now > MAX_LIFETIME:
        raise InvalidInputError(
            f"expires is more than {MAX_LIFETIME.days} days ahead", field="expires"
        )
    return expires.astimezone(UTC)


def check_token_request(
    role: str,
    name: str,
    platform: str | None,
    *,
    display_name: str | None = None,
    unit: str | None = None,
) -> None:
    """Refuse a bad role, name or platform binding (``InvalidInputError``), touching nothing."""
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}", field="role")
    if not 1 <= len(name) <= 128:
        raise InvalidInputError("name must be 1..128 characters", field="name")
    if display_name is not None and not 1 <= len(display_name.strip()) <= 128:
        raise InvalidInputError("display name must be 1..128 characters", field="display_name")
    if unit is not None and not 1 <= len(unit.strip()) <= 256:
        raise InvalidInputError("unit must be 1..256 characters", field="unit")
    if role == "platform":
        if platform is None or not _PLATFORM_CODE.fullmatch(platform):
            raise InvalidInputError(
                "a platform token needs --platform CODE (lowercase letters, digits, - or _)",
                field="platform",
            )
    elif platform is not None:
        raise InvalidInputError("only platform tokens are bound to a platform", field="platform")


def create_token(
    session: Session,
    *,
    role: str,
    name: str,
    platform: str | None = None,
    expires_at: datetime | None = None,
    display_name: str | None = None,
    unit: str | None = None,
    kind: str = "api",
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext, which is never stored.

    ``kind`` ``user`` is a console user's identity (:mod:`evidence_api.accounts`): the
    caller throws the plaintext away, so nobody can present it as a bearer token.

    A platform token is bound to a platform of the registry: an unknown code is
    refused (a token for a platform nobody registered would see nothing, or the
    orders of whoever registers that code later)."""
    check_token_request(role, name, platform, display_name=display_name, unit=unit)
    if platform is not None and (
        session.execute(select(_PLATFORM.c.id).where(_PLATFORM.c.code == platform)).first() is None
    ):
        raise InvalidInputError(
            f"no platform {platform!r} in the registry; register it first "
            "(evidence admin create-platform)",
            field="platform",
        )
    unit_id, unit = unit_of(session, unit)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        role=role,
        platform=platform,
        token_hash=hash_token(plaintext),
        created_at=datetime.now(UTC),
        expires_at=expires_at,
        display_name=display_name.strip() if display_name else None,
        unit=unit,
        unit_id=unit_id,
        kind=kind,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def unit_of(session: Session, unit: str | None) -> tuple[int | None, str | None]:
    """A holder's unit as given at creation: the code of a unit of the organisation tree
    (then its id, and its name as the label), else a free-text label as before units
    existed (docs/supervision.md §1)."""
    label = unit.strip() if unit else None
    if not label:
        return None, None
    found = session.execute(select(_UNIT.c.id, _UNIT.c.name).where(_UNIT.c.code == label)).first()
    if found is None:
        return None, label
    return int(found[0]), str(found[1])


def is_expired(row: ApiToken, now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= now


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, oldest first (rows carry only the hash of the secret)."""
    return list(session.execute(select(ApiToken).order_by(ApiToken.id)).scalars())


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke token ``token_id`` now; revoking a revoked token keeps its first time."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
    return row


def holder(row: ApiToken) -> str:
    """How a token's holder is shown to people: display name and unit, else the name."""
    person = row.display_name or row.name
    return f"{person}（{row.unit}）" if row.unit else person


def holders(session: Session, pseudonyms: set[str]) -> dict[str, str]:
    """``token-<id>`` -> :func:`holder` for the pseudonyms given (unknown ones left out).

    Log entries carry only the pseudonym; names are resolved here, at display time."""
    ids = {int(p[6:]) for p in pseudonyms if p.startswith("token-") and p[6:].isdigit()}
    if not ids:
        return {}
    rows = session.execute(select(ApiToken).where(ApiToken.id.in_(ids))).scalars()
    return {f"token-{row.id}": holder(row) for row in rows}


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
    if is_expired(row, datetime.now(UTC)):
        raise UnauthorizedError("token expired")
    return principal_of(session, row)


def principal_of(session: Session, row: ApiToken) -> Principal:
    """The :class:`Principal` acting through token ``row``, with its unit's path."""
    path = None
    if row.unit_id is not None:
        path = session.execute(
            select(_UNIT.c.path).where(_UNIT.c.id == row.unit_id)
        ).scalar_one_or_none()
    return Principal(row.id, row.name, row.role, row.platform, row.unit_id, path)
