"""The node-store interface the log is written against."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from anchoring.layout import NodeID


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

    def append(self, nodes: Iterable[tuple[int, int, bytes]], old_size: int, new_size: int) -> None:
        """Store ``(level, index, hash)`` triples and move the size from old to new."""
        ...
