"""Administrator pages: users, tokens, platforms, chain/log status, storage and database health.

Admins only (the matching API routes and CLI commands are admin-only). Each form calls
the service function the CLI or the API calls — :mod:`evidence_api.accounts.service`
for users, :mod:`evidence_api.core.auth` for tokens, :mod:`evidence_api.registry.platforms`
for platforms — with the viewer's pseudonym as the actor, in one transaction; a refusal
is shown next to the field it concerns, with the service's own reason.

The status page reads only what the service already exposes elsewhere: the newest
checkpoint and the pending count (``/v1/log/*``, ``/metrics``), the newest anchoring
transaction and the trust roots (``evidence chain status``), and ``runtime.readiness()``
(``/readyz``). Secrets (a new token, a generated webhook secret) are shown once, on the
page that answers the form, and never again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from anchoring.schema import anchor_tx, log_checkpoint, log_entry
from evidence_api.accounts import audit
from evidence_api.accounts import service as accounts
from evidence_api.console.evidence_facts import chain_head
from evidence_api.console.forms import all_platforms, refill, reshow, trimmed, validated
from evidence_api.console.listing import offset_page, utc, when
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    client_of,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
    viewer,
)
from evidence_api.core.auth import ROLES, create_token, is_expired, list_tokens, parse_expiry
from evidence_api.core.auth import revoke_token as revoke
from evidence_api.core.errors import ApiError, NotFoundError
from evidence_api.core.models import User, UserSession
from evidence_api.core.routing import page_router
from evidence_api.core.runtime import Runtime
from evidence_api.registry import platforms
from evidence_api.registry.schemas import (
    PlatformCreate,
    PlatformPublic,
    PlatformUpdate,
    PlatformWithSecret,
)
from evidence_api.trust.roots import runtime_trust_roots
from verifier.chain.rpc import endpoint_name

router = page_router("/console")

Admin = Annotated[Viewer, Depends(viewer("admin"))]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Code = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Cursor = Annotated[str | None, Query(max_length=64)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
#: Rows of one list page.
PAGE = 50
#: The most pending entries counted (as ``/metrics`` counts them).
COUNT_CAP = 100_000
USER_FIELDS = ("username", "display_name", "unit", "role", "platform", "password")
TOKEN_FIELDS = ("name", "display_name", "unit", "role", "platform", "expires")
PLATFORM_FIELDS = ("code", "name", "webhook_url", "webhook_secret")


async def _row_action(
    request: Request,
    who: Viewer,
    row_id: int,
    act: Callable[[Session, Mapping[str, str]], Any],
    page: Callable[..., Response],
    done_url: str,
) -> Response:
    """A row's button: ``act(session, form)`` in one transaction, then ``done_url``; a
    refusal shows on ``page`` beside that row (with its status), a missing row as the
    error page (there is no row to show it beside)."""
    form = await read_form(request, who.csrf_token)
    try:
        await run_in_threadpool(in_session, request, lambda s: act(s, form))
    except ApiError as exc:
        if isinstance(exc, NotFoundError):
            raise
        failed = exc.status
        row_errors = {row_id: exc.detail}
        return await run_in_threadpool(
            lambda: page(request, who, row_errors=row_errors, status=failed)
        )
    return redirect(done_url)


# --- users -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    unit: str | None
    role: str
    platform: str | None
    totp: bool
    locked: bool
    locked_until: str
    disabled: bool
    last_login: str
    created: str


def _user_rows(session: Session, now: datetime) -> list[UserRow]:
    last = dict(
        session.execute(
            select(UserSession.user_id, func.max(UserSession.created_at)).group_by(
                UserSession.user_id
            )
        ).all()
    )

    def locked(user: User) -> bool:
        return user.locked_until is not None and utc(user.locked_until) > now

    return [
        UserRow(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            unit=user.unit,
            role=user.role,
            platform=user.platform,
            totp=user.totp_secret is not None,
            locked=locked(user),
            locked_until=when(user.locked_until) if locked(user) else "",
            disabled=user.disabled_at is not None,
            last_login=when(last.get(user.id)),
            created=when(user.created_at),
        )
        for user in accounts.list_users(session)
    ]


def _users_page(
    request: Request,
    who: Viewer,
    *,
    offset: int = 0,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    notice: str | None = None,
    row_errors: Mapping[int, str] | None = None,
    status: int = 200,
) -> Response:
    def work(session: Session) -> tuple[list[UserRow], list[PlatformPublic]]:
        rows = _user_rows(session, datetime.now(UTC))
        return rows, all_platforms(session)

    rows, known = in_session(request, work)
    shown, next_url = offset_page(rows, offset, PAGE, "/console/admin/users")
    return render(
        request,
        who,
        "admin/users.html",
        status=status,
        users=shown,
        total=len(rows),
        next_url=next_url,
        values=values or dict.fromkeys(USER_FIELDS, ""),
        errors=errors or FormErrors(),
        row_errors=row_errors or {},
        notice=notice,
        roles=ROLES,
        platforms=known,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, who: Admin, offset: Offset = 0, done: str | None = None) -> Response:
    """Every user with role, platform, TOTP, lock and last login; the create form."""
    notices = {"created", "disabled", "enabled", "unlocked", "password"}
    notice = done if done in notices else None
    return _users_page(request, who, offset=offset, notice=notice)


@router.post("/admin/users", response_class=HTMLResponse)
async def user_create(request: Request, who: Admin) -> Response:
    """``accounts.service.create_user`` (as ``evidence admin create-user``) with the form."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, *USER_FIELDS)
    password = form.get("password", "")
    if values["role"] != "platform":
        values["platform"] = None

    def work(session: Session) -> None:
        accounts.create_user(
            session,
            username=values["username"] or "",
            password=password,
            display_name=values["display_name"] or "",
            role=values["role"] or "",
            unit=values["unit"],
            platform=values["platform"],
            actor=who.principal.pseudonym,
            client=client_of(request),
        )

    try:
        await run_in_threadpool(in_session, request, work)
    except ApiError as exc:
        return await reshow(_users_page, exc, request, who, values=refill(values, "password"))
    return redirect("/console/admin/users?done=created")


