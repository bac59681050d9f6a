"""An in-process cache of perfect-subtree hashes, for the readers of one log.

A stored node never changes: the hash of a perfect subtree is written once,
when its last leaf arrives, and the log only grows. So a hash read from
committed state is right forever, and proofs can take the nodes they share
(the upper levels, and the right border of a published size) from memory.
What the cache cannot answer is whether a tree of some size exists: that
still comes from the store, read in the same statement as the nodes the
cache lacks (so a proof costs one statement, with fewer rows).

Only committed reads may fill it: a reader inside a writer's transaction
could see nodes that are then rolled back. :class:`~anchoring.log.MerkleLog`
therefore refuses to append through a log that has a cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from anchoring.layout import NodeID

#: nodes kept (about 150 bytes each): every node of level >= MIN_LEVEL of a tree of 4 * 10^6
#: leaves, or the levels a proof shares in a larger one
CAPACITY = 1 << 16
#: levels below this are not kept: a random proof's low siblings are rarely asked for twice,
#: and would push out the upper nodes every proof shares (level 6: a 64-leaf subtree)
MIN_LEVEL = 6
_LEVEL_SHIFT = 58  # a key packs (level, index); index < 2**58 leaves at any level


class NodeCache:
    """A bounded LRU of node hashes (level >= ``min_level``), safe across threads."""

    def __init__(self, capacity: int = CAPACITY, min_level: int = MIN_LEVEL) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.min_level = min_level
        #: the largest size a read has seen: the store holds at least this many leaves (the log
        #: only grows), so a reader that published a smaller one knows a newer state exists
        self.known_size = 0
        self._nodes: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, ids: Sequence[NodeID]) -> list[bytes | None]:
        """The cached hash of each of ``ids``, ``None`` where not cached."""
        nodes = self._nodes
        out: list[bytes | None] = []
        with self._lock:
            for level, index in ids:
                key = (level << _LEVEL_SHIFT) | index
                digest = nodes.get(key)
                if digest is not None:
                    nodes.move_to_end(key)
                out.append(digest)
        return out

    def put(self, ids: Sequence[NodeID], hashes: Sequence[bytes]) -> None:
        """Keep the hashes of ``ids`` (read from committed state) of level >= ``min_level``."""
        nodes = self._nodes
        with self._lock:
            for (level, index), digest in zip(ids, hashes, strict=True):
                if level >= self.min_level:
                    nodes[(level << _LEVEL_SHIFT) | index] = digest
            while len(nodes) > self.capacity:
                nodes.popitem(last=False)

    def saw_size(self, size: int) -> None:
        """The store held ``size`` leaves (committed)."""
        # Unlocked: a racing thread can only put back a smaller size, still a lower bound.
        self.known_size = max(self.known_size, size)

    def clear(self) -> None:
        """Forget everything (a cold start)."""
        with self._lock:
            self._nodes.clear()
            self.known_size = 0
