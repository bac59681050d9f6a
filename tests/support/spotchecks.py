"""双随机、一公开 test helpers: a unit tree with officers, a bulk-inserted entity register
with credit grades and recent cases (recusals), and the auth matrix's valid requests
to ``/v1/inspection-items`` and ``/v1/spot-checks``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import insert, select
from web3 import EthereumTesterProvider, Web3

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
        station_of = {int(e): by_unit[int(u or 0)] for e, u in made}
        for entity_id, code in station_of.items():
            world.entities.setdefault(code, []).append(entity_id)
        cases = []
        for n, entity_id in enumerate(list(station_of)[: recent_cases + old_cases]):
            code = station_of[entity_id]
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


class TesterBlocks:
    """An in-process chain (eth-tester) in the place of the runtime's chain client, for
    stacks running without a chain (the auth matrix's): what the seed reads of it."""

    def __init__(self) -> None:
        self.w3 = Web3(EthereumTesterProvider())

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        if number > self.head():
            return None
        return HexBytes(self.w3.eth.get_block(number)["hash"]).to_0x_hex()

    def mine_to(self, height: int) -> None:
        while self.head() < height:
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


_WORLDS: dict[int, tuple[World, TesterBlocks]] = {}


def _small_world(stack: Stack) -> tuple[World, TesterBlocks]:
    if id(stack) not in _WORLDS:
        world = seed_world(stack.runtime, stations=1, officers_per_station=2, entities=3)
        _WORLDS[id(stack)] = (world, TesterBlocks())
    return _WORLDS[id(stack)]


@contextmanager
def seeded_by(runtime: Runtime, blocks: TesterBlocks) -> Iterator[None]:
    """``runtime`` reads seed blocks from ``blocks`` meanwhile, when it has no chain."""
    if runtime.chain is not None:
        yield
        return
    runtime.chain = SimpleNamespace(client=blocks, rpc_url=None)  # type: ignore[assignment]
    try:
        yield
    finally:
        runtime.chain = None


def spotcheck_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to a spot-check operation: a fresh plan committed (its seed block
    mined, and drawn, where the operation needs it) as an admin. A stack without a chain
    reads its seed blocks from an in-process chain while the request runs."""
    client, admin = stack.client, stack.auth("admin")

    def mine(blocks: TesterBlocks, height: int) -> None:
        chain = stack.runtime.chain
        if isinstance(chain, SimpleNamespace):
            blocks.mine_to(height)
        else:
            assert chain is not None and chain.rpc_url is not None
            mine_to(chain.rpc_url, height)

    def plan(world: World, blocks: TesterBlocks, mined: bool, drawn: bool) -> dict[str, Any]:
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
            mine(blocks, answer["seed_height"])
        if drawn:
            done = client.post(f"/v1/spot-checks/{answer['plan_id']}/draw", headers=admin)
            assert done.status_code == 200, done.text
            answer = done.json()
        return answer

    def send(headers: dict[str, str]) -> Any:
        world, blocks = _small_world(stack)
        body: dict[str, Any] | None = None
        target = path
        with seeded_by(stack.runtime, blocks):
            if path == "/v1/inspection-items" and method == "POST":
                body = {
                    "code": f"auth-{uuid.uuid4().hex[:8]}",
                    "name": "授权矩阵测试事项",
                    "legal_basis": "《中华人民共和国电子商务法》第十五条",
                    "department": "市场监督管理部门",
                }
            elif path == "/v1/spot-checks" and method == "POST":
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
                made = plan(
                    world,
                    blocks,
                    mined=path.endswith(("/draw", "/results")),
                    drawn=path.endswith("/results"),
                )
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
