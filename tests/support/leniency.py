"""Test material for evidence_api.leniency: a case moved to 处理 (handling) about an entity,
closing it, a fresh 免罚清单 item, and the valid request of each ``/v1/leniency-items`` route
for the auth matrix (tests/integration/test_api_auth.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.support.api import Stack

#: A seeded item: 不予处罚, first offence within 730 days (any case), corrected, minor harm.
ITEM = "qz-ec-01"
HANDLING = ("filed", "investigating", "handling")


def new_entity(stack: Stack, headers: dict[str, str], **fields: Any) -> int:
    """A fresh entity on ``example-mall``; its id."""
    body = {"platform": "example-mall", "shop_name": f"示例网店{uuid.uuid4().hex[:6]}", **fields}
    made = stack.client.post("/v1/entities", json=body, headers=headers)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def handled_case(
    stack: Stack,
    headers: dict[str, str],
    entity_id: int | None,
    *,
    number: str | None = None,
    steps: tuple[str, ...] = HANDLING,
) -> dict[str, Any]:
    """A fresh case about ``entity_id`` moved through ``steps`` (default: to 处理)."""
    body: dict[str, Any] = {
        "number": number or f"泉市监网案〔2026〕{uuid.uuid4().hex[:8]}号",
        "title": "网店未亮照亮证案",
    }
    if entity_id is not None:
        body["entity_id"] = entity_id
    made = stack.client.post("/v1/cases", json=body, headers=headers)
    assert made.status_code == 201, made.text
    case: dict[str, Any] = made.json()
    for step in steps:
        moved = stack.client.post(
            f"/v1/cases/{case['id']}/transition", json={"to": step}, headers=headers
        )
        assert moved.status_code == 200, moved.text
        case = moved.json()
    return case


def close(stack: Stack, headers: dict[str, str], case_id: int, **body: Any) -> Any:
    """``POST /v1/cases/{case_id}/transition`` to closed with ``body``; the response."""
    return stack.client.post(
        f"/v1/cases/{case_id}/transition", json={"to": "closed", **body}, headers=headers
    )


def lenient_close(stack: Stack, headers: dict[str, str], case_id: int, **changes: Any) -> Any:
    """Close as 不予处罚 citing :data:`ITEM` with every condition stated as met."""
    body = {
        "outcome": "no_penalty",
        "leniency_item": ITEM,
        "corrected_in_time": True,
        "minor_harm": True,
        **changes,
    }
    return close(stack, headers, case_id, **body)


def item_body(**changes: Any) -> dict[str, Any]:
    """A valid new item with a fresh code."""
    return {
        "code": f"t-{uuid.uuid4().hex[:10]}",
        "title": "测试事项：网店未按规定公示退货规则",
        "violation": "网络交易经营者未按规定公示七日无理由退货规则，首次被发现并及时改正",
        "legal_basis": "《中华人民共和国行政处罚法》第三十三条第一款；"
        "《网络购买商品七日无理由退货暂行办法》",
        "outcome": "no_penalty",
        "conditions": {
            "first_offence": {"window_days": 365, "scope": "same_item"},
            "corrected_in_time": True,
        },
        **changes,
    }


def new_item(stack: Stack, **changes: Any) -> dict[str, Any]:
    made = stack.client.post(
        "/v1/leniency-items", json=item_body(**changes), headers=stack.auth("admin")
    )
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


def leniency_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it."""
    client, admin = stack.client, stack.auth("admin")

    def send(headers: dict[str, str]) -> Any:
        if (method, path) == ("POST", "/v1/leniency-items"):
            return client.post(path, json=item_body(), headers=headers)
        if (method, path) == ("PATCH", "/v1/leniency-items/{code}"):
            code = new_item(stack)["code"]
            return client.patch(f"/v1/leniency-items/{code}", json={"title": "改"}, headers=headers)
        if path == "/v1/leniency-items/{code}/check":
            case = handled_case(stack, admin, None, steps=())
            return client.get(
                f"/v1/leniency-items/{ITEM}/check",
                params={"case_id": case["id"], "corrected_in_time": "true"},
                headers=headers,
            )
        return client.request(method, path.format(code=ITEM), headers=headers)

    return send
