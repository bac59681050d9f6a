"""Generated bad proofs, each named after its defect, each refused with its precise error.

A valid inclusion or consistency proof is taken from a real log for many tree
shapes; every defect is derived from it, and the expected error is derived
independently of :mod:`verifier.merkle` (proof lengths come from the plain
RFC 9162 recursion below). A verifier that only said "invalid" would fail
these tests: the error type and its attributes are checked too.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import verifier.merkle as merkle
from anchoring import MemoryNodeStore, MerkleLog
from verifier.errors import (
    HashLengthError,
    IndexOutOfRangeError,
    MerkleError,
    ProofLengthError,
    RootMismatchError,
    TreeSizeError,
)
from verifier.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

SIZES = [*range(1, 21), 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 1025]
OTHER_HASH = bytes(range(32))


# --- reference arithmetic (RFC 9162 §2.1.3.1 and §2.1.4.1, literally) --------------


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_inclusion_len(index: int, size: int) -> int:
    """len(PATH(index, D[0:size]))."""
    if size <= 1:
        return 0
    k = split_point(size)
    if index < k:
        return 1 + ref_inclusion_len(index, k)
    return 1 + ref_inclusion_len(index - k, size - k)


def ref_subproof_len(m: int, n: int, complete: bool) -> int:
    """len(SUBPROOF(m, D[0:n], complete))."""
    if m == n:
        return 0 if complete else 1
    k = split_point(n)
    if m <= k:
        return 1 + ref_subproof_len(m, k, complete)
    return 1 + ref_subproof_len(m - k, n - k, False)


def ref_consistency_len(size1: int, size2: int) -> int:
    """len(PROOF(size1, D[0:size2])); empty when size1 is 0 or size2."""
    if size1 in (0, size2):
        return 0
    return ref_subproof_len(size1, size2, True)


# --- the log the valid proofs come from --------------------------------------------


@functools.cache
def big_log() -> MerkleLog:
    """One log covering every size used here, plus room for ``size + 1``."""
    log = MerkleLog(MemoryNodeStore())
    log.append(i.to_bytes(4, "big") for i in range(2 * max(SIZES) + 1))
    return log


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with bit ``bit`` flipped (bit 0 is the low bit of the first byte)."""
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def with_element(proof: Sequence[bytes], k: int, value: bytes) -> list[bytes]:
    out = list(proof)
    out[k] = value
    return out


@dataclass(frozen=True)
class Expect:
    """The error a defect must raise, with the attributes it must carry."""

    error: type[MerkleError]
    attrs: dict[str, Any] = field(default_factory=dict)
    #: For RootMismatchError when the exact roots depend on the path taken.
    expected_root_in: tuple[bytes, ...] = ()


def assert_rejected(call: Callable[[], object], expect: Expect) -> None:
    with pytest.raises(MerkleError) as info:
        call()
    err = info.value
    assert type(err) is expect.error, f"{type(err).__name__}: {err}"
    for name, value in expect.attrs.items():
        assert getattr(err, name) == value, name
    if isinstance(err, RootMismatchError):
        assert err.expected_root != err.calculated_root
        if expect.expected_root_in:
            assert err.expected_root in expect.expected_root_in
    assert "\n" not in str(err)


def not_refused(shape: str, defects: Sequence[tuple[str, Any, Expect]]) -> list[str]:
    """Every defect of one tree shape, each checked by :func:`assert_rejected`: the ones not
    refused as expected, named ``{shape}-{defect}`` with the reason (empty when all were).

    One test per tree shape rather than per defect keeps the unit tier fast (thousands of
    one-line tests cost more in pytest than in the verifier); every defect is still checked and
    a failure still names each defect that got through."""
    assert len({name for name, _, _ in defects}) == len(defects), "defect names are unique"
    failures = []
    for name, case, expect in defects:
        try:
            assert_rejected(case.verify, expect)
        except (Exception, pytest.fail.Exception) as exc:
            failures.append(f"{shape}-{name}: {type(exc).__name__}: {exc}")
    return failures


def length_error_or_mismatch(got: int, want: int, root: bytes) -> Expect:
    if got != want:
        return Expect(ProofLengthError, {"got": got, "want": want})
    return Expect(RootMismatchError, {"expected_root": root})


# --- inclusion ----------------------------------------------------------------------


@dataclass(frozen=True)
class Inclusion:
    leaf: bytes
    index: int
    size: int
    proof: list[bytes]
    root: bytes

    def verify(self) -> None:
        verify_inclusion(self.leaf, self.index, self.size, self.proof, self.root)

    def but(self, **changes: Any) -> Inclusion:
        return dataclasses.replace(self, **changes)


