"""Credit repair (信用修复): applications, their checks and the officers' decision
(docs/credit-repair.md).

An application is checked twice against the same rules (:func:`check_targets`): when it
is made (before its attachments are fixed, and again in its own transaction) and when an
officer accepts it, since time passes and the list changes in between. The rules:

- the entity is exactly one ``trading_entity`` (:func:`resolve_entity`);
- a named placement (``sv-…``) is the entity's and still ``listed``; named records
  (``cr-<n>``) are the entity's, of a kind with a waiting period (not the listing's own
  records: name the placement instead) and not already covered by an accepted repair;
- no other pending application names the same target (409);
- every target's statutory waiting period has passed (:mod:`evidence_api.repairs.waiting`;
  422 naming the earliest date).

Acceptance, in one transaction: the placement removed
(:func:`evidence_api.violators.service.remove_for_repair`), one ``repair_accepted`` credit
record (:func:`evidence_api.credit.records.add_record`, which regrades) covering the named
records and the listing's own, and the step's ``credit_repair`` log entry. A decided
application is final (409).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import labels, scope
from evidence_api.core.ledger import SignReceipt, record_entry
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.credit.models import CreditRecord
from evidence_api.credit.records import add_record, record_ref
from evidence_api.intake.public import access_token_matches
from evidence_api.monitoring.observation import sha256_text
from evidence_api.registry.entities import normalise_uscc
from evidence_api.registry.models import Platform, TradingEntity
from evidence_api.repairs import waiting
from evidence_api.repairs.models import CreditRepair, RepairAttachment, RepairStep
from evidence_api.repairs.schemas import (
    ACCEPTED,
    APPLIED,
    MAX_RECORDS,
    RECORD_REF,
    REJECTED,
    STATUS_LABELS,
    STEP_LABELS,
    VIOLATION_ID,
    AttachmentPublic,
    DecisionBody,
    RepairDetail,
    RepairPage,
    RepairPublic,
    RepairStatus,
    StepPublic,
    WaitingPublic,
)
from evidence_api.violators import service as violators
from evidence_api.violators.models import SeriousViolation

MAX_PAGE = 200
#: The log entry kind of a step, and its id prefix.
ENTRY_KIND = "credit_repair"
ENTRY_PREFIX = "rps"
#: The actor of the ``applied`` step (the public has no token).
APPLICANT = "applicant"
#: Dates in messages are Beijing time.
BEIJING = timezone(timedelta(hours=8), "UTC+8")
#: Record kinds that belong to a placement: repaired by naming the placement.
LISTING_KINDS = frozenset({"serious_listed", "serious_removed"})
PLEDGE_YES = frozenset({"true", "1", "on", "yes"})
_REF_SPLIT = re.compile(r"[\s,，、;；]+")


# --- the application ---------------------------------------------------------------------


@dataclass(frozen=True)
class Application:
    """What an applicant asks, checked for shape (not yet against the database)."""

    uscc: str | None
    shop_name: str | None
    platform: str | None
    violation_id: str | None
    record_refs: tuple[str, ...]
    applicant_name: str
    applicant_contact: str
    statement: str


def parse_application(fields: Mapping[str, str]) -> Application:
    """The application in a public form's text fields (422 naming the field otherwise)."""
    pledge = (fields.get("pledge") or "").strip().lower()
    if pledge not in PLEDGE_YES:
        raise InvalidInputError(
            "pledge: the 信用承诺书 must be accepted (pledge=true)", field="pledge"
        )
    violation_id = fields.get("violation_id") or None
    if violation_id is not None and not re.fullmatch(VIOLATION_ID, violation_id):
        raise InvalidInputError(
            "violation_id: a placement id sv- followed by 28 hex digits", field="violation_id"
        )
    refs: list[str] = []
    for ref in _REF_SPLIT.split(fields.get("record_refs") or ""):
        if not ref:
            continue
        if not re.fullmatch(RECORD_REF, ref) or int(ref[3:]) > 2**63 - 1:
            raise InvalidInputError(
                f"record_refs: {ref[:40]!r} is not a credit record ref (cr-<n>)",
                field="record_refs",
            )
        if ref not in refs:
            refs.append(ref)
    if len(refs) > MAX_RECORDS:
        raise InvalidInputError(
            f"record_refs: at most {MAX_RECORDS} records per application", field="record_refs"
        )
    if violation_id is None and not refs:
        raise InvalidInputError(
            "violation_id or record_refs: name what to repair (a placement sv-… and/or "
            "credit records cr-…)",
            field="record_refs",
        )
    for name in ("applicant_name", "applicant_contact", "statement"):
        if not fields.get(name):
            raise InvalidInputError(f"{name}: required", field=name)
    return Application(
        uscc=fields.get("uscc") or None,
        shop_name=fields.get("shop_name") or None,
        platform=fields.get("platform") or None,
        violation_id=violation_id,
        record_refs=tuple(refs),
        applicant_name=fields["applicant_name"],
        applicant_contact=fields["applicant_contact"],
        statement=fields["statement"],
    )


