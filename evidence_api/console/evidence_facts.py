"""What the evidence pages show beside the evidence itself: where each item stands in the
log (pending, sealed, anchored), the proof's timeline, and its custody history.

Read-only SQL over the log's own tables (the same rows the proof bundle is built from);
names come from :func:`evidence_api.core.auth.holders`, at display time, because log
entries carry only pseudonyms (``token-<id>``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from anchoring.anchorer import latest_anchor
from anchoring.schema import anchor_tx, log_checkpoint, log_entry
from evidence_api.core.auth import holders
from evidence_api.core.runtime import Runtime
from verifier.bundle import Bundle

log = logging.getLogger(__name__)

#: Custody entries shown on one evidence page (newest first).
MAX_CUSTODY = 100
#: Seconds the detail page waits for the chain's head block (confirmations).
HEAD_DEADLINE = 2.0


def states(runtime: Runtime, evidence_ids: Iterable[str]) -> dict[str, str]:
    """``pending``, ``sealed`` or ``anchored`` for each evidence id, as its proof bundle
    would say: sealed once a checkpoint covers its leaf, anchored once a confirmed anchor
    does. Three reads, whatever the number of ids."""
    ids = list(evidence_ids)
    if not ids:
        return {}
    with runtime.engine.connect() as conn:
        leaves = dict(
            conn.execute(
                select(log_entry.c.entry_id, log_entry.c.leaf_index).where(
                    log_entry.c.entry_id.in_(ids)
                )
            ).all()
        )
        checkpoint = conn.execute(
            select(log_checkpoint.c.size).order_by(log_checkpoint.c.size.desc()).limit(1)
        ).scalar_one_or_none()
        anchor = latest_anchor(conn)
    sealed_size = checkpoint or 0
    anchored_size = anchor.size if anchor is not None else 0
    found: dict[str, str] = {}
    for evidence_id in ids:
        index = leaves.get(evidence_id)
        if index is None or index >= sealed_size:
            found[evidence_id] = "pending"
        elif index < anchored_size:
            found[evidence_id] = "anchored"
        else:
            found[evidence_id] = "sealed"
    return found


@dataclass(frozen=True)
class Anchoring:
    """An anchoring transaction sent for a checkpoint covering the entry, not yet confirmed."""

    tx_hash: str
    state: str
    size: int
    block_number: int | None


@dataclass(frozen=True)
class Timeline:
    """pending -> sealed -> anchored -> confirmations, for one entry."""

    status: str
    received_at: datetime | None
    leaf_index: int | None
    sealed_at: datetime | None
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    anchor_tx: str | None
    anchor_block: int | None
    anchor_time: datetime | None
    anchor_chain_id: int | None
    anchor_contract: str | None
    anchor_size: int | None
    #: blocks holding the anchor, its own included (None: unknown, chain not answering)
    confirmations: int | None
    required_confirmations: int
    #: a transaction on its way, while the entry is sealed but not yet anchored
    anchoring: Anchoring | None


def timeline(runtime: Runtime, bundle: Bundle) -> Timeline:
    """The timeline of ``bundle``'s entry: the bundle's own facts (checkpoint size, anchor
    tx and block) with the times the log recorded them and the chain's confirmations."""
    entry_id = bundle.entry.id
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(log_entry.c.received_at, log_entry.c.leaf_index, log_entry.c.sealed_at).where(
                log_entry.c.entry_id == entry_id
            )
        ).first()
        size = bundle.inclusion.tree_size if bundle.inclusion is not None else None
        checkpoint_at = (
            conn.execute(
                select(log_checkpoint.c.created_at).where(log_checkpoint.c.size == size)
            ).scalar_one_or_none()
            if size is not None
            else None
        )
        leaf_index = row.leaf_index if row is not None else None
        anchoring = (
            _anchoring(conn, leaf_index)
            if bundle.status == "sealed" and leaf_index is not None
            else None
        )
    anchor = bundle.anchor
    confirmations = None
    if anchor is not None:
        head = chain_head(runtime)
        if head is not None:
            confirmations = max(0, head - anchor.block_number + 1)
    return Timeline(
        status=bundle.status,
        received_at=_aware(row.received_at) if row is not None else None,
        leaf_index=leaf_index,
        sealed_at=_aware(row.sealed_at) if row is not None else None,
        checkpoint_size=size,
        checkpoint_at=_aware(checkpoint_at),
        anchor_tx=anchor.tx_hash if anchor else None,
        anchor_block=anchor.block_number if anchor else None,
        anchor_time=datetime.fromtimestamp(anchor.block_timestamp, UTC) if anchor else None,
        anchor_chain_id=anchor.chain_id if anchor else None,
        anchor_contract=anchor.contract if anchor else None,
        anchor_size=anchor.size if anchor else None,
        confirmations=confirmations,
        required_confirmations=runtime.settings.confirmations,
        anchoring=anchoring,
    )


