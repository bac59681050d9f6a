"""The console's login, logout and account page, through the real forms (TestClient),
on SQLite and PostgreSQL: who gets in, what a failure says and where, that failures
count and lock, that a session's cookie is new at every login, and that logout ends it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from evidence_api.accounts import service
from evidence_api.core import sessions
from evidence_api.core.config import Settings
from evidence_api.core.models import AuditEvent, User
from tests.support.api import Stack, running_stack
from tests.support.console import csrf_of, login, login_csrf, make_user

#: The TestClient's cookie domain (what the server's Set-Cookie lands under).
DOMAIN = "testserver.local"


def post_login(stack: Stack, username: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    form = {"login_csrf": login_csrf(stack.client), "username": username, "password": password}
    form.update(extra)
    return stack.client.post("/console/login", data=form, follow_redirects=False)


def events(stack: Stack, kind: str, subject: str) -> list[AuditEvent]:
    with stack.runtime.session() as session:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.kind == kind, AuditEvent.subject == subject)
        ).scalars()
        return list(rows)


def test_login_lands_on_the_role_home_and_shows_the_person(stack: Stack) -> None:
    username, password = make_user(
        stack.runtime, "officer", display_name="张三", unit="泉州市市场监督管理局"
    )
    answer = post_login(stack, username, password)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/evidence"
    cookie = answer.cookies.get(sessions.COOKIE) or stack.client.cookies.get(sessions.COOKIE)
    assert cookie
    set_cookie = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookie if c.startswith(f"{sessions.COOKIE}="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert "Path=/" in session_cookie and "Secure" not in session_cookie  # plain http here
    page = stack.client.get("/console/account")
    assert page.status_code == 200
    assert "张三" in page.text and "泉州市市场监督管理局" in page.text and username in page.text
    assert csrf_of(page.text)
    assert len(events(stack, "login", f"user:{username}")) == 1


def test_platform_user_lands_on_its_orders(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "platform")
    answer = post_login(stack, username, password)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/platform/orders"


@pytest.mark.parametrize("wrong", ["password", "username"])
def test_a_wrong_password_or_name_gets_the_same_answer_next_to_the_field(
    stack: Stack, wrong: str
) -> None:
    username, password = make_user(stack.runtime, "officer")
    if wrong == "password":
        answer = post_login(stack, username, "not the password at all")
    else:
        answer = post_login(stack, "nobody-" + username, password)
    assert answer.status_code == 401
    assert sessions.COOKIE not in answer.cookies
    assert 'id="e-password"' in answer.text and service.WRONG in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert stack.client.get("/console/account", follow_redirects=False).status_code == 303


def test_failures_lock_the_user_even_against_the_right_password(stack: Stack) -> None:
    limit = stack.settings.login_failure_limit
    username, password = make_user(stack.runtime, "officer")
    for _ in range(limit):
        assert post_login(stack, username, "wrong password 123").status_code == 401
    refused = post_login(stack, username, password)
    assert refused.status_code == 401
    assert "try again after" in refused.text
    assert sessions.COOKIE not in refused.cookies
    assert len(events(stack, "locked", f"user:{username}")) == 1
    assert len(events(stack, "login_failed", f"user:{username}")) == limit + 1
    with stack.runtime.session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        assert user.locked_until is not None and user.locked_until > datetime.now(UTC)
        user.locked_until = datetime(2000, 1, 1, tzinfo=UTC)  # the lockout has passed
    assert post_login(stack, username, password).status_code == 303


def test_a_success_resets_the_failure_count(stack: Stack) -> None:
    limit = stack.settings.login_failure_limit
    username, password = make_user(stack.runtime, "officer")
    for _ in range(limit - 1):
        assert post_login(stack, username, "wrong password 123").status_code == 401
    assert post_login(stack, username, password).status_code == 303
    assert post_login(stack, username, "wrong password 123").status_code == 401
    assert post_login(stack, username, password).status_code == 303  # not locked


def test_session_fixation_the_cookie_changes_at_login(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "officer")
    stack.client.cookies.set(sessions.COOKIE, "planted-by-an-attacker-0123456789", domain=DOMAIN)
    post_login(stack, username, password)
    first = stack.client.cookies.get(sessions.COOKIE)
    assert first and first != "planted-by-an-attacker-0123456789"
    post_login(stack, username, password)  # logging in again: a new id, the old one ends
    second = stack.client.cookies.get(sessions.COOKIE)
    assert second and second != first
    with stack.runtime.session() as session:
        assert sessions.resolve(session, first, stack.settings, datetime.now(UTC)) is None
        assert sessions.resolve(session, second, stack.settings, datetime.now(UTC)) is not None


def test_the_login_form_needs_its_csrf_cookie(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "officer")
    login_csrf(stack.client)
    answer = stack.client.post(
        "/console/login",
        data={"login_csrf": "forged", "username": username, "password": password},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert sessions.COOKIE not in stack.client.cookies
    assert events(stack, "login", f"user:{username}") == []


@pytest.mark.parametrize(
    ("wanted", "landing"),
    [
        ("/console/cases?status=open", "/console/cases?status=open"),
        ("https://evil.example/console", "/console/evidence"),
        ("//evil.example/console", "/console/evidence"),
        ("/console//evil.example", "/console/evidence"),
        ("/console\\@evil.example", "/console/evidence"),
        ("/docs", "/console/evidence"),
    ],
)
def test_next_is_followed_only_within_the_console(stack: Stack, wanted: str, landing: str) -> None:
    username, password = make_user(stack.runtime, "officer")
    answer = post_login(stack, username, password, next=wanted)
    assert answer.status_code == 303
    assert answer.headers["location"] == landing


def test_a_page_without_a_session_goes_to_login_and_back(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "officer")
    answer = stack.client.get("/console/account", follow_redirects=False)
    assert answer.status_code == 303
    target = answer.headers["location"]
    assert parse_qs(urlsplit(target).query)["next"] == ["/console/account"]
    page = stack.client.get(target)
    assert 'name="next" value="/console/account"' in page.text
    back = post_login(stack, username, password, next="/console/account")
    assert back.headers["location"] == "/console/account"


def test_logout_ends_the_session_and_needs_the_csrf_token(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "officer")
    csrf = login(stack.client, username, password)
    cookie = stack.client.cookies.get(sessions.COOKIE)
    assert stack.client.post("/console/logout", data={}, follow_redirects=False).status_code == 403
    assert stack.client.get("/console/account").status_code == 200  # still logged in
    answer = stack.client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    stack.client.cookies.set(sessions.COOKIE, cookie or "", domain=DOMAIN)  # a copy kept elsewhere
    assert stack.client.get("/console/account", follow_redirects=False).status_code == 303
    assert len(events(stack, "logout", f"user:{username}")) == 1


def test_pages_in_chinese_by_default_and_english_on_request(stack: Stack) -> None:
    assert "登录" in stack.client.get("/console/login").text
    english = stack.client.get("/console/login?lang=en")
    assert "Log in" in english.text and '<html lang="en">' in english.text


def test_password_change_needs_the_old_one_and_ends_other_sessions(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "officer")
    other = stack.client.__class__(stack.client.app)
    login(other, username, password)
    csrf = login(stack.client, username, password)

    def change(old: str, new: str) -> Any:
        form = {"csrf_token": csrf, "old_password": old, "new_password": new, "new_password2": new}
        return stack.client.post("/console/account/password", data=form, follow_redirects=False)

    wrong = change("nope nope nope", "a new long password")
    assert wrong.status_code == 422 and 'id="e-old_password"' in wrong.text
    short = change(password, "short")
    assert short.status_code == 422 and 'id="e-new_password"' in short.text
    done = change(password, "a new long password")
    assert done.status_code == 303
    assert stack.client.get("/console/account").status_code == 200  # this session stays
    assert other.get("/console/account", follow_redirects=False).status_code == 303
    assert post_login(stack, username, password).status_code == 401
    assert post_login(stack, username, "a new long password").status_code == 303
    assert len(events(stack, "password_changed", f"user:{username}")) == 1


def test_totp_setup_then_login_needs_a_fresh_code(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "officer")
    csrf = login(stack.client, username, password)
    page = stack.client.get("/console/account")
    secret = page.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    assert "otpauth://totp/" in page.text and "<svg" in page.text
    bad = stack.client.post(
        "/console/account/totp/enable",
        data={"csrf_token": csrf, "secret": secret, "code": "000000"},
    )
    assert bad.status_code == 422 and 'id="e-code"' in bad.text
    code = pyotp.TOTP(secret).now()
    on = stack.client.post(
        "/console/account/totp/enable",
        data={"csrf_token": csrf, "secret": secret, "code": code},
        follow_redirects=False,
    )
    assert on.status_code == 303
    with stack.runtime.session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        assert user.totp_secret and secret not in user.totp_secret  # sealed at rest
    fresh = stack.client.__class__(stack.client.app)
    no_code = post_login(Stack(stack.settings, stack.runtime, fresh), username, password)
    assert no_code.status_code == 401 and 'id="e-totp"' in no_code.text
    reused = post_login(Stack(stack.settings, stack.runtime, fresh), username, password, totp=code)
    assert reused.status_code == 401  # the code that enabled it is spent
    assert 'id="e-totp"' in reused.text


def test_one_address_guessing_many_users_is_slowed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", auth_failure_limit=3)
    with running_stack(settings) as small:
        username, password = make_user(small.runtime, "officer")
        for n in range(3):
            assert post_login(small, f"guess-{n}", "some password 1").status_code == 401
        slowed = post_login(small, username, password)
        assert slowed.status_code == 429
        assert "too many failed logins from this address" in slowed.text
        assert sessions.COOKIE not in slowed.cookies
