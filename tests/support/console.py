"""Console users for tests: create one through the accounts service, log a TestClient in
through the real login form (login CSRF cookie and all)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi.testclient import TestClient

from evidence_api.accounts import service
from tests.support.api import ensure_example_platform

#: Every test user's password unless a test picks another (meets the policy).
PASSWORD = "correct horse battery"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


def make_user(
    runtime: Any,
    role: str,
    *,
    username: str | None = None,
    password: str = PASSWORD,
    platform: str | None = None,
    display_name: str | None = None,
    unit: str | None = None,
) -> tuple[str, str]:
    """A committed user of ``role`` (platform users default to ``example-mall``, which is
    registered if missing); returns ``(username, password)``."""
    username = username or f"{role}-{secrets.token_hex(4)}"
    if role == "platform" and platform is None:
        platform = "example-mall"
    with runtime.session() as session:
        if platform == "example-mall":
            ensure_example_platform(session)
            session.flush()
        service.create_user(
            session,
            username=username,
            password=password,
            display_name=display_name or f"测试{role} {username}",
            role=role,
            unit=unit,
            platform=platform,
            actor="cli",
        )
    return username, password


def login_csrf(client: TestClient, next_url: str | None = None) -> str:
    """GET the login page; the hidden login-CSRF value (its cookie is now in the client)."""
    page = client.get("/console/login", params={"next": next_url} if next_url else None)
    assert page.status_code == 200, page.text
    found = _LOGIN_CSRF.search(page.text)
    assert found, "no login_csrf field on the login page"
    return found.group(1)


def csrf_of(html: str) -> str:
    """The session's CSRF token from a console page's ``<meta name="csrf-token">``."""
    found = _META.search(html)
    assert found, "no csrf-token meta on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str, totp: str | None = None) -> str:
    """Log ``client`` in through the form (it keeps the ``ea_session`` cookie); returns
    the session's CSRF token (read from the account page)."""
    form = {"login_csrf": login_csrf(client), "username": username, "password": password}
    if totp is not None:
        form["totp"] = totp
    answer = client.post("/console/login", data=form, follow_redirects=False)
    assert answer.status_code == 303, (
        f"login of {username} failed: {answer.status_code} {answer.text[:500]}"
    )
    page = client.get("/console/account")
    assert page.status_code == 200, page.text[:500]
    return csrf_of(page.text)
