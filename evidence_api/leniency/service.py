"""The 免罚清单 and the outcome of a closing case (docs/leniency.md).

Items: the built-in list (``data/items.json``) is loaded into an empty table at first
use; administrators add, change and retire items; every one of those is a
``leniency_item`` log entry in the same transaction.

Closing: :func:`decide_outcome` checks what the closing body asks for against the item
and the entity's history (:mod:`evidence_api.leniency.conditions`) and returns the
decision or raises the refusal; :func:`record_outcome` writes the ``case_outcome`` log
entry and the credit record. :mod:`evidence_api.registry.cases` calls both inside the
transition's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.jurisdiction import reachable
from evidence_api.core.ledger import SignReceipt, record_entry
from evidence_api.credit.records import add_record
from evidence_api.intake.models import Evidence
from evidence_api.leniency.conditions import (
    Check,
    Conditions,
    Facts,
    PriorCase,
    check_conditions,
    parse_conditions,
    refusal,
)
from evidence_api.leniency.labels import CONDITIONS, CREDIT_KINDS, OFFENCES, OUTCOMES
from evidence_api.leniency.models import LeniencyItem
from evidence_api.leniency.schemas import (
    ConditionsPublic,
    FirstOffenceRule,
    ItemCreate,
    ItemList,
    ItemPublic,
    ItemUpdate,
)
from evidence_api.registry.models import CaseFile, TradingEntity
from verifier.canonical import canonical_json

#: Log entry kinds and their id prefixes.
ITEM_KIND, ITEM_PREFIX = "leniency_item", "lni"
OUTCOME_KIND, OUTCOME_PREFIX = "case_outcome", "cso"
#: The reasoning document's format (``case_file.outcome_reasoning``).
REASONING_FORMAT = "leniency-reasoning/v1"
SEED_ACTOR = "system"


# --- the list ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def builtin_items() -> tuple[ItemCreate, ...]:
    """The built-in list, each item checked as an administrator's would be."""
    text = resources.files("evidence_api.leniency").joinpath("data/items.json").read_text("utf-8")
    return tuple(ItemCreate.model_validate(item) for item in json.loads(text)["items"])


def conditions_of(item: LeniencyItem) -> Conditions:
    return parse_conditions(json.loads(item.conditions))


def condition_labels(conditions: Conditions) -> list[str]:
    """``['首次违法（730 日内，任何违法案件）', '及时改正', '危害后果轻微']``."""
    found = []
    for name in conditions.names():
        text = CONDITIONS[name]
        rule = conditions.first_offence
        if name == "first_offence" and rule is not None:
            scope = "任何违法案件" if rule.scope == "any_case" else "援引同一清单事项的案件"
            text += f"（{rule.window_days} 日内，{scope}）"
        found.append(text)
    return found


