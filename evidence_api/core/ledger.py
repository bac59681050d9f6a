"""One log entry written in the caller's transaction: the entry made, its signed receipt
issued and the entry queued for the sealer, so that what it records and the entry commit
together (alerts, clues, 协查 …). The caller calls its ``queued(n)`` nudge after the commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from anchoring.entries import make_entry, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from evidence_api.core.db import Transaction
from evidence_api.core.ids import new_id
from verifier.models import Entry

#: Issues a receipt for an entry: its leaf hash and the signed receipt text.
SignReceipt = Callable[[Entry], tuple[bytes, str]]


@dataclass(frozen=True)
class Ledger:
    """What recording a workflow step uses: transactions, the receipt issuer, the sealer's
    nudge (clues, 协查, complaints, ODR)."""

    transaction: Transaction
    sign_receipt: SignReceipt
    queued: Callable[[int], None]


def ledger_of(runtime: Any) -> Ledger:
    """The ledger out of a process's runtime (service, worker or CLI)."""
    return Ledger(runtime.session, runtime.sign_receipt, runtime.queued)


def record_entry(
    session: Session,
    sign_receipt: SignReceipt,
    kind: str,
    id_prefix: str,
    body: dict[str, Any],
    at: datetime,
) -> tuple[Entry, bytes]:
    """Queue a ``kind`` entry (id ``<id_prefix>-…``, stating ``at``) with its receipt in
    ``session``'s transaction; returns the entry and its leaf hash."""
    entry = make_entry(kind, new_id(id_prefix), body, at=utc_timestamp(at))
    leaf, receipt = sign_receipt(entry)
    enqueue(session.connection(), [QueuedEntry(entry, leaf, at, receipt)])
    return entry, leaf
