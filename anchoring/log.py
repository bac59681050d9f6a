"""An append-only RFC 9162 Merkle log over a :class:`NodeStore`.

Appending stores the hash of every perfect subtree as it completes (about
two nodes per leaf). Roots and proofs at *any* size up to the current one
are then assembled from O(log n) stored nodes, fetched in a single batch: no
hash is ever recomputed from the leaves. That batch also reads the store's
size, which the requested size is checked against (one statement on SQL).

A log given a :class:`~anchoring.store.cache.NodeCache` takes the nodes it
holds from memory and reads only the others (with the size); it is a reader
only, since a writer's transaction could see nodes that are then rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from anchoring.errors import MissingNodeError, SizeOutOfRangeError
from anchoring.layout import (
    NodeID,
    Plan,
    consistency_plan,
    fold,
    inclusion_plan,
    perfect_subtrees,
)
from anchoring.store.base import NodeRun, NodeStore
from anchoring.store.cache import NodeCache
from verifier.merkle import HASH_SIZE, leaf_hash, node_hash


class MerkleLog:
    def __init__(self, store: NodeStore, cache: NodeCache | None = None) -> None:
        self.store = store
        self.cache = cache

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
        return self.append_with_root(leaf_hashes)[0]

    def append_with_root(self, leaf_hashes: Sequence[bytes]) -> tuple[int, bytes]:
        """:meth:`append_hashes`, also returning the root of the grown tree.

        The root is folded from the new right border, which the append holds in
        memory anyway, so it costs no read of the store.
        """
        if self.cache is not None:
            raise TypeError("a log with a node cache only reads: append through one without")
        for h in leaf_hashes:
            if len(h) != HASH_SIZE:
                raise ValueError(f"leaf hash is {len(h)} bytes, want {HASH_SIZE}")
        with self.store.snapshot() as store:
            old_size = store.size()
            # The right border: perfect subtrees of the current tree, lowest level last.
            stack = store.get_nodes(perfect_subtrees(0, old_size))
            if not leaf_hashes:
                return old_size, fold(stack)
            # New nodes of level l get the consecutive indices from old_size >> l on.
            runs: list[list[bytes]] = [[] for _ in range(65)]
            leaves = runs[0]
            index = old_size
            pop, push = stack.pop, stack.append
            for leaf in leaf_hashes:
                leaves.append(leaf)
                if not index & 1:  # a left child: completes nothing yet
                    push(leaf)
                    index += 1
                    continue
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
        # The border of the grown tree, in perfect_subtrees(0, index) order.
        return old_size, fold(stack)

    # --- reading ---------------------------------------------------------------------

    def _read(self, ids: Sequence[NodeID], size: int) -> list[bytes]:
        """The hashes of ``ids``, nodes of the tree of ``size``, which the store must hold:
        those the cache lacks are read in one batch with the store's size, which is read
        (and ``size`` checked against it) even when the cache holds every node."""
        cache = self.cache
        if cache is None:
            return self._read_store(ids, size)
        cached = cache.get(ids)
        missing = [node for node, digest in zip(ids, cached, strict=True) if digest is None]
        fetched = self._read_store(missing, size)
        cache.put(missing, fetched)
        more = iter(fetched)
        return [next(more) if digest is None else digest for digest in cached]

    def _read_store(self, ids: Sequence[NodeID], size: int) -> list[bytes]:
        current, found = self.store.size_and_nodes(ids)
        if self.cache is not None:
            self.cache.saw_size(current)
        if not 0 <= size <= current:
            raise SizeOutOfRangeError(f"size {size} is outside 0..{current}")
        hashes = [h for h in found if h is not None]
        if len(hashes) != len(found):
            absent = [node for node, h in zip(ids, found, strict=True) if h is None]
            raise MissingNodeError(f"nodes missing from the store: {absent[:4]}")
        return hashes

    def _resolve(self, plan: Plan, size: int, *extra: NodeID) -> list[bytes]:
        """Read every node the plan (and ``extra``) names in one batch; fold each group.
        The ``extra`` nodes' hashes follow the folded groups."""
        ids: list[NodeID] = [node for group in plan for node in group]
        ids += extra
        hashes = dict(zip(ids, self._read(ids, size), strict=True))
        return [fold([hashes[node] for node in group]) for group in plan] + [
            hashes[node] for node in extra
        ]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        if size is None:
            size = self.store.size_and_nodes([])[0]
        if size < 0:
            raise SizeOutOfRangeError(f"size {size} is negative")
        return fold(self._read(perfect_subtrees(0, size), size))

    def leaf_hash(self, index: int) -> bytes:
        if index < 0:
            raise SizeOutOfRangeError(f"leaf index {index} is negative")
        try:
            return self._read([(0, index)], index + 1)[0]
        except SizeOutOfRangeError as exc:
            raise SizeOutOfRangeError(f"leaf index {index} is beyond the log ({exc})") from None

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``."""
        self._check_index(index, size)
        return self._resolve(inclusion_plan(index, size), size)

    def leaf_and_inclusion_proof(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        """Leaf ``index``'s hash and its RFC 9162 inclusion proof in the tree of ``size``,
        read together."""
        self._check_index(index, size)
        *proof, leaf = self._resolve(inclusion_plan(index, size), size, (0, index))
        return leaf, proof

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof from the tree of ``size1`` to that of ``size2``."""
        if not 0 <= size1 <= size2:
            raise SizeOutOfRangeError(f"size1 {size1} is outside 0..{size2}")
        return self._resolve(consistency_plan(size1, size2), size2)

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if size < 0:
            raise SizeOutOfRangeError(f"size {size} is negative")
        if not 0 <= index < size:
            raise SizeOutOfRangeError(f"leaf index {index} is outside 0..{size - 1}")
