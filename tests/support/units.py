"""Valid requests to ``/v1/units`` for the role matrix (tests/integration/test_api_auth.py):
each write acts on a unit of its own, each read on a unit that exists."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.support.api import Stack


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
