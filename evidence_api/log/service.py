"""The log's public read API, for monitors and verifiers (as in Certificate Transparency).

Each answer is read through the process's :class:`~anchoring.reader.LogReader`:
the latest checkpoint is held in memory, and a proof is one statement that reads
the log's size with the nodes the node cache lacks (see :mod:`anchoring.reader`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from sqlalchemy import Connection

from anchoring.queue import CheckpointRecord, find_by_leaf_hash
from anchoring.reader import LogReader
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.log.schemas import ConsistencyProofOut, InclusionProofOut

T = TypeVar("T")


def checkpoint(reader: LogReader) -> CheckpointRecord:
    return reader.run(lambda conn: _exists(reader.latest(conn)))


def _exists(record: CheckpointRecord | None) -> CheckpointRecord:
    if record is None:
        raise NotFoundError("the log has no checkpoint yet (nothing sealed)")
    return record


def _published_size(reader: LogReader, conn: Connection, size: int | None) -> int:
    """Proofs are served only up to the latest signed checkpoint (default: that one)."""
    latest = _exists(reader.held(conn))
    if size is not None and size > latest.size:  # maybe signed since: look again
        latest = _exists(reader.refresh(conn))
    if size is None:
        return latest.size
    if not 1 <= size <= latest.size:
        raise InvalidInputError(
            f"size must be 1..{latest.size} (the latest checkpoint)", field="size"
        )
    return size


def _at_latest(
    reader: LogReader, conn: Connection, size: int | None, answer: Callable[[int], T]
) -> T:
    """``answer(tree_size)`` at the published ``size``. For the default size (the latest),
    once more at a newer checkpoint another process has signed since the one held: when
    the answer's read saw the log beyond it, or when the held one refused the request
    (an index or leaf not in it yet)."""
    tree_size = _published_size(reader, conn, size)
    try:
        result = answer(tree_size)
    except (InvalidInputError, NotFoundError):
        if size is not None or (newer := _newer(reader, conn, tree_size)) is None:
            raise
        return answer(newer)
    stale = size is None and reader.stale(_exists(reader.held(conn)))
    if stale and (newer := _newer(reader, conn, tree_size)) is not None:
        result = answer(newer)
    return result


def _newer(reader: LogReader, conn: Connection, size: int) -> int | None:
    """The latest checkpoint's size, read again, if it is beyond ``size``."""
    latest = reader.refresh(conn)
    return latest.size if latest is not None and latest.size > size else None


def inclusion(
    reader: LogReader, *, index: int | None, leaf_hash_hex: str | None, size: int | None
) -> InclusionProofOut:
    if (index is None) == (leaf_hash_hex is None):
        raise InvalidInputError("give exactly one of index and leaf_hash", field="index")
    wanted = None
    if leaf_hash_hex is not None:
        try:
            wanted = bytes.fromhex(leaf_hash_hex)
        except ValueError:
            wanted = b""
        if len(wanted) != 32:
            raise InvalidInputError("leaf_hash must be 64 hex digits", field="leaf_hash")

    def answer(conn: Connection, tree_size: int) -> InclusionProofOut:
        at = index
        if wanted is not None:
            record = find_by_leaf_hash(conn, wanted)
            if record is None or record.leaf_index is None or record.leaf_index >= tree_size:
                raise NotFoundError(
                    f"no sealed leaf {leaf_hash_hex} in the tree of size {tree_size}"
                )
            at = record.leaf_index
        assert at is not None
        if not 0 <= at < tree_size:
            raise InvalidInputError(f"index must be 0..{tree_size - 1}", field="index")
        leaf, proof = reader.tree(conn).leaf_and_inclusion_proof(at, tree_size)
        return InclusionProofOut(
            index=at, tree_size=tree_size, leaf_hash=leaf.hex(), hashes=[h.hex() for h in proof]
        )

    return reader.run(lambda conn: _at_latest(reader, conn, size, partial(answer, conn)))


def consistency(reader: LogReader, *, first: int, second: int | None) -> ConsistencyProofOut:
    def answer(conn: Connection, to: int) -> ConsistencyProofOut:
        if not 1 <= first <= to:
            raise InvalidInputError(f"from must be 1..{to}", field="from")
        proof = reader.tree(conn).consistency_proof(first, to)
        return ConsistencyProofOut(first=first, second=to, hashes=[h.hex() for h in proof])

    return reader.run(lambda conn: _at_latest(reader, conn, second, partial(answer, conn)))
