"""Users: create, list, disable, unlock, reset; log in and out; change password; TOTP.

Every function takes an open SQLAlchemy session and flushes (the caller commits), and
raises :class:`~evidence_api.core.errors.ApiError` subclasses with ``field`` set where
one form field is at fault (the console shows the reason beside it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from evidence_api.core.config import Settings
from evidence_api.core.models import User, UserSession


@dataclass(frozen=True)
class LoginResult:
    """A new session: the cookie value (shown to the browser once, stored hashed)."""

    user: User
    row: UserSession
    cookie: str


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str,
    role: str,
    unit: str | None = None,
    platform: str | None = None,
    actor: str = "cli",
    client: str | None = None,
) -> User:
    """A new user and its own ``api_token`` row of kind ``user``; audit ``user_created``."""
    raise NotImplementedError  # issue 15: accounts helper


def list_users(session: Session) -> list[User]:
    raise NotImplementedError  # issue 15: accounts helper


def get_user(session: Session, user_id: int) -> User:
    """The user, or NotFoundError."""
    raise NotImplementedError  # issue 15: accounts helper


def set_disabled(session: Session, user_id: int, disabled: bool, *, actor: str) -> User:
    """Disable (ends every session, refuses logins) or enable a user."""
    raise NotImplementedError  # issue 15: accounts helper


def unlock(session: Session, user_id: int, *, actor: str) -> User:
    raise NotImplementedError  # issue 15: accounts helper


def reset_password(session: Session, user_id: int, password: str, *, actor: str) -> User:
    """An administrator sets a new password (ends the user's sessions)."""
    raise NotImplementedError  # issue 15: accounts helper


def login(
    session: Session,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    client: str | None,
    user_agent: str | None,
    settings: Settings,
    now: datetime,
) -> LoginResult:
    """Check the password (and code), count failures, lock after the limit; a new
    session every time (never an old id: no fixation)."""
    raise NotImplementedError  # issue 15: accounts helper


def logout(session: Session, cookie: str, *, client: str | None) -> None:
    raise NotImplementedError  # issue 15: accounts helper


def change_password(
    session: Session, user_id: int, old: str, new: str, *, client: str | None
) -> None:
    """Needs the old password; ends the user's other sessions."""
    raise NotImplementedError  # issue 15: accounts helper