def _anchoring(conn: Connection, leaf_index: int) -> Anchoring | None:
    row = conn.execute(
        select(anchor_tx.c.tx_hash, anchor_tx.c.state, anchor_tx.c.size, anchor_tx.c.block_number)
        .where(anchor_tx.c.size > leaf_index, anchor_tx.c.state.in_(("submitted", "included")))
        .order_by(anchor_tx.c.size)
        .limit(1)
    ).first()
    if row is None:
        return None
    return Anchoring(row.tx_hash, row.state, row.size, row.block_number)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC wall times; PostgreSQL aware ones."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def chain_head(runtime: Runtime, deadline: float = HEAD_DEADLINE) -> int | None:
    """The chain's head block, or None (no chain, or no answer within ``deadline`` s).

    Asked in a daemon thread: a hung node holds that thread, never the page."""
    chain = runtime.chain
    if chain is None:
        return None
    found: list[int] = []

    def ask() -> None:
        try:
            found.append(int(chain.client.head()))
        except Exception as exc:  # the page shows "unknown" instead
            log.debug("console: chain head unavailable: %s", exc)

    thread = threading.Thread(target=ask, name="console-chain-head", daemon=True)
    thread.start()
    thread.join(deadline)
    return found[0] if found else None


@dataclass(frozen=True)
class CustodyEvent:
    """Someone read (downloaded a file of) or exported the evidence, and why."""

    entry_id: str
    at: datetime
    action: str
    reader: str
    role: str
    purpose: str
    file: str | None
    sealed: bool


def custody(runtime: Runtime, evidence_id: str) -> list[CustodyEvent]:
    """The newest :data:`MAX_CUSTODY` custody entries naming ``evidence_id``, readers
    shown by name.

    Entries are canonical JSON (RFC 8785: no spaces), so the body's
    ``"evidence_id":"<id>"`` is matched as written; the entry is parsed and its
    ``evidence_id`` compared again before it is shown. This scans the custody entries
    (the log keeps no index by evidence id)."""
    needle = json.dumps({"evidence_id": evidence_id}, separators=(",", ":"))[1:-1]
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(
                log_entry.c.entry_id,
                log_entry.c.entry,
                log_entry.c.received_at,
                log_entry.c.leaf_index,
            )
            .where(
                log_entry.c.kind == "custody",
                log_entry.c.entry.contains(needle, autoescape=True),
            )
            .order_by(log_entry.c.seq.desc())
            .limit(MAX_CUSTODY)
        ).all()
    events: list[tuple[str, datetime, dict[str, object], bool]] = []
    for row in rows:
        try:
            body = json.loads(row.entry).get("body", {})
        except ValueError:  # pragma: no cover - the log holds only canonical JSON
            continue
        if not isinstance(body, dict) or body.get("evidence_id") != evidence_id:
            continue
        at = _aware(row.received_at) or datetime.now(UTC)
        events.append((row.entry_id, at, body, row.leaf_index is not None))
    with runtime.session() as session:
        names = holders(session, {str(body.get("reader", "")) for _, _, body, _ in events})
    return [
        CustodyEvent(
            entry_id=entry_id,
            at=at,
            action=str(body.get("action", "")),
            reader=names.get(str(body.get("reader", "")), str(body.get("reader", ""))),
            role=str(body.get("role", "")),
            purpose=str(body.get("purpose", "")),
            file=str(body["file"]) if body.get("file") is not None else None,
            sealed=sealed,
        )
        for entry_id, at, body, sealed in events
    ]


def submitter_name(runtime: Runtime, pseudonym: str) -> str:
    """The submitter's display name (and unit), or the pseudonym itself when unknown."""
    with runtime.session() as session:
        return holders(session, {pseudonym}).get(pseudonym, pseudonym)
