"""Writing a credit record: the one call every feature makes, in its own transaction,
when a fact bearing on an entity's credit happens (docs/credit.md §2).

``add_record`` writes the record and its ``credit_record`` log entry, then regrades the
entity in the same transaction (:func:`evidence_api.credit.grading.regrade`), so the grade
change and the fact that caused it commit together. The same ``(kind, source)`` twice is
one record: the second call returns ``None`` and changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.core.ledger import SignReceipt, record_entry
from evidence_api.credit.models import CreditRecord
from verifier.credit import RECORD_KINDS

#: The log entry kind of a credit record, and its id prefix.
RECORD_ENTRY_KIND = "credit_record"
RECORD_ENTRY_PREFIX = "crr"


def record_ref(record_id: int) -> str:
    """A record's public reference, ``cr-<id>``."""
    return f"cr-{record_id}"


def add_record(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    entity_id: int,
    kind: str,
    source: str,
    occurred_at: datetime,
    details: dict[str, Any],
    actor: str,
    at: datetime,
    covers: tuple[str, ...] = (),
) -> CreditRecord | None:
    """Record ``kind`` for ``entity_id`` from ``source`` (see :class:`CreditRecord`) and
    regrade the entity; ``None`` if that fact is already recorded. The caller commits and
    then nudges the sealer (one more queued entry per record and per grade change)."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown credit record kind {kind!r}")
    existing = session.execute(
        select(CreditRecord.id).where(CreditRecord.kind == kind, CreditRecord.source == source)
    ).first()
    if existing is not None:
        return None
    body = {
        "entity_id": entity_id,
        "kind": kind,
        "source": source,
        "occurred_at": occurred_at.isoformat(),
        "details": details,
        "covers": list(covers),
        "actor": actor,
    }
    entry, _ = record_entry(session, sign_receipt, RECORD_ENTRY_KIND, RECORD_ENTRY_PREFIX, body, at)
    row = CreditRecord(
        entity_id=entity_id,
        kind=kind,
        source=source,
        occurred_at=occurred_at,
        details=json.dumps(details, ensure_ascii=False, sort_keys=True),
        covers=json.dumps(list(covers)),
        entry_id=entry.id,
        recorded_by=actor,
        recorded_at=at,
    )
    session.add(row)
    session.flush()
    from evidence_api.credit.grading import regrade  # noqa: PLC0415 - grading imports records

    regrade(session, sign_receipt, entity_id, at=at, cause="record")
    return row
