"""The console's frame: who is looking (the session cookie), pages in their language,
forms bounded and CSRF-checked, errors shown next to their field.

Every page module builds an ``APIRouter`` of HTML routes under ``/console`` and uses:

- :func:`viewer` — a dependency admitting a logged-in person of the given roles (no
  session: 303 to the login page; wrong role: 403 page);
- :func:`read_form` — the urlencoded body, bounded, with the CSRF field checked (403);
- :func:`render` — a template of ``templates/`` with ``viewer``, ``t`` (translate),
  ``csrf`` and the security headers;
- :class:`FormErrors` — a service's :class:`~evidence_api.core.errors.ApiError` turned
  into ``{field: reason}`` for the template's ``field_error`` macro;
- :func:`runtime_of`, :func:`in_session`, :func:`client_of` — the app's runtime, one
  transaction of it, and the client address audit events record.

:mod:`evidence_api.console.forms` and :mod:`evidence_api.console.listing` hold what forms
and list pages share.

Pages call the same service functions as the API routes, with ``viewer.principal``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.i18n import LANGS, translator
from evidence_api.core import sessions
from evidence_api.core.auth import Principal
from evidence_api.core.errors import (
    ApiError,
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from evidence_api.core.runtime import Runtime

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
#: The language cookie (``zh`` default, ``en``); ``?lang=en`` sets it.
LANG_COOKIE = "ea_lang"
#: Most fields one form may carry, and the longest value of one.
MAX_FORM_FIELDS = 200
#: Headers on every console page: nothing from elsewhere, no framing, no sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'self'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: Where each role lands after login (``/console``).
HOME = {
    "officer": "/console/evidence",
    "admin": "/console/evidence",
    "appraiser": "/console/evidence",
    "platform": "/console/platform/orders",
}


class LoginRequiredError(Exception):
    """No live session: the page sends the browser to the login form (then back)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbiddenError(Exception):
    """A logged-in person may not see or do this (wrong role, wrong CSRF token): 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    """The person looking at a page, in the language they chose."""

    info: sessions.SessionInfo
    lang: str

    @property
    def principal(self) -> Principal:
        return self.info.principal

    @property
    def role(self) -> str:
        return self.info.role

    @property
    def csrf_token(self) -> str:
        return self.info.csrf_token


def runtime_of(request: Request) -> Runtime:
    """The app's runtime (settings, database, archive, chain)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def in_session(request: Request, work: Callable[[Session], Any]) -> Any:
    """``work(session)`` in one transaction of the app's runtime (call it in a thread)."""
    with runtime_of(request).session() as session:
        return work(session)


def client_of(request: Request) -> str | None:
    """The client's address, as audit events record it."""
    return request.client.host if request.client else None


def lang_of(request: Request) -> str:
    """``?lang=`` if valid, else the language cookie, else ``zh``."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return wanted if wanted in LANGS else "zh"


def current_session(request: Request) -> sessions.SessionInfo | None:
    """The session the request's cookie names, or None (no cookie, ended, unknown)."""
    cookie = request.cookies.get(sessions.COOKIE)
    if not cookie or len(cookie) > 128:
        return None
    runtime = request.app.state.runtime
    with runtime.session() as session:
        return sessions.resolve(session, cookie, runtime.settings, datetime.now(UTC))


def viewer(*roles: str) -> Callable[[Request], Any]:
    """A dependency: the logged-in person, if their role is one of ``roles``."""

    async def dependency(request: Request) -> Viewer:
        info = await run_in_threadpool(current_session, request)
        if info is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequiredError(target)
        if info.role not in roles:
            raise PageForbiddenError(f"role {info.role!r} may not open this page")
        return Viewer(info, lang_of(request))

    dependency.roles = roles  # type: ignore[attr-defined]  # read by the page-access tests
    return dependency


async def read_form(request: Request, csrf_token: str | None) -> dict[str, str]:
    """The urlencoded form body, at most ``max_json_bytes``; with ``csrf_token`` given,
    its ``csrf_token`` field must equal it (else :class:`PageForbiddenError`, nothing done).
    A repeated field keeps its last value; :func:`read_form_lists` keeps them all."""
    return {key: values[-1] for key, values in (await read_form_lists(request, csrf_token)).items()}


