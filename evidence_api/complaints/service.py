"""Complaints (投诉举报): recording a public complaint, the complainant's status read,
the access check other features use, and the officers' views (docs/complaints.md).

Triage and resolution are :mod:`evidence_api.complaints.triage` (it calls the clue and
ODR services; this module imports neither, so :mod:`evidence_api.odr` may import
:func:`check_access` from here).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from anchoring.entries import make_entry, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from evidence_api.complaints import flags
from evidence_api.complaints.categories import (
    CATEGORIES,
    KINDS,
    STATUSES,
    STEPS,
    outcome_label,
)
from evidence_api.complaints.models import (
    Complaint,
    ComplaintAccess,
    ComplaintAttachment,
    ComplaintContact,
    ComplaintStep,
)
from evidence_api.complaints.schemas import (
    MAX_TEXT,
    AttachmentReceipt,
    ComplaintCreated,
    ComplaintDetail,
    ComplaintPage,
    ComplaintPublic,
    ComplaintStatus,
    Receipt,
    StepPublic,
    reasons_of,
)
from evidence_api.core.auth import Principal
from evidence_api.core.config import Settings
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import labels, scope
from evidence_api.core.ledger import SignReceipt, record_entry
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.intake import public
from evidence_api.registry.models import Platform, TradingEntity

MAX_PAGE = 200
#: Log entry kinds: the complaint received, and each later step.
COMPLAINT_KIND = "complaint"
STEP_KIND = "complaint_step"
ENTRY_PREFIX = "cpe"
STEP_PREFIX = "cps"
#: The actor of the ``received`` step.
PUBLIC_ACTOR = "public"
#: Recent complaints the heuristics read at most.
MAX_RECENT = 2000
_PLATFORM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

#: The public form's text fields (the attachments are ``files``).
FIELDS = (
    public.TextField("kind", 16, required=True),
    public.TextField("category", 32, required=True),
    public.TextField("target_url", 2048),
    public.TextField("shop_name", 256),
    public.TextField("platform", 64),
    public.TextField("text", MAX_TEXT, required=True, multiline=True),
    public.TextField("name", 64, required=True),
    public.TextField("contact", 128, required=True),
)


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --- intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewComplaint:
    """A public form's fields, checked."""

    kind: str
    category: str
    target_url: str | None
    shop_name: str | None
    platform: str | None
    text: str
    name: str
    contact: str


def parse_fields(fields: dict[str, str]) -> NewComplaint:
    """Check the form's codes and target (422 naming the field)."""
    kind = fields["kind"]
    if kind not in KINDS:
        raise InvalidInputError(f"kind: one of {', '.join(KINDS)}", field="kind")
    category = fields["category"]
    if category not in CATEGORIES:
        raise InvalidInputError(f"category: one of {', '.join(CATEGORIES)}", field="category")
    url = fields.get("target_url")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
            raise InvalidInputError("target_url: an http(s) URL", field="target_url")
    platform = fields.get("platform")
    if platform is not None and not _PLATFORM.fullmatch(platform):
        raise InvalidInputError("platform: a platform code", field="platform")
    shop = fields.get("shop_name")
    if url is None and shop is None:
        raise InvalidInputError(
            "target_url or shop_name: name the listing or the shop", field="target_url"
        )
    return NewComplaint(
        kind, category, url, shop, platform, fields["text"], fields["name"], fields["contact"]
    )


def normalise_contact(contact: str) -> str:
    """NFKC, case-folded, without white space, hyphens, dots between digits or brackets;
    a mainland phone number loses its ``+86``/``0086`` prefix."""
    value = unicodedata.normalize("NFKC", contact).casefold()
    value = re.sub(r"[\s()\-]", "", value)
    if re.fullmatch(r"\+?[0-9.]+", value):
        value = value.replace(".", "").lstrip("+")
        if value.startswith("0086"):
            value = value[4:]
        elif value.startswith("86") and len(value) == 13:
            value = value[2:]
    return value


def complainant_key(settings: Settings, contact: str) -> str:
    """The keyed hash of the normalised contact (intake.public.keyed_hash, ``complainant``)."""
    return public.keyed_hash(settings, "complainant", normalise_contact(contact))


@dataclass(frozen=True)
class Target:
    platform_id: int | None
    entity_id: int | None
    unit_id: int | None


