"""In-memory node store: one list of hashes per level."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from anchoring.errors import ConcurrentAppendError, MissingNodeError
from anchoring.layout import NodeID
from anchoring.store.base import MAX_READ, NodeRun


class MemoryNodeStore:
    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []
        self._size = 0
        self.reads = 0  # nodes read, for tests that check O(log n) proof cost

    def size(self) -> int:
        return self._size

    @contextmanager
    def snapshot(self) -> Iterator[MemoryNodeStore]:
        yield self

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        self.reads += len(ids)
        levels = self._levels
        try:
            return [levels[level][index] for level, index in ids]
        except IndexError as exc:
            raise MissingNodeError(f"node missing among {list(ids)[:4]}") from exc

    def size_and_nodes(self, ids: Sequence[NodeID]) -> tuple[int, list[bytes | None]]:
        if len(ids) > MAX_READ:
            raise ValueError(f"{len(ids)} ids in one read, at most {MAX_READ}")
        self.reads += len(ids)
        levels = self._levels
        out: list[bytes | None] = []
        for level, index in ids:
            row = levels[level] if level < len(levels) else []
            out.append(row[index] if 0 <= index < len(row) else None)
        return self._size, out

    def runs(self, since: int = 0) -> list[NodeRun]:
        """Every node stored since the tree had ``since`` leaves, level by level: what
        another store appends, with ``(since, size())``, to hold the same tree (a bulk copy)."""
        return [
            NodeRun(level, since >> level, nodes[since >> level :])
            for level, nodes in enumerate(self._levels)
            if len(nodes) > since >> level
        ]

    def append(self, runs: Sequence[NodeRun], old_size: int, new_size: int) -> None:
        if old_size != self._size:
            raise ConcurrentAppendError(f"store size is {self._size}, writer expected {old_size}")
        levels = self._levels
        for run in runs:  # validate before mutating: all or nothing
            have = len(levels[run.level]) if run.level < len(levels) else 0
            if run.first != have:
                raise MissingNodeError(
                    f"level {run.level} run starts at {run.first}, store holds {have} nodes"
                )
        for run in runs:
            while len(levels) <= run.level:
                levels.append([])
            levels[run.level].extend(run.hashes)
        self._size = new_size