def valid_inclusion(index: int, size: int) -> Inclusion:
    log = big_log()
    return Inclusion(
        log.leaf_hash(index), index, size, log.inclusion_proof(index, size), log.root(size)
    )


def inclusion_defects(good: Inclusion) -> Iterator[tuple[str, Inclusion, Expect]]:
    n, index, size, root = len(good.proof), good.index, good.size, good.root
    if n:
        yield (
            "truncated",
            good.but(proof=good.proof[:-1]),
            Expect(ProofLengthError, {"got": n - 1, "want": n}),
        )
        yield (
            "empty-proof-for-nonempty",
            good.but(proof=[]),
            Expect(ProofLengthError, {"got": 0, "want": n}),
        )
        last = n - 1
        yield (
            f"short-hash-proof[{last}]",
            good.but(proof=with_element(good.proof, last, good.proof[last][:31])),
            Expect(HashLengthError, {"what": f"proof[{last}]", "length": 31}),
        )
    yield (
        "extended",
        good.but(proof=[*good.proof, root]),
        Expect(ProofLengthError, {"got": n + 1, "want": n}),
    )
    yield (
        "preceding-garbage",
        good.but(proof=[OTHER_HASH, *good.proof]),
        Expect(ProofLengthError, {"got": n + 1, "want": n}),
    )
    for k in range(n):
        yield (
            f"bit-flipped-proof[{k}]@bit5",
            good.but(proof=with_element(good.proof, k, flip(good.proof[k], 5))),
            Expect(RootMismatchError, {"expected_root": root}),
        )
    yield (
        "root-bit-flipped",
        good.but(root=flip(root, 0)),
        Expect(RootMismatchError, {"expected_root": flip(root, 0), "calculated_root": root}),
    )
    yield (
        "leaf-bit-flipped",
        good.but(leaf=flip(good.leaf, 255)),
        Expect(RootMismatchError, {"expected_root": root}),
    )
    yield (
        "short-leaf",
        good.but(leaf=good.leaf[:31]),
        Expect(HashLengthError, {"what": "leaf hash", "length": 31}),
    )
    yield (
        "long-root",
        good.but(root=root + b"\x00"),
        Expect(HashLengthError, {"what": "root", "length": 33}),
    )
    if size > 1:
        other = index ^ 1 if index ^ 1 < size else index - 1
        yield (
            "wrong-index",
            good.but(index=other),
            length_error_or_mismatch(n, ref_inclusion_len(other, size), root),
        )
    yield (
        "index-eq-size",
        good.but(index=size),
        Expect(IndexOutOfRangeError, {"index": size, "size": size}),
    )
    yield (
        "negative-index",
        good.but(index=-1),
        Expect(IndexOutOfRangeError, {"index": -1, "size": size}),
    )
    # A size whose tree shape gives the same proof length may legitimately lead
    # to the same root (the size is authenticated by the signed checkpoint, not
    # by the proof), so only sizes that change the length are used here.
    for label, other_size in (("+1", size + 1), ("-1", size - 1), ("*2", size * 2)):
        want = ref_inclusion_len(index, other_size) if index < other_size else -1
        if want >= 0 and want != n:
            yield (
                f"wrong-size{label}",
                good.but(size=other_size),
                Expect(ProofLengthError, {"got": n, "want": want}),
            )
    yield "zero-size", good.but(size=0), Expect(IndexOutOfRangeError, {"index": index, "size": 0})
    yield "negative-size", good.but(size=-1), Expect(TreeSizeError)
    yield "size-over-uint64", good.but(size=MAX_TREE_SIZE + 1), Expect(TreeSizeError)