def resolve_target(session: Session, req: NewComplaint) -> Target:
    """The platform (422 for an unknown code) and, when known, the entity: the one whose
    ``shop_url`` is the target URL, else the one shop of that name on that platform."""
    platform_id = None
    if req.platform is not None:
        platform_id = session.execute(
            select(Platform.id).where(Platform.code == req.platform)
        ).scalar()
        if platform_id is None:
            raise InvalidInputError(f"platform: no platform {req.platform!r}", field="platform")
    found: list[TradingEntity] = []
    if req.target_url is not None:
        found = list(
            session.execute(
                select(TradingEntity).where(TradingEntity.shop_url == req.target_url).limit(2)
            ).scalars()
        )
    if not found and req.shop_name is not None and platform_id is not None:
        found = list(
            session.execute(
                select(TradingEntity)
                .where(
                    TradingEntity.platform_id == platform_id,
                    TradingEntity.shop_name == req.shop_name,
                )
                .limit(2)
            ).scalars()
        )
    if len(found) == 1:
        entity = found[0]
        return Target(platform_id or entity.platform_id, entity.id, entity.unit_id)
    return Target(platform_id, None, None)


def target_key(entity_id: int | None, url: str | None, name: str | None) -> str:
    """What the heuristics compare as "the same target"."""
    if entity_id is not None:
        return f"entity:{entity_id}"
    if url is not None:
        return f"url:{url}"
    name = unicodedata.normalize("NFKC", name or "").casefold()
    return "name:" + "".join(name.split())


def _seen(row: Complaint) -> flags.Seen:
    return flags.Seen(
        complainant_key=row.complainant_key,
        text_sha256=row.text_sha256,
        normalised=flags.normalise_text(row.text, row.target_name),
        target=target_key(row.entity_id, row.target_url, row.target_name),
        category=row.category,
        received_at=row.received_at,
    )


def evaluate_flags(session: Session, new: flags.Seen, text: str) -> list[flags.Reason]:
    """The heuristics over the recent complaints of the same complainant or text."""
    since = new.received_at - timedelta(days=flags.LOOKBACK_DAYS)
    rows = session.execute(
        select(Complaint)
        .where(
            Complaint.received_at > since,
            or_(
                Complaint.complainant_key == new.complainant_key,
                Complaint.text_sha256 == new.text_sha256,
            ),
        )
        .order_by(Complaint.seq.desc())
        .limit(MAX_RECENT)
    ).scalars()
    return flags.evaluate(new, text, [_seen(r) for r in rows])


def _queue_entry(
    session: Session,
    sign_receipt: SignReceipt,
    kind: str,
    prefix: str,
    body: dict[str, Any],
    at: datetime,
) -> Receipt:
    """:func:`evidence_api.core.ledger.record_entry`, keeping the receipt for the answer."""
    entry = make_entry(kind, new_id(prefix), body, at=utc_timestamp(at))
    leaf, receipt = sign_receipt(entry)
    enqueue(session.connection(), [QueuedEntry(entry, leaf, at, receipt)])
    return Receipt(entry_id=entry.id, leaf_hash=leaf.hex(), receipt=receipt)


