"""Dependency aliases shared by the routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from evidence_api.core.auth import Principal, authenticate
from evidence_api.core.errors import ForbiddenError
from evidence_api.core.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only bearer tokens of ``roles`` (401 without, 403 wrong role)."""

    def dependency(
        request: Request,
        runtime: RuntimeDep,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Principal:
        # The request guard (evidence_api.core.guard) checked the token before the body was read.
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            with runtime.session() as session:
                principal = authenticate(session, authorization)
        if principal.role not in roles:
            raise ForbiddenError(
                f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}"
            )
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]  # read by the request guard
    return dependency


Submitter = Annotated[Principal, Depends(require("officer", "admin"))]
Reader = Annotated[Principal, Depends(require("officer", "admin", "appraiser"))]

#: The ``Idempotency-Key`` header of a submission: printable ASCII, at most 128 characters.
IdempotencyKey = Annotated[
    str | None,
    Header(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"),
]