def inclusion_shapes() -> list[Any]:
    return [
        pytest.param(index, size, id=f"i{index}-n{size}")
        for size in SIZES
        for index in sorted({0, size // 2, size - 1})
    ]


@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"n{n}")
def test_every_valid_inclusion_proof_is_accepted(size: int) -> None:
    for index in range(min(size, 40)):
        good = valid_inclusion(index, size)
        assert len(good.proof) == ref_inclusion_len(index, size)
        assert merkle.inclusion_proof_length(index, size) == len(good.proof)
        good.verify()


@pytest.mark.parametrize(("index", "size"), inclusion_shapes())
def test_bad_inclusion_proofs_are_refused(index: int, size: int) -> None:
    defects = list(inclusion_defects(valid_inclusion(index, size)))
    assert not_refused(f"i{index}-n{size}", defects) == []


@pytest.mark.parametrize(
    ("index", "size"), [(0, 2), (5, 8), (6, 13), (0, 20), (19, 20), (500, 1000), (1024, 1025)]
)
def test_every_bit_of_every_inclusion_input_matters(index: int, size: int) -> None:
    good = valid_inclusion(index, size)
    accepted = []
    for k, element in enumerate(good.proof):
        for bit in range(256):
            try:
                good.but(proof=with_element(good.proof, k, flip(element, bit))).verify()
            except RootMismatchError as err:
                assert err.expected_root == good.root
            else:
                accepted.append(f"bit-flipped-proof[{k}]@bit{bit}")
    for bit in range(256):
        for name, bad in (
            (f"leaf-bit-flipped@bit{bit}", good.but(leaf=flip(good.leaf, bit))),
            (f"root-bit-flipped@bit{bit}", good.but(root=flip(good.root, bit))),
        ):
            try:
                bad.verify()
            except RootMismatchError:
                pass
            else:
                accepted.append(name)
    assert accepted == []


@given(st.data())
def test_random_single_bit_flip_is_refused(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=2 * max(SIZES)), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    good = valid_inclusion(index, size)
    k = data.draw(st.integers(min_value=0, max_value=len(good.proof) - 1), label="element")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    bad = good.but(proof=with_element(good.proof, k, flip(good.proof[k], bit)))
    assert_rejected(bad.verify, Expect(RootMismatchError, {"expected_root": good.root}))


# --- consistency --------------------------------------------------------------------


@dataclass(frozen=True)
class Consistency:
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]

    def verify(self) -> None:
        verify_consistency(self.size1, self.size2, self.root1, self.root2, self.proof)

    def but(self, **changes: Any) -> Consistency:
        return dataclasses.replace(self, **changes)


def valid_consistency(size1: int, size2: int) -> Consistency:
    log = big_log()
    return Consistency(
        size1, size2, log.root(size1), log.root(size2), log.consistency_proof(size1, size2)
    )


def consistency_defects(good: Consistency) -> Iterator[tuple[str, Consistency, Expect]]:
    """Defects of a proof with 0 < size1 < size2 (so the proof is not empty)."""
    n, size1, size2 = len(good.proof), good.size1, good.size2
    root1, root2 = good.root1, good.root2
    yield (
        "truncated",
        good.but(proof=good.proof[:-1]),
        Expect(ProofLengthError, {"got": n - 1, "want": n}),
    )
    yield (
        "extended",
        good.but(proof=[*good.proof, root2]),
        Expect(ProofLengthError, {"got": n + 1, "want": n}),
    )
    yield (
        "preceding-root1",
        good.but(proof=[root1, *good.proof]),
        Expect(ProofLengthError, {"got": n + 1, "want": n}),
    )
    yield (
        "empty-proof-for-nonempty",
        good.but(proof=[]),
        Expect(ProofLengthError, {"got": 0, "want": n}),
    )
    yield (
        "short-hash-proof[0]",
        good.but(proof=with_element(good.proof, 0, good.proof[0][:31])),
        Expect(HashLengthError, {"what": "proof[0]", "length": 31}),
    )
    for k in range(n):
        yield (
            f"bit-flipped-proof[{k}]@bit5",
            good.but(proof=with_element(good.proof, k, flip(good.proof[k], 5))),
            Expect(RootMismatchError, expected_root_in=(root1, root2)),
        )
    yield (
        "swapped-roots",
        good.but(root1=root2, root2=root1),
        Expect(RootMismatchError, expected_root_in=(root1, root2)),
    )
    # When size1 is a power of two, root1 is itself the first hash of the path
    # (RFC 9162 §2.1.4.2 step 2), so a wrong root1 surfaces as a wrong root2.
    bad1 = flip(root1, 7)
    if size1 & (size1 - 1) == 0:
        expect1 = Expect(RootMismatchError, {"expected_root": root2})
    else:
        expect1 = Expect(RootMismatchError, {"expected_root": bad1, "calculated_root": root1})
    yield "root1-bit-flipped", good.but(root1=bad1), expect1
    yield (
        "root2-bit-flipped",
        good.but(root2=flip(root2, 7)),
        Expect(RootMismatchError, {"expected_root": flip(root2, 7), "calculated_root": root2}),
    )
    yield (
        "short-root1",
        good.but(root1=root1[:31]),
        Expect(HashLengthError, {"what": "root1", "length": 31}),
    )
    yield "size1-gt-size2", good.but(size1=size2, size2=size1), Expect(TreeSizeError)
    yield "size1-eq-size2-plus-1", good.but(size1=size2 + 1), Expect(TreeSizeError)
    yield "negative-size1", good.but(size1=-1), Expect(TreeSizeError)
    yield "size2-over-uint64", good.but(size2=MAX_TREE_SIZE + 1), Expect(TreeSizeError)
    yield "wrong-size1-zero", good.but(size1=0), Expect(ProofLengthError, {"got": n, "want": 0})
    yield (
        "wrong-size2-eq-size1",
        good.but(size2=size1),
        Expect(ProofLengthError, {"got": n, "want": 0}),
    )
    # As for inclusion, only wrong sizes that change the proof's length are
    # certain to be refused by the proof alone.
    for label, s1, s2 in (
        ("size1+1", size1 + 1, size2),
        ("size1-1", size1 - 1, size2),
        ("size2+1", size1, size2 + 1),
        ("size2*2", size1, size2 * 2),
    ):
        if 0 < s1 < s2:
            want = ref_consistency_len(s1, s2)
            if want != n:
                yield (
                    f"wrong-{label}",
                    good.but(size1=s1, size2=s2),
                    Expect(ProofLengthError, {"got": n, "want": want}),
                )