def record_complaint(
    session: Session,
    sign_receipt: SignReceipt,
    settings: Settings,
    *,
    complaint_id: str,
    req: NewComplaint,
    client: str,
    attachments: list[public.FixedAttachment],
    now: datetime,
) -> ComplaintCreated:
    """In the caller's transaction: the rate limit's count (429), the target resolved, the
    flags computed, the complaint, its contact, access token, attachments, ``received``
    step and ``complaint`` log entry. The caller commits, then nudges the sealer (1)."""
    public.admit(session, settings, client, kind="complaint", ref=complaint_id, now=now)
    target = resolve_target(session, req)
    key = complainant_key(settings, req.contact)
    seen = flags.Seen(
        complainant_key=key,
        text_sha256=flags.text_sha256(req.text, req.shop_name),
        normalised=flags.normalise_text(req.text, req.shop_name),
        target=target_key(target.entity_id, req.target_url, req.shop_name),
        category=req.category,
        received_at=now,
    )
    reasons = evaluate_flags(session, seen, req.text)
    is_flagged = flags.flagged(reasons)
    evidence_ids = [a.evidence_id for a in attachments]
    entry = _queue_entry(
        session,
        sign_receipt,
        COMPLAINT_KIND,
        ENTRY_PREFIX,
        {
            "complaint_id": complaint_id,
            "kind": req.kind,
            "category": req.category,
            "entity_id": target.entity_id,
            "platform": req.platform,
            "text_sha256": sha256_text(req.text),
            "evidence_ids": evidence_ids,
            "flagged": is_flagged,
            "flags": [r.code for r in reasons],
        },
        now,
    )
    row = Complaint(
        id=complaint_id,
        kind=req.kind,
        category=req.category,
        status="received",
        substantiated=None,
        entity_id=target.entity_id,
        platform_id=target.platform_id,
        unit_id=target.unit_id,
        target_url=req.target_url,
        target_name=req.shop_name,
        text=req.text,
        text_sha256=seen.text_sha256,
        complainant_key=key,
        flagged=is_flagged,
        flag_reasons=json.dumps([r.as_dict() for r in reasons], ensure_ascii=False),
        entry_id=entry.entry_id,
        received_at=now,
    )
    session.add(row)
    session.flush()
    token, token_sha256 = public.new_access_token()
    session.add(ComplaintContact(complaint_seq=row.seq, name=req.name, contact=req.contact))
    session.add(ComplaintAccess(complaint_seq=row.seq, token_sha256=token_sha256))
    for i, a in enumerate(attachments):
        session.add(
            ComplaintAttachment(
                complaint_seq=row.seq, position=i, name=a.name, evidence_id=a.evidence_id
            )
        )
    session.add(
        ComplaintStep(
            complaint_seq=row.seq,
            action="received",
            actor=PUBLIC_ACTOR,
            note=None,
            entry_id=entry.entry_id,
            at=now,
        )
    )
    return ComplaintCreated(
        complaint_id=complaint_id,
        access_token=token,
        status="received",
        status_label=STATUSES["received"],
        received_at=utc_timestamp(now),
        entry=entry,
        attachments=[
            AttachmentReceipt(
                name=a.name,
                evidence_id=a.evidence_id,
                sha256=a.created.files[0].sha256,
                leaf_hash=a.created.leaf_hash,
                receipt=a.created.receipt,
            )
            for a in attachments
        ],
    )


# --- the complainant's read -----------------------------------------------------------------


def check_access(session: Session, complaint_id: str, token: str) -> Complaint:
    """The complaint ``complaint_id`` when ``token`` is its access token; the API's
    not-found error otherwise (an unknown id and a wrong token answer alike)."""
    row = session.execute(
        select(Complaint, ComplaintAccess.token_sha256)
        .join(ComplaintAccess, ComplaintAccess.complaint_seq == Complaint.seq)
        .where(Complaint.id == complaint_id)
    ).first()
    if row is None or not public.access_token_matches(token, row[1]):
        raise NotFoundError(f"no complaint {complaint_id!r} with this access token")
    complaint: Complaint = row[0]
    return complaint


def status_of(complaint: Complaint) -> ComplaintStatus:
    return ComplaintStatus(
        complaint_id=complaint.id,
        status=complaint.status,
        status_label=STATUSES[complaint.status],
        outcome_label=outcome_label(complaint.status, complaint.substantiated),
        substantiated=complaint.substantiated,
        received_at=complaint.received_at,
        resolved_at=complaint.resolved_at,
    )


# --- the officers' views --------------------------------------------------------------------


def visible(principal: Principal) -> ColumnElement[bool]:
    """The complaints held in ``principal``'s reach (unit-less ones: the top's)."""
    return scope(principal, Complaint.unit_id)


def load(
    session: Session, principal: Principal, complaint_id: str, *, lock: bool = False
) -> Complaint:
    """The complaint, 404 when unknown or outside the caller's reach."""
    query = select(Complaint).where(Complaint.id == complaint_id, visible(principal))
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no complaint {complaint_id!r}")
    return row


def _platform_codes(session: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Platform.id, Platform.code).where(Platform.id.in_(wanted)))
    return {int(i): str(c) for i, c in rows}


