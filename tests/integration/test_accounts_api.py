"""The accounts API (admin): users created, read, disabled, unlocked and given a new
password; the audit log paged newest first; bad input answered with the field at fault."""

from __future__ import annotations

import uuid

from tests.support.api import Stack


def new_user(stack: Stack, **changes: str) -> dict[str, object]:
    body = {
        "username": f"u-{uuid.uuid4().hex[:10]}",
        "password": "a long enough password",
        "display_name": "孙七",
        "role": "officer",
        "unit": "泉州市市场监督管理局",
    } | changes
    made = stack.client.post("/v1/users", json=body, headers=stack.auth("admin"))
    assert made.status_code == 201, made.text
    answer: dict[str, object] = made.json()
    return answer


def test_create_read_and_list_users(stack: Stack) -> None:
    user = new_user(stack)
    assert user["role"] == "officer" and user["unit"] == "泉州市市场监督管理局"
    assert user["totp_enabled"] is False and user["disabled_at"] is None
    assert "a long enough password" not in str(user) and "argon2" not in str(user)
    assert "password" not in user and "password_hash" not in user
    read = stack.client.get(f"/v1/users/{user['id']}", headers=stack.auth("admin"))
    assert read.json() == user
    listed = stack.client.get("/v1/users", headers=stack.auth("admin")).json()["items"]
    assert user in listed
    tokens = stack.client.get("/v1/tokens", headers=stack.auth("admin")).json()["items"]
    identity = next(t for t in tokens if t["id"] == user["token_id"])
    assert identity["kind"] == "user" and identity["name"] == f"user:{user['username']}"
    assert identity["display_name"] == "孙七"


def test_bad_users_name_the_field(stack: Stack) -> None:
    taken = new_user(stack)
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"username": str(taken["username"])}, 409, "username"),
        ({"username": "Upper Case"}, 422, "username"),
        ({"password": "short"}, 422, "password"),
        ({"role": "platform", "platform": "no-such-mall"}, 422, "platform"),
        ({"role": "officer", "platform": "example-mall"}, 422, "platform"),
    ]
    for changes, status, field in cases:
        body = {
            "username": f"u-{uuid.uuid4().hex[:10]}",
            "password": "a long enough password",
            "display_name": "x",
            "role": "officer",
        } | changes
        answer = stack.client.post("/v1/users", json=body, headers=stack.auth("admin"))
        assert answer.status_code == status, (changes, answer.text)
        problem = answer.json()
        assert field in (problem.get("field") or "") or field in problem["detail"], problem
    assert stack.client.get("/v1/users/999999", headers=stack.auth("admin")).status_code == 404


def test_disable_unlock_and_reset_are_audited_newest_first(stack: Stack) -> None:
    user = new_user(stack)
    admin = stack.auth("admin")
    base = f"/v1/users/{user['id']}"
    assert stack.client.post(f"{base}/disable", headers=admin).json()["disabled_at"]
    assert stack.client.post(f"{base}/enable", headers=admin).json()["disabled_at"] is None
    assert stack.client.post(f"{base}/unlock", headers=admin).status_code == 200
    short = stack.client.post(f"{base}/password", json={"password": "short"}, headers=admin)
    assert short.status_code == 422
    reset = stack.client.post(
        f"{base}/password", json={"password": "another long password"}, headers=admin
    )
    assert reset.status_code == 200
    subject = f"user:{user['username']}"
    first = stack.client.get(
        "/v1/audit", params={"subject": subject, "limit": 2}, headers=admin
    ).json()
    kinds = [e["kind"] for e in first["items"]]
    assert kinds == ["password_reset", "user_unlocked"]
    assert first["next_before"] == first["items"][-1]["id"]
    rest = stack.client.get(
        "/v1/audit",
        params={"subject": subject, "limit": 10, "before": first["next_before"]},
        headers=admin,
    ).json()
    assert [e["kind"] for e in rest["items"]] == ["user_enabled", "user_disabled", "user_created"]
    assert rest["next_before"] is None
    admin_token = next(
        t["id"]
        for t in stack.client.get("/v1/tokens", headers=admin).json()["items"]
        if t["name"] == "test admin"
    )
    assert {e["actor"] for e in rest["items"]} == {f"token-{admin_token}"}
    only = stack.client.get(
        "/v1/audit", params={"kind": "user_disabled", "subject": subject}, headers=admin
    ).json()["items"]
    assert len(only) == 1
    bad = stack.client.get("/v1/audit", params={"limit": 0}, headers=admin)
    assert bad.status_code == 422
