"""The administrator pages through the real forms (TestClient), on SQLite and PostgreSQL:
users (create, disable, enable, unlock, reset password), tokens (create with the secret
shown once, revoke), platforms (register, edit, rotate the secret) and the status page.

Every change is read back through the API or the service the CLI uses; a bad value
shows the service's reason next to its field; a form without the CSRF token is 403 and
changes nothing; officers and platform users get 403 on every admin page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from evidence_api.accounts import service as accounts
from evidence_api.console import admin_pages
from evidence_api.core.models import ApiToken, AuditEvent, User
from tests.support.api import Stack, submit, wait_for_bundle
from tests.support.console import PASSWORD, login, make_user

PAGES = (
    "/console/admin/users",
    "/console/admin/tokens",
    "/console/admin/platforms",
    "/console/admin/status",
)
NEW_PASSWORD = "a brand new passphrase 7"


def admin_client(stack: Stack) -> str:
    username, password = make_user(stack.runtime, "admin", display_name="管理员王五")
    return login(stack.client, username, password)


def user_named(stack: Stack, username: str) -> User:
    with stack.runtime.session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        session.expunge(user)
        return user


def audit_kinds(stack: Stack, subject: str) -> list[str]:
    with stack.runtime.session() as session:
        rows = session.execute(select(AuditEvent.kind).where(AuditEvent.subject == subject))
        return [kind for (kind,) in rows]


def test_every_admin_page_admits_only_admins(stack: Stack) -> None:
    for route in admin_pages.router.routes:
        assert getattr(route, "dependant", None) is not None
    for role in ("officer", "platform", "appraiser"):
        stack.client.cookies.clear()
        username, password = make_user(stack.runtime, role)
        csrf = login(stack.client, username, password)
        for page in PAGES:
            answer = stack.client.get(page, follow_redirects=False)
            assert answer.status_code == 403, (role, page)
        refused = stack.client.post(
            "/console/admin/tokens",
            data={"csrf_token": csrf, "name": "sneaky", "role": "admin"},
            follow_redirects=False,
        )
        assert refused.status_code == 403
    stack.client.cookies.clear()
    for page in PAGES:  # no session: to the login page, then back
        answer = stack.client.get(page, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login?next=")
    with stack.runtime.session() as session:
        assert session.execute(select(ApiToken).where(ApiToken.name == "sneaky")).first() is None


def test_users_are_listed_created_and_refused_next_to_the_field(stack: Stack) -> None:
    csrf = admin_client(stack)
    listed, _ = make_user(
        stack.runtime, "officer", display_name="张三", unit="泉州市市场监督管理局"
    )
    page = stack.client.get("/console/admin/users")
    assert page.status_code == 200
    assert listed in page.text and "张三" in page.text and "泉州市市场监督管理局" in page.text
    assert "用户管理" in page.text and 'lang="zh-CN"' in page.text
    form = {
        "csrf_token": csrf,
        "username": "li.si",
        "display_name": "李四",
        "unit": "厦门市市场监督管理局",
        "role": "platform",
        "platform": "example-mall",
        "password": PASSWORD,
    }
    created = stack.client.post("/console/admin/users", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text[:1000]
    user = user_named(stack, "li.si")
    assert (user.display_name, user.unit, user.role, user.platform) == (
        "李四",
        "厦门市市场监督管理局",
        "platform",
        "example-mall",
    )
    assert len(audit_kinds(stack, "user:li.si")) == 1
    shown = stack.client.get(created.headers["location"])
    assert "li.si" in shown.text and "用户已创建" in shown.text
    # The same name again: the service's reason beside the username field, form kept.
    again = stack.client.post("/console/admin/users", data=form)
    assert again.status_code == 409
    assert re.search(r'id="e-username"[^>]*>[^<]*already exists', again.text)
    assert 'value="李四"' in again.text and PASSWORD not in again.text
    # A bad role: beside the role field.
    bad = stack.client.post(
        "/console/admin/users", data={**form, "username": "wang.wu", "role": "emperor"}
    )
    assert bad.status_code == 422 and 'id="e-role"' in bad.text and "role must be" in bad.text
    # A password the policy refuses: beside the password field.
    weak = stack.client.post(
        "/console/admin/users",
        data={**form, "username": "zhao.liu", "role": "officer", "platform": "", "password": "1"},
    )
    assert weak.status_code == 422 and 'id="e-password"' in weak.text
    with stack.runtime.session() as session:
        names = {u.username for u in accounts.list_users(session)}
    assert "wang.wu" not in names and "zhao.liu" not in names
    # English on request.
    english = stack.client.get("/console/admin/users?lang=en")
    assert "New user" in english.text and 'lang="en"' in english.text


def test_disable_enable_unlock_and_reset_a_user(stack: Stack) -> None:
    csrf = admin_client(stack)
    username, password = make_user(stack.runtime, "officer")
    user = user_named(stack, username)
    # Disabled: the user's login is refused; enabled: it works again.
    answer = stack.client.post(
        f"/console/admin/users/{user.id}/disable",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert user_named(stack, username).disabled_at is not None
    page = stack.client.get("/console/admin/users")
    row = page.text[page.text.index(f'id="user-{user.id}"') :]
    assert "已停用" in row[: row.index("</tr>")]
    stack.client.post(f"/console/admin/users/{user.id}/enable", data={"csrf_token": csrf})
    assert user_named(stack, username).disabled_at is None
    # Locked (as repeated failures leave it), then unlocked here.
    with stack.runtime.session() as session:
        row_user = session.get(User, user.id)
        assert row_user is not None
        row_user.locked_until = datetime.now(UTC) + timedelta(hours=1)
        row_user.failed_logins = 99
    assert "已锁定" in stack.client.get("/console/admin/users").text
    stack.client.post(f"/console/admin/users/{user.id}/unlock", data={"csrf_token": csrf})
    unlocked = user_named(stack, username)
    assert unlocked.locked_until is None or unlocked.locked_until <= datetime.now(UTC)
    # Reset: a refused password shows the reason in the row; a good one takes effect.
    weak = stack.client.post(
        f"/console/admin/users/{user.id}/password", data={"csrf_token": csrf, "password": "1"}
    )
    assert weak.status_code == 422 and f'id="user-error-{user.id}"' in weak.text
    done = stack.client.post(
        f"/console/admin/users/{user.id}/password",
        data={"csrf_token": csrf, "password": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303
    # An unknown user: 404.
    missing = stack.client.post("/console/admin/users/999999/unlock", data={"csrf_token": csrf})
    assert missing.status_code == 404
    # The user logs in with the new password (the old one is refused).
    stack.client.cookies.clear()
    assert password != NEW_PASSWORD
    login(stack.client, username, NEW_PASSWORD)


def test_forms_without_the_csrf_token_change_nothing(stack: Stack) -> None:
    csrf = admin_client(stack)
    username, _ = make_user(stack.runtime, "officer")
    user = user_named(stack, username)
    attempts = [
        ("/console/admin/users", {"username": "mallory", "display_name": "M", "role": "admin"}),
        (f"/console/admin/users/{user.id}/disable", {}),
        (f"/console/admin/users/{user.id}/password", {"password": NEW_PASSWORD}),
        ("/console/admin/tokens", {"name": "mallory", "role": "admin"}),
        ("/console/admin/platforms", {"code": "evil-mall", "name": "Evil"}),
        ("/console/admin/platforms/example-mall", {"name": "renamed"}),
        ("/console/admin/platforms/example-mall/secret", {}),
    ]
    for url, fields in attempts:
        for token in (None, "wrong" + csrf[5:]):
            data = {**fields, **({"csrf_token": token} if token else {"password": PASSWORD})}
            answer = stack.client.post(url, data=data, follow_redirects=False)
            assert answer.status_code == 403, url
    assert user_named(stack, username).disabled_at is None
    with stack.runtime.session() as session:
        assert session.execute(select(User).where(User.username == "mallory")).first() is None
        assert session.execute(select(ApiToken).where(ApiToken.name == "mallory")).first() is None
    platform = stack.client.get("/v1/platforms/example-mall", headers=stack.auth("admin")).json()
    assert platform["name"] == "示例商城"
    assert (
        stack.client.get("/v1/platforms/evil-mall", headers=stack.auth("admin")).status_code == 404
    )


def test_tokens_created_once_listed_without_secrets_and_revoked(stack: Stack) -> None:
    csrf = admin_client(stack)
    created = stack.client.post(
        "/console/admin/tokens",
        data={
            "csrf_token": csrf,
            "name": "capture script",
            "display_name": "采集脚本",
            "unit": "泉州市市场监督管理局",
            "role": "officer",
            "expires": "30d",
        },
    )
    assert created.status_code == 201, created.text[:1000]
    secret = re.search(r'id="token-secret"[^>]*>(ea_[A-Za-z0-9_-]{43})<', created.text)
    assert secret, created.text[:2000]
    plaintext = secret.group(1)
    assert created.headers["cache-control"] == "no-store"
    # The token works against the API; the list shows it but never the secret again.
    assert (
        stack.client.get(
            "/v1/evidence", headers={"Authorization": f"Bearer {plaintext}"}
        ).status_code
        == 200
    )
    listing = stack.client.get("/console/admin/tokens")
    assert "capture script" in listing.text and "采集脚本" in listing.text
    assert plaintext not in listing.text
    with stack.runtime.session() as session:
        row = session.execute(
            select(ApiToken).where(ApiToken.name == "capture script")
        ).scalar_one()
        token_id, expires_at = row.id, row.expires_at
    assert expires_at is not None and timedelta(days=29) < expires_at - datetime.now(
        UTC
    ) <= timedelta(days=30)
    assert f'id="token-{token_id}"' in listing.text
    assert audit_kinds(stack, f"token-{token_id}")[:1] == ["token_created"]
    # Bad values: the reason beside the field, nothing created.
    for fields, field in (
        ({"name": "x", "role": "officer", "expires": "yesterday"}, "expires"),
        ({"name": "x", "role": "platform", "platform": ""}, "platform"),
        ({"name": "", "role": "officer"}, "name"),
    ):
        bad = stack.client.post("/console/admin/tokens", data={"csrf_token": csrf, **fields})
        assert bad.status_code == 422, fields
        assert f'id="e-{field}"' in bad.text, (fields, bad.text[-3000:])
    # Revoked: the API refuses it at once; the list says so.
    revoked = stack.client.post(
        f"/console/admin/tokens/{token_id}/revoke",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    refused = stack.client.get("/v1/evidence", headers={"Authorization": f"Bearer {plaintext}"})
    assert refused.status_code == 401
    listing = stack.client.get("/console/admin/tokens")
    row_html = listing.text[listing.text.index(f'id="token-{token_id}"') :]
    assert "已吊销" in row_html[: row_html.index("</tr>")]
    assert "token_revoked" in audit_kinds(stack, f"token-{token_id}")
    # Revoked again: still refused, the first time kept; an unknown token: 404.
    again = stack.client.post(
        f"/console/admin/tokens/{token_id}/revoke",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert again.status_code == 303
    missing = stack.client.post("/console/admin/tokens/999999/revoke", data={"csrf_token": csrf})
    assert missing.status_code == 404 and "no token 999999" in missing.text


def test_platforms_registered_edited_and_rotated(stack: Stack) -> None:
    csrf = admin_client(stack)
    created = stack.client.post(
        "/console/admin/platforms",
        data={"csrf_token": csrf, "code": "quanzhou-mall", "name": "泉州商城"},
    )
    assert created.status_code == 201, created.text[:1000]
    generated = re.search(r'id="webhook-secret"[^>]*>([^<]+)<', created.text)
    assert generated and len(generated.group(1)) >= 32
    api = stack.client.get("/v1/platforms/quanzhou-mall", headers=stack.auth("admin")).json()
    assert api["name"] == "泉州商城" and api["webhook_secret_set"] is True
    listing = stack.client.get("/console/admin/platforms")
    assert "quanzhou-mall" in listing.text and generated.group(1) not in listing.text
    # A duplicate code and a bad URL: the reasons beside their fields.
    dup = stack.client.post(
        "/console/admin/platforms",
        data={"csrf_token": csrf, "code": "quanzhou-mall", "name": "again"},
    )
    assert dup.status_code == 409 and 'id="e-code"' in dup.text and "already exists" in dup.text
    bad = stack.client.post(
        "/console/admin/platforms",
        data={"csrf_token": csrf, "code": "x-mall", "name": "X", "webhook_url": "ftp://x"},
    )
    assert bad.status_code == 422 and 'id="e-webhook_url"' in bad.text
    # Edit: name and webhook; the API reads the change.
    edit = stack.client.get("/console/admin/platforms/quanzhou-mall")
    assert edit.status_code == 200 and 'value="泉州商城"' in edit.text
    saved = stack.client.post(
        "/console/admin/platforms/quanzhou-mall",
        data={
            "csrf_token": csrf,
            "name": "泉州优选商城",
            "webhook_url": "https://hooks.example.com/takedowns",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[:2000]
    api = stack.client.get("/v1/platforms/quanzhou-mall", headers=stack.auth("admin")).json()
    assert api["name"] == "泉州优选商城"
    assert api["webhook_url"] == "https://hooks.example.com/takedowns"
    assert api["webhook_enabled"] is False
    # Enabling webhooks without a URL: the service's reason, nothing changed.
    refused = stack.client.post(
        "/console/admin/platforms/quanzhou-mall",
        data={"csrf_token": csrf, "name": "泉州优选商城", "webhook_enabled": "on"},
    )
    assert refused.status_code == 422 and "webhook" in refused.text
    again = stack.client.get("/v1/platforms/quanzhou-mall", headers=stack.auth("admin")).json()
    assert again["webhook_url"] == "https://hooks.example.com/takedowns"
    # Rotate: a new secret, shown once.
    rotated = stack.client.post(
        "/console/admin/platforms/quanzhou-mall/secret", data={"csrf_token": csrf}
    )
    assert rotated.status_code == 200
    fresh = re.search(r'id="webhook-secret"[^>]*>([^<]+)<', rotated.text)
    assert fresh and fresh.group(1) != generated.group(1)
    assert fresh.group(1) not in stack.client.get("/console/admin/platforms/quanzhou-mall").text
    assert stack.client.get("/console/admin/platforms/no-such-mall").status_code == 404


def test_status_page_shows_log_chain_and_health(stack: Stack) -> None:
    admin_client(stack)
    empty = stack.client.get("/console/admin/status")
    assert empty.status_code == 200
    assert 'data-testid="check-database"' in empty.text
    assert 'data-testid="check-storage"' in empty.text
    ready = stack.client.get("/readyz").json()["checks"]
    for name, state in ready.items():
        row = empty.text[empty.text.index(f'data-testid="check-{name}"') :]
        row = row[: row.index("</tr>")]
        assert ("正常" in row) == (state == "ok"), (name, state, row)
    # Something logged and sealed: the newest checkpoint as /v1/log/checkpoint says it.
    stored = submit(stack, {"note.txt": b"status page evidence"})
    assert stored.status_code == 201, stored.text
    wait_for_bundle(stack.client, stored.json()["evidence_id"], stack.auth("officer"), timeout=60)
    size = int(stack.client.get("/v1/log/checkpoint").text.splitlines()[1])
    assert size >= 1
    page = stack.client.get("/console/admin/status")
    shown = re.search(r'data-testid="checkpoint-size">(\d+)<', page.text)
    assert shown and int(shown.group(1)) >= size
    assert 'data-testid="pending-count">' in page.text
    facts = admin_pages.system_status(stack.runtime)
    assert facts.checkpoint is not None and facts.checkpoint.size == int(shown.group(1))
    assert facts.checkpoint.root in page.text
    assert facts.chain_mode == stack.settings.chain