async def read_form_lists(request: Request, csrf_token: str | None) -> dict[str, list[str]]:
    """:func:`read_form`, every value of a repeated field kept in order."""
    limit: int = request.app.state.runtime.settings.max_json_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLargeError(f"form of more than {limit} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(f"form of more than {limit} bytes")
    if body and kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaTypeError(
            f"a form must be application/x-www-form-urlencoded, not {kind!r}"
        )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"form: {exc}") from exc
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    if csrf_token is not None:
        sent = (fields.get(sessions.CSRF_FIELD) or [""])[-1]
        if not hmac.compare_digest(sent.encode(), csrf_token.encode()):
            raise PageForbiddenError("missing or wrong CSRF token; reload the page and try again")
    return fields


class FormErrors(dict[str, str]):
    """``{field: reason}`` for a form; ``""`` holds what concerns no one field."""

    @classmethod
    def of(cls, exc: ApiError) -> FormErrors:
        return cls({exc.field or "": exc.detail})


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["nav_for"] = nav_for
    env.globals["quote"] = quote
    return env


#: The navigation each role sees: (href, message key).
NAV: dict[str, tuple[tuple[str, str], ...]] = {
    "officer": (
        ("/console/evidence", "nav.evidence"),
        ("/console/captures/new", "nav.capture"),
        ("/console/upload", "nav.upload"),
        ("/console/entities", "nav.entities"),
        ("/console/cases", "nav.cases"),
        ("/console/takedowns", "nav.takedowns"),
        ("/console/monitors", "nav.monitors"),
        ("/console/alerts", "nav.alerts"),
        ("/console/clues", "nav.clues"),
        ("/console/spot-checks", "nav.spot_checks"),
        ("/console/complaints", "nav.complaints"),
        ("/console/odr", "nav.odr"),
        ("/console/serious-violators", "nav.serious_violators"),
        ("/console/credit-repairs", "nav.credit_repairs"),
        ("/console/stats", "nav.stats"),
    ),
    "appraiser": (("/console/evidence", "nav.evidence"),),
    "platform": (
        ("/console/platform/orders", "nav.platform_orders"),
        ("/console/platform/webhook", "nav.platform_webhook"),
        ("/console/platform/assists", "nav.platform_assists"),
        ("/console/platform/serious-violators", "nav.platform_violators"),
        ("/console/platform/odr", "nav.platform_odr"),
    ),
}
NAV["admin"] = NAV["officer"] + (
    ("/console/admin/users", "nav.admin_users"),
    ("/console/admin/tokens", "nav.admin_tokens"),
    ("/console/admin/platforms", "nav.admin_platforms"),
    ("/console/admin/status", "nav.admin_status"),
    ("/console/admin/trust", "nav.admin_trust"),
    ("/console/admin/audits", "nav.admin_audits"),
    ("/console/admin/units", "nav.admin_units"),
    ("/console/admin/credit-policy", "nav.admin_credit_policy"),
    ("/console/admin/leniency", "nav.admin_leniency"),
)


def nav_for(role: str) -> tuple[tuple[str, str], ...]:
    return NAV.get(role, ())


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    status: int = 200,
    *,
    lang: str | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` rendered for ``viewer`` (None: a page before login)."""
    lang = lang or (viewer.lang if viewer is not None else lang_of(request))
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            viewer=viewer,
            lang=lang,
            t=translator(lang),
            csrf=viewer.csrf_token if viewer is not None else None,
            path=request.url.path,
            portal_home=_portal_path(request),
            **context,
        )
    )
    response = HTMLResponse(
        html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


def _portal_path(request: Request) -> str | None:
    """Where this service mounts the verification portal (None: not served)."""
    runtime = getattr(request.app.state, "runtime", None)
    mount: str = runtime.settings.verifier_mount if runtime is not None else ""
    return mount.rstrip("/") + "/" if mount else None


def redirect(url: str) -> Response:
    """303 to ``url`` (a page after a form); htmx follows ``HX-Redirect`` instead."""
    return RedirectResponse(url, status_code=303, headers={"HX-Redirect": url})


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """An error as a console page (what :mod:`evidence_api.app` answers under /console)."""
    info = None
    try:
        info = current_session(request)
    except Exception:  # an error page must render even with the database down
        info = None
    who = Viewer(info, lang_of(request)) if info is not None else None
    return render(request, who, "error.html", status=status, code=status, detail=detail)


def login_redirect(next_url: str) -> Response:
    """:func:`redirect` to the login form, which comes back to ``next_url`` after."""
    return redirect("/console/login?next=" + quote(next_url, safe=""))
