"""信用修复 test material: a unit tree with an officer in each county, an entity with
credit records and a placement on the serious-violator list (written the way the features
write them: records through ``credit.records.add_record``), the public form's parts, and
the valid request of each repair route for the auth matrix
(tests/integration/test_api_auth.py)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from evidence_api.core.auth import create_token
from evidence_api.core.ids import new_id
from evidence_api.core.models import OrgUnit
from evidence_api.credit.records import add_record, record_ref
from evidence_api.registry.models import Platform, TradingEntity
from evidence_api.registry.uscc import ALPHABET, check_character
from evidence_api.units import service as units
from evidence_api.units.schemas import UnitCreate
from evidence_api.violators.models import SeriousViolation
from tests.support.api import Stack, auth_header, client_at

#: The smallest valid PNG and PDF heads (the public intake checks content by its bytes).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + secrets.token_bytes(32)
PDF = b"%PDF-1.4\n% rectification report\n" + b"1 0 obj <<>> endobj\n%%EOF\n"


def fresh_uscc() -> str:
    """A valid, fresh 统一社会信用代码 (a Quanzhou enterprise; random body, its check
    character per GB 32100-2015)."""
    body = "91350100" + "".join(secrets.choice(ALPHABET[:10]) for _ in range(9))
    return body + check_character(body)


Parts = list[tuple[str, tuple[str | None, bytes | str, str | None]]]


@dataclass
class RepairWorld:
    """Unit codes (``city``, ``a``, ``b``), an officer token in each, one platform."""

    units: dict[str, str] = field(default_factory=dict)
    unit_ids: dict[str, int] = field(default_factory=dict)
    officers: dict[str, str] = field(default_factory=dict)
    platform: str = ""
    platform_id: int = 0

    def officer(self, name: str) -> dict[str, str]:
        return auth_header(self.officers[name])


def seed_world(stack: Stack) -> RepairWorld:
    """A city with two counties (fresh codes), an officer token in each, a platform."""
    tag = uuid.uuid4().hex[:8]
    world = RepairWorld()
    with stack.runtime.session() as session:
        for key, suffix, level, parent in (
            ("city", "", "city", None),
            ("a", ".a", "county", ""),
            ("b", ".b", "county", ""),
        ):
            code = f"qz{tag}{suffix}"
            units.create_unit(
                session,
                UnitCreate(
                    code=code,
                    name=f"{key} 市场监督管理局",
                    level=level,
                    parent=None if parent is None else f"qz{tag}{parent}",
                ),
            )
            world.units[key] = code
            _, world.officers[key] = create_token(
                session, role="officer", name=f"officer {code}", unit=code
            )
        for key, code in world.units.items():
            world.unit_ids[key] = session.execute(
                select(OrgUnit.id).where(OrgUnit.code == code)
            ).scalar_one()
        now = datetime.now(UTC)
        world.platform = f"mall-{tag}"
        row = Platform(code=world.platform, name="测试商城", created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        world.platform_id = row.id
    return world


def add_entity(
    stack: Stack,
    world: RepairWorld,
    *,
    unit: str = "a",
    uscc: str | None = None,
    risk_class: str | None = None,
    shop_name: str | None = None,
) -> int:
    """A fresh entity in ``unit``; its id."""
    now = datetime.now(UTC)
    with stack.runtime.session() as session:
        row = TradingEntity(
            platform_id=world.platform_id,
            shop_name=shop_name or f"某某旗舰店-{uuid.uuid4().hex[:6]}",
            shop_id=uuid.uuid4().hex[:12],
            uscc=uscc,
            risk_class=risk_class,
            unit_id=world.unit_ids[unit],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def add_credit_record(stack: Stack, entity_id: int, kind: str, *, days_ago: float) -> str:
    """A credit record of ``kind`` that happened ``days_ago`` days ago; its ref."""
    now = datetime.now(UTC)
    with stack.runtime.session() as session:
        row = add_record(
            session,
            stack.runtime.sign_receipt,
            entity_id=entity_id,
            kind=kind,
            source=f"case:test-{uuid.uuid4().hex[:12]}",
            occurred_at=now - timedelta(days=days_ago),
            details={"outcome": kind},
            actor="test",
            at=now,
        )
        assert row is not None
        return record_ref(row.id)


def add_placement(stack: Stack, world: RepairWorld, entity_id: int, *, days_ago: float) -> str:
    """A placement on the list since ``days_ago`` days (the row and its ``serious_listed``
    record as the list writes them); its id."""
    now = datetime.now(UTC)
    listed_from = now - timedelta(days=days_ago)
    violation_id = new_id("sv")
    with stack.runtime.session() as session:
        session.add(
            SeriousViolation(
                id=violation_id,
                entity_id=entity_id,
                unit_id=world.unit_ids["a"],
                status="listed",
                legal_basis="《市场监督管理严重违法失信名单管理办法》第十条",
                reason="测试列入",
                listed_from=listed_from,
                listed_until=listed_from + timedelta(days=3 * 365),
                placed_by="test",
                change_seq=0,
                entry_id=f"test-{violation_id}",
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        add_record(
            session,
            stack.runtime.sign_receipt,
            entity_id=entity_id,
            kind="serious_listed",
            source=f"violation:{violation_id}",
            occurred_at=listed_from,
            details={"violation_id": violation_id},
            actor="test",
            at=now,
        )
    return violation_id


def application(
    *,
    uscc: str | None = None,
    shop_name: str | None = None,
    platform: str | None = None,
    violation_id: str | None = None,
    record_refs: str | None = None,
    files: dict[str, tuple[bytes, str]] | None = None,
    **overrides: str,
) -> Parts:
    """A public application's multipart parts (``files``: name -> (bytes, media type))."""
    fields: dict[str, str | None] = {
        "uscc": uscc,
        "shop_name": shop_name,
        "platform": platform,
        "violation_id": violation_id,
        "record_refs": record_refs,
        "applicant_name": "张某",
        "applicant_contact": "13800000000",
        "statement": "已履行行政处罚决定，下架全部涉案商品，完成整改。",
        "pledge": "true",
    }
    fields |= overrides
    parts: Parts = [(k, (None, v, None)) for k, v in fields.items() if v is not None]
    chosen = {"整改报告.pdf": (PDF, "application/pdf")} if files is None else files
    parts += [("files", (name, data, media)) for name, (data, media) in chosen.items()]
    return parts


