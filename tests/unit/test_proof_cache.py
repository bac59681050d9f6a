"""Proofs through the node cache, in one store read each, equal the uncached log's.

A log with a :class:`NodeCache` reads the store once per proof (the size and the
nodes the cache lacks, together), answers exactly what the log without one and
the RFC 9162 reference answer, and never lets a cached node stand in for the
size check: a tree the store does not hold is refused even when every node of
its proof is in memory, and proofs stay right as the tree grows under a warm
cache. The cache itself is bounded and keeps only the upper levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchoring import MemoryNodeStore, MerkleLog
from anchoring.errors import SizeOutOfRangeError
from anchoring.layout import NodeID, inclusion_plan
from anchoring.store.cache import NodeCache
from tests.support.reference import ReferenceTree
from verifier.merkle import verify_consistency, verify_inclusion

MAX_LEAVES = 700
LEAVES = [b"proof-cache-%d" % i for i in range(MAX_LEAVES)]
REF = ReferenceTree(LEAVES)


class CountingStore(MemoryNodeStore):
    """A memory store that counts its reads (calls of ``size_and_nodes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def size_and_nodes(self, ids: Sequence[NodeID]) -> tuple[int, list[bytes | None]]:
        self.calls += 1
        return super().size_and_nodes(ids)


def grown(size: int) -> tuple[CountingStore, MerkleLog]:
    store = CountingStore()
    writer = MerkleLog(store)
    writer.append(LEAVES[:size])
    return store, writer


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, MAX_LEAVES),
    st.lists(st.tuples(st.integers(0, MAX_LEAVES), st.integers(0, MAX_LEAVES)), max_size=30),
    st.integers(1, 64),
)
def test_cached_proofs_equal_the_uncached_log_and_read_once_each(
    size: int, queries: list[tuple[int, int]], capacity: int
) -> None:
    store, plain = grown(size)
    cached = MerkleLog(store, cache=NodeCache(capacity=capacity, min_level=1))
    for a, b in queries:
        tree_size = b % size + 1
        index = a % tree_size
        store.calls = 0
        leaf, proof = cached.leaf_and_inclusion_proof(index, tree_size)
        assert store.calls == 1, "one store read per proof"
        assert proof == plain.inclusion_proof(index, tree_size) == REF.path(index, tree_size)
        assert leaf == plain.leaf_hash(index) == REF.leaf_hash(index)
        verify_inclusion(leaf, index, tree_size, proof, REF.mth(tree_size))
        size1 = a % (tree_size + 1)
        store.calls = 0
        consistency = cached.consistency_proof(size1, tree_size)
        assert store.calls == 1
        assert consistency == plain.consistency_proof(size1, tree_size)
        assert consistency == REF.proof(size1, tree_size)
        assert cached.root(tree_size) == REF.mth(tree_size)
    assert len(cached.cache or ()) <= capacity


def test_a_tree_beyond_the_store_is_refused_though_every_node_is_cached() -> None:
    store, _ = grown(100)
    cache = NodeCache(min_level=0)
    reader = MerkleLog(store, cache=cache)
    for index in range(100):  # every stored node of the tree of 100 is now cached
        reader.inclusion_proof(index, 100)
    assert reader.root(100) == REF.mth(100)
    # Leaf 100's proof in a tree of 101 needs only nodes of the first 100 leaves, all in
    # memory; the store holds 100 leaves, so the tree of 101 does not exist.
    needed = [node for group in inclusion_plan(100, 101) for node in group]
    assert None not in cache.get(needed)
    calls = store.calls
    with pytest.raises(SizeOutOfRangeError):
        reader.inclusion_proof(100, 101)
    assert store.calls == calls + 1, "the size was read even though no node was missing"
    with pytest.raises(SizeOutOfRangeError):
        reader.consistency_proof(64, 101)
    with pytest.raises(SizeOutOfRangeError):
        reader.root(101)


def test_proofs_stay_right_as_the_tree_grows_under_a_warm_cache() -> None:
    store, writer = grown(1)
    cache = NodeCache(min_level=0)
    reader = MerkleLog(store, cache=cache)
    for size in [*range(2, 130), 255, 256, 257, 511, 512, 513, MAX_LEAVES]:
        writer.append(LEAVES[writer.size : size])
        root = REF.mth(size)
        for index in {0, size // 3, size // 2, size - 2, size - 1}:
            proof = reader.inclusion_proof(index, size)
            assert proof == REF.path(index, size), (index, size)
            verify_inclusion(REF.leaf_hash(index), index, size, proof, root)
        for size1 in {1, size // 2, size - 1}:
            proof = reader.consistency_proof(size1, size)
            assert proof == REF.proof(size1, size), (size1, size)
            verify_consistency(size1, size, REF.mth(size1), root, proof)
        assert cache.known_size == size


def test_the_cache_keeps_only_upper_levels_within_its_capacity() -> None:
    cache = NodeCache(capacity=3, min_level=6)
    cache.put([(5, 0), (6, 0), (7, 0), (8, 0), (9, 0)], [b"5", b"6", b"7", b"8", b"9"])
    assert cache.get([(5, 0), (6, 0), (7, 0), (8, 0), (9, 0)]) == [None, None, b"7", b"8", b"9"]
    cache.get([(7, 0)])  # now the most recently used
    cache.put([(10, 0)], [b"10"])
    assert cache.get([(7, 0), (8, 0), (10, 0)]) == [b"7", None, b"10"]
    cache.saw_size(50)
    cache.saw_size(20)
    assert cache.known_size == 50, "the largest size seen: the log never shrinks"
    cache.clear()
    assert len(cache) == 0 and cache.known_size == 0
    with pytest.raises(ValueError, match="capacity"):
        NodeCache(capacity=0)


def test_a_log_with_a_cache_refuses_to_append() -> None:
    store, _ = grown(10)
    with pytest.raises(TypeError, match="only reads"):
        MerkleLog(store, cache=NodeCache()).append([b"x"])
    assert store.size() == 10
