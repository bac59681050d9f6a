"""The console's security acceptance, through the real app on SQLite and PostgreSQL:

- CSRF: a console form or an API request authenticated by the session cookie without
  the session's token (or with a wrong one) is 403, and nothing changed;
- sessions end when idle, at their lifetime, at logout, when the user is disabled or its
  token revoked, each refused at once (the next request);
- a revoked API token is refused at once;
- a platform user's cookie against every officer API route and every console page whose
  roles exclude platform: 403 or 404, never 2xx;
- passwords never reach the logs.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from evidence_api.core import sessions
from evidence_api.core.auth import create_token
from evidence_api.core.guard import route_roles
from evidence_api.core.models import ApiToken, AuditEvent, User, UserSession
from tests.support.api import Stack, api_routes, auth_header
from tests.support.console import PASSWORD, login, make_user

NEW_PASSWORD = "a different passphrase"


def entity_names(stack: Stack) -> list[str]:
    listed = stack.client.get("/v1/entities", headers=stack.auth("officer"))
    assert listed.status_code == 200, listed.text
    return [item["shop_name"] for item in listed.json()["items"]]


def new_entity(name: str) -> dict[str, str]:
    return {"platform": "example-mall", "shop_name": name}


def user_row(stack: Stack, username: str) -> User:
    with stack.runtime.session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        session.expunge(user)
        return user


# --- CSRF ---------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [None, "", "wrong-token"])
def test_an_api_post_with_the_cookie_needs_the_csrf_header(stack: Stack, sent: str | None) -> None:
    username, password = make_user(stack.runtime, "officer")
    csrf = login(stack.client, username, password)
    name = f"无令牌店铺 {uuid.uuid4().hex[:8]}"
    headers = {} if sent is None else {sessions.CSRF_HEADER: sent}
    refused = stack.client.post("/v1/entities", json=new_entity(name), headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "missing or wrong CSRF token"
    assert name not in entity_names(stack)
    made = stack.client.post(
        "/v1/entities", json=new_entity(name), headers={sessions.CSRF_HEADER: csrf}
    )
    assert made.status_code == 201, made.text  # the same request with the token: done
    assert entity_names(stack).count(name) == 1


def test_a_stamp_post_without_the_csrf_header_records_nothing(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "officer")
    login(stack.client, username, password)
    digest = uuid.uuid4().hex * 2
    refused = stack.client.post("/v1/stamps", json={"digests": [digest]})
    assert refused.status_code == 403
    assert stack.client.get("/v1/log/lookup", params={"sha256": digest}).status_code == 404


def test_the_cookie_reads_without_a_csrf_token_and_a_bearer_token_needs_none(
    stack: Stack,
) -> None:
    username, password = make_user(stack.runtime, "officer")
    login(stack.client, username, password)
    assert stack.client.get("/v1/entities").status_code == 200
    name = f"持令牌店铺 {uuid.uuid4().hex[:8]}"
    made = stack.client.post("/v1/entities", json=new_entity(name), headers=stack.auth("officer"))
    assert made.status_code == 201  # a bearer token wins over the cookie, no CSRF needed


@pytest.mark.parametrize("sent", [None, "wrong-token"])
def test_a_console_form_without_its_csrf_token_changes_nothing(
    stack: Stack, sent: str | None
) -> None:
    username, password = make_user(stack.runtime, "officer")
    login(stack.client, username, password)
    form = {"old_password": password, "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    if sent is not None:
        form["csrf_token"] = sent
    refused = stack.client.post("/console/account/password", data=form)
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    before = user_row(stack, username)
    assert before.password_changed_at == before.created_at  # unchanged
    stack.client.cookies.clear()
    assert login(stack.client, username, password)  # the old password still works


# --- sessions end, and are refused at once ---------------------------------------------


def session_ends(stack: Stack) -> None:
    """The logged-in client is now refused: the page goes to login, the API says 401."""
    page = stack.client.get("/console/account", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
    api = stack.client.get("/v1/entities")
    assert api.status_code == 401
    assert api.json()["detail"] == "session ended; log in again"


@pytest.mark.parametrize("end", ["idle", "lifetime", "logout"])
def test_sessions_end(stack: Stack, end: str) -> None:
    username, password = make_user(stack.runtime, "officer")
    csrf = login(stack.client, username, password)
    assert stack.client.get("/v1/entities").status_code == 200
    user_id = user_row(stack, username).id
    if end == "logout":
        cookie = stack.client.cookies.get(sessions.COOKIE)
        stack.client.post("/console/logout", data={"csrf_token": csrf})
        stack.client.cookies.set(sessions.COOKIE, cookie or "", domain="testserver.local")
    else:
        with stack.runtime.session() as session:
            past = datetime.now(UTC) - timedelta(seconds=1)
            idle = timedelta(seconds=stack.settings.session_idle_timeout)
            values = {"last_seen_at": past - idle} if end == "idle" else {"expires_at": past}
            session.execute(
                update(UserSession).where(UserSession.user_id == user_id).values(**values)
            )
    session_ends(stack)


@pytest.mark.parametrize("how", ["disable", "revoke"])
def test_disabling_the_user_or_revoking_its_token_ends_its_session_at_once(
    stack: Stack, how: str
) -> None:
    username, password = make_user(stack.runtime, "officer")
    login(stack.client, username, password)
    assert stack.client.get("/v1/entities").status_code == 200
    user = user_row(stack, username)
    admin = stack.auth("admin")
    if how == "disable":
        done = stack.client.post(f"/v1/users/{user.id}/disable", headers=admin)
    else:
        done = stack.client.post(f"/v1/tokens/{user.token_id}/revoke", headers=admin)
    assert done.status_code == 200, done.text
    session_ends(stack)
    stack.client.cookies.clear()
    from tests.support.console import login_csrf  # noqa: PLC0415

    again = stack.client.post(
        "/console/login",
        data={"login_csrf": login_csrf(stack.client), "username": username, "password": password},
        follow_redirects=False,
    )
    assert again.status_code == 401


def test_a_revoked_api_token_is_refused_at_once_and_audited(stack: Stack) -> None:
    with stack.runtime.session() as session:
        row, token = create_token(session, role="officer", name=f"leaving {uuid.uuid4()}")
        token_id = row.id
    assert stack.client.get("/v1/entities", headers=auth_header(token)).status_code == 200
    revoked = stack.client.post(f"/v1/tokens/{token_id}/revoke", headers=stack.auth("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    refused = stack.client.get("/v1/entities", headers=auth_header(token))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "invalid or revoked token"
    audit = stack.client.get(
        "/v1/audit",
        params={"kind": "token_revoked", "subject": f"token-{token_id}"},
        headers=stack.auth("admin"),
    ).json()["items"]
    assert len(audit) == 1 and audit[0]["actor"].startswith("token-")


def test_token_use_is_audited_once_and_last_use_written(stack: Stack) -> None:
    sessions.TOKEN_USE.forget()
    with stack.runtime.session() as session:
        row, token = create_token(session, role="officer", name=f"busy {uuid.uuid4()}")
        token_id = row.id
    for _ in range(3):
        assert stack.client.get("/v1/entities", headers=auth_header(token)).status_code == 200
    with stack.runtime.session() as session:
        used = (
            session.execute(
                select(AuditEvent).where(
                    AuditEvent.kind == "token_used", AuditEvent.subject == f"token-{token_id}"
                )
            )
            .scalars()
            .all()
        )
        assert len(used) == 1
        last = session.get(ApiToken, token_id)
        assert last is not None and last.last_used_at is not None
    listed = stack.client.get("/v1/tokens", headers=stack.auth("admin")).json()["items"]
    mine = next(t for t in listed if t["id"] == token_id)
    assert mine["last_used_at"] and mine["kind"] == "api"
    assert not any(token in str(t) for t in listed)


# --- a platform user against officer routes and pages ---------------------------------


def officer_only(stack: Stack, prefix: str) -> list[tuple[str, str]]:
    """(method, path) of every route under ``prefix`` whose roles exclude platform."""
    found = []
    app = stack.client.app
    for path, route in api_routes(app.routes):  # type: ignore[attr-defined]
        if not path.startswith(prefix):
            continue
        roles = route_roles(route)
        if roles is None or "platform" in roles:
            continue
        found += [(method, path) for method in sorted(route.methods or ())]
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_a_platform_cookie_gets_no_officer_api_route(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "platform")
    csrf = login(stack.client, username, password)
    routes = officer_only(stack, "/v1/")
    assert ("POST", "/v1/evidence") in routes and ("GET", "/v1/users") in routes
    for method, path in routes:
        answer = stack.client.request(method, concrete(path), headers={sessions.CSRF_HEADER: csrf})
        assert answer.status_code in (403, 404), (method, path, answer.status_code)


def test_a_platform_cookie_gets_no_officer_console_page(stack: Stack) -> None:
    username, password = make_user(stack.runtime, "platform")
    csrf = login(stack.client, username, password)
    pages = officer_only(stack, "/console")
    assert ("GET", "/console/evidence") in pages, "the enumeration missed the officer pages"
    for method, path in pages:
        answer = stack.client.request(
            method,
            concrete(path),
            data={"csrf_token": csrf} if method == "POST" else None,
            follow_redirects=False,
        )
        assert answer.status_code in (403, 404), (method, path, answer.status_code)


# --- passwords never reach the logs ---------------------------------------------------


def test_passwords_never_reach_the_logs(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    first, wrong, changed, reset = (
        f"first-{uuid.uuid4().hex}",
        f"wrong-{uuid.uuid4().hex}",
        f"changed-{uuid.uuid4().hex}",
        f"reset-{uuid.uuid4().hex}",
    )
    admin = stack.auth("admin")
    with caplog.at_level(logging.DEBUG):
        username = f"u{uuid.uuid4().hex[:10]}"
        made = stack.client.post(
            "/v1/users",
            headers=admin,
            json={
                "username": username,
                "password": first,
                "display_name": "王五",
                "role": "officer",
            },
        )
        assert made.status_code == 201, made.text
        short = stack.client.post(
            "/v1/users",
            headers=admin,
            json={
                "username": f"{username}x",
                "password": "tiny-pw",
                "display_name": "x",
                "role": "officer",
            },
        )
        assert short.status_code == 422 and "tiny-pw" not in short.text
        from tests.support.console import login_csrf  # noqa: PLC0415

        failed = stack.client.post(
            "/console/login",
            data={"login_csrf": login_csrf(stack.client), "username": username, "password": wrong},
        )
        assert failed.status_code == 401 and wrong not in failed.text
        csrf = login(stack.client, username, first)
        done = stack.client.post(
            "/console/account/password",
            data={
                "csrf_token": csrf,
                "old_password": first,
                "new_password": changed,
                "new_password2": changed,
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        user_id = made.json()["id"]
        assert (
            stack.client.post(
                f"/v1/users/{user_id}/password", headers=admin, json={"password": reset}
            ).status_code
            == 200
        )
    assert caplog.records, "nothing was logged at DEBUG: the check would prove nothing"
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for password in (first, wrong, changed, reset, "tiny-pw", PASSWORD):
        assert password not in text
