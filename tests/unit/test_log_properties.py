"""anchoring.MerkleLog on a MemoryNodeStore, against the RFC 9162 reference and the verifier.

For trees of up to 1,000 leaves appended in random batch splits (10 generated logs per
property here, 60 in tests/integration/test_log_properties_full.py), every root at
every historical size is the reference MTH, and every inclusion and
consistency proof (edge and random indices and sizes) (a) verifies, (b) is
exactly the reference proof, and (c) stops verifying after any one-bit change
to a proof hash or a root. Proof cost is O(log n) node reads, up to 2**16 - 1
leaves here (2**20 - 1 in tests/integration/test_log_properties_big.py). Bad sizes, bad
hashes and stale writers are refused.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchoring import MemoryNodeStore, MerkleLog
from anchoring.errors import ConcurrentAppendError, LogError, MissingNodeError, SizeOutOfRangeError
from anchoring.store.base import NodeRun
from tests.support.reference import ReferenceTree
from verifier.errors import MerkleError, ProofLengthError
from verifier.merkle import EMPTY_ROOT, leaf_hash, node_hash, verify_consistency, verify_inclusion

MAX_LEAVES = 1000
#: The unit tier's big tree (tests/integration/test_log_properties_big.py builds 2**20 - 1).
BIG = 2**16 - 1

#: The full property run (tests/integration/test_log_properties_full.py): 60 logs per property.
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: The unit tier checks the same properties on fewer generated logs, to stay fast.
UNIT_PROPERTY = settings(PROPERTY, max_examples=10)

# Sizes where the tree changes shape: around powers of two.
EDGE_SIZES = sorted({0, 1, 2, 3} | {p + d for p in (4, 8, 64, 128, 256, 512) for d in (-1, 0, 1)})


def leaves_for(seed: int, n: int) -> list[bytes]:
    """Leaf data of varying length (empty included), distinct per index."""
    return [b"%d:" % i + bytes([seed & 0xFF]) * ((seed + i) % 5) for i in range(n)]


def flip_bit(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def read_bound(size: int) -> int:
    """2 * ceil(log2(size)) + 2 node reads."""
    return 2 * (size - 1).bit_length() + 2


class Built:
    """A log built in batches, its leaf data and the reference tree over the same data."""

    def __init__(self, leaves: list[bytes], batches: list[int]) -> None:
        self.store = MemoryNodeStore()
        self.log = MerkleLog(self.store)
        self.ref = ReferenceTree(leaves)
        self.n = len(leaves)
        at = 0
        for count in batches:
            first = self.log.append(leaves[at : at + count])
            assert first == at, "append returns the index of the batch's first leaf"
            at += count
            assert self.log.size == at
            assert self.log.root() == self.ref.mth(at), f"root after a batch, at size {at}"


@st.composite
def built_logs(draw: st.DrawFn) -> Built:
    n = draw(
        st.one_of(
            st.integers(0, MAX_LEAVES),
            st.integers(MAX_LEAVES - 100, MAX_LEAVES),  # make sure big trees are common
            st.sampled_from([*EDGE_SIZES, MAX_LEAVES]),
        ),
        label="leaves",
    )
    cuts = draw(st.lists(st.integers(0, n), max_size=12), label="cuts")
    points = [0, *sorted(cuts), n]  # repeated cuts make empty batches
    batches = [b - a for a, b in pairwise(points)]
    seed = draw(st.integers(0, 255), label="seed")
    return Built(leaves_for(seed, n), batches)


def historical_sizes(n: int, rnd: random.Random, extra: int = 4) -> list[int]:
    sizes = {s for s in EDGE_SIZES if s <= n} | {n, max(n - 1, 0)}
    sizes |= {rnd.randint(0, n) for _ in range(extra)}
    return sorted(sizes)


def edge_indices(size: int, rnd: random.Random) -> list[int]:
    """Leaf indices where proofs change shape in a tree of ``size`` >= 1, and one at random."""
    k = 1 << ((size - 1).bit_length() - 1) if size > 1 else 0
    picks = {0, 1, k - 1, k, size // 2, size - 2, size - 1, rnd.randrange(size)}
    return sorted(i for i in picks if 0 <= i < size)


# --- known answers ------------------------------------------------------------------

# The RFC 6962 test tree of transparency-dev/merkle (and Certificate Transparency).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    # printf '' | sha256sum
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    # printf '\x00' | sha256sum
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    # { printf '\x01'; printf '\x00' | openssl sha256 -binary;
    #   printf '\x00\x00' | openssl sha256 -binary; } | sha256sum
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    # sizes 3..8: the same recursion, one level further each time
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def hexes(hashes: Iterable[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def test_known_answers_for_reference_and_log() -> None:
    ref = ReferenceTree(CT_LEAVES)
    log = MerkleLog(MemoryNodeStore())
    log.append(CT_LEAVES)
    for size, want in enumerate(CT_ROOTS):
        assert ref.mth(size).hex() == want, f"reference root at size {size}"
        assert log.root(size).hex() == want, f"log root at size {size}"
    for (index, size), path in CT_INCLUSION.items():
        assert hexes(ref.path(index, size)) == path
        assert hexes(log.inclusion_proof(index, size)) == path
    for (size1, size2), proof in CT_CONSISTENCY.items():
        assert hexes(ref.proof(size1, size2)) == proof
        assert hexes(log.consistency_proof(size1, size2)) == proof


# --- roots --------------------------------------------------------------------------


@UNIT_PROPERTY
@given(built_logs())
def test_root_at_every_historical_size_is_reference_mth(built: Built) -> None:
    check_roots(built)


def check_roots(built: Built) -> None:
    log, ref = built.log, built.ref
    for size in range(built.n + 1):
        assert log.root(size) == ref.mth(size), size
    assert log.root() == ref.mth(built.n)
    for index in range(built.n):
        assert log.leaf_hash(index) == ref.leaf_hash(index), index


# --- inclusion proofs ---------------------------------------------------------------


def check_inclusion(built: Built, index: int, size: int, rnd: random.Random) -> None:
    ref, store = built.ref, built.store
    store.reads = 0
    proof = built.log.inclusion_proof(index, size)
    assert store.reads <= read_bound(size), f"{store.reads} reads for inclusion({index}, {size})"
    assert proof == ref.path(index, size), f"inclusion({index}, {size}) differs from PATH"
    leaf, root = ref.leaf_hash(index), ref.mth(size)
    verify_inclusion(leaf, index, size, proof, root)

    for j in range(len(proof)):
        bad = list(proof)
        bad[j] = flip_bit(bad[j], rnd.randrange(256))
        with pytest.raises(MerkleError):
            verify_inclusion(leaf, index, size, bad, root)
    with pytest.raises(MerkleError):
        verify_inclusion(leaf, index, size, proof, flip_bit(root, rnd.randrange(256)))
    with pytest.raises(MerkleError):
        verify_inclusion(flip_bit(leaf, rnd.randrange(256)), index, size, proof, root)
    with pytest.raises(ProofLengthError):  # trailing-garbage
        verify_inclusion(leaf, index, size, [*proof, bytes(32)], root)
    if proof:
        with pytest.raises(ProofLengthError):  # truncated
            verify_inclusion(leaf, index, size, proof[:-1], root)


@UNIT_PROPERTY
@given(built_logs(), st.randoms(use_true_random=False))
def test_inclusion_proofs_verify_match_reference_and_detect_bit_flips(
    built: Built, rnd: random.Random
) -> None:
    check_inclusions(built, rnd)


def check_inclusions(built: Built, rnd: random.Random) -> None:
    for size in historical_sizes(built.n, rnd):
        for index in edge_indices(size, rnd) if size else []:
            check_inclusion(built, index, size, rnd)


# --- consistency proofs -------------------------------------------------------------


def check_consistency(built: Built, size1: int, size2: int, rnd: random.Random) -> None:
    ref, store = built.ref, built.store
    store.reads = 0
    proof = built.log.consistency_proof(size1, size2)
    if size2:
        bound = read_bound(size2)
        assert store.reads <= bound, f"{store.reads} reads for consistency({size1}, {size2})"
    assert proof == ref.proof(size1, size2), f"consistency({size1}, {size2}) differs from PROOF"
    root1, root2 = ref.mth(size1), ref.mth(size2)
    verify_consistency(size1, size2, root1, root2, proof)

    for j in range(len(proof)):
        bad = list(proof)
        bad[j] = flip_bit(bad[j], rnd.randrange(256))
        with pytest.raises(MerkleError):
            verify_consistency(size1, size2, root1, root2, bad)
    with pytest.raises(MerkleError):
        verify_consistency(size1, size2, flip_bit(root1, rnd.randrange(256)), root2, proof)
    # Every tree extends the empty one, whatever its root: root2 is only
    # constrained when size1 > 0.
    if size1 > 0:
        with pytest.raises(MerkleError):
            verify_consistency(size1, size2, root1, flip_bit(root2, rnd.randrange(256)), proof)
    with pytest.raises(ProofLengthError):  # trailing-garbage
        verify_consistency(size1, size2, root1, root2, [*proof, bytes(32)])
    if proof:
        with pytest.raises(ProofLengthError):  # truncated
            verify_consistency(size1, size2, root1, root2, proof[:-1])


def consistency_pairs(n: int, rnd: random.Random) -> list[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for size2 in historical_sizes(n, rnd, extra=3):
        k = 1 << ((size2 - 1).bit_length() - 1) if size2 > 1 else 0
        for size1 in {0, 1, k - 1, k, k + 1, size2 - 1, size2, rnd.randint(0, size2)}:
            if 0 <= size1 <= size2:
                pairs.add((size1, size2))
    return sorted(pairs)


@UNIT_PROPERTY
@given(built_logs(), st.randoms(use_true_random=False))
def test_consistency_proofs_verify_match_reference_and_detect_bit_flips(
    built: Built, rnd: random.Random
) -> None:
    check_consistencies(built, rnd)


def check_consistencies(built: Built, rnd: random.Random) -> None:
    for size1, size2 in consistency_pairs(built.n, rnd):
        check_consistency(built, size1, size2, rnd)


def test_every_bit_of_one_proof_and_root_matters() -> None:
    built = Built(leaves_for(1, 1000), [1000])
    ref = built.ref
    proof = built.log.inclusion_proof(345, 1000)
    leaf, root = ref.leaf_hash(345), ref.mth(1000)
    for bit in range(256):
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = flip_bit(bad[j], bit)
            with pytest.raises(MerkleError):
                verify_inclusion(leaf, 345, 1000, bad, root)
        with pytest.raises(MerkleError):
            verify_inclusion(leaf, 345, 1000, proof, flip_bit(root, bit))


# --- proof cost: O(log n) node reads ------------------------------------------------


def build_big_log(big: int) -> MerkleLog:
    """``big`` random leaf hashes, appended in three uneven batches (the second ends just
    past the middle)."""
    rnd = random.Random(big + 1)
    blob = rnd.randbytes(32 * big)
    hashes = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    log = MerkleLog(MemoryNodeStore())
    half = (big + 1) // 2
    for begin, end in ((0, 12345), (12345, half + 3), (half + 3, big)):
        log.append_hashes(hashes[begin:end])
    assert log.size == big
    return log


@pytest.fixture(scope="module")
def big_log() -> MerkleLog:
    return build_big_log(BIG)


def store_of(log: MerkleLog) -> MemoryNodeStore:
    assert isinstance(log.store, MemoryNodeStore)
    return log.store


def big_edge_sizes(big: int) -> list[int]:
    """Sizes where a tree of up to ``big`` = 2**k - 1 leaves changes shape."""
    half = (big + 1) // 2
    return [1, 2, 3, 1000, half - 1, half, half + 1, big - 1, big]


@pytest.mark.parametrize("size", big_edge_sizes(BIG))
def test_proof_reads_are_logarithmic_in_a_big_tree(big_log: MerkleLog, size: int) -> None:
    check_big_tree_reads(big_log, size)


def check_big_tree_reads(big_log: MerkleLog, size: int) -> None:
    store = store_of(big_log)
    rnd = random.Random(size)
    root = big_log.root(size)
    store.reads = 0
    big_log.root(size)
    assert store.reads == size.bit_count(), "a root reads one node per set bit of the size"
    for index in edge_indices(size, rnd):
        store.reads = 0
        proof = big_log.inclusion_proof(index, size)
        assert store.reads <= read_bound(size), (index, size, store.reads)
        verify_inclusion(big_log.leaf_hash(index), index, size, proof, root)
    k = 1 << ((size - 1).bit_length() - 1) if size > 1 else 0
    for size1 in sorted({1, k - 1, k, k + 1, size - 1, size // 3, rnd.randint(1, size)}):
        if 0 < size1 <= size:
            store.reads = 0
            proof = big_log.consistency_proof(size1, size)
            assert store.reads <= read_bound(size), (size1, size, store.reads)
            verify_consistency(size1, size, big_log.root(size1), root, proof)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_proof_reads_are_logarithmic_at_random_sizes(
    big_log: MerkleLog, data: st.DataObject
) -> None:
    check_random_reads(big_log, data)


def check_random_reads(big_log: MerkleLog, data: st.DataObject) -> None:
    store = store_of(big_log)
    size = data.draw(st.integers(1, big_log.size), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    size1 = data.draw(st.integers(0, size), label="size1")
    store.reads = 0
    big_log.inclusion_proof(index, size)
    assert store.reads <= read_bound(size)
    store.reads = 0
    big_log.consistency_proof(size1, size)
    assert store.reads <= read_bound(size)


# --- errors -------------------------------------------------------------------------


@pytest.fixture
def log10() -> MerkleLog:
    log = MerkleLog(MemoryNodeStore())
    log.append(leaves_for(0, 10))
    return log


@pytest.mark.parametrize(
    ("call", "args"),
    [
        pytest.param("inclusion_proof", (10, 10), id="index-equals-size"),
        pytest.param("inclusion_proof", (7, 5), id="index-beyond-historical-size"),
        pytest.param("inclusion_proof", (-1, 10), id="negative-index"),
        pytest.param("inclusion_proof", (0, 0), id="index-in-empty-tree"),
        pytest.param("inclusion_proof", (0, 11), id="size-beyond-current"),
        pytest.param("consistency_proof", (0, 11), id="size2-beyond-current"),
        pytest.param("consistency_proof", (11, 11), id="both-sizes-beyond-current"),
        pytest.param("consistency_proof", (6, 5), id="size1-greater-than-size2"),
        pytest.param("consistency_proof", (-1, 5), id="negative-size1"),
        pytest.param("root", (11,), id="root-beyond-current"),
        pytest.param("root", (-1,), id="root-negative-size"),
        pytest.param("leaf_hash", (10,), id="leaf-equals-size"),
        pytest.param("leaf_hash", (-1,), id="leaf-negative"),
    ],
)
def test_out_of_range_is_refused(log10: MerkleLog, call: str, args: tuple[int, ...]) -> None:
    with pytest.raises(SizeOutOfRangeError) as info:
        getattr(log10, call)(*args)
    assert isinstance(info.value, LogError)


def test_limits_are_inclusive(log10: MerkleLog) -> None:
    ref = ReferenceTree(leaves_for(0, 10))
    assert log10.inclusion_proof(9, 10) == ref.path(9, 10)
    assert log10.inclusion_proof(0, 1) == []
    assert log10.consistency_proof(10, 10) == []
    assert log10.consistency_proof(0, 10) == []
    assert log10.root(10) == ref.mth(10)
    assert log10.root(0) == EMPTY_ROOT
    assert log10.leaf_hash(9) == ref.leaf_hash(9)


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
@pytest.mark.parametrize("position", ["first", "last"])
def test_append_hashes_rejects_a_hash_that_is_not_32_bytes(
    log10: MerkleLog, length: int, position: str
) -> None:
    root = log10.root()
    good = [leaf_hash(b"x%d" % i) for i in range(3)]
    batch = [b"\xab" * length, *good] if position == "first" else [*good, b"\xab" * length]
    with pytest.raises(ValueError, match=f"{length} bytes"):
        log10.append_hashes(batch)
    assert log10.size == 10
    assert log10.root() == root
    with pytest.raises(MissingNodeError):  # not even the good hashes were stored
        log10.store.get_nodes([(0, 10)])


def test_append_of_nothing_changes_nothing(log10: MerkleLog) -> None:
    root = log10.root()
    assert log10.append([]) == 10
    assert log10.append_hashes([]) == 10
    assert log10.size == 10
    assert log10.root() == root


def test_append_hashes_equals_append_of_data() -> None:
    data = leaves_for(3, 77)
    by_data, by_hash = MerkleLog(MemoryNodeStore()), MerkleLog(MemoryNodeStore())
    by_data.append(data)
    by_hash.append_hashes([leaf_hash(d) for d in data])
    assert by_hash.root() == by_data.root() == ReferenceTree(data).mth(77)


class RecordingStore(MemoryNodeStore):
    """A memory store that remembers the arguments of its last append."""

    last: tuple[list[NodeRun], int, int]

    def append(self, runs: Sequence[NodeRun], old_size: int, new_size: int) -> None:
        self.last = (list(runs), old_size, new_size)
        super().append(self.last[0], old_size, new_size)


def test_second_writer_from_the_same_size_is_refused_and_stores_nothing() -> None:
    data = leaves_for(5, 10)
    shared = MemoryNodeStore()
    MerkleLog(shared).append(data)
    # Writer B prepared its batch on a copy of the log at size 10 ...
    copy_b = RecordingStore()
    MerkleLog(copy_b).append(data)
    MerkleLog(copy_b).append([b"from B", b"from B too"])
    batch_b = copy_b.last
    assert batch_b[1] == 10
    # ... but writer A appended to the shared store first.
    MerkleLog(shared).append([b"from A"])
    with pytest.raises(ConcurrentAppendError):
        shared.append(*batch_b)
    want = ReferenceTree([*data, b"from A"])
    log = MerkleLog(shared)
    assert log.size == 11
    assert log.root() == want.mth(11)
    assert [log.leaf_hash(i) for i in range(11)] == [want.leaf_hash(i) for i in range(11)]
    with pytest.raises(MissingNodeError):
        shared.get_nodes([(0, 11)])


@pytest.mark.parametrize("stale", [0, 9, 11, 12])
def test_append_with_a_stale_old_size_is_refused(stale: int) -> None:
    store = MemoryNodeStore()
    MerkleLog(store).append(leaves_for(0, 10))
    with pytest.raises(ConcurrentAppendError, match="store size is 10"):
        store.append([NodeRun(0, 10, [leaf_hash(b"late")])], stale, stale + 1)
    assert store.size() == 10
    with pytest.raises(MissingNodeError):
        store.get_nodes([(0, 10)])


H = leaf_hash(b"h")


@pytest.mark.parametrize(
    "runs",
    [
        pytest.param([NodeRun(0, 11, [H])], id="gap-at-level-0"),
        pytest.param([NodeRun(0, 10, [H]), NodeRun(0, 12, [H])], id="gap-after-a-valid-run"),
        pytest.param([NodeRun(0, 9, [H])], id="rewrites-a-stored-leaf"),
        pytest.param([NodeRun(0, 10, [H]), NodeRun(1, 4, [H])], id="rewrites-a-level-1-node"),
        pytest.param([NodeRun(0, 10, [H, H]), NodeRun(1, 6, [H])], id="level-1-out-of-order"),
    ],
)
def test_invalid_batch_stores_nothing(runs: list[NodeRun]) -> None:
    data = leaves_for(2, 10)
    store = MemoryNodeStore()
    log = MerkleLog(store)
    log.append(data)
    before = [store.get_nodes([(0, i)])[0] for i in range(10)]
    with pytest.raises(MissingNodeError, match="run starts at"):
        store.append(runs, 10, 12)
    assert store.size() == 10
    assert [store.get_nodes([(0, i)])[0] for i in range(10)] == before
    with pytest.raises(MissingNodeError):
        store.get_nodes([(0, 10)])
    # Nothing half-written: the log carries on exactly as the reference does.
    more = [b"after-1", b"after-2", b"after-3"]
    log.append(more)
    ref = ReferenceTree([*data, *more])
    assert log.root() == ref.mth(13)
    assert log.inclusion_proof(10, 13) == ref.path(10, 13)
    assert log.consistency_proof(10, 13) == ref.proof(10, 13)


def test_node_hash_is_what_the_store_keeps() -> None:
    # Two leaves make one level-1 node: SHA-256(0x01 || leaf0 || leaf1).
    store = MemoryNodeStore()
    MerkleLog(store).append([b"a", b"b"])
    assert store.get_nodes([(1, 0)]) == [node_hash(leaf_hash(b"a"), leaf_hash(b"b"))]
