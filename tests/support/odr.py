"""Test material for evidence_api.odr (filled in by the feature): the valid request of each
of its routes for the auth matrix (tests/integration/test_api_auth.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.api import Stack


def odr_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it."""
    raise NotImplementedError(f"{method} {path}")
