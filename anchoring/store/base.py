"""The node-store interface the log is written against."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from anchoring.layout import NodeID

#: ids per :meth:`NodeStore.size_and_nodes` call: a proof or a root needs at most 2 * 64 + 2
MAX_READ = 1000


@dataclass(frozen=True)
class NodeRun:
    """New perfect-subtree hashes of one level, at consecutive indices from ``first``."""

    level: int
    first: int
    hashes: Sequence[bytes]


class NodeStore(Protocol):
    """Append-only storage of perfect-subtree hashes and the tree size.

    ``append`` must be atomic: either all nodes and the new size are stored
    or nothing is, and it must refuse (``ConcurrentAppendError``) when the
    stored size is not ``old_size``.
    """

    def size(self) -> int: ...

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Hashes of ``ids``, in order; ``MissingNodeError`` if any is absent."""
        ...

    def size_and_nodes(self, ids: Sequence[NodeID]) -> tuple[int, list[bytes | None]]:
        """The committed size and the hashes of ``ids`` (``None`` where absent), seen in one
        consistent state without a transaction block: one statement on SQL, so a proof costs
        one round trip. For O(log n) nodes (a root or a proof), at most ``MAX_READ`` ids."""
        ...

    def append(self, runs: Sequence[NodeRun], old_size: int, new_size: int) -> None:
        """Store the new nodes and move the size from ``old_size`` to ``new_size``."""
        ...

    def snapshot(self) -> AbstractContextManager[NodeStore]:
        """A view on one consistent state (one transaction for SQL) for a read or an append."""
        ...


def iter_nodes(runs: Sequence[NodeRun]) -> Iterator[tuple[int, int, bytes]]:
    """Every ``(level, index, hash)`` in ``runs``."""
    for run in runs:
        for offset, digest in enumerate(run.hashes):
            yield run.level, run.first + offset, digest
