"""Console sessions: the cookie a logged-in person's browser presents, and its CSRF token.

A session cookie authenticates API routes too (the console's uploads and captures call
the API from the page), as the user's own ``api_token`` row of kind ``user``; a
state-changing request authenticated by the cookie must carry the session's CSRF token
in ``X-CSRF-Token`` (API) or the ``csrf_token`` form field (console forms), else 403.
A bearer token, when present, wins and needs no CSRF token.

Implemented by the accounts issue (issue 15); see docs/accounts.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.config import Settings

#: The session cookie (HttpOnly, SameSite=Lax, Path=/, Secure over https).
COOKIE = "ea_session"
#: Where API requests put the CSRF token.
CSRF_HEADER = "X-CSRF-Token"
#: Where console forms put it.
CSRF_FIELD = "csrf_token"
#: Methods that change state (need the CSRF token when the cookie authenticates).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
    raise NotImplementedError  # issue 15: accounts helper
