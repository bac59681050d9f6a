"""Login, logout, the account page (password change, TOTP).

The login form is protected against login CSRF (another site logging a browser in as
someone else) by a random ``ea_login`` cookie echoed in a hidden field. A successful
login always gets a new session cookie (any old one is revoked first: no fixation), and
goes back to ``next`` only if that is a path under ``/console`` (no open redirect).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.accounts import service, totp
from evidence_api.console.web import (
    HOME,
    FormErrors,
    PageForbiddenError,
    Viewer,
    client_of,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
    viewer,
)
from evidence_api.core import sessions
from evidence_api.core.auth import ROLES
from evidence_api.core.errors import ApiError, InvalidInputError
from evidence_api.core.routing import page_router

router = page_router("/console")

#: The login-CSRF cookie (HttpOnly, SameSite=Strict, only sent to the login form).
LOGIN_COOKIE = "ea_login"
LOGIN_PATH = "/console/login"
_NEXT = re.compile(r"/console(?:[/?#][\x21-\x7e]*)?")
#: Pages a login never returns to (they would loop or log straight out).
_NO_RETURN = ("/console/login", "/console/logout")

AnyViewer = Annotated[Viewer, Depends(viewer(*ROLES))]


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path under ``/console`` (printable ASCII, no ``//``, no
    backslash), else None: a login never sends the browser to another site."""
    if not value or len(value) > 2000 or not _NEXT.fullmatch(value):
        return None
    if "\\" in value or "//" in value or value.startswith(_NO_RETURN):
        return None
    return value


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or bool(runtime_of(request).settings.session_cookie_secure)


def _login_page(
    request: Request,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    username: str = "",
    next_url: str | None = None,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        None,
        "auth/login.html",
        status=status,
        errors=errors or FormErrors(),
        username=username,
        next_url=next_url or "",
        login_csrf=nonce,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        path=LOGIN_PATH,
        secure=_secure(request),
    )
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request, None)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = form.get("login_csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageForbiddenError(
            "the login form expired or came from elsewhere; reload the page and try again"
        )
    username = form.get("username", "")[:200]
    next_url = safe_next(form.get("next"))
    runtime = runtime_of(request)
    old = request.cookies.get(sessions.COOKIE)
    # One address trying many usernames is slowed like one presenting bad tokens (the
    # per-user lockout alone would let it try one password against every user).
    failures = request.app.state.auth_failures
    address = client_of(request) or "unknown"
    wait = failures.retry_after(address)
    if wait is not None:
        refusal = FormErrors({"": f"too many failed logins from this address; retry in {wait} s"})
        return _login_page(
            request, status=429, errors=refusal, username=username, next_url=next_url
        )
    try:
        cookie, role = await run_in_threadpool(
            service.attempt_login,
            runtime,
            username=username,
            password=form.get("password", ""),
            totp_code=form.get("totp") or None,
            client=client_of(request),
            user_agent=request.headers.get("user-agent"),
        )
    except ApiError as exc:
        if exc.status == 401:
            failures.failed(address)
        return _login_page(
            request,
            status=exc.status,
            errors=FormErrors.of(exc),
            username=username,
            next_url=next_url,
        )
    if old and old != cookie:  # whatever session the browser had ends here
        await run_in_threadpool(_logout, runtime, old, client_of(request))
    response = redirect(next_url or HOME.get(role, "/console/account"))
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    response.set_cookie(
        sessions.COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        path="/",
        secure=_secure(request),
        max_age=int(runtime.settings.session_lifetime),
    )
    return response


def _logout(runtime: Any, cookie: str, client: str | None) -> None:
    with runtime.session() as session:
        service.logout(session, cookie, client=client)


@router.post("/logout")
async def logout(request: Request, who: AnyViewer) -> Response:
    await read_form(request, who.csrf_token)
    cookie = request.cookies.get(sessions.COOKIE, "")
    await run_in_threadpool(_logout, runtime_of(request), cookie, client_of(request))
    response = redirect(LOGIN_PATH)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax")
    return response


# --- the account page: password change, TOTP ------------------------------------------


def _account_context(request: Request, who: Viewer, secret: str | None) -> dict[str, Any]:
    runtime = runtime_of(request)
    with runtime.session() as session:
        user = service.get_user(session, who.info.user_id)
        enabled = user.totp_secret is not None
        changed = user.password_changed_at
    context: dict[str, Any] = {"totp_enabled": enabled, "password_changed_at": changed}
    if not enabled:
        secret = secret if secret and totp.is_secret(secret) else totp.new_secret()
        uri = totp.provisioning_uri(secret, who.info.username)
        context.update(totp_secret=secret, totp_uri=uri, totp_qr=totp.qr_svg(uri))
    return context


async def _account_page(
    request: Request,
    who: Viewer,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form_name: str = "",
    notice: str | None = None,
    secret: str | None = None,
) -> HTMLResponse:
    context = await run_in_threadpool(_account_context, request, who, secret)
    return render(
        request,
        who,
        "auth/account.html",
        status=status,
        errors=errors or FormErrors(),
        form_name=form_name,
        notice=notice,
        **context,
    )


@router.get("/account")
async def account(request: Request, who: AnyViewer, done: str | None = None) -> Response:
    notices = {
        "password": "auth.account.password_done",
        "totp_on": "auth.totp.enabled_done",
        "totp_off": "auth.totp.disabled_done",
    }
    return await _account_page(request, who, notice=notices.get(done or ""))


async def _account_change(
    request: Request,
    who: Viewer,
    change: Callable[[Session], None],
    form_name: str,
    done: str,
    secret: str | None = None,
) -> Response:
    """``change(session)`` (an accounts service call) in one transaction, then the account
    page with ``done``'s notice; a refusal shows on the page beside ``form_name``'s field
    (with ``secret``, the TOTP setup key being entered, kept)."""
    try:
        await run_in_threadpool(in_session, request, change)
    except ApiError as exc:
        return await _account_page(
            request,
            who,
            status=exc.status,
            errors=FormErrors.of(exc),
            form_name=form_name,
            secret=secret,
        )
    return redirect(f"/console/account?done={done}")


@router.post("/account/password")
async def account_password(request: Request, who: AnyViewer) -> Response:
    form = await read_form(request, who.csrf_token)
    old, new = form.get("old_password", ""), form.get("new_password", "")

    def change(session: Session) -> None:
        if new != form.get("new_password2", ""):
            raise InvalidInputError("the two new passwords differ", field="new_password2")
        service.change_password(
            session,
            who.info.user_id,
            old,
            new,
            client=client_of(request),
            keep_session=who.info.session_id,
        )

    return await _account_change(request, who, change, "password", "password")


@router.post("/account/totp/enable")
async def totp_enable(request: Request, who: AnyViewer) -> Response:
    form = await read_form(request, who.csrf_token)
    secret = form.get("secret", "")
    settings = runtime_of(request).settings

    def enable(session: Session) -> None:
        service.enable_totp(
            session,
            who.info.user_id,
            secret,
            form.get("code", ""),
            settings=settings,
            now=datetime.now(UTC),
            client=client_of(request),
        )

    return await _account_change(request, who, enable, "totp", "totp_on", secret)


@router.post("/account/totp/disable")
async def totp_disable(request: Request, who: AnyViewer) -> Response:
    form = await read_form(request, who.csrf_token)

    def disable(session: Session) -> None:
        service.disable_totp(
            session, who.info.user_id, form.get("password", ""), client=client_of(request)
        )

    return await _account_change(request, who, disable, "totp", "totp_off")
