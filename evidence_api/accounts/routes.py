"""The accounts API (admin): users, tokens and the audit log. The console's admin pages
call the same service functions.

Only administrators: who may log in, with which role, and who did what is theirs to
manage; every change is an audit event naming the administrator's token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from evidence_api.accounts import audit, service
from evidence_api.accounts.schemas import (
    AuditEventPublic,
    AuditPage,
    PasswordReset,
    TokenList,
    TokenPublic,
    UserCreate,
    UserList,
    UserPublic,
)
from evidence_api.core.auth import Principal, list_tokens, revoke_token
from evidence_api.core.deps import RuntimeDep, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses

router = APIRouter(prefix="/v1", tags=["accounts 用户与审计"], route_class=GuardedRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="user id")]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1, description="token id")]
READ = problem_responses(401, 403, 404, 422, 503)
WRITE = problem_responses(401, 403, 404, 409, 422, 503)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/users", response_model=UserList, responses=READ, summary="List users")
def list_users(runtime: RuntimeDep, _: Admin) -> UserList:
    """Every console user, oldest first: role, platform, unit, whether TOTP is on, lock and disable
    state. Never a password or its hash. Admins."""
    with runtime.session() as session:
        return UserList(items=[UserPublic.of(u) for u in service.list_users(session)])


@router.post(
    "/users",
    status_code=201,
    response_model=UserPublic,
    responses=WRITE,
    summary="Create a user (创建用户)",
)
def create_user(
    body: UserCreate, request: Request, runtime: RuntimeDep, admin: Admin
) -> UserPublic:
    """A person who logs in to the console; acts through its own token row."""
    with runtime.session() as session:
        user = service.create_user(
            session,
            username=body.username,
            password=body.password,
            display_name=body.display_name,
            role=body.role,
            unit=body.unit,
            platform=body.platform,
            actor=admin.pseudonym,
            client=_client(request),
        )
        return UserPublic.of(user)


@router.get("/users/{user_id}", response_model=UserPublic, responses=READ, summary="Read a user")
def get_user(user_id: UserId, runtime: RuntimeDep, _: Admin) -> UserPublic:
    """One console user as the list shows it; 404 when there is none. Admins."""
    with runtime.session() as session:
        return UserPublic.of(service.get_user(session, user_id))


@router.post(
    "/users/{user_id}/disable",
    response_model=UserPublic,
    responses=WRITE,
    summary="Disable a user (ends its sessions at once)",
)
def disable_user(user_id: UserId, runtime: RuntimeDep, admin: Admin) -> UserPublic:
    """Ends every session of the user at once and refuses their logins until enabled; audited as
    ``user_disabled``. Admins."""
    with runtime.session() as session:
        return UserPublic.of(service.set_disabled(session, user_id, True, actor=admin.pseudonym))


@router.post(
    "/users/{user_id}/enable", response_model=UserPublic, responses=WRITE, summary="Enable a user"
)
def enable_user(user_id: UserId, runtime: RuntimeDep, admin: Admin) -> UserPublic:
    """Lets a disabled user log in again (their old sessions stay ended); audited. Admins."""
    with runtime.session() as session:
        return UserPublic.of(service.set_disabled(session, user_id, False, actor=admin.pseudonym))


@router.post(
    "/users/{user_id}/unlock",
    response_model=UserPublic,
    responses=WRITE,
    summary="Unlock a user locked out by failed logins",
)
def unlock_user(user_id: UserId, runtime: RuntimeDep, admin: Admin) -> UserPublic:
    """Clears the failed-login count and the lockout that repeated failures set; audited. Admins."""
    with runtime.session() as session:
        return UserPublic.of(service.unlock(session, user_id, actor=admin.pseudonym))


@router.post(
    "/users/{user_id}/password",
    response_model=UserPublic,
    responses=WRITE,
    summary="Set a user's password (ends its sessions)",
)
def reset_password(
    user_id: UserId, body: PasswordReset, runtime: RuntimeDep, admin: Admin
) -> UserPublic:
    """An administrator sets a new password (checked against the password policy; stored only as an
    Argon2id hash); the user's sessions end. Audited. Admins."""
    with runtime.session() as session:
        user = service.reset_password(session, user_id, body.password, actor=admin.pseudonym)
        return UserPublic.of(user)


@router.get("/audit", response_model=AuditPage, responses=READ, summary="Read the audit log")
def read_audit(
    runtime: RuntimeDep,
    _: Admin,
    kind: Annotated[str | None, Query(min_length=1, max_length=32, examples=["login"])] = None,
    subject: Annotated[
        str | None, Query(min_length=1, max_length=128, examples=["user:zhangsan"])
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="an event id")] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
) -> AuditPage:
    """Newest first; ``next_before`` continues with older events."""
    with runtime.session() as session:
        rows = audit.list_events(
            session, kind=kind, subject=subject, before_id=before, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[AuditEventPublic.of(r) for r in rows],
        next_before=rows[-1].id if more and rows else None,
    )


@router.get("/tokens", response_model=TokenList, responses=READ, summary="List tokens")
def tokens(runtime: RuntimeDep, _: Admin) -> TokenList:
    """Every token and user identity, oldest first: never a secret (only hashes are kept)."""
    with runtime.session() as session:
        return TokenList(items=[TokenPublic.of(row) for row in list_tokens(session)])


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=TokenPublic,
    responses=WRITE,
    summary="Revoke a token (refused at once)",
)
def revoke(token_id: TokenId, request: Request, runtime: RuntimeDep, admin: Admin) -> TokenPublic:
    """Revoking a user's identity token also ends that user's console sessions."""
    with runtime.session() as session:
        row = revoke_token(session, token_id)
        audit.record(
            session,
            "token_revoked",
            actor=admin.pseudonym,
            subject=f"token-{row.id}",
            client=_client(request),
            detail=row.name,
        )
        return TokenPublic.of(row)
