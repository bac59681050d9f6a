"""The OpenAPI document says what the service really answers.

FastAPI documents error responses as ``application/json`` and adds its own
``HTTPValidationError`` for 422, while every error this service sends is an
RFC 9457 ``application/problem+json`` document. :func:`install_openapi`
rewrites the generated document once: every 4xx/5xx response carries the
``Problem`` schema under ``application/problem+json``; every operation
documents the refusals any request can meet (400 malformed, 413 too large,
422 invalid, 503 unavailable), and operations that need a token declare the
bearer scheme and its refusals (401, 403, 429).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from verifier.service.problem import PROBLEM_SCHEMA

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
#: Refusals any operation can answer, and those of operations that need a token.
COMMON = {
    "400": "malformed request (e.g. a body that is not UTF-8 JSON)",
    "413": "body over the route's limit",
    "422": "invalid input (the detail names the field)",
    "503": "database or storage unavailable; retry after Retry-After",
}
AUTHENTICATED = {
    "401": "missing, invalid, expired or revoked token",
    "403": "the token's role may not do this",
    "429": "too many invalid tokens from this client; retry after Retry-After",
}
BEARER = {"bearer": {"type": "http", "scheme": "bearer", "description": "API token (ea_...)"}}


def problem_content() -> dict[str, Any]:
    return {"application/problem+json": {"schema": dict(PROBLEM_REF)}}


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI OpenAPI document as described in the module docstring."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    components.setdefault("securitySchemes", {}).update(BEARER)
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses: dict[str, Any] = op["responses"]
            extra = dict(COMMON)
            if op.get("security"):
                extra.update(AUTHENTICATED)
            for status, description in extra.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = problem_content()
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in str(doc.get("paths")):
            del schemas[unused]
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`normalise`'s document at ``/openapi.json`` (built once, on demand)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = normalise(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@lru_cache(maxsize=64)
def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for ``path`` (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        if _template(template).match(path):
            methods.update(m.upper() for m in item if m != "parameters")
    return sorted(methods)