def resolve_entity(session: Session, app: Application) -> TradingEntity:
    """The one entity the application names: by 统一社会信用代码, by shop name on a
    platform, or by both; 422 saying why when none or several match."""
    query = select(TradingEntity)
    named: list[str] = []
    if app.uscc is not None:
        code = normalise_uscc(app.uscc)
        query = query.where(TradingEntity.uscc == code)
        named.append(f"统一社会信用代码 {code}")
    if (app.shop_name is None) != (app.platform is None):
        field_name = "platform" if app.platform is None else "shop_name"
        raise InvalidInputError(
            f"{field_name}: a shop is named by its shop_name and platform code together",
            field=field_name,
        )
    if app.shop_name is not None and app.platform is not None:
        platform_id = session.execute(
            select(Platform.id).where(Platform.code == app.platform)
        ).scalar_one_or_none()
        if platform_id is None:
            raise InvalidInputError(f"platform: no platform {app.platform!r}", field="platform")
        query = query.where(
            TradingEntity.platform_id == platform_id, TradingEntity.shop_name == app.shop_name
        )
        named.append(f"店铺 {app.shop_name!r} ({app.platform})")
    if not named:
        raise InvalidInputError(
            "uscc or shop_name and platform: name the entity applying", field="uscc"
        )
    found = list(session.execute(query.order_by(TradingEntity.id).limit(2)).scalars())
    where = "shop_name" if app.uscc is None else "uscc"
    if not found:
        raise InvalidInputError(f"{where}: no entity with {' and '.join(named)}", field=where)
    if len(found) > 1:
        raise InvalidInputError(
            f"{where}: several shops have {' and '.join(named)}; "
            "name the shop by shop_name and platform as well",
            field=where,
        )
    return found[0]


# --- the targets and their waiting periods -----------------------------------------------


@dataclass
class Targets:
    """What an application repairs, found and checked (:func:`check_targets`)."""

    placement: SeriousViolation | None
    records: list[CreditRecord]
    waits: list[WaitingPublic] = field(default_factory=list)


def _record_id(ref: str) -> int:
    return int(ref[3:])


def _repaired_refs(session: Session, entity_id: int) -> dict[str, str]:
    """``{covered ref: source of the repair covering it}`` for the entity's accepted repairs."""
    covered: dict[str, str] = {}
    rows = session.execute(
        select(CreditRecord.source, CreditRecord.covers).where(
            CreditRecord.entity_id == entity_id, CreditRecord.kind == "repair_accepted"
        )
    ).all()
    for source, covers in rows:
        for ref in json.loads(covers or "[]"):
            covered[str(ref)] = str(source)
    return covered