def consistency_pairs() -> list[tuple[int, int]]:
    pairs = set()
    for size2 in SIZES:
        for size1 in (1, 2, size2 // 2, size2 - 1):
            if 0 < size1 < size2:
                pairs.add((size1, size2))
    return sorted(pairs, key=lambda p: (p[1], p[0]))


def consistency_shapes() -> list[Any]:
    return [pytest.param(s1, s2, id=f"{s1}-{s2}") for s1, s2 in consistency_pairs()]


@pytest.mark.parametrize("size2", SIZES, ids=lambda n: f"n{n}")
def test_every_valid_consistency_proof_is_accepted(size2: int) -> None:
    for size1 in range(min(size2, 40) + 1):
        good = valid_consistency(size1, size2)
        assert len(good.proof) == ref_consistency_len(size1, size2)
        assert merkle.consistency_proof_length(size1, size2) == len(good.proof)
        good.verify()


@pytest.mark.parametrize(("size1", "size2"), consistency_shapes())
def test_bad_consistency_proofs_are_refused(size1: int, size2: int) -> None:
    defects = list(consistency_defects(valid_consistency(size1, size2)))
    assert not_refused(f"{size1}-{size2}", defects) == []


@pytest.mark.parametrize(
    ("size1", "size2"), [(1, 2), (3, 7), (4, 8), (6, 8), (7, 20), (13, 1000), (1, 1025)]
)
def test_every_bit_of_every_consistency_input_matters(size1: int, size2: int) -> None:
    good = valid_consistency(size1, size2)
    accepted = []
    for k, element in enumerate(good.proof):
        for bit in range(256):
            try:
                good.but(proof=with_element(good.proof, k, flip(element, bit))).verify()
            except RootMismatchError as err:
                assert err.expected_root in (good.root1, good.root2)
            else:
                accepted.append(f"bit-flipped-proof[{k}]@bit{bit}")
    for bit in range(256):
        for name, bad in (
            (f"root1-bit-flipped@bit{bit}", good.but(root1=flip(good.root1, bit))),
            (f"root2-bit-flipped@bit{bit}", good.but(root2=flip(good.root2, bit))),
        ):
            try:
                bad.verify()
            except RootMismatchError:
                pass
            else:
                accepted.append(name)
    assert accepted == []


# --- edge cases ---------------------------------------------------------------------


def test_single_leaf_tree_needs_no_proof() -> None:
    leaf = leaf_hash(b"only")
    verify_inclusion(leaf, 0, 1, [], leaf)
    assert_rejected(
        lambda: verify_inclusion(leaf, 0, 1, [], OTHER_HASH),
        Expect(RootMismatchError, {"expected_root": OTHER_HASH, "calculated_root": leaf}),
    )
    assert_rejected(
        lambda: verify_inclusion(leaf, 0, 1, [leaf], leaf),
        Expect(ProofLengthError, {"got": 1, "want": 0}),
    )
    assert_rejected(
        lambda: verify_inclusion(leaf, 1, 1, [], leaf),
        Expect(IndexOutOfRangeError, {"index": 1, "size": 1}),
    )


@pytest.mark.parametrize("size", [1, 2, 7, 8, 1025])
def test_equal_sizes_need_equal_roots_and_no_proof(size: int) -> None:
    root = big_log().root(size)
    verify_consistency(size, size, root, root, [])
    assert_rejected(
        lambda: verify_consistency(size, size, root, OTHER_HASH, []),
        Expect(RootMismatchError, {"expected_root": root, "calculated_root": OTHER_HASH}),
    )
    assert_rejected(
        lambda: verify_consistency(size, size, root, root, [root]),
        Expect(ProofLengthError, {"got": 1, "want": 0}),
    )


@pytest.mark.parametrize("size2", [0, 1, 2, 5, 1025])
def test_empty_tree_is_extended_by_every_tree(size2: int) -> None:
    root2 = big_log().root(size2)
    verify_consistency(0, size2, EMPTY_ROOT, root2, [])
    assert_rejected(
        lambda: verify_consistency(0, size2, OTHER_HASH, root2, []),
        Expect(RootMismatchError, {"expected_root": EMPTY_ROOT, "calculated_root": OTHER_HASH}),
    )
    assert_rejected(
        lambda: verify_consistency(0, size2, EMPTY_ROOT, root2, [root2]),
        Expect(ProofLengthError, {"got": 1, "want": 0}),
    )


def test_two_empty_trees_must_have_the_same_root() -> None:
    # Go's VerifyConsistency compares the roots of equal sizes before anything else.
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert_rejected(
        lambda: verify_consistency(0, 0, EMPTY_ROOT, OTHER_HASH, []),
        Expect(RootMismatchError, {"calculated_root": OTHER_HASH}),
    )


def test_largest_tree_size_is_accepted_and_one_more_is_not() -> None:
    assert merkle.inclusion_proof_length(MAX_TREE_SIZE - 1, MAX_TREE_SIZE) == 63
    assert merkle.inclusion_proof_length(0, MAX_TREE_SIZE) == 64
    with pytest.raises(TreeSizeError):
        merkle.inclusion_proof_length(0, MAX_TREE_SIZE + 1)
    assert merkle.consistency_proof_length(1, MAX_TREE_SIZE) == 64
    with pytest.raises(TreeSizeError):
        merkle.consistency_proof_length(1, MAX_TREE_SIZE + 1)


# --- checks happen before hashing ---------------------------------------------------


def _no_hashing(*_args: object) -> object:
    raise AssertionError("hashed before checking the proof's shape")


def forbid_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle, "_sha256", _no_hashing)
    monkeypatch.setattr(merkle, "node_hash", _no_hashing)