def _public(
    row: Complaint, units: dict[int, tuple[str, str]], platforms: dict[int, str]
) -> dict[str, Any]:
    unit = units.get(row.unit_id) if row.unit_id is not None else None
    return {
        "complaint_id": row.id,
        "kind": row.kind,
        "kind_label": KINDS.get(row.kind, row.kind),
        "category": row.category,
        "category_label": CATEGORIES.get(row.category, row.category),
        "status": row.status,
        "status_label": STATUSES.get(row.status, row.status),
        "substantiated": row.substantiated,
        "entity_id": row.entity_id,
        "platform": platforms.get(row.platform_id) if row.platform_id is not None else None,
        "unit": unit[0] if unit else None,
        "unit_name": unit[1] if unit else None,
        "target_url": row.target_url,
        "target_name": row.target_name,
        "flagged": row.flagged,
        "received_at": row.received_at,
        "triaged_at": row.triaged_at,
        "resolved_at": row.resolved_at,
    }


def list_complaints(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    category: str | None,
    flagged: bool | None,
    entity_id: int | None,
    limit: int,
    cursor: str | None,
) -> ComplaintPage:
    """Newest first, the complaints in the caller's reach, filtered (422 on unknown codes)."""
    query = select(Complaint).where(visible(principal))
    if status is not None:
        if status not in STATUSES:
            raise InvalidInputError(f"status: one of {', '.join(STATUSES)}", field="status")
        query = query.where(Complaint.status == status)
    if category is not None:
        if category not in CATEGORIES:
            raise InvalidInputError(f"category: one of {', '.join(CATEGORIES)}", field="category")
        query = query.where(Complaint.category == category)
    if flagged is not None:
        query = query.where(Complaint.flagged == flagged)
    if entity_id is not None:
        query = query.where(Complaint.entity_id == entity_id)
    rows = list(
        session.execute(keyset(query, Complaint.seq, limit=limit, cursor=cursor)).scalars().all()
    )
    page = rows[:limit]
    units = labels(session, [c.unit_id for c in page])
    platforms = _platform_codes(session, [c.platform_id for c in page])
    return ComplaintPage(
        items=[ComplaintPublic(**_public(c, units, platforms)) for c in page],
        next_cursor=cursor_after(rows, limit, lambda c: c.seq),
    )


def detail(session: Session, row: Complaint) -> ComplaintDetail:
    """Everything officers see of a complaint."""
    units = labels(session, [row.unit_id])
    platforms = _platform_codes(session, [row.platform_id])
    contact = session.get(ComplaintContact, row.seq)
    evidence = session.execute(
        select(ComplaintAttachment.evidence_id)
        .where(ComplaintAttachment.complaint_seq == row.seq)
        .order_by(ComplaintAttachment.position)
    ).scalars()
    steps = session.execute(
        select(ComplaintStep)
        .where(ComplaintStep.complaint_seq == row.seq)
        .order_by(ComplaintStep.id)
    ).scalars()
    return ComplaintDetail(
        **_public(row, units, platforms),
        text=row.text,
        complainant_name=contact.name if contact else "",
        complainant_contact=contact.contact if contact else "",
        evidence_ids=list(evidence),
        flag_reasons=reasons_of(json.loads(row.flag_reasons or "[]")),
        triage_reason=row.triage_reason,
        clue_id=row.clue_id,
        odr_id=row.odr_id,
        entry_id=row.entry_id,
        steps=[
            StepPublic(
                action=s.action,
                action_label=STEPS.get(s.action, s.action),
                actor=s.actor,
                note=s.note,
                entry_id=s.entry_id,
                at=s.at,
            )
            for s in steps
        ],
    )


def record_step(
    session: Session,
    sign_receipt: SignReceipt,
    row: Complaint,
    action: str,
    *,
    actor: str,
    at: datetime,
    note: str | None,
    body: dict[str, Any],
) -> str:
    """A ``complaint_step`` log entry and its row, in the caller's transaction."""
    entry, _ = record_entry(
        session,
        sign_receipt,
        STEP_KIND,
        STEP_PREFIX,
        {
            "complaint_id": row.id,
            "action": action,
            "actor": actor,
            "status": row.status,
            "note_sha256": sha256_text(note) if note else None,
            **body,
        },
        at,
    )
    session.add(
        ComplaintStep(
            complaint_seq=row.seq, action=action, actor=actor, note=note, entry_id=entry.id, at=at
        )
    )
    return entry.id