def _pending_conflicts(
    session: Session, entity_id: int, targets: set[str], exclude: str | None
) -> None:
    query = select(CreditRepair).where(
        CreditRepair.entity_id == entity_id, CreditRepair.status == APPLIED
    )
    for other in session.execute(query).scalars():
        if other.id == exclude:
            continue
        theirs = set(json.loads(other.record_refs))
        if other.violation_id:
            theirs.add(other.violation_id)
        both = sorted(targets & theirs)
        if both:
            raise ConflictError(
                f"application {other.id} for {', '.join(both)} is still pending; "
                "wait for its decision"
            )


def _when(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def _wait_for(
    target: str, kind: str, start: datetime, risk_class: str | None, now: datetime
) -> WaitingPublic:
    period = waiting.periods()[kind]
    earliest = waiting.earliest(period, start, risk_class)
    return WaitingPublic(
        target=target,
        kind=kind,
        label=period.label,
        start=start,
        earliest=earliest,
        due=earliest <= now,
        source=period.source,
    )


def check_targets(
    session: Session,
    entity: TradingEntity,
    violation_id: str | None,
    refs: tuple[str, ...],
    now: datetime,
    *,
    exclude: str | None = None,
) -> Targets:
    """Find and check the targets of an application (the module's rules); ``exclude``: the
    application being decided (not a conflict with itself)."""
    placement = None
    waits: list[WaitingPublic] = []
    if violation_id is not None:
        placement = session.execute(
            select(SeriousViolation).where(SeriousViolation.id == violation_id)
        ).scalar_one_or_none()
        if placement is None or placement.entity_id != entity.id:
            raise InvalidInputError(
                f"violation_id: no placement {violation_id} of this entity", field="violation_id"
            )
        if placement.status != "listed":
            raise InvalidInputError(
                f"violation_id: placement {violation_id} is {placement.status}, not listed",
                field="violation_id",
            )
        waits.append(
            _wait_for(
                violation_id,
                waiting.SERIOUS_VIOLATION,
                placement.listed_from,
                entity.risk_class,
                now,
            )
        )
    records = []
    covered = _repaired_refs(session, entity.id) if refs else {}
    periods = waiting.periods()
    for ref in refs:
        row = session.get(CreditRecord, _record_id(ref))
        if row is None or row.entity_id != entity.id:
            raise InvalidInputError(
                f"record_refs: no credit record {ref} of this entity", field="record_refs"
            )
        if row.kind in LISTING_KINDS:
            raise InvalidInputError(
                f"record_refs: {ref} ({row.kind}) belongs to a placement; name the placement "
                "(violation_id) instead",
                field="record_refs",
            )
        if row.kind not in periods or row.kind == waiting.SERIOUS_VIOLATION:
            repairable = ", ".join(k for k in periods if k != waiting.SERIOUS_VIOLATION)
            raise InvalidInputError(
                f"record_refs: {ref} ({row.kind}) cannot be repaired by an application; "
                f"repairable kinds: {repairable}",
                field="record_refs",
            )
        if ref in covered:
            raise ConflictError(f"{ref} is already repaired ({covered[ref]})")
        records.append(row)
        waits.append(_wait_for(ref, row.kind, row.occurred_at, entity.risk_class, now))
    _pending_conflicts(
        session, entity.id, set(refs) | ({violation_id} if violation_id else set()), exclude
    )
    for wait in waits:
        if not wait.due:
            field_name = "violation_id" if wait.target.startswith("sv-") else "record_refs"
            raise InvalidInputError(
                f"{field_name}: {wait.target} ({wait.label}) may be repaired from "
                f"{_when(wait.earliest)} at the earliest ({wait.source})",
                field=field_name,
            )
    return Targets(placement, records, waits)


# --- steps -------------------------------------------------------------------------------


def _step(
    session: Session,
    sign_receipt: SignReceipt,
    repair: CreditRepair,
    step: str,
    *,
    actor: str,
    at: datetime,
    body: dict[str, Any],
) -> RepairStep:
    """One step: its ``credit_repair`` entry (``{"repair_id", "step", "actor", …body}``,
    None values left out) and its row, in the caller's transaction."""
    entry_body: dict[str, Any] = {"repair_id": repair.id, "step": step, "actor": actor}
    entry_body |= {k: v for k, v in body.items() if v is not None}
    entry, leaf = record_entry(session, sign_receipt, ENTRY_KIND, ENTRY_PREFIX, entry_body, at)
    row = RepairStep(
        repair_seq=repair.seq,
        step=step,
        actor=actor,
        at=at,
        entry_id=entry.id,
        leaf_hash=leaf.hex(),
    )
    session.add(row)
    session.flush()
    return row


def lock_entity(session: Session, entity_id: int) -> None:
    """Lock the entity's row (PostgreSQL; SQLite serialises writers): applications and
    decisions of one entity check "pending" and "already repaired" one after the other."""
    session.execute(select(TradingEntity.id).where(TradingEntity.id == entity_id).with_for_update())


def counting(sign_receipt: SignReceipt) -> tuple[SignReceipt, Callable[[], int]]:
    """``sign_receipt`` counting its calls (one per log entry queued), and the count: what
    to nudge the sealer with after a commit that wrote entries through other features."""
    calls = [0]

    def sign(entry: Any) -> tuple[bytes, str]:
        calls[0] += 1
        return sign_receipt(entry)

    return sign, lambda: calls[0]


@dataclass(frozen=True)
class Fixed:
    """An attachment already fixed as evidence: its file name and evidence id."""

    name: str
    evidence_id: str


def apply(
    session: Session,
    sign_receipt: SignReceipt,
    app: Application,
    *,
    repair_id: str,
    token_sha256: str,
    attachments: list[Fixed],
    now: datetime,
) -> tuple[CreditRepair, RepairStep]:
    """Record an application (status ``applied``) and its ``applied`` step, in the caller's
    transaction, after checking it again (:func:`check_targets`)."""
    entity = resolve_entity(session, app)
    lock_entity(session, entity.id)
    check_targets(session, entity, app.violation_id, app.record_refs, now)
    repair = CreditRepair(
        id=repair_id,
        entity_id=entity.id,
        violation_id=app.violation_id,
        record_refs=json.dumps(list(app.record_refs)),
        applicant_name=app.applicant_name,
        applicant_contact=app.applicant_contact,
        statement=app.statement,
        pledge_accepted=True,
        token_sha256=token_sha256,
        status=APPLIED,
        created_at=now,
        updated_at=now,
    )
    repair.attachments = [
        RepairAttachment(position=i, evidence_id=a.evidence_id, name=a.name)
        for i, a in enumerate(attachments)
    ]
    session.add(repair)
    session.flush()
    step = _step(
        session,
        sign_receipt,
        repair,
        APPLIED,
        actor=APPLICANT,
        at=now,
        body={
            "entity_id": entity.id,
            "violation_id": app.violation_id,
            "record_refs": list(app.record_refs),
            "attachments": [a.evidence_id for a in attachments],
            "statement_sha256": sha256_text(app.statement),
            "pledge": True,
        },
    )
    return repair, step


# --- the applicant's view ----------------------------------------------------------------


def public_status(session: Session, repair_id: str, token: str | None) -> RepairStatus:
    """The status of ``repair_id`` for the holder of its access token; an unknown id, a
    missing or a wrong token all answer the same 404."""
    missing = NotFoundError(f"no credit repair application {repair_id!r} for this access token")
    if not token:
        raise missing
    repair = session.execute(
        select(CreditRepair).where(CreditRepair.id == repair_id)
    ).scalar_one_or_none()
    if repair is None or not access_token_matches(token, repair.token_sha256):
        raise missing
    return RepairStatus(
        repair_id=repair.id,
        status=repair.status,
        status_label=STATUS_LABELS[repair.status],
        decision_reason=repair.decision_reason,
        decided_at=repair.decided_at,
        created_at=repair.created_at,
    )


# --- the officers' view ------------------------------------------------------------------


def visible(principal: Principal) -> ColumnElement[bool]:
    """The applications ``principal`` may see: those of entities in its reach."""
    reach = select(TradingEntity.id).where(scope(principal, TradingEntity.unit_id))
    return CreditRepair.entity_id.in_(reach)


def load(
    session: Session, principal: Principal, repair_id: str, *, lock: bool = False
) -> CreditRepair:
    """Application ``repair_id`` if ``principal`` may see it (404 otherwise)."""
    query = select(CreditRepair).where(CreditRepair.id == repair_id, visible(principal))
    if lock:
        query = query.with_for_update(of=CreditRepair)
    repair = session.execute(query).scalar_one_or_none()
    if repair is None:
        raise NotFoundError(f"no credit repair application {repair_id!r}")
    return repair


def _entities(session: Session, ids: set[int]) -> dict[int, TradingEntity]:
    if not ids:
        return {}
    rows = session.execute(select(TradingEntity).where(TradingEntity.id.in_(ids))).scalars()
    return {row.id: row for row in rows}


def _public(repair: CreditRepair, entity: TradingEntity, units: dict[int, tuple[str, str]]) -> Any:
    return {
        "repair_id": repair.id,
        "entity_id": repair.entity_id,
        "entity_name": entity.shop_name,
        "uscc": entity.uscc,
        "unit": units[entity.unit_id][0] if entity.unit_id in units else None,
        "violation_id": repair.violation_id,
        "record_refs": json.loads(repair.record_refs),
        "applicant_name": repair.applicant_name,
        "applicant_contact": repair.applicant_contact,
        "status": repair.status,
        "status_label": STATUS_LABELS[repair.status],
        "created_at": repair.created_at,
        "decided_at": repair.decided_at,
    }


def list_repairs(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    entity_id: int | None,
    limit: int,
    cursor: str | None,
) -> RepairPage:
    """Newest first, the applications ``principal`` may see, filtered."""
    query = select(CreditRepair).where(visible(principal))
    if status is not None:
        if status not in STATUS_LABELS:
            raise InvalidInputError(f"status: one of {', '.join(STATUS_LABELS)}", field="status")
        query = query.where(CreditRepair.status == status)
    if entity_id is not None:
        query = query.where(CreditRepair.entity_id == entity_id)
    rows = list(
        session.execute(keyset(query, CreditRepair.seq, limit=limit, cursor=cursor)).scalars()
    )
    page = rows[:limit]
    entities = _entities(session, {r.entity_id for r in page})
    units = labels(session, [e.unit_id for e in entities.values()])
    return RepairPage(
        items=[RepairPublic(**_public(r, entities[r.entity_id], units)) for r in page],
        next_cursor=cursor_after(rows, limit, lambda r: r.seq),
    )


def _waits(session: Session, repair: CreditRepair, entity: TradingEntity) -> list[WaitingPublic]:
    """The waiting periods of the application's targets as they stand (for the officer)."""
    now = datetime.now(UTC)
    waits = []
    if repair.violation_id:
        placement = session.execute(
            select(SeriousViolation).where(SeriousViolation.id == repair.violation_id)
        ).scalar_one_or_none()
        if placement is not None:
            waits.append(
                _wait_for(
                    repair.violation_id,
                    waiting.SERIOUS_VIOLATION,
                    placement.listed_from,
                    entity.risk_class,
                    now,
                )
            )
    periods = waiting.periods()
    for ref in json.loads(repair.record_refs):
        row = session.get(CreditRecord, _record_id(ref))
        if row is not None and row.kind in periods:
            waits.append(_wait_for(ref, row.kind, row.occurred_at, entity.risk_class, now))
    return waits


def detail(session: Session, repair: CreditRepair) -> RepairDetail:
    """The application, its attachments, waiting periods and steps (oldest first)."""
    entity = session.get(TradingEntity, repair.entity_id)
    assert entity is not None  # a foreign key
    units = labels(session, [entity.unit_id])
    steps = session.execute(
        select(RepairStep).where(RepairStep.repair_seq == repair.seq).order_by(RepairStep.id)
    ).scalars()
    return RepairDetail(
        **_public(repair, entity, units),
        statement=repair.statement,
        pledge_accepted=repair.pledge_accepted,
        decision_reason=repair.decision_reason,
        decided_by=repair.decided_by,
        covers=json.loads(repair.covers or "[]"),
        record_ref=repair.record_ref,
        attachments=[
            AttachmentPublic(name=a.name, evidence_id=a.evidence_id) for a in repair.attachments
        ],
        waiting=_waits(session, repair, entity),
        steps=[
            StepPublic(
                step=s.step,
                step_label=STEP_LABELS.get(s.step, s.step),
                actor=s.actor,
                at=s.at,
                entry_id=s.entry_id,
                leaf_hash=s.leaf_hash,
            )
            for s in steps
        ],
    )


# --- the decision ------------------------------------------------------------------------


def _listing_refs(session: Session, entity_id: int, violation_id: str) -> list[str]:
    """The placement's own credit records: its ``serious_listed`` record (source
    ``violation:<id>``) and the ``serious_removed`` one(s) its removal wrote."""
    rows = session.execute(
        select(CreditRecord.id, CreditRecord.kind, CreditRecord.source).where(
            CreditRecord.entity_id == entity_id,
            CreditRecord.kind.in_(LISTING_KINDS),
            CreditRecord.source.startswith(f"violation:{violation_id}", autoescape=True),
        )
    ).all()
    return [
        record_ref(i) for i, _, source in sorted(rows) if _is_listing_source(source, violation_id)
    ]


def _is_listing_source(source: str, violation_id: str) -> bool:
    prefix = f"violation:{violation_id}"
    return source == prefix or source.startswith(prefix + "/")


def decide(
    session: Session,
    sign_receipt: SignReceipt,
    principal: Principal,
    repair_id: str,
    body: DecisionBody,
    now: datetime,
) -> CreditRepair:
    """Accept or reject application ``repair_id`` (the module's docstring), in the caller's
    transaction; 404 outside the caller's reach, 409 once decided, 422 when a target's
    waiting period has not passed or a target changed since."""
    repair = load(session, principal, repair_id, lock=True)
    if repair.status != APPLIED:
        raise ConflictError(
            f"application {repair_id} is already {repair.status}; a decision is final"
        )
    lock_entity(session, repair.entity_id)
    entity = session.get(TradingEntity, repair.entity_id)
    assert entity is not None  # a foreign key
    reason_sha256 = sha256_text(body.reason)
    step_body: dict[str, Any] = {"entity_id": entity.id, "reason_sha256": reason_sha256}
    if body.decision == "accept":
        refs = tuple(json.loads(repair.record_refs))
        targets = check_targets(session, entity, repair.violation_id, refs, now, exclude=repair.id)
        covers = list(refs)
        if targets.placement is not None:
            violators.remove_for_repair(
                session,
                sign_receipt,
                violation_id=targets.placement.id,
                repair_id=repair.id,
                actor=principal.pseudonym,
                at=now,
            )
            covers += _listing_refs(session, entity.id, targets.placement.id)
        record = add_record(
            session,
            sign_receipt,
            entity_id=entity.id,
            kind="repair_accepted",
            source=f"repair:{repair.id}",
            occurred_at=now,
            details={
                "repair_id": repair.id,
                "violation_id": repair.violation_id,
                "records": list(refs),
                "reason_sha256": reason_sha256,
            },
            actor=principal.pseudonym,
            at=now,
            covers=tuple(covers),
        )
        repair.status = ACCEPTED
        repair.covers = json.dumps(covers)
        repair.record_ref = None if record is None else record_ref(record.id)
        step_body |= {"covers": covers, "record": repair.record_ref}
    else:
        repair.status = REJECTED
    repair.decision_reason = body.reason
    repair.decided_by = principal.pseudonym
    repair.decided_at = now
    repair.updated_at = now
    session.flush()
    _step(
        session,
        sign_receipt,
        repair,
        repair.status,
        actor=principal.pseudonym,
        at=now,
        body=step_body,
    )
    return repair


def new_repair_id() -> str:
    return new_id("rp")