# --- the auth matrix -----------------------------------------------------------------------

_WORLDS: dict[int, RepairWorld] = {}


def _world(stack: Stack) -> RepairWorld:
    key = id(stack)
    if key not in _WORLDS:
        _WORLDS[key] = seed_world(stack)
    return _WORLDS[key]


def _fresh(stack: Stack) -> tuple[int, str]:
    """An entity with a penalty record old enough to repair: (entity id, record ref)."""
    world = _world(stack)
    entity_id = add_entity(stack, world)
    return entity_id, add_credit_record(stack, entity_id, "case_penalty", days_ago=400)


def _applied(stack: Stack) -> tuple[str, str]:
    """A fresh application by shop name (through the public route): (id, access token)."""
    world = _world(stack)
    entity_id, ref = _fresh(stack)
    with stack.runtime.session() as session:
        name = session.get(TradingEntity, entity_id).shop_name  # type: ignore[union-attr]
    parts = application(shop_name=name, platform=world.platform, record_refs=ref)
    response = client_at(stack, f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}").post(
        "/v1/public/credit-repairs", files=parts
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["repair_id"], body["access_token"]


def repairs_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it: the
    matrix's tokens have no unit, so they reach every application."""
    client = stack.client
    if (method, path) == ("POST", "/v1/public/credit-repairs"):
        world = _world(stack)
        entity_id, ref = _fresh(stack)
        with stack.runtime.session() as session:
            name = session.get(TradingEntity, entity_id).shop_name  # type: ignore[union-attr]
        parts = application(shop_name=name, platform=world.platform, record_refs=ref)
        sender = client_at(stack, f"10.8.{secrets.randbelow(250)}.{secrets.randbelow(250)}")
        return lambda headers: sender.post(path, files=parts, headers=headers)
    if (method, path) == ("GET", "/v1/public/credit-repairs/{repair_id}"):
        repair_id, token = _applied(stack)
        url = f"/v1/public/credit-repairs/{repair_id}"
        return lambda headers: client.get(url, headers={**headers, "X-Access-Token": token})
    if (method, path) == ("GET", "/v1/credit-repairs"):
        return lambda headers: client.get(path, headers=headers)
    if (method, path) == ("GET", "/v1/credit-repairs/{repair_id}"):
        repair_id, _ = _applied(stack)
        return lambda headers: client.get(f"/v1/credit-repairs/{repair_id}", headers=headers)
    if (method, path) == ("POST", "/v1/credit-repairs/{repair_id}/decision"):
        state: dict[str, str] = {}

        def decide(headers: dict[str, str]) -> Any:
            # Each allowed role decides a fresh application (a decision is final).
            if "id" not in state or headers.get("Authorization"):
                state["id"], _ = _applied(stack)
            url = f"/v1/credit-repairs/{state['id']}/decision"
            body = {"decision": "reject", "reason": "材料不全"}
            return client.post(url, json=body, headers=headers)

        return decide
    raise NotImplementedError(f"{method} {path}")
