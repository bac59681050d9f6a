"""双随机、一公开 test helpers: a unit tree with officers, a bulk-inserted entity register
with credit grades and recent cases (recusals), and the auth matrix's valid requests
to ``/v1/inspection-items`` and ``/v1/spot-checks``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from evidence_api.core.auth import create_token
from evidence_api.core.runtime import Runtime
from evidence_api.registry.models import CaseFile, Platform, TradingEntity
from evidence_api.units import service as units
from evidence_api.units.schemas import UnitCreate
from tests.support.anvil import rpc
from tests.support.api import Stack, ensure_example_platform

GRADES = ("A", "B", "C", "D", None)


@dataclass
class World:
    """What :func:`seed_world` made: unit codes, officers by unit, entity ids by unit."""

    root: str
    stations: list[str]
    officers: dict[str, list[int]] = field(default_factory=dict)
    officer_tokens: dict[int, str] = field(default_factory=dict)
    entities: dict[str, list[int]] = field(default_factory=dict)
    #: (entity id, unit code) of cases opened recently / long ago
    recent_cases: list[tuple[int, str]] = field(default_factory=list)
    old_cases: list[tuple[int, str]] = field(default_factory=list)


def seed_world(
    runtime: Runtime,
    *,
    stations: int,
    officers_per_station: int,
    entities: int,
    recent_cases: int = 0,
    old_cases: int = 0,
) -> World:
    """A city with ``stations`` county units, officers in each, ``entities`` entities
    spread over the stations (grades A, B, C, D, none in turn) inserted in bulk, and
    cases (each on a distinct entity, by the entity's own station)."""
    tag = uuid.uuid4().hex[:8]
    root = f"sc-{tag}"
    world = World(root, [f"{root}.s{i}" for i in range(stations)])
    now = datetime.now(UTC)
    with runtime.session() as session:
        ensure_example_platform(session)
        platform = session.execute(
            select(Platform.id).where(Platform.code == "example-mall")
        ).scalar_one()
        units.create_unit(session, UnitCreate(code=root, name=f"抽查测试市局{tag}", level="city"))
        unit_ids = {}
        for i, code in enumerate(world.stations):
            units.create_unit(
                session,
                UnitCreate(code=code, name=f"第{i}区市场监管局", level="county", parent=root),
            )
            unit_ids[code] = units.unit_by_code(session, code).id
            world.officers[code] = []
            for k in range(officers_per_station):
                row, token = create_token(session, role="officer", name=f"sc {code} {k}", unit=code)
                world.officers[code].append(row.id)
                world.officer_tokens[row.id] = token
        rows = [
            {
                "platform_id": platform,
                "shop_name": f"抽查样本店{tag}-{n:05d}",
                "shop_id": f"{tag}-{n}",
                "uscc": None,
                "risk_grade": GRADES[n % len(GRADES)],
                "risk_class": "食品" if n % 3 == 0 else "服装",
                "unit_id": unit_ids[world.stations[n % stations]],
                "created_at": now,
                "updated_at": now,
            }
            for n in range(entities)
        ]
        session.execute(insert(TradingEntity), rows)
        made = session.execute(
            select(TradingEntity.id, TradingEntity.unit_id)
            .where(TradingEntity.shop_id.startswith(f"{tag}-"))
            .order_by(TradingEntity.id)
        ).all()
        by_unit = {v: k for k, v in unit_ids.items()}
        for entity_id, unit_id in made:
            world.entities.setdefault(by_unit[unit_id], []).append(int(entity_id))
        ids = [int(e) for e, _ in made]
        cases = []
        for n, entity_id in enumerate(ids[: recent_cases + old_cases]):
            code = by_unit[dict(made)[entity_id]]
            at = now - timedelta(days=10 if n < recent_cases else 400)
            (world.recent_cases if n < recent_cases else world.old_cases).append((entity_id, code))
            cases.append(
                {
                    "number": f"sc-{tag}-{n}",
                    "title": "抽查测试案件",
                    "entity_id": entity_id,
                    "officer": "token-0",
                    "status": "filed",
                    "unit_id": unit_ids[code],
                    "created_at": at,
                    "updated_at": at,
                }
            )
        if cases:
            session.execute(insert(CaseFile), cases)
    return world


def mine_to(url: str, height: int) -> int:
    """Mine blocks on the anvil at ``url`` until its head reaches ``height``; the head."""
    head = int(str(rpc(url, "eth_blockNumber")), 16)
    if head < height:
        rpc(url, "anvil_mine", [hex(height - head)])
        head = int(str(rpc(url, "eth_blockNumber")), 16)
    return head


def block_hash(url: str, height: int) -> str:
    """The hash of block ``height``, read from the node itself."""
    block = rpc(url, "eth_getBlockByNumber", [hex(height), False])
    assert isinstance(block, dict), block
    return str(block["hash"])


# --- the auth matrix ---------------------------------------------------------------------

_WORLDS: dict[int, World] = {}


def _small_world(stack: Stack) -> World:
    if id(stack) not in _WORLDS:
        _WORLDS[id(stack)] = seed_world(
            stack.runtime, stations=1, officers_per_station=2, entities=3
        )
    return _WORLDS[id(stack)]


def spotcheck_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to a spot-check operation: a fresh plan committed (and drawn,
    its seed block mined first, where the operation needs it) as an admin."""
    client, admin = stack.client, stack.auth("admin")
    assert stack.runtime.chain is not None and stack.runtime.chain.rpc_url is not None
    url = stack.runtime.chain.rpc_url

    def plan(mined: bool, drawn: bool) -> dict[str, Any]:
        world = _small_world(stack)
        body = {
            "title": "auth matrix",
            "items": ["wj-01-license"],
            "region": world.root,
            "officer_units": [world.root],
            "entity_count": 1,
            "officer_count": 2,
        }
        made = client.post("/v1/spot-checks", json=body, headers=admin)
        assert made.status_code == 201, made.text
        answer: dict[str, Any] = made.json()
        if mined:
            mine_to(url, answer["seed_height"])
        if drawn:
            done = client.post(f"/v1/spot-checks/{answer['plan_id']}/draw", headers=admin)
            assert done.status_code == 200, done.text
            answer = done.json()
        return answer

    def send(headers: dict[str, str]) -> Any:
        body: dict[str, Any] | None = None
        target = path
        if path == "/v1/inspection-items" and method == "POST":
            body = {
                "code": f"auth-{uuid.uuid4().hex[:8]}",
                "name": "授权矩阵测试事项",
                "legal_basis": "《中华人民共和国电子商务法》第十五条",
                "department": "市场监督管理部门",
            }
        elif path == "/v1/spot-checks" and method == "POST":
            world = _small_world(stack)
            body = {
                "title": "auth matrix",
                "items": ["wj-01-license"],
                "region": world.root,
                "officer_units": [world.root],
                "entity_count": 1,
                "officer_count": 1,
                "inspectors_per_entity": 1,
            }
        elif "{plan_id}" in path:
            made = plan(mined=path.endswith(("/draw", "/results")), drawn=path.endswith("/results"))
            target = path.replace("{plan_id}", made["plan_id"])
            if path.endswith("/results"):
                (drawn,) = made["drawn"]
                body = {
                    "entity": drawn["entity"],
                    "outcome": "qualified",
                    "officer": drawn["officers"][0],
                }
        return client.request(method, target, headers=headers, json=body)

    return send
