"""Users: create, list, disable, unlock, reset; log in and out; change password; TOTP.

Every function takes an open SQLAlchemy session and flushes (the caller commits), and
raises :class:`~evidence_api.core.errors.ApiError` subclasses with ``field`` set where
one form field is at fault (the console shows the reason beside it).

:func:`login` is the one exception to "an error rolls everything back": a failed
attempt must still count, so it flushes the count and the audit event *before* raising
:class:`LoginFailedError`; callers commit anyway (:func:`attempt_login` does)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from evidence_api.accounts import audit, passwords, totp
from evidence_api.core import sessions
from evidence_api.core.auth import check_token_request, create_token
from evidence_api.core.config import Settings
from evidence_api.core.errors import (
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
)
from evidence_api.core.models import ApiToken, User, UserSession
from evidence_api.core.runtime import Runtime

USERNAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_USERNAME = re.compile(USERNAME)
#: The one answer to an unknown user, a wrong password and a disabled user alike.
WRONG = "wrong username or password"


class LoginFailedError(UnauthorizedError):
    """A refused login (401), with the form field to show it beside."""

    def __init__(self, detail: str, *, field: str | None = "password") -> None:
        super().__init__(detail)
        self.field = field


@dataclass(frozen=True)
class LoginResult:
    """A new session: the cookie value (shown to the browser once, stored hashed)."""

    user: User
    row: UserSession
    cookie: str


def subject_of(user: User) -> str:
    """How audit events name a user."""
    return f"user:{user.username}"


def own_actor(user: User) -> str:
    """How audit events name a user acting as themselves: their identity token."""
    return f"token-{user.token_id}"


def _record(
    session: Session,
    kind: str,
    user: User,
    *,
    actor: str | None,
    client: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> None:
    """One audit event about ``user`` (its subject named by :func:`subject_of`)."""
    audit.record(
        session, kind, actor=actor, subject=subject_of(user), client=client, detail=detail, at=at
    )


def _refused(session: Session, user: User, client: str | None, reason: str) -> None:
    """Audit a refused login of a known user (``login_failed``, no actor)."""
    _record(session, "login_failed", user, actor=None, client=client, detail=reason)


def check_username(username: str) -> None:
    """Refuse a malformed username (field ``username``)."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInputError(
            "username must be 1..64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            field="username",
        )


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
    check_username(username)
    unit = unit.strip() or None if unit is not None else None
    platform = platform.strip() or None if platform is not None else None
    token_name = f"user:{username}"
    check_token_request(role, token_name, platform, display_name=display_name, unit=unit)
    passwords.check_policy(password, username)
    if session.execute(select(User.id).where(User.username == username)).first() is not None:
        raise ConflictError(f"user {username!r} already exists", field="username")
    token, _ = create_token(  # the plaintext is dropped: nobody can present this token
        session,
        role=role,
        name=token_name,
        platform=platform,
        display_name=display_name,
        unit=unit,
        kind="user",
    )
    now = datetime.now(UTC)
    user = User(
        username=username,
        display_name=display_name.strip(),
        unit=token.unit,  # a unit code given resolves to its name (docs/supervision.md §1)
        unit_id=token.unit_id,
        role=role,
        platform=platform,
        token_id=token.id,
        password_hash=passwords.hash_password(password),
        failed_logins=0,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    detail = f"role {role}" + (f", platform {platform}" if platform else "")
    _record(session, "user_created", user, actor=actor, client=client, detail=detail, at=now)
    return user


def list_users(session: Session) -> list[User]:
    """Every user, oldest first."""
    return list(session.execute(select(User).order_by(User.id)).scalars())


def get_user(session: Session, user_id: int) -> User:
    """The user, or NotFoundError."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


def user_by_name(session: Session, username: str) -> User:
    """The user named ``username``, or NotFoundError."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def end_sessions(session: Session, user_id: int, *, keep: int | None = None) -> int:
    """Revoke the user's live sessions (all but ``keep``); how many ended."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = session.execute(query.values(revoked_at=datetime.now(UTC)))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def set_disabled(session: Session, user_id: int, disabled: bool, *, actor: str) -> User:
    """Disable (ends every session, refuses logins) or enable a user."""
    user = get_user(session, user_id)
    if disabled and actor == own_actor(user):
        raise ForbiddenError("you cannot disable yourself")
    if disabled:
        if user.disabled_at is None:
            user.disabled_at = datetime.now(UTC)
        end_sessions(session, user.id)
    else:
        user.disabled_at = None
    session.flush()
    _record(session, "user_disabled" if disabled else "user_enabled", user, actor=actor)
    return user


def unlock(session: Session, user_id: int, *, actor: str) -> User:
    """Clear a lockout and the failure count."""
    user = get_user(session, user_id)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    _record(session, "user_unlocked", user, actor=actor)
    return user


def reset_password(session: Session, user_id: int, password: str, *, actor: str) -> User:
    """An administrator sets a new password (ends the user's sessions)."""
    user = get_user(session, user_id)
    passwords.check_policy(password, user.username)
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = datetime.now(UTC)
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(session, user.id)
    session.flush()
    _record(session, "password_reset", user, actor=actor)
    return user


def _failed(
    session: Session,
    user: User,
    *,
    reason: str,
    client: str | None,
    settings: Settings,
    now: datetime,
) -> None:
    """Count a failure (atomically: parallel guesses each count) and lock at the limit."""
    count = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
    ).scalar_one()
    _refused(session, user, client, reason)
    if count >= settings.login_failure_limit:
        until = now + timedelta(seconds=settings.login_lockout)
        session.execute(
            update(User).where(User.id == user.id).values(failed_logins=0, locked_until=until)
        )
        detail = f"{count} failures; until {until.isoformat(timespec='seconds')}"
        _record(session, "locked", user, actor=None, client=client, detail=detail)
    session.flush()


def _locked_error(until: datetime) -> LoginFailedError:
    return LoginFailedError(
        "too many failed logins; try again after "
        f"{until.astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC",
        field=None,
    )


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
    session every time (never an old id: no fixation).

    Unknown user, wrong password and disabled user all get :data:`WRONG`, after the
    same Argon2 work; a locked user is told until when. On failure the count and audit
    event are flushed before :class:`LoginFailedError`: the caller must commit them."""
    username = username.strip().lower()
    user = None
    if _USERNAME.fullmatch(username) and len(password) <= passwords.MAX_LENGTH:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        passwords.verify_password(passwords.dummy_hash(), password)  # the same time taken
        audit.record(
            session,
            "login_failed",
            actor=None,
            subject=f"user:{username[:64]}",
            client=client,
            detail="unknown user",
        )
        raise LoginFailedError(WRONG)
    if user.locked_until is not None and user.locked_until > now:
        passwords.verify_password(passwords.dummy_hash(), password)
        _refused(session, user, client, "locked")
        raise _locked_error(user.locked_until)
    matches, rehash = passwords.verify_password(user.password_hash, password)
    if not matches:
        _failed(session, user, reason="wrong password", client=client, settings=settings, now=now)
        session.refresh(user)
        if user.locked_until is not None and user.locked_until > now:
            raise _locked_error(user.locked_until)
        raise LoginFailedError(WRONG)
    if user.disabled_at is not None:
        _refused(session, user, client, "disabled")
        raise LoginFailedError(WRONG)
    token = session.get(ApiToken, user.token_id)
    if token is None or token.revoked_at is not None:
        _refused(session, user, client, "token revoked")
        raise LoginFailedError(WRONG)
    if user.totp_secret is not None:
        if not totp_code or not totp_code.strip():
            raise LoginFailedError("enter the 6-digit code of your authenticator app", field="totp")
        secret = totp.unseal(settings, user.username, user.totp_secret)
        step = totp.accepted_step(secret, totp_code, user.totp_last_step, now)
        if step is None:
            _failed(session, user, reason="wrong code", client=client, settings=settings, now=now)
            raise LoginFailedError("wrong or already used code", field="totp")
        user.totp_last_step = step
    if rehash:
        user.password_hash = passwords.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    cookie = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        token_hash=sessions.hash_cookie(cookie),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_lifetime),
        client=client[:64] if client else None,
        user_agent=user_agent[:256] if user_agent else None,
    )
    session.add(row)
    session.flush()
    _record(
        session,
        "login",
        user,
        actor=own_actor(user),
        client=client,
        detail=f"session {row.id}",
        at=now,
    )
    return LoginResult(user=user, row=row, cookie=cookie)


def attempt_login(
    runtime: Runtime,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    client: str | None,
    user_agent: str | None,
) -> tuple[str, str]:
    """:func:`login` in its own transaction, committed whether it succeeds or not (a
    failure must count). Returns ``(cookie, role)``; raises what :func:`login` raises."""
    refused: ApiError | None = None
    with runtime.session() as session:
        try:
            result = login(
                session,
                username=username,
                password=password,
                totp_code=totp_code,
                client=client,
                user_agent=user_agent,
                settings=runtime.settings,
                now=datetime.now(UTC),
            )
            answer = (result.cookie, result.user.role)
        except LoginFailedError as exc:
            refused = exc  # leave the block normally: the count and audit commit
    if refused is not None:
        raise refused
    return answer


def logout(session: Session, cookie: str, *, client: str | None) -> None:
    """End the session whose cookie is ``cookie`` (nothing if unknown or ended)."""
    if not cookie or len(cookie) > sessions.MAX_COOKIE:
        return
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == sessions.hash_cookie(cookie))
    ).first()
    if found is None:
        return
    row, user = found
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
        detail = f"session {row.id}"
        _record(session, "logout", user, actor=own_actor(user), client=client, detail=detail)


def change_password(
    session: Session,
    user_id: int,
    old: str,
    new: str,
    *,
    client: str | None,
    keep_session: int | None = None,
) -> None:
    """Needs the old password; ends the user's other sessions (all but ``keep_session``)."""
    user = get_user(session, user_id)
    matches, _ = passwords.verify_password(user.password_hash, old)
    if not matches:
        raise InvalidInputError("the current password is wrong", field="old_password")
    try:
        passwords.check_policy(new, user.username)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.detail, field="new_password") from exc
    if new == old:
        raise InvalidInputError(
            "the new password must differ from the current one", field="new_password"
        )
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = datetime.now(UTC)
    end_sessions(session, user.id, keep=keep_session)
    session.flush()
    _record(session, "password_changed", user, actor=own_actor(user), client=client)


def enable_totp(
    session: Session,
    user_id: int,
    secret: str,
    code: str,
    *,
    settings: Settings,
    now: datetime,
    client: str | None,
) -> None:
    """Turn on the second factor with ``secret``, proven by a current ``code``."""
    user = get_user(session, user_id)
    if not totp.is_secret(secret):
        raise InvalidInputError("the setup key is malformed; reload the page", field="code")
    step = totp.accepted_step(secret, code, None, now)
    if step is None:
        raise InvalidInputError("wrong code: enter the 6 digits the app shows now", field="code")
    user.totp_secret = totp.seal(settings, user.username, secret)
    user.totp_last_step = step
    session.flush()
    _record(session, "totp_enabled", user, actor=own_actor(user), client=client)


def disable_totp(session: Session, user_id: int, password: str, *, client: str | None) -> None:
    """Turn off the second factor; needs the password."""
    user = get_user(session, user_id)
    matches, _ = passwords.verify_password(user.password_hash, password)
    if not matches:
        raise InvalidInputError("the password is wrong", field="password")
    user.totp_secret = None
    user.totp_last_step = None
    session.flush()
    _record(session, "totp_disabled", user, actor=own_actor(user), client=client)
