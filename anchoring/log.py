"""An append-only RFC 9162 Merkle log over a :class:`NodeStore`.

Appending stores the hash of every perfect subtree as it completes (about
two nodes per leaf). Roots and proofs at *any* size up to the current one
are then assembled from O(log n) stored nodes, fetched in a single batch: no
hash is ever recomputed from the leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from anchoring.errors import SizeOutOfRangeError
from anchoring.layout import (
    NodeID,
    Plan,
    consistency_plan,
    fold,
    inclusion_plan,
    perfect_subtrees,
)
from anchoring.store.base import NodeRun, NodeStore
from verifier.merkle import HASH_SIZE, leaf_hash, node_hash


class MerkleLog:
    def __init__(self, store: NodeStore) -> None:
        self.store = store

    @property
    def size(self) -> int:
        return self.store.size()

    # --- appending -------------------------------------------------------------------

    def append(self, leaf_data: Iterable[bytes]) -> int:
        """Append leaves by their data; returns the index of the first one."""
        return self.append_hashes([leaf_hash(d) for d in leaf_data])

    def append_hashes(self, leaf_hashes: Sequence[bytes]) -> int:
        """Append leaves by their RFC 9162 leaf hashes in one atomic batch.

        Returns the index of the first appended leaf.
        """
        for h in leaf_hashes:
            if len(h) != HASH_SIZE:
                raise ValueError(f"leaf hash is {len(h)} bytes, want {HASH_SIZE}")
        with self.store.snapshot() as store:
            old_size = store.size()
            if not leaf_hashes:
                return old_size
            # The right border: perfect subtrees of the current tree, lowest level last.
            stack = store.get_nodes(perfect_subtrees(0, old_size))
            # New nodes of level l get the consecutive indices from old_size >> l on.
            runs: list[list[bytes]] = [[] for _ in range(65)]
            index = old_size
            pop, push = stack.pop, stack.append
            for leaf in leaf_hashes:
                runs[0].append(leaf)
                digest = leaf
                level, node_index = 0, index
                while node_index & 1:  # the new node completes a bigger subtree
                    digest = node_hash(pop(), digest)
                    level += 1
                    node_index >>= 1
                    runs[level].append(digest)
                push(digest)
                index += 1
            store.append(
                [NodeRun(level, old_size >> level, run) for level, run in enumerate(runs) if run],
                old_size,
                index,
            )
        return old_size

    # --- reading ---------------------------------------------------------------------

    @staticmethod
    def _check_size(store: NodeStore, size: int) -> None:
        current = store.size()
        if not 0 <= size <= current:
            raise SizeOutOfRangeError(f"size {size} is outside 0..{current}")

    @staticmethod
    def _resolve(store: NodeStore, plan: Plan) -> list[bytes]:
        """Fetch every node the plan names in one batch, then fold each group."""
        ids: list[NodeID] = [node for group in plan for node in group]
        hashes = dict(zip(ids, store.get_nodes(ids), strict=True))
        return [fold([hashes[node] for node in group]) for group in plan]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        with self.store.snapshot() as store:
            size = store.size() if size is None else size
            self._check_size(store, size)
            return fold(store.get_nodes(perfect_subtrees(0, size)))

    def leaf_hash(self, index: int) -> bytes:
        with self.store.snapshot() as store:
            size = store.size()
            if not 0 <= index < size:
                raise SizeOutOfRangeError(f"leaf index {index} is outside 0..{size - 1}")
            return store.get_nodes([(0, index)])[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``."""
        with self.store.snapshot() as store:
            self._check_size(store, size)
            if not 0 <= index < size:
                raise SizeOutOfRangeError(f"leaf index {index} is outside 0..{size - 1}")
            return self._resolve(store, inclusion_plan(index, size))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof from the tree of ``size1`` to that of ``size2``."""
        with self.store.snapshot() as store:
            self._check_size(store, size2)
            if not 0 <= size1 <= size2:
                raise SizeOutOfRangeError(f"size1 {size1} is outside 0..{size2}")
            return self._resolve(store, consistency_plan(size1, size2))
