"""Test material for evidence_api.stats: the valid request of each of its routes for the
auth matrix (tests/integration/test_api_auth.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.api import Stack

#: A period every database answers for (the figures themselves are tested elsewhere).
PERIOD = "from=2026-01-01&to=2026-12-31"


def stats_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it."""
    if (method, path) not in (("GET", "/v1/stats/market"), ("GET", "/v1/stats/market.csv")):
        raise NotImplementedError(f"{method} {path}")

    def send(headers: dict[str, str]) -> Any:
        return stack.client.get(f"{path}?{PERIOD}", headers=headers)

    return send