def public(item: LeniencyItem) -> ItemPublic:
    cond = conditions_of(item)
    rule = cond.first_offence
    return ItemPublic(
        code=item.code,
        title=item.title,
        violation=item.violation,
        legal_basis=item.legal_basis,
        outcome=item.outcome,
        outcome_label=OUTCOMES[item.outcome],
        conditions=ConditionsPublic(
            first_offence=None
            if rule is None
            else FirstOffenceRule(window_days=rule.window_days, scope=rule.scope),
            corrected_in_time=cond.corrected_in_time,
            minor_harm=cond.minor_harm,
            labels=condition_labels(cond),
        ),
        active=item.active,
        version=item.version,
        entry_id=item.entry_id,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def _state(item: LeniencyItem) -> dict[str, Any]:
    """What an item entry states about the item (all of it: the list is public law)."""
    return {
        "code": item.code,
        "version": item.version,
        "title": item.title,
        "violation": item.violation,
        "legal_basis": item.legal_basis,
        "outcome": item.outcome,
        "conditions": json.loads(item.conditions),
        "active": item.active,
    }


def _log_item(
    session: Session, sign_receipt: SignReceipt, item: LeniencyItem, action: str, actor: str
) -> None:
    body = {"action": action, "item": _state(item), "actor": actor}
    entry, _ = record_entry(session, sign_receipt, ITEM_KIND, ITEM_PREFIX, body, item.updated_at)
    item.entry_id = entry.id


def _conditions_text(body: ItemCreate | ItemUpdate) -> str:
    assert body.conditions is not None
    data = body.conditions.model_dump(mode="json")
    parse_conditions(data)  # the same rules the checks read them with
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _new_row(body: ItemCreate, actor: str, at: datetime) -> LeniencyItem:
    return LeniencyItem(
        code=body.code,
        title=body.title,
        violation=body.violation,
        legal_basis=body.legal_basis,
        outcome=body.outcome,
        conditions=_conditions_text(body),
        active=True,
        version=1,
        entry_id="",
        created_by=actor,
        created_at=at,
        updated_by=actor,
        updated_at=at,
    )


def ensure_items(session: Session, sign_receipt: SignReceipt) -> int:
    """Load the built-in list when the table is empty (each item a ``seeded`` entry);
    returns how many entries were written. Two first uses at once: one loads, the other
    finds the rows (its savepoint rolled back, entries included)."""
    if session.execute(select(func.count()).select_from(LeniencyItem)).scalar_one():
        return 0
    at = datetime.now(UTC)
    items = builtin_items()
    try:
        with session.begin_nested():
            for body in items:
                row = _new_row(body, SEED_ACTOR, at)
                session.add(row)
                session.flush()
                _log_item(session, sign_receipt, row, "seeded", SEED_ACTOR)
            session.flush()
    except IntegrityError:
        return 0
    return len(items)


def list_items(session: Session, *, active: bool | None = None) -> ItemList:
    query = select(LeniencyItem).order_by(LeniencyItem.code)
    if active is not None:
        query = query.where(LeniencyItem.active.is_(active))
    return ItemList(items=[public(i) for i in session.execute(query).scalars()])


def get_item(session: Session, code: str) -> ItemPublic:
    row = session.get(LeniencyItem, code)
    if row is None:
        raise NotFoundError(f"no leniency item {code!r}")
    return public(row)


def create_item(
    session: Session, sign_receipt: SignReceipt, principal: Principal, body: ItemCreate
) -> ItemPublic:
    """Add an item (``created`` entry); 409 when its code exists (retired ones too)."""
    if session.get(LeniencyItem, body.code) is not None:
        raise ConflictError(f"leniency item {body.code!r} exists", field="code")
    row = _new_row(body, principal.pseudonym, datetime.now(UTC))
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:  # created by a concurrent request
        raise ConflictError(f"leniency item {body.code!r} exists", field="code") from exc
    _log_item(session, sign_receipt, row, "created", principal.pseudonym)
    session.flush()
    return public(row)


def update_item(
    session: Session,
    sign_receipt: SignReceipt,
    principal: Principal,
    code: str,
    body: ItemUpdate,
) -> tuple[ItemPublic, int]:
    """Change the fields named (``null`` for a field that may not be empty is 422);
    ``active`` false retires the item, true restores it. One entry (``updated``,
    ``retired`` or ``restored``) and version + 1 when anything changed; returns the item
    and the number of entries written (0 or 1)."""
    given = body.model_fields_set
    for name in given:
        if getattr(body, name) is None:
            raise InvalidInputError(f"{name}: may not be null", field=name)
    row = session.execute(
        select(LeniencyItem).where(LeniencyItem.code == code).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no leniency item {code!r}")
    changed: list[str] = []
    for name in ("title", "violation", "legal_basis", "outcome"):
        if name in given and getattr(body, name) != getattr(row, name):
            setattr(row, name, getattr(body, name))
            changed.append(name)
    if "conditions" in given:
        text = _conditions_text(body)
        if text != row.conditions:
            row.conditions = text
            changed.append("conditions")
    action = "updated"
    if "active" in given and body.active != row.active:
        row.active = bool(body.active)
        changed.append("active")
        if changed == ["active"]:
            action = "retired" if not row.active else "restored"
    if not changed:
        return public(row), 0
    row.version += 1
    row.updated_by = principal.pseudonym
    row.updated_at = datetime.now(UTC)
    _log_item(session, sign_receipt, row, action, principal.pseudonym)
    session.flush()
    return public(row), 1


# --- closing a case ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClosingFacts:
    """What a closing body (or a dry run) states beyond the outcome."""

    corrected_in_time: bool | None = None
    minor_harm: bool | None = None
    evidence_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The outcome a closing records: its code, the item cited, the checks and the
    reasoning document (canonical JSON, what ``case_file.outcome_reasoning`` holds)."""

    outcome: str
    item: LeniencyItem | None
    checks: tuple[Check, ...]
    reasoning: str | None


def _active_item(session: Session, code: str) -> LeniencyItem:
    row = session.get(LeniencyItem, code)
    if row is None:
        raise InvalidInputError(f"leniency_item: no leniency item {code!r}", field="leniency_item")
    return row


def _priors(session: Session, principal: Principal | None, case: CaseFile) -> tuple[PriorCase, ...]:
    """The entity's other cases closed as an offence (every unit's: an offence elsewhere is
    an offence; numbers outside ``principal``'s reach withheld). No upper bound on their
    closing time: a case closed by a concurrent request that committed first may carry a
    time a little after ``at``, and it is still an earlier offence."""
    if case.entity_id is None:
        return ()
    rows = session.execute(
        select(CaseFile).where(
            CaseFile.entity_id == case.entity_id,
            CaseFile.id != case.id,
            CaseFile.outcome.in_(OFFENCES),
            CaseFile.closed_at.is_not(None),
        )
    ).scalars()
    return tuple(
        PriorCase(
            number=r.number,
            outcome=str(r.outcome),
            leniency_item=r.leniency_item,
            closed_at=r.closed_at,  # type: ignore[arg-type]
            visible=reachable(session, principal, r.unit_id),
        )
        for r in rows
    )


def check_item(
    session: Session,
    principal: Principal | None,
    case: CaseFile,
    item: LeniencyItem,
    facts: ClosingFacts,
    at: datetime,
) -> list[Check]:
    """Every condition of ``item`` for ``case`` at ``at`` (changes nothing)."""
    return check_conditions(
        item.code,
        conditions_of(item),
        Facts(
            entity_id=case.entity_id,
            corrected_in_time=facts.corrected_in_time,
            minor_harm=facts.minor_harm,
            evidence_ids=facts.evidence_ids,
            priors=_priors(session, principal, case),
        ),
        at,
    )


def _evidence_exists(session: Session, evidence_ids: Sequence[str]) -> None:
    if not evidence_ids:
        return
    known = set(
        session.execute(select(Evidence.id).where(Evidence.id.in_(list(evidence_ids)))).scalars()
    )
    missing = [e for e in evidence_ids if e not in known]
    if missing:
        raise InvalidInputError(
            f"evidence_ids: no evidence {', '.join(missing)}", field="evidence_ids"
        )


def _reasoning(
    outcome: str,
    item: LeniencyItem | None,
    checks: Sequence[Check],
    facts: ClosingFacts,
    at: datetime,
) -> str:
    doc: dict[str, Any] = {
        "format": REASONING_FORMAT,
        "outcome": outcome,
        "outcome_label": OUTCOMES[outcome],
        "leniency_item": None if item is None else item.code,
        "item_title": None if item is None else item.title,
        "item_version": None if item is None else item.version,
        "legal_basis": None if item is None else item.legal_basis,
        "checked_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "conditions": [c.as_json() for c in checks],
        "facts": {
            "corrected_in_time": facts.corrected_in_time,
            "minor_harm": facts.minor_harm,
            "evidence_ids": list(facts.evidence_ids),
        },
    }
    return canonical_json(doc).decode("utf-8")


def decide_outcome(
    session: Session,
    sign_receipt: SignReceipt,
    principal: Principal,
    case: CaseFile,
    outcome: str,
    item_code: str | None,
    facts: ClosingFacts,
    at: datetime,
) -> Decision:
    """The decision for closing ``case`` after handling with ``outcome``: ``penalty``
    cites no item; ``reduced`` and ``no_penalty`` cite an active item allowing exactly
    that outcome whose every condition holds. Otherwise 422 naming each failed condition
    and what was found. Holds the entity's row lock, so two cases of one entity cannot
    both close as its first offence."""
    if outcome not in OFFENCES:
        raise InvalidInputError(
            f"outcome: closing after handling is one of {', '.join(OFFENCES)}; "
            "not_filed is a clue closed directly (不予立案)",
            field="outcome",
        )
    _evidence_exists(session, facts.evidence_ids)
    if outcome == "penalty":
        if item_code is not None:
            raise InvalidInputError(
                "leniency_item: a penalty (行政处罚) cites no leniency item", field="leniency_item"
            )
        return Decision(outcome, None, (), _reasoning(outcome, None, (), facts, at))
    if item_code is None:
        raise InvalidInputError(
            f"leniency_item: required for {outcome} ({OUTCOMES[outcome]}): "
            "the 免罚清单 item the outcome rests on",
            field="leniency_item",
        )
    ensure_items(session, sign_receipt)
    item = _active_item(session, item_code)
    if not item.active:
        raise InvalidInputError(
            f"leniency_item: leniency item {item.code!r} is retired (已停用); cite an active item",
            field="leniency_item",
        )
    if item.outcome != outcome:
        raise InvalidInputError(
            f"leniency_item: item {item.code!r} allows {item.outcome} "
            f"({OUTCOMES[item.outcome]}), not {outcome} ({OUTCOMES[outcome]})",
            field="leniency_item",
        )
    if case.entity_id is not None:  # serialise closings of one entity
        session.execute(
            select(TradingEntity.id).where(TradingEntity.id == case.entity_id).with_for_update()
        )
    checks = check_item(session, principal, case, item, facts, at)
    refused = refusal(item.code, outcome, checks)
    if refused is not None:
        raise InvalidInputError(refused, field="leniency_item")
    return Decision(outcome, item, tuple(checks), _reasoning(outcome, item, checks, facts, at))


def record_outcome(
    session: Session,
    sign_receipt: SignReceipt,
    principal: Principal,
    case: CaseFile,
    decision: Decision,
    at: datetime,
) -> int:
    """The ``case_outcome`` entry and, for a case with an entity and an outcome that bears
    on credit, the credit record (``case_penalty`` / ``case_reduced`` / ``case_no_penalty``,
    source ``case:<id>``). Returns the number of entries written by this call (the credit
    writer's own grade changes not counted)."""
    body = {
        "case_id": case.id,
        "number": case.number,
        "entity_id": case.entity_id,
        "outcome": decision.outcome,
        "leniency_item": None if decision.item is None else decision.item.code,
        "item_version": None if decision.item is None else decision.item.version,
        "conditions": [{"condition": c.condition, "passed": c.passed} for c in decision.checks],
        "reasoning_sha256": None
        if decision.reasoning is None
        else hashlib.sha256(decision.reasoning.encode("utf-8")).hexdigest(),
        "actor": principal.pseudonym,
    }
    record_entry(session, sign_receipt, OUTCOME_KIND, OUTCOME_PREFIX, body, at)
    written = 1
    kind = CREDIT_KINDS.get(decision.outcome)
    if case.entity_id is not None and kind is not None:
        added = add_record(
            session,
            sign_receipt,
            entity_id=case.entity_id,
            kind=kind,
            source=f"case:{case.id}",
            occurred_at=at,
            details={
                "number": case.number,
                "outcome": decision.outcome,
                "leniency_item": None if decision.item is None else decision.item.code,
            },
            actor=principal.pseudonym,
            at=at,
        )
        written += added is not None
    return written


def find_item(session: Session, code: str) -> LeniencyItem:
    """Item ``code`` (retired ones too); 404 otherwise."""
    row = session.get(LeniencyItem, code)
    if row is None:
        raise NotFoundError(f"no leniency item {code!r}")
    return row
