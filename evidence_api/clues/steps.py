"""Every step of a clue or an assistance request is one log entry (kind ``clue`` or
``assist``), written with its :class:`SupervisionStep` row in the caller's transaction.

No free text goes into an entry, only its SHA-256 (entries may be shown to anyone
holding a proof); the bodies are specified field by field in docs/clues.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.clues.models import ClueTransfer, SupervisionStep
from evidence_api.clues.schemas import StepProof, StepPublic
from evidence_api.core import ledger
from evidence_api.core.errors import NotFoundError
from evidence_api.core.ledger import record_entry

#: The ledger a step is recorded with (one for every workflow: core.ledger).
StepLedger = ledger.Ledger
ledger_of = ledger.ledger_of

#: The actor of what the service does by itself (flagging overdue items).
SYSTEM_ACTOR = "system"
CLUE_KIND = "clue"
ASSIST_KIND = "assist"
#: Entry id prefixes: ``cl-…`` for clue steps, ``as-…`` for assist steps.
PREFIXES = {CLUE_KIND: "cl", ASSIST_KIND: "as"}


@dataclass(frozen=True)
class Subject:
    """Whose step it is: a clue (``clue_seq``) or a request (``assist_seq``)."""

    kind: str
    public_id: str
    clue_seq: int | None = None
    assist_seq: int | None = None


def record_step(
    ledger: StepLedger,
    session: Session,
    subject: Subject,
    step: str,
    *,
    actor: str,
    at: datetime,
    body: dict[str, Any],
    transfer: ClueTransfer | None = None,
) -> SupervisionStep:
    """Write one step: its entry (``{"<kind>_id", "step", "actor", …body}``, keys whose
    value is None left out) and its row. The caller calls ``ledger.queued`` after commit."""
    entry_body: dict[str, Any] = {f"{subject.kind}_id": subject.public_id, "step": step}
    entry_body["actor"] = actor
    entry_body |= {k: v for k, v in body.items() if v is not None}
    entry, leaf = record_entry(
        session, ledger.sign_receipt, subject.kind, PREFIXES[subject.kind], entry_body, at
    )
    row = SupervisionStep(
        clue_seq=subject.clue_seq,
        assist_seq=subject.assist_seq,
        transfer_seq=None if transfer is None else transfer.seq,
        step=step,
        actor=actor,
        at=at,
        entry_id=entry.id,
        leaf_hash=leaf.hex(),
    )
    session.add(row)
    session.flush()
    return row


def _rows(session: Session, subject: Subject) -> list[SupervisionStep]:
    column = SupervisionStep.clue_seq if subject.kind == CLUE_KIND else SupervisionStep.assist_seq
    seq = subject.clue_seq if subject.kind == CLUE_KIND else subject.assist_seq
    return list(
        session.execute(select(SupervisionStep).where(column == seq).order_by(SupervisionStep.id))
        .scalars()
        .all()
    )


def steps_of(session: Session, subject: Subject) -> list[StepPublic]:
    """The subject's steps, oldest first, each with its entry id and leaf hash (its bundle
    is the one of that entry id under the subject's ``proofs_url``)."""
    rows = _rows(session, subject)
    transfer_ids = dict(
        session.execute(
            select(ClueTransfer.seq, ClueTransfer.id).where(
                ClueTransfer.seq.in_({r.transfer_seq for r in rows if r.transfer_seq})
            )
        ).all()
    )
    return [
        StepPublic(
            step=r.step,
            actor=r.actor,
            at=r.at,
            transfer_id=transfer_ids.get(r.transfer_seq) if r.transfer_seq else None,
            entry_id=r.entry_id,
            leaf_hash=r.leaf_hash,
        )
        for r in rows
    ]


def step_proofs(session: Session, origin: str, subject: Subject) -> list[StepProof]:
    """The proof bundle of every step's entry (pending, sealed or anchored), oldest first."""
    conn = session.connection()
    proofs = []
    for r in _rows(session, subject):
        record = get_entry(conn, r.entry_id)
        if record is None:  # pragma: no cover - the step and its entry commit together
            raise NotFoundError(f"no log entry {r.entry_id!r}")
        bundle = bundle_for(conn, record, origin=origin).model_dump(mode="json")
        proofs.append(StepProof(step=r.step, entry_id=r.entry_id, bundle=bundle))
    return proofs
