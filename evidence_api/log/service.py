"""The log's public read API, for monitors and verifiers (as in Certificate Transparency)."""

from __future__ import annotations

from sqlalchemy import Connection

from anchoring.errors import SizeOutOfRangeError
from anchoring.log import MerkleLog
from anchoring.queue import CheckpointRecord, find_by_leaf_hash, latest_checkpoint
from anchoring.store.sql import SqlNodeStore
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.log.schemas import ConsistencyProofOut, InclusionProofOut


def checkpoint(conn: Connection) -> CheckpointRecord:
    record = latest_checkpoint(conn)
    if record is None:
        raise NotFoundError("the log has no checkpoint yet (nothing sealed)")
    return record


def _published_size(conn: Connection, size: int | None) -> int:
    """Proofs are served only up to the latest signed checkpoint."""
    latest = checkpoint(conn).size
    if size is None:
        return latest
    if not 1 <= size <= latest:
        raise InvalidInputError(f"size must be 1..{latest} (the latest checkpoint)", field="size")
    return size


def inclusion(
    conn: Connection, *, index: int | None, leaf_hash_hex: str | None, size: int | None
) -> InclusionProofOut:
    if (index is None) == (leaf_hash_hex is None):
        raise InvalidInputError("give exactly one of index and leaf_hash", field="index")
    tree_size = _published_size(conn, size)
    if leaf_hash_hex is not None:
        try:
            wanted = bytes.fromhex(leaf_hash_hex)
        except ValueError:
            wanted = b""
        if len(wanted) != 32:
            raise InvalidInputError("leaf_hash must be 64 hex digits", field="leaf_hash")
        record = find_by_leaf_hash(conn, wanted)
        if record is None or record.leaf_index is None or record.leaf_index >= tree_size:
            raise NotFoundError(f"no sealed leaf {leaf_hash_hex} in the tree of size {tree_size}")
        index = record.leaf_index
    assert index is not None
    if not 0 <= index < tree_size:
        raise InvalidInputError(f"index must be 0..{tree_size - 1}", field="index")
    tree = MerkleLog(SqlNodeStore(conn))
    proof = tree.inclusion_proof(index, tree_size)
    leaf = tree.leaf_hash(index)
    return InclusionProofOut(
        index=index, tree_size=tree_size, leaf_hash=leaf.hex(), hashes=[h.hex() for h in proof]
    )


def consistency(conn: Connection, *, first: int, second: int | None) -> ConsistencyProofOut:
    second = _published_size(conn, second)
    if not 1 <= first <= second:
        raise InvalidInputError(f"from must be 1..{second}", field="from")
    try:
        proof = MerkleLog(SqlNodeStore(conn)).consistency_proof(first, second)
    except SizeOutOfRangeError as exc:  # pragma: no cover - bounds checked above
        raise InvalidInputError(str(exc), field="to") from exc
    return ConsistencyProofOut(first=first, second=second, hashes=[h.hex() for h in proof])
