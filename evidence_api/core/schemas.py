"""RFC 9457 problem bodies as documented in the OpenAPI spec."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem bodies for ``statuses``."""
    return {status: {"model": Problem} for status in statuses}