async def _user_action(
    request: Request,
    who: Admin,
    user_id: int,
    act: Callable[[Session, Mapping[str, str]], Any],
    done: str,
) -> Response:
    done_url = f"/console/admin/users?done={done}#user-{user_id}"
    return await _row_action(request, who, user_id, act, _users_page, done_url)


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse)
async def user_disable(request: Request, who: Admin, user_id: UserId) -> Response:
    """Disable: every session ends, logins are refused."""
    actor = who.principal.pseudonym
    return await _user_action(
        request,
        who,
        user_id,
        lambda s, _: accounts.set_disabled(s, user_id, True, actor=actor),
        "disabled",
    )


@router.post("/admin/users/{user_id}/enable", response_class=HTMLResponse)
async def user_enable(request: Request, who: Admin, user_id: UserId) -> Response:
    actor = who.principal.pseudonym
    return await _user_action(
        request,
        who,
        user_id,
        lambda s, _: accounts.set_disabled(s, user_id, False, actor=actor),
        "enabled",
    )


@router.post("/admin/users/{user_id}/unlock", response_class=HTMLResponse)
async def user_unlock(request: Request, who: Admin, user_id: UserId) -> Response:
    actor = who.principal.pseudonym
    return await _user_action(
        request, who, user_id, lambda s, _: accounts.unlock(s, user_id, actor=actor), "unlocked"
    )


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
async def user_reset_password(request: Request, who: Admin, user_id: UserId) -> Response:
    """An administrator sets a new password (the user's sessions end)."""
    actor = who.principal.pseudonym
    return await _user_action(
        request,
        who,
        user_id,
        lambda s, form: accounts.reset_password(s, user_id, form.get("password", ""), actor=actor),
        "password",
    )


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    display_name: str | None
    unit: str | None
    role: str
    platform: str | None
    kind: str
    created: str
    expires: str
    expired: bool
    revoked: str
    last_used: str


def _token_rows(session: Session) -> list[TokenRow]:
    now = datetime.now(UTC)
    return [
        TokenRow(
            id=row.id,
            name=row.name,
            display_name=row.display_name,
            unit=row.unit,
            role=row.role,
            platform=row.platform,
            kind=row.kind,
            created=when(row.created_at),
            expires=when(row.expires_at),
            expired=is_expired(row, now),
            revoked=when(row.revoked_at),
            last_used=when(row.last_used_at),
        )
        for row in reversed(list_tokens(session))  # newest first
    ]


