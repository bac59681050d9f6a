"""In-memory node store: one list of hashes per level."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from anchoring.errors import ConcurrentAppendError, MissingNodeError
from anchoring.layout import NodeID


class MemoryNodeStore:
    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []
        self._size = 0
        self.reads = 0  # nodes read, for tests that check O(log n) proof cost

    def size(self) -> int:
        return self._size

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        self.reads += len(ids)
        levels = self._levels
        try:
            return [levels[level][index] for level, index in ids]
        except IndexError as exc:
            raise MissingNodeError(f"node missing among {list(ids)[:4]}") from exc

    def append(self, nodes: Iterable[tuple[int, int, bytes]], old_size: int, new_size: int) -> None:
        if old_size != self._size:
            raise ConcurrentAppendError(f"store size is {self._size}, writer expected {old_size}")
        levels = self._levels
        staged = list(nodes)
        expected: dict[int, int] = {}
        for level, index, _ in staged:  # validate before mutating: all or nothing
            want = expected.get(level)
            if want is None:
                want = len(levels[level]) if level < len(levels) else 0
            if index != want:
                raise MissingNodeError(f"node ({level}, {index}) out of order, want index {want}")
            expected[level] = want + 1
        for level, _, digest in staged:
            while len(levels) <= level:
                levels.append([])
            levels[level].append(digest)
        self._size = new_size
