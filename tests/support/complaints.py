"""Test material for evidence_api.complaints: the public form, complaints made straight
through the service (no rate limit: a fresh client key each), and the valid request of
each route for the auth matrix (tests/integration/test_api_auth.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from evidence_api.complaints import service
from evidence_api.complaints.models import Complaint
from tests.support.api import Stack

#: Smallest valid files of each accepted type (by content).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def complaint_fields(**overrides: str | None) -> dict[str, str]:
    """The text fields of a valid public complaint (None in ``overrides``: left out)."""
    fields: dict[str, str | None] = {
        "kind": "complaint",
        "category": "quality",
        "shop_name": "某某美妆旗舰店",
        "platform": None,
        "text": "购买的面霜与页面描述不符，商家拒绝退货。",
        "name": "张三",
        "contact": "13800000000",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def complaint_form(
    fields: dict[str, str], files: dict[str, tuple[bytes, str]] | None = None
) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    """``data`` and ``files`` arguments of an httpx multipart post."""
    parts = [("files", (name, data, ctype)) for name, (data, ctype) in (files or {}).items()]
    return fields, parts


def post_complaint(
    client: TestClient, fields: dict[str, str], files: dict[str, tuple[bytes, str]] | None = None
) -> Any:
    """``POST /v1/public/complaints``, always multipart (text fields as parts)."""
    data, parts = complaint_form(fields, files)
    text_parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        (k, (None, v.encode(), "text/plain; charset=utf-8")) for k, v in data.items()
    ]
    return client.post("/v1/public/complaints", files=[*text_parts, *parts])


def make_complaint(stack: Stack, *, status: str | None = None, **fields: str | None) -> str:
    """A complaint recorded through the service (a fresh client key: no rate limit), its
    status then set to ``status`` when given (a test's shortcut); returns its id."""
    return make_complaint_with_token(stack, status=status, **fields)[0]


def make_complaint_with_token(
    stack: Stack, *, status: str | None = None, **fields: str | None
) -> tuple[str, str]:
    """:func:`make_complaint`, with the access token."""
    req = service.parse_fields(complaint_fields(**fields))
    complaint_id = f"cp-{uuid.uuid4().hex[:28]}"
    with stack.runtime.session() as session:
        created = service.record_complaint(
            session,
            stack.runtime.sign_receipt,
            stack.settings,
            complaint_id=complaint_id,
            req=req,
            client=uuid.uuid4().hex,
            attachments=[],
            now=datetime.now(UTC),
        )
        if status is not None:
            row = session.query(Complaint).filter(Complaint.id == complaint_id).one()
            row.status = status
    stack.runtime.queued(1)
    return complaint_id, created.access_token


def complaints_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it.

    The matrix expects 200 from a public route; the public intake answers 201, so its
    request posts a complaint, asserts the 201 there, and answers with the token read of
    that very complaint (200), which needs the token the 201 showed."""
    client = stack.client
    if (method, path) == ("POST", "/v1/public/complaints"):

        def post(headers: dict[str, str]) -> Any:
            response = post_complaint(
                client, complaint_fields(contact=f"{uuid.uuid4().hex}@example.cn")
            )
            assert response.status_code == 201, response.text
            created = response.json()
            return client.get(
                f"/v1/public/complaints/{created['complaint_id']}",
                headers={"X-Access-Token": created["access_token"]},
            )

        return post
    if (method, path) == ("GET", "/v1/public/complaints/{complaint_id}"):
        complaint_id, token = make_complaint_with_token(stack)

        def read(headers: dict[str, str]) -> Any:
            return client.get(
                f"/v1/public/complaints/{complaint_id}",
                headers={**headers, "X-Access-Token": token},
            )

        return read
    if (method, path) == ("GET", "/v1/complaints"):
        return lambda headers: client.get("/v1/complaints", headers=headers)
    if (method, path) == ("GET", "/v1/complaints/{complaint_id}"):
        complaint_id = make_complaint(stack)
        return lambda headers: client.get(f"/v1/complaints/{complaint_id}", headers=headers)
    if (method, path) == ("POST", "/v1/complaints/{complaint_id}/triage"):
        return lambda headers: client.post(
            f"/v1/complaints/{make_complaint(stack)}/triage",
            json={"action": "reject", "reason": "auth matrix"},
            headers=headers,
        )
    if (method, path) == ("POST", "/v1/complaints/{complaint_id}/resolve"):
        return lambda headers: client.post(
            f"/v1/complaints/{make_complaint(stack, status='clue')}/resolve",
            json={"substantiated": False},
            headers=headers,
        )
    raise NotImplementedError(f"{method} {path}")
