"""Valid requests to ``/v1/units`` for the role matrix (tests/integration/test_api_auth.py):
each write acts on a unit of its own, each read on a unit that exists."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.api import Stack, submit


def assign_order_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """``PATCH /v1/takedowns/{order_id}``: a fresh order (issued by the unit-less test
    officer) given to a unit."""

    def send(headers: dict[str, str]) -> Any:
        code = f"m{uuid.uuid4().hex[:10]}"
        made = stack.client.post(
            "/v1/units",
            json={"code": code, "name": "矩阵测试单位", "level": "department"},
            headers=stack.auth("admin"),
        )
        assert made.status_code == 201, made.text
        if (
            stack.client.get("/v1/platforms/example-mall", headers=stack.auth("admin")).status_code
            == 404
        ):
            stack.client.post(
                "/v1/platforms",
                json={"code": "example-mall", "name": "Example Mall"},
                headers=stack.auth("admin"),
            )
        issued = stack.client.post(
            "/v1/takedowns",
            json={
                "platform": "example-mall",
                "listing_urls": ["https://example-mall.example/item/1"],
                "legal_basis": "《电子商务法》第三十八条",
                "reason": "auth matrix",
                "evidence_ids": [evidence_id(stack)],
                "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            },
            headers=stack.auth("officer"),
        )
        assert issued.status_code == 201, issued.text
        url = path.format(order_id=issued.json()["order_id"])
        return stack.client.request(method, url, headers=headers, json={"unit": code})

    return send


def evidence_id(stack: Stack) -> str:
    """An evidence item of the stack (one is submitted when there is none)."""
    listed = stack.client.get("/v1/evidence", params={"limit": 1}, headers=stack.auth("officer"))
    items = listed.json()["items"]
    if items:
        return str(items[0]["evidence_id"])
    made = submit(stack, {"page.html": b"<p>page</p>"})
    assert made.status_code == 201, made.text
    return str(made.json()["evidence_id"])


def units_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to the units operation, given the auth headers to send with it."""

    def send(headers: dict[str, str]) -> Any:
        code = f"m{uuid.uuid4().hex[:10]}"
        made = stack.client.post(
            "/v1/units",
            json={"code": code, "name": "矩阵测试单位", "level": "department"},
            headers=stack.auth("admin"),
        )
        assert made.status_code == 201, made.text
        body: dict[str, Any] | None = None
        if (method, path) == ("POST", "/v1/units"):
            body = {"code": f"{code}.d", "name": "下级", "level": "department", "parent": code}
        elif method == "PATCH":
            body = {"name": "改名"}
        return stack.client.request(method, path.format(code=code), headers=headers, json=body)

    return send
