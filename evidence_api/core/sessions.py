"""Console sessions: the cookie a logged-in person's browser presents, and its CSRF token.

A session cookie authenticates API routes too (the console's uploads and captures call
the API from the page), as the user's own ``api_token`` row of kind ``user``; a
state-changing request authenticated by the cookie must carry the session's CSRF token
in ``X-CSRF-Token`` (API) or the ``csrf_token`` form field (console forms), else 403.
A bearer token, when present, wins and needs no CSRF token.

Implemented by the accounts issue (issue 15); see docs/accounts.md.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal, is_expired, principal_of
from evidence_api.core.config import Settings
from evidence_api.core.models import ApiToken, AuditEvent, User, UserSession

#: The session cookie (HttpOnly, SameSite=Lax, Path=/, Secure over https).
COOKIE = "ea_session"
#: Where API requests put the CSRF token.
CSRF_HEADER = "X-CSRF-Token"
#: Where console forms put it.
CSRF_FIELD = "csrf_token"
#: Methods that change state (need the CSRF token when the cookie authenticates).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: ``last_seen_at`` is written at most this often (the idle timeout's resolution).
TOUCH_EVERY = timedelta(seconds=60)
#: The longest cookie value looked up (``secrets.token_urlsafe(32)`` is 43 characters).
MAX_COOKIE = 128


def hash_cookie(cookie: str) -> str:
    """What ``user_session.token_hash`` keeps of a cookie value (SHA-256, hex)."""
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    """A live session and the person behind it."""

    session_id: int
    user_id: int
    username: str
    display_name: str
    unit: str | None
    role: str
    platform: str | None
    csrf_token: str
    #: The user's own token row: what log entries, histories and foreign keys name.
    principal: Principal


def resolve(session: Session, cookie: str, settings: Settings, now: datetime) -> SessionInfo | None:
    """The live session whose cookie is ``cookie``, or None (unknown, revoked, past its
    lifetime or idle timeout, user disabled or its token revoked). Touches
    ``last_seen_at`` at most once a minute."""
    if not cookie or len(cookie) > MAX_COOKIE:
        return None
    found = session.execute(
        select(UserSession, User, ApiToken)
        .join(User, User.id == UserSession.user_id)
        .join(ApiToken, ApiToken.id == User.token_id)
        .where(UserSession.token_hash == hash_cookie(cookie))
    ).first()
    if found is None:
        return None
    row, user, token = found
    idle = timedelta(seconds=settings.session_idle_timeout)
    if (
        row.revoked_at is not None
        or row.expires_at <= now
        or row.last_seen_at + idle <= now
        or user.disabled_at is not None
        or token.revoked_at is not None
        or is_expired(token, now)
    ):
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.flush()
    return SessionInfo(
        session_id=row.id,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        unit=user.unit,
        role=token.role,
        platform=token.platform,
        csrf_token=row.csrf_token,
        principal=principal_of(session, token),
    )


class TokenUse:
    """When a bearer token's use is written down, per process: ``api_token.last_used_at``
    at most once a minute, an audit event ``token_used`` at most once an hour.

    The check is a dictionary lookup under a lock; the write, when due, is one UPDATE
    (and once an hour one INSERT) in the transaction that looked the token up."""

    TOUCH = 60.0
    AUDIT = 3600.0
    MAX_TOKENS = 100_000

    def __init__(self) -> None:
        self._touched: dict[int, float] = {}
        self._audited: dict[int, float] = {}
        self._lock = threading.Lock()

    def due(self, token_id: int) -> tuple[bool, bool]:
        """``(touch, audit)``: what to write for this use (and note it as written)."""
        now = time.monotonic()
        with self._lock:
            touch = now - self._touched.get(token_id, -self.TOUCH) >= self.TOUCH
            audit = now - self._audited.get(token_id, -self.AUDIT) >= self.AUDIT
            if touch or audit:
                if len(self._touched) > self.MAX_TOKENS:  # bounded: forget, write again
                    self._touched.clear()
                    self._audited.clear()
                if touch:
                    self._touched[token_id] = now
                if audit:
                    self._audited[token_id] = now
            return touch, audit

    def forget(self) -> None:
        with self._lock:
            self._touched.clear()
            self._audited.clear()


#: This process's throttle (the guard consults it on every bearer request).
TOKEN_USE = TokenUse()


def note_token_use(
    session: Session,
    principal: Principal,
    *,
    client: str | None,
    now: datetime,
    touch: bool,
    audit: bool,
) -> None:
    """Write ``last_used_at`` (``touch``) and a ``token_used`` audit event (``audit``), as
    :meth:`TokenUse.due` decided."""
    if touch:
        session.execute(
            update(ApiToken).where(ApiToken.id == principal.token_id).values(last_used_at=now)
        )
    if audit:
        session.add(
            AuditEvent(
                at=now,
                kind="token_used",
                actor=principal.pseudonym,
                subject=principal.pseudonym,
                client=client[:64] if client else None,
                detail=f"role {principal.role}",
            )
        )
