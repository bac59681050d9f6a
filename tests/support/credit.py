"""Test material for evidence_api.credit: the valid request of each of its routes for the
auth matrix (tests/integration/test_api_auth.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from evidence_api.credit.models import CreditPolicy, CreditRecord
from evidence_api.credit.records import add_record
from tests.support.api import Stack

POLICY_V1 = Path(__file__).resolve().parents[2] / "evidence_api/credit/data/policy-v1.json"


def _graded_entity(stack: Stack) -> int:
    """A fresh entity (made as an admin) with one credit record, so it has a grade."""
    made = stack.client.post(
        "/v1/entities",
        json={"platform": "example-mall", "shop_name": f"矩阵信用店{uuid.uuid4().hex[:6]}"},
        headers=stack.auth("admin"),
    )
    assert made.status_code == 201, made.text
    entity_id = int(made.json()["id"])
    now = datetime.now(UTC)
    with stack.runtime.session() as session:
        add_record(
            session,
            stack.runtime.sign_receipt,
            entity_id=entity_id,
            kind="complaint_verified",
            source=f"complaint:matrix-{uuid.uuid4().hex}",
            occurred_at=now,
            details={},
            actor="token-0",
            at=now,
        )
    return entity_id


def _next_version(stack: Stack) -> int:
    with stack.runtime.session() as session:
        newest = session.execute(select(func.max(CreditPolicy.version))).scalar_one_or_none()
    return int(newest or 1) + 1


def credit_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it: an entity
    with a record for its credit (and that record's entry); version 1 (installed on first
    use) for one policy; a policy one version above the newest for an upload."""

    def send(headers: dict[str, str]) -> Any:
        if path == "/v1/entities/{entity_id}/credit":
            url = path.format(entity_id=_graded_entity(stack))
            return stack.client.request(method, url, headers=headers)
        if path == "/v1/credit/entries/{entry_id}":
            entity_id = _graded_entity(stack)
            with stack.runtime.session() as session:
                entry_id = session.execute(
                    select(CreditRecord.entry_id).where(CreditRecord.entity_id == entity_id)
                ).scalar_one()
            return stack.client.request(method, path.format(entry_id=entry_id), headers=headers)
        if path == "/v1/credit/policies/{version}":
            return stack.client.request(method, path.format(version=1), headers=headers)
        if (method, path) == ("POST", "/v1/credit/policies"):
            stack.client.get("/v1/credit/policies", headers=stack.auth("admin"))  # install v1
            document = json.loads(POLICY_V1.read_text(encoding="utf-8"))
            document["version"] = _next_version(stack)
            return stack.client.request(method, path, headers=headers, json=document)
        if path == "/v1/credit/policies":
            return stack.client.request(method, path, headers=headers)
        raise NotImplementedError(f"{method} {path}")

    return send
