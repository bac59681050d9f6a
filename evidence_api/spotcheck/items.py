"""The inspection-item list (抽查事项清单): the built-in list (``data/items.json``),
loaded into an empty table at first use, and items administrators add."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_api.core.errors import ConflictError, InvalidInputError
from evidence_api.spotcheck.models import InspectionItem
from evidence_api.spotcheck.schemas import ItemCreate, ItemList, ItemPublic


@lru_cache(maxsize=1)
def builtin_items() -> tuple[ItemCreate, ...]:
    """The built-in list, each item checked as an administrator's would be."""
    text = resources.files("evidence_api.spotcheck").joinpath("data/items.json").read_text("utf-8")
    return tuple(ItemCreate.model_validate(item) for item in json.loads(text)["items"])


def _row(item: ItemCreate, at: datetime) -> InspectionItem:
    return InspectionItem(
        code=item.code,
        name=item.name,
        legal_basis=item.legal_basis,
        department=item.department,
        entity_classes=json.dumps(item.entity_classes, ensure_ascii=False),
        created_at=at,
    )


def ensure_items(session: Session) -> int:
    """Load the built-in list when the table is empty; returns how many were added."""
    if session.execute(select(func.count()).select_from(InspectionItem)).scalar_one():
        return 0
    at = datetime.now(UTC)
    items = builtin_items()
    session.add_all([_row(item, at) for item in items])
    session.flush()
    return len(items)


def public(item: InspectionItem) -> ItemPublic:
    return ItemPublic(
        code=item.code,
        name=item.name,
        legal_basis=item.legal_basis,
        department=item.department,
        entity_classes=json.loads(item.entity_classes),
    )


def list_items(session: Session) -> ItemList:
    ensure_items(session)
    rows = session.execute(select(InspectionItem).order_by(InspectionItem.code)).scalars()
    return ItemList(items=[public(i) for i in rows])


def create_item(session: Session, body: ItemCreate) -> ItemPublic:
    """Add an item; 409 when its code exists."""
    ensure_items(session)
    if session.execute(
        select(InspectionItem.id).where(InspectionItem.code == body.code)
    ).scalar_one_or_none():
        raise ConflictError(f"inspection item {body.code!r} exists", field="code")
    row = _row(body, datetime.now(UTC))
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # created by a concurrent request
        raise ConflictError(f"inspection item {body.code!r} exists", field="code") from exc
    return public(row)


def require_items(session: Session, codes: list[str]) -> list[InspectionItem]:
    """The items named by ``codes`` (each once, in order); 422 naming an unknown one."""
    ensure_items(session)
    if len(set(codes)) != len(codes):
        raise InvalidInputError("an inspection item is listed twice", field="items")
    rows = session.execute(select(InspectionItem).where(InspectionItem.code.in_(codes)))
    found: dict[str, Any] = {i.code: i for i in rows.scalars()}
    for code in codes:
        if code not in found:
            raise InvalidInputError(f"no inspection item {code!r}", field="items")
    return [found[c] for c in codes]
