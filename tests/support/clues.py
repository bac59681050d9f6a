"""线索转办 / 协查 test helpers: a small unit tree with an officer in each unit, two
platforms with a token each and an entity, alone or in a running stack of its own; the
clue and assist calls the tests repeat; and the auth matrix's valid requests to
``/v1/clues``, ``/v1/assists`` and ``/v1/platform/assists``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.core.auth import create_token
from evidence_api.core.config import Settings
from evidence_api.registry.models import Platform, TradingEntity
from evidence_api.units import service as units
from evidence_api.units.schemas import UnitCreate
from tests.support.api import (
    Stack,
    auth_header,
    ensure_example_platform,
    fresh_postgres_database,
    running_stack,
)

#: The tree: a city with two counties, and another city outside it.
TREE = (
    ("", "city", None, "泉州市市场监督管理局"),
    (".a", "county", "", "丰泽区市场监督管理局"),
    (".b", "county", "", "晋江市市场监督管理局"),
    ("-x", "city", None, "厦门市市场监督管理局"),
)


@dataclass
class ClueWorld:
    """Unit codes (``city``, ``a``, ``b``, ``outside``), an officer token in each, two
    platforms with a token each, and one entity."""

    units: dict[str, str] = field(default_factory=dict)
    officers: dict[str, str] = field(default_factory=dict)
    platforms: dict[str, str] = field(default_factory=dict)  # code -> token
    entity_id: int = 0

    def officer(self, name: str) -> dict[str, str]:
        return auth_header(self.officers[name])

    def platform(self, code: str) -> dict[str, str]:
        return auth_header(self.platforms[code])


def seed_clue_world(session: Session) -> ClueWorld:
    """Units, officers, platforms and an entity, with fresh codes (many per database)."""
    tag = uuid.uuid4().hex[:8]
    root = f"qz{tag}"
    world = ClueWorld()
    for (suffix, level, parent, name), key in zip(TREE, ("city", "a", "b", "outside"), strict=True):
        code = f"{root}{suffix}"
        parent_code = None if parent is None else f"{root}{parent}"
        units.create_unit(
            session, UnitCreate(code=code, name=name, level=level, parent=parent_code)
        )
        world.units[key] = code
        _, token = create_token(session, role="officer", name=f"officer {code}", unit=code)
        world.officers[key] = token
    now = datetime.now(UTC)
    for code in (f"mall-{tag}", f"shop-{tag}"):
        session.add(Platform(code=code, name=f"{code} 平台", created_at=now, updated_at=now))
        session.flush()
        _, token = create_token(session, role="platform", name=f"{code} api", platform=code)
        world.platforms[code] = token
    platform_id = session.execute(
        select(Platform.id).where(Platform.code == next(iter(world.platforms)))
    ).scalar_one()
    entity = TradingEntity(
        platform_id=platform_id,
        shop_name="某某美妆旗舰店",
        created_at=now,
        updated_at=now,
    )
    session.add(entity)
    session.flush()
    world.entity_id = entity.id
    return world


@contextmanager
def clue_world_stack(
    data: Path, postgres_url: str, **settings: Any
) -> Iterator[tuple[Stack, ClueWorld]]:
    """The stack on a fresh database under ``data`` (sealing every 0.1 s, no supervisor:
    no in-process deadline scans, the tests act at times of their choosing), with
    ``settings`` added, and a clue world seeded in it."""
    with fresh_postgres_database(postgres_url) as url:
        config = Settings(
            database_url=url, data_dir=data, seal_interval=0.1, run_supervisor=False, **settings
        )
        with running_stack(config) as stack:
            with stack.runtime.session() as session:
                world = seed_clue_world(session)
            yield stack, world


def deadline(seconds: float = 86400) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def clue_body(entity_id: int, evidence_ids: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "title": "某旗舰店疑似销售假冒化妆品",
        "summary": "监测发现商品页价格异常，宣称“专柜正品”。",
        "entity_id": entity_id,
        "evidence_ids": list(evidence_ids),
    }


def assist_body(entity_id: int, **target: str) -> dict[str, Any]:
    return {
        **target,
        "entity_id": entity_id,
        "topics": ["seller_identity", "order_data"],
        "questions": "请提供该店铺经营者实名信息及订单记录",
        "deadline": deadline(),
    }


def reply_form(
    text: str, files: dict[str, bytes]
) -> list[tuple[str, tuple[str | None, bytes | str, str]]]:
    """A reply's multipart parts: ``metadata`` ``{"text": …}`` and the files."""
    parts: list[tuple[str, tuple[str | None, bytes | str, str]]] = [
        ("metadata", (None, json.dumps({"text": text}, ensure_ascii=False), "application/json"))
    ]
    parts += [("files", (name, data, "application/octet-stream")) for name, data in files.items()]
    return parts


#: The matrix's world, seeded once per database (by its URL and data folder).
_WORLDS: dict[str, ClueWorld] = {}


def clue_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to a clue or assist operation for the matrix's unit-less tokens
    (they act at the top of the tree, which reaches every unit): a fresh clue (sent to a
    unit, for accept and return) or a fresh request (to a unit, or to ``example-mall``
    for the platform's routes)."""
    client = stack.client
    officer = stack.auth("officer")

    def made(url: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        answer = client.post(url, json=body, headers=officer)
        assert answer.status_code == status, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def send(headers: dict[str, str]) -> Any:
        key = f"{stack.settings.database_url}|{stack.settings.data_dir}"
        world = _WORLDS.get(key)
        if world is None:
            with stack.runtime.session() as session:
                ensure_example_platform(session)
                world = _WORLDS[key] = seed_clue_world(session)
        unit = world.units["a"]
        clue = made("/v1/clues", clue_body(world.entity_id))
        clue_id = clue["clue_id"]
        transfer = {"to_unit": unit, "reason": "属地管辖", "deadline": deadline()}
        target = {"to_platform": "example-mall"} if "/platform/" in path else {"to_unit": unit}
        assist_id = made("/v1/assists", assist_body(world.entity_id, **target))["assist_id"]
        transfer_id = ""
        if "{transfer_id}" in path:
            sent = made(f"/v1/clues/{clue_id}/transfers", transfer)
            transfer_id = sent["transfers"][-1]["transfer_id"]
        url = path.format(clue_id=clue_id, transfer_id=transfer_id, assist_id=assist_id)
        kwargs: dict[str, Any] = {}
        if (method, path) == ("POST", "/v1/clues"):
            kwargs["json"] = clue_body(world.entity_id)
        elif (method, path) == ("POST", "/v1/assists"):
            kwargs["json"] = assist_body(world.entity_id, to_unit=unit)
        elif path.endswith("/transfers"):
            kwargs["json"] = transfer
        elif path.endswith("/return"):
            kwargs["json"] = {"reason": "auth matrix"}
        elif path.endswith("/reply"):
            kwargs["files"] = reply_form("auth matrix", {"reply.txt": b"reply"})
        return client.request(method, url, headers=headers, **kwargs)

    return send