def _tokens_page(
    request: Request,
    who: Viewer,
    *,
    offset: int = 0,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    created: tuple[TokenRow, str] | None = None,
    notice: str | None = None,
    row_errors: Mapping[int, str] | None = None,
    status: int = 200,
) -> Response:
    def work(session: Session) -> tuple[list[TokenRow], list[PlatformPublic]]:
        return _token_rows(session), all_platforms(session)

    rows, known = in_session(request, work)
    shown, next_url = offset_page(rows, offset, PAGE, "/console/admin/tokens")
    return render(
        request,
        who,
        "admin/tokens.html",
        status=status,
        tokens=shown,
        total=len(rows),
        next_url=next_url,
        values=values or dict.fromkeys(TOKEN_FIELDS, ""),
        errors=errors or FormErrors(),
        row_errors=row_errors or {},
        created=created,
        notice=notice,
        roles=ROLES,
        platforms=known,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/tokens", response_class=HTMLResponse)
def tokens(request: Request, who: Admin, offset: Offset = 0, done: str | None = None) -> Response:
    """Every token (never its secret), newest first; the create form."""
    return _tokens_page(
        request, who, offset=offset, notice="revoked" if done == "revoked" else None
    )


@router.post("/admin/tokens", response_class=HTMLResponse)
async def token_create(request: Request, who: Admin) -> Response:
    """``core.auth.create_token`` (as ``evidence admin create-token``); the secret is
    on this answer only."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, *TOKEN_FIELDS)
    if values["role"] != "platform":
        values["platform"] = None
    actor = who.principal.pseudonym

    def work(session: Session) -> tuple[TokenRow, str]:
        now = datetime.now(UTC)
        expires_at = parse_expiry(values["expires"], now) if values["expires"] else None
        row, plaintext = create_token(
            session,
            role=values["role"] or "",
            name=values["name"] or "",
            platform=values["platform"],
            expires_at=expires_at,
            display_name=values["display_name"],
            unit=values["unit"],
        )
        audit.record(
            session,
            "token_created",
            actor=actor,
            subject=f"token-{row.id}",
            client=client_of(request),
            detail=f"{row.name} ({row.role})",
        )
        shown = next(r for r in _token_rows(session) if r.id == row.id)
        return shown, plaintext

    try:
        created = await run_in_threadpool(in_session, request, work)
    except ApiError as exc:
        return await reshow(_tokens_page, exc, request, who, values=refill(values))
    return await run_in_threadpool(lambda: _tokens_page(request, who, created=created, status=201))


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
async def token_revoke(request: Request, who: Admin, token_id: TokenId) -> Response:
    """``core.auth.revoke_token``, audited as ``POST /v1/tokens/{id}/revoke`` does: the
    token is refused from its next request on (a user's identity: their sessions end)."""
    actor = who.principal.pseudonym

    def work(session: Session, _: Mapping[str, str]) -> None:
        row = revoke(session, token_id)
        audit.record(
            session,
            "token_revoked",
            actor=actor,
            subject=f"token-{row.id}",
            client=client_of(request),
            detail=row.name,
        )

    done_url = f"/console/admin/tokens?done=revoked#token-{token_id}"
    return await _row_action(request, who, token_id, work, _tokens_page, done_url)


# --- platforms ---------------------------------------------------------------------------


def _platforms_page(
    request: Request,
    who: Viewer,
    *,
    cursor: str | None = None,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    created: PlatformWithSecret | None = None,
    status: int = 200,
) -> Response:
    found = in_session(request, lambda s: platforms.list_platforms(s, limit=PAGE, cursor=cursor))
    return render(
        request,
        who,
        "admin/platforms.html",
        status=status,
        items=found.items,
        next_url=(
            f"/console/admin/platforms?cursor={found.next_cursor}" if found.next_cursor else None
        ),
        values=values or {**dict.fromkeys(PLATFORM_FIELDS, ""), "webhook_enabled": False},
        errors=errors or FormErrors(),
        created=created,
        when=when,
    )


@router.get("/admin/platforms", response_class=HTMLResponse)
def platform_list(request: Request, who: Admin, cursor: Cursor = None) -> Response:
    """The registered platforms (newest first) and the register form."""
    return _platforms_page(request, who, cursor=cursor)


@router.post("/admin/platforms", response_class=HTMLResponse)
async def platform_create(request: Request, who: Admin) -> Response:
    """``POST /v1/platforms``'s service function; a generated secret is shown once."""
    form = await read_form(request, who.csrf_token)
    values: dict[str, Any] = trimmed(form, *PLATFORM_FIELDS)
    values["webhook_enabled"] = form.get("webhook_enabled") == "on"
    runtime = runtime_of(request)
    try:
        body = validated(PlatformCreate, {k: v for k, v in values.items() if v is not None})
        created = await run_in_threadpool(
            in_session, request, lambda s: platforms.create_platform(s, runtime.settings, body)
        )
    except ApiError as exc:
        shown = refill(values, "webhook_secret")
        return await reshow(_platforms_page, exc, request, who, values=shown)
    return await run_in_threadpool(
        lambda: _platforms_page(request, who, created=created, status=201)
    )


def _platform_page(
    request: Request,
    who: Viewer,
    code: str,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    secret: str | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    platform: PlatformPublic = in_session(request, lambda s: platforms.get_platform(s, code))
    if values is None:
        values = {
            "name": platform.name,
            "webhook_url": platform.webhook_url or "",
            "webhook_enabled": platform.webhook_enabled,
        }
    return render(
        request,
        who,
        "admin/platform.html",
        status=status,
        platform=platform,
        values=values,
        errors=errors or FormErrors(),
        secret=secret,
        saved=saved,
        when=when,
    )


@router.get("/admin/platforms/{code}", response_class=HTMLResponse)
def platform_edit(request: Request, who: Admin, code: Code, saved: str | None = None) -> Response:
    return _platform_page(request, who, code, saved=saved == "1")


@router.post("/admin/platforms/{code}", response_class=HTMLResponse)
async def platform_update(request: Request, who: Admin, code: Code) -> Response:
    """``PATCH /v1/platforms/{code}``'s service function: name and webhook settings; an
    empty webhook URL removes it, an empty secret field keeps the secret."""
    form = await read_form(request, who.csrf_token)
    values: dict[str, Any] = trimmed(form, "name", "webhook_url", "webhook_secret")
    values["webhook_enabled"] = form.get("webhook_enabled") == "on"
    runtime = runtime_of(request)
    patch = {k: v for k, v in values.items() if not (k == "webhook_secret" and v is None)}
    try:
        body = validated(PlatformUpdate, patch)
        await run_in_threadpool(
            in_session,
            request,
            lambda s: platforms.update_platform(s, runtime.settings, code, body),
        )
    except ApiError as exc:
        if isinstance(exc, NotFoundError):
            raise
        shown = refill(values, "webhook_secret")
        return await reshow(_platform_page, exc, request, who, code, values=shown)
    return redirect(f"/console/admin/platforms/{code}?saved=1")


@router.post("/admin/platforms/{code}/secret", response_class=HTMLResponse)
async def platform_rotate(request: Request, who: Admin, code: Code) -> Response:
    """``POST /v1/platforms/{code}/webhook-secret``: a new secret, shown on this answer only."""
    await read_form(request, who.csrf_token)
    runtime = runtime_of(request)
    rotated: PlatformWithSecret = await run_in_threadpool(
        in_session, request, lambda s: platforms.rotate_secret(s, runtime.settings, code)
    )
    return await run_in_threadpool(
        lambda: _platform_page(request, who, code, secret=rotated.webhook_secret)
    )


# --- status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: str
    created: str


@dataclass(frozen=True)
class Anchor:
    size: int
    state: str
    tx_hash: str
    block_number: int | None
    submitted: str
    updated: str
    confirmations: int | None


@dataclass(frozen=True)
class SystemStatus:
    checkpoint: Checkpoint | None
    pending: int
    pending_capped: bool
    anchor: Anchor | None
    chain_mode: str
    rpc_endpoint: str | None
    chain_id: int | None
    contract: str | None
    log_id: str | None
    log_key_id: str | None
    required_confirmations: int
    checks: dict[str, str]


def system_status(runtime: Runtime) -> SystemStatus:
    """The log, anchoring and health facts the status page shows (read only)."""
    with runtime.engine.connect() as conn:
        newest = conn.execute(
            select(log_checkpoint.c.size, log_checkpoint.c.root, log_checkpoint.c.created_at)
            .order_by(log_checkpoint.c.size.desc())
            .limit(1)
        ).first()
        pending_rows = select(log_entry.c.seq).where(log_entry.c.leaf_index.is_(None))
        pending = int(
            conn.execute(
                select(func.count()).select_from(pending_rows.limit(COUNT_CAP).subquery())
            ).scalar_one()
        )
        last = conn.execute(select(anchor_tx).order_by(anchor_tx.c.id.desc()).limit(1)).first()
        conn.rollback()
    roots = runtime_trust_roots(runtime)
    anchor = None
    if last is not None:
        head = chain_head(runtime) if last.block_number is not None else None
        anchor = Anchor(
            size=int(last.size),
            state=str(last.state),
            tx_hash=str(last.tx_hash),
            block_number=last.block_number,
            submitted=when(last.submitted_at),
            updated=when(last.updated_at),
            confirmations=(
                max(0, head - int(last.block_number) + 1)
                if head is not None and last.block_number is not None
                else None
            ),
        )
    return SystemStatus(
        checkpoint=(
            Checkpoint(int(newest.size), bytes(newest.root).hex(), when(newest.created_at))
            if newest is not None
            else None
        ),
        pending=pending,
        pending_capped=pending >= COUNT_CAP,
        anchor=anchor,
        chain_mode=runtime.settings.chain,
        rpc_endpoint=endpoint_name(roots.rpc_url) if roots.rpc_url else None,
        chain_id=roots.chain_id,
        contract=roots.contract,
        log_id=roots.log_id,
        log_key_id=roots.key_id,
        required_confirmations=runtime.settings.confirmations,
        checks=runtime.readiness(),
    )


@router.get("/admin/status", response_class=HTMLResponse)
def status(request: Request, who: Admin) -> Response:
    """The newest checkpoint, the last anchor and its confirmations, the chain's trust
    roots, pending entries, and each readiness check (database, storage, chain, ...)."""
    facts = system_status(runtime_of(request))
    return render(request, who, "admin/status.html", status=200, facts=facts)
