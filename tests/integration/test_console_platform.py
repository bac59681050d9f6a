"""The platform pages through the real forms (TestClient), on SQLite and on PostgreSQL
(+ SeaweedFS S3): a platform user sees its own orders and gets 404 for another
platform's, acknowledges and completes through the page (read back through the API),
sees a bad removal time's reason next to the field, downloads a granted file, changes
its webhook and rotates its secret (shown once); CSRF missing -> 403 and nothing
changed; officers get 403 on these pages and platform users 403 on the monitor pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from evidence_api.core.auth import create_token
from evidence_api.registry.models import Platform
from evidence_api.takedowns.webhooks import open_secret
from tests.support.api import Stack, submit
from tests.support.console import BACKEND_KINDS, backend_stack, field_error, log_in_as
from tests.support.waiting import wait_until

LISTING = "<html>假冒商品 ¥99</html>".encode()
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture(params=BACKEND_KINDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with backend_stack(request, tmp_path, seal_interval=0.1) as running:
        yield running


def add_platform(stack: Stack, code: str) -> None:
    now = datetime.now(UTC)
    with stack.runtime.session() as session:
        session.add(Platform(code=code, name=f"{code} 平台", created_at=now, updated_at=now))
        session.flush()
        create_token(session, role="platform", name=f"{code} ops", platform=code)


def evidence(stack: Stack) -> str:
    answer = submit(stack, {"listing.html": LISTING})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["evidence_id"])


def issue(stack: Stack, code: str, evidence_id: str, *, grant_files: bool = False) -> str:
    body = {
        "platform": code,
        "listing_urls": [f"https://{code}.example/item/{uuid.uuid4().hex[:6]}"],
        "legal_basis": "《电子商务法》第三十八条",
        "reason": "销售假冒注册商标商品 counterfeit goods",
        "evidence_ids": [evidence_id],
        "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "grant_files": grant_files,
    }
    answer = stack.client.post("/v1/takedowns", json=body, headers=stack.auth("officer"))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["order_id"])


def order_state(stack: Stack, order_id: str) -> dict[str, Any]:
    """The order as the officers' API shows it (bearer token: the cookie is not used)."""
    answer = stack.client.get(f"/v1/takedowns/{order_id}", headers=stack.auth("officer"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture
def two_orders(stack: Stack) -> tuple[str, str]:
    """An order to example-mall (files granted) and one to mall-b."""
    add_platform(stack, "mall-b")
    ev = evidence(stack)
    return issue(stack, "example-mall", ev, grant_files=True), issue(stack, "mall-b", ev)


def test_a_platform_sees_its_orders_only(stack: Stack, two_orders: tuple[str, str]) -> None:
    mine, theirs = two_orders
    log_in_as(stack, "platform")
    listing = stack.client.get("/console/platform/orders")
    assert listing.status_code == 200
    assert mine in listing.text and theirs not in listing.text
    assert 'lang="zh-CN"' in listing.text and "下架通知" in listing.text
    filtered = stack.client.get("/console/platform/orders?status=completed")
    assert filtered.status_code == 200 and mine not in filtered.text
    # Pages: one order a page, the next link leads to the older one.
    newer = issue(stack, "example-mall", evidence(stack))
    first = stack.client.get("/console/platform/orders?limit=1")
    assert newer in first.text and mine not in first.text
    following = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert following, first.text
    second = stack.client.get(unescape(following.group(1)))
    assert mine in second.text and newer not in second.text
    bad = stack.client.get("/console/platform/orders?status=gone")
    assert bad.status_code == 422 and "unknown status 'gone'" in field_error(bad.text, "status")

    page = stack.client.get(f"/console/platform/orders/{mine}")
    assert page.status_code == 200
    assert "《电子商务法》第三十八条" in page.text and 'id="form-ack"' in page.text
    assert 'id="form-complete"' not in page.text  # issued: acknowledge or dispute first
    other = stack.client.get(f"/console/platform/orders/{theirs}")
    assert other.status_code == 404 and theirs in other.text
    assert stack.client.get("/console/platform/orders/td-nonsense").status_code == 404

    # The granted file, through the platform API's download route with the cookie.
    link = re.search(r'data-testid="file-download" href="([^"]+)"', page.text)
    assert link, page.text
    download = stack.client.get(unescape(link.group(1)))
    assert download.status_code == 200 and download.content == LISTING


def test_acknowledge_then_complete_through_the_page(
    stack: Stack, two_orders: tuple[str, str]
) -> None:
    mine, _ = two_orders
    csrf = log_in_as(stack, "platform", display_name="示例商城客服")
    url = f"/console/platform/orders/{mine}"

    done = stack.client.post(
        f"{url}/ack", data={"csrf_token": csrf, "ack_note": "已收到"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"{url}?done=ack"
    assert order_state(stack, mine)["status"] == "acknowledged"
    page = stack.client.get(done.headers["location"])
    assert "已确认收到" in page.text and "示例商城客服" in page.text  # the actor by name

    # A removal before the order was issued: the API's reason next to the field.
    before = stack.client.post(
        f"{url}/complete",
        data={
            "csrf_token": csrf,
            "note": "已下架全部链接",
            "removed_at": "2020-01-01T09:00",
            "removed_tz": "+08:00",
        },
    )
    assert before.status_code == 422
    assert "before the order was issued" in field_error(before.text, "removed_at")
    assert "已下架全部链接" in before.text  # what was typed stays
    # Not a time at all, and no note: each reason under its own field.
    garbled = stack.client.post(
        f"{url}/complete",
        data={"csrf_token": csrf, "note": "", "removed_at": "yesterday", "removed_tz": "+08:00"},
    )
    assert garbled.status_code == 422
    assert "YYYY-MM-DDTHH:MM" in field_error(garbled.text, "removed_at")
    assert order_state(stack, mine)["status"] == "acknowledged"

    # The form takes whole seconds: the first whole second after the order was issued
    # (waited for when it is still ahead), never the issuing second itself.
    issued = datetime.fromisoformat(order_state(stack, mine)["issued_at"])
    removed = (issued.replace(microsecond=0) + timedelta(seconds=1)).astimezone(BEIJING)
    wait_until(lambda: datetime.now(UTC) >= removed, 10, "the removal time to pass")
    completed = stack.client.post(
        f"{url}/complete",
        data={
            "csrf_token": csrf,
            "note": "已下架全部链接",
            "removed_at": removed.strftime("%Y-%m-%dT%H:%M:%S"),
            "removed_tz": "+08:00",
        },
        follow_redirects=False,
    )
    assert completed.status_code == 303, completed.text
    state = order_state(stack, mine)
    assert state["status"] == "completed"
    event = state["history"][-1]
    assert event["note"] == "已下架全部链接"
    assert datetime.fromisoformat(event["removed_at"]) == removed

    # Completed: no form allows another answer; a replayed one gets 409's reason.
    again = stack.client.post(f"{url}/ack", data={"csrf_token": csrf})
    assert again.status_code == 409 and "cannot ack an order that is completed" in again.text


def test_dispute_needs_a_reason(stack: Stack, two_orders: tuple[str, str]) -> None:
    mine, _ = two_orders
    csrf = log_in_as(stack, "platform")
    url = f"/console/platform/orders/{mine}"
    empty = stack.client.post(f"{url}/dispute", data={"csrf_token": csrf, "reason": "  "})
    assert empty.status_code == 422 and field_error(empty.text, "reason").startswith("reason:")
    assert order_state(stack, mine)["status"] == "issued"
    filed = stack.client.post(
        f"{url}/dispute", data={"csrf_token": csrf, "reason": "商品为正品，附授权书"}
    )
    assert filed.status_code == 200 and "异议已提交" in filed.text  # followed the 303
    assert order_state(stack, mine)["status"] == "disputed"


def test_without_the_csrf_token_nothing_changes(stack: Stack, two_orders: tuple[str, str]) -> None:
    mine, _ = two_orders
    log_in_as(stack, "platform")
    for data in ({}, {"csrf_token": "not-the-token"}):
        refused = stack.client.post(f"/console/platform/orders/{mine}/ack", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
        rotate = stack.client.post("/console/platform/webhook/secret", data=data)
        assert rotate.status_code == 403
    assert order_state(stack, mine)["status"] == "issued"
    assert order_state(stack, mine)["history"][-1]["to_status"] == "issued"


def stored_secret(stack: Stack, code: str) -> str | None:
    with stack.runtime.session() as session:
        row = session.execute(select(Platform).where(Platform.code == code)).scalar_one()
        return open_secret(stack.settings, row)


def test_webhook_url_and_secret_rotation(stack: Stack) -> None:
    csrf = log_in_as(stack, "platform")
    before = stored_secret(stack, "example-mall")
    page = stack.client.get("/console/platform/webhook")
    assert page.status_code == 200 and "示例商城" in page.text

    rotated = stack.client.post("/console/platform/webhook/secret", data={"csrf_token": csrf})
    assert rotated.status_code == 200
    shown = re.search(r'data-testid="new-secret"', rotated.text)
    assert shown, rotated.text
    secret = re.search(
        r'id="secret-value" class="mono" type="text" readonly value="([^"]+)"', rotated.text
    )
    assert secret and stored_secret(stack, "example-mall") == secret.group(1) != before
    again = stack.client.get("/console/platform/webhook")
    assert secret.group(1) not in again.text  # shown once

    bad = stack.client.post(
        "/console/platform/webhook",
        data={"csrf_token": csrf, "webhook_url": "ftp://hooks.example/x", "webhook_enabled": "on"},
    )
    assert bad.status_code == 422 and field_error(bad.text, "webhook_url").startswith(
        "webhook_url:"
    )
    saved = stack.client.post(
        "/console/platform/webhook",
        data={
            "csrf_token": csrf,
            "webhook_url": "https://hooks.mall.example/ea",
            "webhook_enabled": "on",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    read = stack.client.get("/v1/platforms/example-mall", headers=stack.auth("admin")).json()
    assert read["webhook_url"] == "https://hooks.mall.example/ea" and read["webhook_enabled"]


def test_roles_are_kept_apart(stack: Stack, two_orders: tuple[str, str]) -> None:
    mine, _ = two_orders
    stack.client.cookies.clear()
    anonymous = stack.client.get("/console/platform/orders", follow_redirects=False)
    assert anonymous.status_code == 303 and "/console/login" in anonymous.headers["location"]
    log_in_as(stack, "officer")
    for url in (
        "/console/platform/orders",
        f"/console/platform/orders/{mine}",
        "/console/platform/webhook",
    ):
        assert stack.client.get(url).status_code == 403, url
    log_in_as(stack, "platform")
    for url in ("/console/monitors", "/console/monitors/new", "/console/alerts"):
        assert stack.client.get(url).status_code == 403, url
