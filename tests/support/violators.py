"""严重违法失信名单 test material: entities to place, the calls the tests repeat, and the
valid request of each route for the auth matrix (tests/integration/test_api_auth.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import Stack, ensure_example_platform

LEGAL_BASIS = "《市场监督管理严重违法失信名单管理办法》第九条"


def placement(entity_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "legal_basis": LEGAL_BASIS,
        "reason": "销售假冒注册商标的商品，情节严重",
        "years": 3,
        **extra,
    }


def new_entity(
    client: TestClient, admin: dict[str, str], platform: str = "example-mall", **extra: Any
) -> int:
    """A fresh entity on ``platform`` (made through the API); its id."""
    body = {
        "platform": platform,
        "shop_name": f"某某旗舰店-{uuid.uuid4().hex[:8]}",
        "shop_id": uuid.uuid4().hex[:12],
        "shop_url": f"https://{platform}.example/shop/{uuid.uuid4().hex[:6]}",
        **extra,
    }
    made = client.post("/v1/entities", json=body, headers=admin)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def place(client: TestClient, admin: dict[str, str], entity_id: int, **extra: Any) -> Any:
    made = client.post("/v1/serious-violators", json=placement(entity_id, **extra), headers=admin)
    assert made.status_code == 201, made.text
    return made.json()


def violators_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it: a fresh
    entity placed by the admin token (for the routes naming a placement or a change)."""
    client, admin = stack.client, stack.auth("admin")

    def send(headers: dict[str, str]) -> Any:
        with stack.runtime.session() as session:
            ensure_example_platform(session)
        entity = new_entity(client, admin)
        kwargs: dict[str, Any] = {}
        url = path
        if (method, path) == ("POST", "/v1/serious-violators"):
            kwargs["json"] = placement(entity)
        elif "{violation_id}" in path or "{seq}" in path:
            made = place(client, admin, entity)
            url = path.format(violation_id=made["violation_id"], seq=made["changes"][-1]["seq"])
            if path.endswith("/remove"):
                kwargs["json"] = {"reason": "auth matrix"}
            elif path.endswith("/ack"):
                kwargs["json"] = {"measures": ["restrict_promotion"], "note": "auth matrix"}
        return client.request(method, url, headers=headers, **kwargs)

    return send
