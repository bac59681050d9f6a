"""Console users for tests: create one through the accounts service, log a TestClient in
through the real login form (login CSRF cookie and all); the pieces every console test
module shares (a logged-in person, the error next to a field, the module's two-database
stack, a browser login)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from evidence_api.accounts import service
from evidence_api.core.config import Settings
from tests.support.api import (
    BACKENDS,
    Stack,
    backend_params,
    ensure_example_platform,
    fresh_postgres_database,
    open_backend,
    running_stack,
)

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


def log_in_as(stack: Stack, role: str, **user: Any) -> str:
    """Log the stack's own client in as a new user of ``role`` (its old cookies dropped);
    returns the session's CSRF token."""
    stack.client.cookies.clear()
    username, password = make_user(stack.runtime, role, **user)
    return login(stack.client, username, password)


class Person:
    """A logged-in console user: their own client (cookie) and CSRF token."""

    def __init__(
        self, stack: Stack, role: str, display_name: str, *, unit: str | None = None
    ) -> None:
        self.client = TestClient(stack.client.app)
        username, password = make_user(stack.runtime, role, display_name=display_name, unit=unit)
        self.csrf = login(self.client, username, password)
        self.display_name = display_name

    def get(self, url: str) -> Any:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, Any], *, csrf: bool = True) -> Any:
        """POST the form (with the session's CSRF token unless ``csrf`` is false); the
        answer itself, redirects not followed."""
        form = {**data, "csrf_token": self.csrf} if csrf else data
        return self.client.post(url, data=form, follow_redirects=False)


def tag() -> str:
    """A short random suffix that keeps a test's names its own."""
    return uuid.uuid4().hex[:8]


def field_error(page: str, name: str) -> str:
    """The error shown next to field ``name`` (the macros' ``e-<name>`` paragraph), its
    text unescaped; empty when there is none."""
    found = re.search(rf'<p id="e-{re.escape(name)}" class="error" role="alert">(.*?)</p>', page)
    return unescape(found.group(1)) if found else ""


#: The module-scoped ``stack`` fixture's parameters: SQLite, and PostgreSQL when marked.
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def database_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    **settings: Any,
) -> Iterator[Stack]:
    """A running stack on ``request.param``'s database (``DATABASES``): SQLite in a fresh
    data directory, or a fresh PostgreSQL database on the ``postgres_url`` server."""
    data = tmp_path_factory.mktemp(f"{name}-{request.param}") / "data"
    chosen: dict[str, Any] = {"data_dir": data, "seal_interval": 0.1, **settings}
    if request.param == "sqlite":
        with running_stack(Settings(**chosen)) as running:
            yield running
        return
    server = request.getfixturevalue("postgres_url")
    with (
        fresh_postgres_database(server) as url,
        running_stack(Settings(**chosen, database_url=url)) as running,
    ):
        yield running


#: The function-scoped ``stack`` fixture's parameters: SQLite with local files, and
#: PostgreSQL with SeaweedFS S3.
BACKEND_KINDS = [p for p in backend_params() if p.id in ("sqlite-local", "postgres-s3")]
assert {p.id for p in BACKEND_KINDS} <= set(BACKENDS)


@contextmanager
def backend_stack(
    request: pytest.FixtureRequest, tmp_path: Path, **settings: Any
) -> Iterator[Stack]:
    """A running stack on ``request.param``'s backend (``BACKEND_KINDS``), fresh storage
    and database, with ``settings`` over the defaults."""
    with (
        open_backend(request, request.param, tmp_path / "data", **settings) as backend,
        running_stack(backend.settings) as running,
    ):
        yield running


def browser_login(page: Any, base_url: str, username: str, password: str) -> None:
    """Log a Playwright page in through the login form (Enter in the password field)."""
    page.goto(f"{base_url}/console/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    with page.expect_navigation():
        page.press("#f-password", "Enter")
