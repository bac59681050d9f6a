"""RFC 9162 §2.1 Merkle tree hashing and proof verification.

Consensus-critical: every proof we ever issued is checked by these functions.
They follow RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) to the
letter, and check the proof length that (index, size) require *before* any
hashing, so a malformed proof is refused with a precise reason rather than a
generic mismatch.

All hashes are 32-byte ``bytes``. Verification functions return ``None`` on
success and raise a subclass of :class:`verifier.errors.MerkleError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from verifier.errors import (
    HashLengthError,
    IndexOutOfRangeError,
    ProofLengthError,
    RootMismatchError,
    TreeSizeError,
)

HASH_SIZE = 32
#: A proof for any tree of fewer than 2**64 leaves has at most 64 hashes.
MAX_PROOF_HASHES = 64
#: Largest tree size the log and the verifier accept (sizes are uint64).
MAX_TREE_SIZE = 2**64 - 1

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

#: MTH({}) = SHA-256() — the root of the empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise HashLengthError(what, len(value))


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


def _check_size(what: str, size: int) -> None:
    if size < 0 or size > MAX_TREE_SIZE:
        raise TreeSizeError(f"{what} {size} is outside 0..2^64-1")


def _decompose_inclusion(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof's length into (inner, border) parts.

    ``inner`` hashes are siblings below the point where the paths to ``index``
    and to the last leaf ``size - 1`` diverge; ``border`` hashes are left
    siblings on the tree's right border above it.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def inclusion_proof_length(index: int, size: int) -> int:
    """Number of hashes in the RFC 9162 inclusion proof of ``index`` in a tree of ``size``."""
    _check_size("tree size", size)
    if index < 0 or index >= size:
        raise IndexOutOfRangeError(index, size)
    inner, border = _decompose_inclusion(index, size)
    return inner + border


def consistency_proof_length(size1: int, size2: int) -> int:
    """Number of hashes in the RFC 9162 consistency proof from ``size1`` to ``size2``."""
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise TreeSizeError(f"size1 {size1} is greater than size2 {size2}")
    if size1 in (0, size2):
        return 0
    inner, border = _decompose_inclusion(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    seed = 0 if size1 == 1 << shift else 1
    return seed + inner - shift + border


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` leads to from ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2).

    Raises :class:`IndexOutOfRangeError` or :class:`ProofLengthError` before
    hashing anything when the inputs cannot form a valid proof.
    """
    _check_hash("leaf hash", leaf_hash)
    want = inclusion_proof_length(index, size)
    if len(proof) != want:
        raise ProofLengthError(len(proof), want)
    _check_proof_hashes(proof)

    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        # sn == 0 cannot happen here: the length check above guarantees it.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # pragma: no cover - excluded by the length check
        raise ProofLengthError(len(proof), want)
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is the leaf at ``index`` in the tree of ``size`` with ``root``."""
    _check_hash("root", root)
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatchError(root, calculated)


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1) (RFC 9162 §2.1.4.2).

    Edge cases, as in RFC 9162 and Go's transparency-dev/merkle: equal sizes
    need an empty proof and equal roots; size1 == 0 needs an empty proof and
    root1 equal to the empty-tree hash.
    """
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    want = consistency_proof_length(size1, size2)
    if len(proof) != want:
        raise ProofLengthError(len(proof), want)
    _check_proof_hashes(proof)

    if size1 == 0:
        if root1 != EMPTY_ROOT:
            raise RootMismatchError(EMPTY_ROOT, root1, "empty-tree root1")
        if size2 == 0 and root2 != EMPTY_ROOT:
            raise RootMismatchError(EMPTY_ROOT, root2, "empty-tree root2")
        return
    if size1 == size2:
        if root1 != root2:
            raise RootMismatchError(root1, root2, "root2 of an equal-size tree")
        return

    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is an exact power of two
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != root1:
        raise RootMismatchError(root1, fr, "root1")
    if sr != root2:
        raise RootMismatchError(root2, sr, "root2")
