"""The anchorer: every acknowledged entry ends up anchored, exactly once.

``anchor_step`` sends the newest signed checkpoint to the EvidenceLog contract
with a consistency proof from the last anchored one; ``confirm_step`` follows
each transaction through submitted -> included -> confirmed, and back (or to
``dropped``, so the checkpoint is sent again) when a reorg or the mempool
loses it. Both are idempotent and safe to run from any number of processes:

- a row is written (with the signed transaction's hash) *before* the
  transaction is broadcast, under a database lock that also guarantees one
  transaction in flight per log;
- before sending, the contract itself is asked what it already holds; the
  contract refuses rollbacks, forks and repeats, so no checkpoint can be
  anchored twice whatever crashes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, insert, select, update

from anchoring import locks
from anchoring.errors import RevertError
from anchoring.log import MerkleLog
from anchoring.queue import latest_checkpoint
from anchoring.schema import anchor_tx, chain_binding, log_checkpoint
from anchoring.store.sql import SqlNodeStore

if TYPE_CHECKING:  # web3 is loaded only where a chain is actually used
    from anchoring.chain import ChainClient

log = logging.getLogger(__name__)

IN_FLIGHT = ("submitted", "included")
#: Confirmed anchors this many blocks deep or less are re-checked for reorgs.
REORG_WINDOW = 64


class AnchorError(Exception):
    """The chain holds something our log cannot explain (another log's history)."""


@dataclass(frozen=True)
class AnchorConfig:
    log_id: bytes
    confirmations: int = 1
    #: A submitted transaction the node no longer knows is dropped after this long.
    drop_after: float = 30.0


@dataclass(frozen=True)
class AnchorRecord:
    """A confirmed anchor: what goes into an anchored proof bundle."""

    size: int
    root: bytes
    tx_hash: str
    block_number: int
    block_hash: str
    block_timestamp: int


Outcome = Literal["nothing", "in_flight", "up_to_date", "sent", "already_anchored"]


def _now() -> datetime:
    return datetime.now(UTC)


def _lock(conn: Connection) -> None:
    """Serialise anchorers (the cluster-wide anchorer lock of :mod:`anchoring.locks` and a
    row lock on PostgreSQL, the write lock on SQLite)."""
    locks.take(conn, locks.ANCHORER_LOCK)
    conn.execute(update(chain_binding).where(chain_binding.c.id == 1).values(id=1))


def _record_found(conn: Connection, chain: ChainClient, cfg: AnchorConfig, size: int) -> None:
    """Make sure an anchor the chain holds (e.g. sent before a crash) has a row."""
    found = conn.execute(
        select(anchor_tx.c.id).where(
            anchor_tx.c.size == size, anchor_tx.c.state.in_((*IN_FLIGHT, "confirmed"))
        )
    ).first()
    if found is not None:
        return
    rows = conn.execute(
        select(anchor_tx).where(anchor_tx.c.size == size).order_by(anchor_tx.c.id.desc())
    ).all()
    for row in rows:  # a "dropped" row whose transaction made it after all
        receipt = chain.receipt(row.tx_hash)
        if receipt is not None and receipt.status == 1:
            conn.execute(
                update(anchor_tx)
                .where(anchor_tx.c.id == row.id)
                .values(state="submitted", updated_at=_now(), detail="found on chain")
            )
            return
    log.warning("checkpoint %d is anchored by a transaction we have no record of", size)


def anchor_step(engine: Engine, chain: ChainClient, cfg: AnchorConfig) -> Outcome:
    """Send the newest unanchored checkpoint, unless a transaction is in flight."""
    with engine.begin() as conn:
        _lock(conn)
        if conn.execute(select(anchor_tx.c.id).where(anchor_tx.c.state.in_(IN_FLIGHT))).first():
            return "in_flight"
        checkpoint = latest_checkpoint(conn)
        if checkpoint is None:
            return "nothing"
        onchain = chain.latest(cfg.log_id)
        tree = MerkleLog(SqlNodeStore(conn))
        if onchain.size and (onchain.size > tree.size or tree.root(onchain.size) != onchain.root):
            raise AnchorError(
                f"the contract holds size {onchain.size} root {onchain.root.hex()}, "
                "which is not this log's history"
            )
        if checkpoint.size <= onchain.size:
            _record_found(conn, chain, cfg, onchain.size)
            return "up_to_date"
        proof = tree.consistency_proof(onchain.size, checkpoint.size) if onchain.size else []
        try:
            tx = chain.prepare_anchor(cfg.log_id, checkpoint.size, checkpoint.root, proof)
        except RevertError as exc:
            if exc.name == "AlreadyAnchored":
                return "already_anchored"
            raise
        now = _now()
        earlier = conn.execute(
            select(anchor_tx.c.id, anchor_tx.c.state).where(anchor_tx.c.tx_hash == tx.tx_hash)
        ).first()
        if earlier is not None:
            # Byte for byte a transaction we sent before (same nonce, call and fees: the
            # fees did not move since), which a reorg or the mempool lost. It is sent again
            # under its own row: a second row with the same hash would be refused, forever.
            _set(
                conn,
                earlier.id,
                state="submitted",
                block_number=None,
                block_hash=None,
                block_timestamp=None,
                submitted_at=now,
                detail=f"sent again (was {earlier.state})",
            )
        else:
            conn.execute(
                insert(anchor_tx).values(
                    size=checkpoint.size,
                    root=checkpoint.root,
                    prev_size=onchain.size,
                    state="submitted",
                    tx_hash=tx.tx_hash,
                    nonce=tx.nonce,
                    sender=chain.sender,
                    submitted_at=now,
                    updated_at=now,
                )
            )
    # Committed first: a crash from here on is reconciled by confirm_step.
    chain.broadcast(tx)
    log.info("anchor sent: size %d tx %s", checkpoint.size, tx.tx_hash)
    return "sent"


def _aware(at: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _age(at: datetime) -> float:
    """Seconds since ``at``."""
    return (_now() - _aware(at)).total_seconds()


def _set(conn: Connection, row_id: int, **values: object) -> None:
    conn.execute(
        update(anchor_tx).where(anchor_tx.c.id == row_id).values(updated_at=_now(), **values)
    )


def _forgotten(
    row: Any, chain: ChainClient, cfg: AnchorConfig, node_restarted_at: datetime | None
) -> bool:
    """A submitted transaction the node does not know: lost for good once ``drop_after``
    passed, or at once when the node restarted after it was sent (a restarted node
    keeps no pool, so waiting would only delay the re-send)."""
    if chain.tx_known(row.tx_hash):
        return False
    if _age(row.submitted_at) > cfg.drop_after:
        return True
    return node_restarted_at is not None and _aware(row.submitted_at) < node_restarted_at


def confirm_step(
    engine: Engine,
    chain: ChainClient,
    cfg: AnchorConfig,
    *,
    node_restarted_at: datetime | None = None,
) -> None:
    """Advance every in-flight transaction; detect reorgs of recent anchors.

    ``node_restarted_at``: when the chain node last came back after dying, if known
    (the managed anvil); transactions sent before it that it does not know are
    dropped at once, and sent again by :func:`anchor_step`.
    """
    head = chain.head()
    with engine.begin() as conn:
        _lock(conn)
        rows = conn.execute(
            select(anchor_tx).where(
                anchor_tx.c.state.in_(IN_FLIGHT)
                | (
                    (anchor_tx.c.state == "confirmed")
                    & (anchor_tx.c.block_number >= head - REORG_WINDOW)
                )
            )
        ).all()
        for row in rows:
            receipt = chain.receipt(row.tx_hash)
            if receipt is None or chain.block_hash(receipt.block_number) != receipt.block_hash:
                if row.state != "submitted":  # it was mined; a reorg took it away
                    known = chain.tx_known(row.tx_hash)
                    state = "submitted" if known else "dropped"
                    log.warning(
                        "reorg: anchor %s of size %d is now %s", row.tx_hash, row.size, state
                    )
                    _set(
                        conn,
                        row.id,
                        state=state,
                        block_number=None,
                        block_hash=None,
                        block_timestamp=None,
                        detail="reorg",
                    )
                elif _forgotten(row, chain, cfg, node_restarted_at):
                    _set(conn, row.id, state="dropped", detail="unknown to the node")
                continue
            if receipt.status != 1:
                _set(
                    conn,
                    row.id,
                    state="reverted",
                    block_number=receipt.block_number,
                    block_hash=receipt.block_hash,
                    detail="transaction reverted",
                )
                continue
            depth = head - receipt.block_number + 1
            state = "confirmed" if depth >= cfg.confirmations else "included"
            if (state, receipt.block_hash) != (row.state, row.block_hash):
                _set(
                    conn,
                    row.id,
                    state=state,
                    block_number=receipt.block_number,
                    block_hash=receipt.block_hash,
                    block_timestamp=chain.block_timestamp(receipt.block_number),
                )


def latest_anchor(conn: Connection) -> AnchorRecord | None:
    """The newest confirmed anchor, if any."""
    row = conn.execute(
        select(anchor_tx)
        .where(anchor_tx.c.state == "confirmed")
        .order_by(anchor_tx.c.size.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return AnchorRecord(
        row.size,
        bytes(row.root),
        row.tx_hash,
        row.block_number,
        row.block_hash,
        row.block_timestamp,
    )


def checkpoint_note(conn: Connection, size: int) -> str | None:
    return conn.execute(
        select(log_checkpoint.c.note).where(log_checkpoint.c.size == size)
    ).scalar_one_or_none()
