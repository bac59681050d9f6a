"""RFC 9457 problem documents, shared by the verification service and the evidence API.

Pure: no framework import. Both services build every error body with
:func:`problem_body`, name the input a validation error concerns with
:func:`field_path` (``digests[3]``, ``metadata.captured_at``) and document it
with :data:`PROBLEM_SCHEMA`, so a client reads one error format from both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://evidence-anchor.invalid/problems/"

#: Titles of the statuses a handler maps without a title of its own (unknown
#: route, wrong method, the framework's refusals, unexpected errors).
STATUS_TITLES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_upstream",
    503: "unavailable",
}
#: The title of a request that does not match the operation's declared shape.
VALIDATION_TITLE = "invalid_input"
#: Leading parts of a pydantic error location that name where the input came from.
LOCATIONS = ("body", "query", "path", "header", "cookie")

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the kind of problem"},
        "title": {"type": "string", "description": "short code, e.g. invalid_input"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "what was wrong, for a person"},
        "field": {"type": "string", "description": "the input the problem concerns"},
    },
}


def status_title(status: int) -> str:
    """The title of ``status`` when the code raising it names none."""
    return STATUS_TITLES.get(status, "error")


def problem_body(status: int, title: str, detail: str, field: str | None = None) -> dict[str, Any]:
    """The problem document: ``type`` is :data:`TYPE_BASE` + ``title``; ``field`` only if given."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + title,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    return body


def field_path(loc: Sequence[object]) -> str:
    """A pydantic error location as a field path: ``digests[3]``, ``metadata.captured_at``.

    A leading ``body``/``query``/``path``/``header`` is dropped; a location that is
    only that part is named by it (``body``), an empty one is ``request``.
    """
    parts = tuple(loc)
    rest = parts[1:] if parts[:1] and parts[0] in LOCATIONS else parts
    where = ""
    for part in rest:
        if isinstance(part, int):
            where += f"[{part}]"
        else:
            where += f".{part}" if where else str(part)
    return where or (str(parts[0]) if parts else "request")


def validation_problem(error: Mapping[str, Any]) -> dict[str, Any]:
    """The 422 document of one pydantic/FastAPI validation error (its first one is enough)."""
    if error.get("type") == "json_invalid":  # loc holds a character position, not a field
        return problem_body(422, VALIDATION_TITLE, "body: is not valid JSON", field="body")
    where = field_path(error.get("loc", ()))
    detail = f"{where}: {error.get('msg', 'invalid')}"
    return problem_body(422, VALIDATION_TITLE, detail, field=where)
