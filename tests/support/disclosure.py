"""信息公示 test material: a unit, an entity and a case closed after handling, ready to
publish (through the real API), and the valid request of each disclosure route for the
auth matrix."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from evidence_api.core.models import OrgUnit
from evidence_api.registry.models import CaseFile
from tests.support.api import Stack
from tests.support.spotchecks import TesterBlocks, mine_to, seed_world, seeded_by

#: A valid 统一社会信用代码 (the registry's own example).
USCC = "91350100M000100Y43"
DECISION: dict[str, Any] = {
    "decision_number": "泉市监处罚〔2026〕88号",
    "facts": "当事人在其网店销售的保健食品页面宣称“根治糖尿病”，构成虚假宣传。",
    "legal_basis": "《中华人民共和国反不正当竞争法》第八条第一款、第二十条",
    "penalty": "责令停止违法行为，罚款人民币伍万元整。",
    "decision_date": "2026-11-30",
}


def add_unit(stack: Stack, name: str = "泉州市丰泽区市场监督管理局") -> int:
    """A unit row at the top of the tree; its id."""
    with stack.runtime.session() as session:
        row = OrgUnit(
            code=f"t.{secrets.token_hex(4)}",
            name=name,
            level="county",
            path="/",
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        row.path = f"/{row.id}/"
        return int(row.id)


def closed_case(
    stack: Stack,
    headers: dict[str, str],
    *,
    unit_id: int | None,
    shop_name: str = "某某保健品旗舰店",
    uscc: str | None = USCC,
    steps: tuple[str, ...] = ("filed", "investigating", "handling", "closed"),
    note: str = "依法处理",
) -> int:
    """An entity and a case about it, moved through ``steps`` (with ``note`` on each);
    the case's unit set to ``unit_id``. Its id."""
    client = stack.client
    entity: dict[str, Any] = {"platform": "example-mall", "shop_name": shop_name}
    if uscc is not None:
        entity["uscc"] = uscc
    made = client.post("/v1/entities", json=entity, headers=headers)
    assert made.status_code == 201, made.text
    case = client.post(
        "/v1/cases",
        json={
            "number": f"泉市监网案〔2026〕{uuid.uuid4().hex[:8]}号",
            "title": "虚假宣传案",
            "entity_id": made.json()["id"],
        },
        headers=headers,
    )
    assert case.status_code == 201, case.text
    case_id = int(case.json()["id"])
    with stack.runtime.session() as session:
        session.execute(update(CaseFile).where(CaseFile.id == case_id).values(unit_id=unit_id))
    for i, step in enumerate(steps):
        body: dict[str, Any] = {"to": step, "note": note}
        if step == "closed" and i > 0:  # closed after handling: a penalty (docs/leniency.md)
            body["outcome"] = "penalty"
        moved = client.post(f"/v1/cases/{case_id}/transition", json=body, headers=headers)
        assert moved.status_code == 200, moved.text
    return case_id


def decision(**changes: Any) -> dict[str, Any]:
    """:data:`DECISION` with a fresh decision number, and ``changes``."""
    return DECISION | {"decision_number": f"泉市监处罚〔2026〕{uuid.uuid4().hex[:8]}号"} | changes


def disclosure_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to a disclosure route (a fresh closed case, a fresh publication)."""
    client, officer = stack.client, stack.auth("officer")

    def published() -> str:
        unit = add_unit(stack)
        case_id = closed_case(stack, officer, unit_id=unit)
        made = client.post(f"/v1/cases/{case_id}/publication", json=decision(), headers=officer)
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    def send(headers: dict[str, str]) -> Any:
        body: dict[str, Any] | None = None
        if path == "/v1/cases/{case_id}/publication":
            case_id = closed_case(stack, officer, unit_id=add_unit(stack))
            url, body = path.format(case_id=case_id), decision()
        elif "{publication_id}" in path:
            url = path.format(publication_id=published())
            body = {"reason": "行政复议撤销"} if path.endswith("/withdraw") else None
        elif "{plan_id}" in path:
            url = path.format(plan_id=published_plan(stack).plan_id)
        else:
            url = path
        return client.request(method, url, headers=headers, json=body)

    return send


#: A published plan per stack (made once: it mines blocks and draws).
_PLANS: dict[int, PublishedPlan] = {}
#: The note of the plan's result: never public.
RESULT_NOTE = "检查备注：负责人手机 13900000000"


@dataclass(frozen=True)
class PublishedPlan:
    plan_id: str
    plan_sha256: str
    seed_height: int
    officer_names: tuple[str, ...]
    #: the pool's token pseudonyms (token-<id>): public only as the plan's off-<n>
    officer_pseudonyms: tuple[str, ...]


def published_plan(stack: Stack) -> PublishedPlan:
    """A spot-check plan committed, drawn (its seed block mined on the stack's chain), with
    a result (noted) and published, as an admin; made once per stack."""
    if id(stack) in _PLANS:
        return _PLANS[id(stack)]
    client, admin = stack.client, stack.auth("admin")
    world = seed_world(stack.runtime, stations=1, officers_per_station=2, entities=3)
    blocks = TesterBlocks()  # read only by a stack without a chain (the auth matrix's)
    body = {
        "title": "2026年第四季度网络交易经营者亮照亮证“双随机”抽查",
        "items": ["wj-01-license"],
        "region": world.root,
        "officer_units": [world.root],
        "entity_count": 1,
        "officer_count": 2,
    }
    with seeded_by(stack.runtime, blocks):
        made = client.post("/v1/spot-checks", json=body, headers=admin)
        assert made.status_code == 201, made.text
        plan = made.json()
        chain = stack.runtime.chain
        assert chain is not None
        if chain.rpc_url is None:
            blocks.mine_to(plan["seed_height"])
        else:
            mine_to(chain.rpc_url, plan["seed_height"])
        drawn = client.post(f"/v1/spot-checks/{plan['plan_id']}/draw", headers=admin)
        assert drawn.status_code == 200, drawn.text
    (first,) = drawn.json()["drawn"]
    result = {
        "entity": first["entity"],
        "outcome": "rectify",
        "note": RESULT_NOTE,
        "officer": first["officers"][0],
    }
    noted = client.post(f"/v1/spot-checks/{plan['plan_id']}/results", json=result, headers=admin)
    assert noted.status_code == 201, noted.text
    published = client.post(f"/v1/spot-checks/{plan['plan_id']}/publish", headers=admin)
    assert published.status_code == 200, published.text
    names = tuple(
        f"sc {code} {k}" for code in world.stations for k in range(len(world.officers[code]))
    )
    pseudonyms = tuple(f"token-{t}" for ids in world.officers.values() for t in ids)
    found = PublishedPlan(
        plan["plan_id"], plan["plan_sha256"], plan["seed_height"], names, pseudonyms
    )
    _PLANS[id(stack)] = found
    return found