def test_forbid_hashing_really_forbids(monkeypatch: pytest.MonkeyPatch) -> None:
    good = valid_inclusion(3, 8)
    forbid_hashing(monkeypatch)
    with pytest.raises(AssertionError, match="hashed before"):
        good.verify()


Defect = Callable[[Inclusion, Consistency], None]

BEFORE_HASHING: dict[str, tuple[Defect, type[MerkleError]]] = {
    "inclusion-truncated": (
        lambda i, c: i.but(proof=i.proof[:-1]).verify(),
        ProofLengthError,
    ),
    "inclusion-extended": (
        lambda i, c: i.but(proof=[*i.proof, i.root]).verify(),
        ProofLengthError,
    ),
    "inclusion-index-eq-size": (
        lambda i, c: i.but(index=i.size).verify(),
        IndexOutOfRangeError,
    ),
    "inclusion-short-hash": (
        lambda i, c: i.but(proof=with_element(i.proof, 1, b"")).verify(),
        HashLengthError,
    ),
    "consistency-truncated": (
        lambda i, c: c.but(proof=c.proof[:-1]).verify(),
        ProofLengthError,
    ),
    "consistency-extended": (
        lambda i, c: c.but(proof=[*c.proof, c.root2]).verify(),
        ProofLengthError,
    ),
    "consistency-size1-gt-size2": (
        lambda i, c: c.but(size1=c.size2 + 1).verify(),
        TreeSizeError,
    ),
    "consistency-short-hash": (
        lambda i, c: c.but(proof=with_element(c.proof, 0, b"\x00")).verify(),
        HashLengthError,
    ),
}


@pytest.mark.parametrize("defect", list(BEFORE_HASHING))
def test_shape_is_checked_before_any_hashing(defect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    good_inclusion, good_consistency = valid_inclusion(5, 13), valid_consistency(6, 13)
    call, error = BEFORE_HASHING[defect]
    forbid_hashing(monkeypatch)
    with pytest.raises(error):
        call(good_inclusion, good_consistency)
