"""Known-answer tests: RFC 6962 / RFC 9162 hashing against published vectors.

The leaves are the eight Certificate Transparency test leaves (C++ CT
merkle_tree_test, also transparency-dev/merkle ``testonly``); the roots,
inclusion proofs and consistency proofs are the values published in
transparency-dev/merkle ``proof/verify_test.go``. A log that no other
implementation agrees with proves nothing to anyone else, so these vectors
must never be regenerated from our own code.

Every digest carries the shell command that recomputes it. Run the commands
top to bottom in one POSIX shell: later ones use the variables set earlier.
"""

from __future__ import annotations

import hashlib

import pytest

from anchoring import MemoryNodeStore, MerkleLog
from verifier.merkle import (
    EMPTY_ROOT,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

# The leaf data, hex.
CT_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]

# printf '' | sha256sum
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# Leaf hashes: SHA-256(0x00 || data).
# L0=$(printf '00' | xxd -r -p | sha256sum | cut -c1-64)
L0 = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
# L1=$(printf '0000' | xxd -r -p | sha256sum | cut -c1-64)
L1 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
# L2=$(printf '0010' | xxd -r -p | sha256sum | cut -c1-64)
L2 = "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"
# L3=$(printf '002021' | xxd -r -p | sha256sum | cut -c1-64)
L3 = "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"
# L4=$(printf '003031' | xxd -r -p | sha256sum | cut -c1-64)
L4 = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
# L5=$(printf '0040414243' | xxd -r -p | sha256sum | cut -c1-64)
L5 = "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"
# L6=$(printf '005051525354555657' | xxd -r -p | sha256sum | cut -c1-64)
L6 = "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"
# L7=$(printf '00606162636465666768696a6b6c6d6e6f' | xxd -r -p | sha256sum | cut -c1-64)
L7 = "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"

# Interior nodes: SHA-256(0x01 || left || right); Nab covers leaves a..b.
# N01=$(printf "01$L0$L1" | xxd -r -p | sha256sum | cut -c1-64)
N01 = "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
# N23=$(printf "01$L2$L3" | xxd -r -p | sha256sum | cut -c1-64)
N23 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
# N45=$(printf "01$L4$L5" | xxd -r -p | sha256sum | cut -c1-64)
N45 = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
# N67=$(printf "01$L6$L7" | xxd -r -p | sha256sum | cut -c1-64)
N67 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
# N0123=$(printf "01$N01$N23" | xxd -r -p | sha256sum | cut -c1-64)
N0123 = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
# N4567=$(printf "01$N45$N67" | xxd -r -p | sha256sum | cut -c1-64)
N4567 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
# N456=$(printf "01$N45$L6" | xxd -r -p | sha256sum | cut -c1-64)
N456 = "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"

# Published tree heads MTH(D[0:n]) for n = 0..8.
ROOTS = [
    EMPTY,  # n=0: the empty tree
    L0,  # n=1: the single leaf
    N01,  # n=2
    # printf "01$N01$L2" | xxd -r -p | sha256sum
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    N0123,  # n=4
    # printf "01$N0123$L4" | xxd -r -p | sha256sum
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    # printf "01$N0123$N45" | xxd -r -p | sha256sum
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    # printf "01$N0123$N456" | xxd -r -p | sha256sum
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    # printf "01$N0123$N4567" | xxd -r -p | sha256sum
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEAF_HASHES = [L0, L1, L2, L3, L4, L5, L6, L7]

# Published inclusion proofs: (index, size) -> PATH(index, D[0:size]).
# transparency-dev/merkle numbers these leaves from 1; ours are 0-based.
INCLUSION = {
    (0, 1): [],
    (0, 8): [L1, N23, N4567],
    (5, 8): [L4, N67, N0123],
    (2, 3): [N01],
    (1, 5): [L0, N23, L4],
}

# Published consistency proofs: (size1, size2) -> PROOF(size1, D[0:size2]).
CONSISTENCY = {
    (1, 1): [],
    (1, 8): [L1, N23, N4567],
    (6, 8): [N45, N67, N0123],
    (2, 5): [N23, L4],
    (6, 7): [N45, L6, N0123],
}


def h(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


def ct_log() -> MerkleLog:
    log = MerkleLog(MemoryNodeStore())
    log.append(bytes.fromhex(d) for d in CT_LEAVES)
    return log


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1, written as plainly as the RFC states it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


# --- hashing -------------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    assert h(EMPTY) == EMPTY_ROOT
    assert MerkleLog(MemoryNodeStore()).root() == h(EMPTY)


def test_empty_leaf_hash_is_sha256_of_zero_byte() -> None:
    assert leaf_hash(b"") == h(L0)


def test_node_hash_prefixes_one() -> None:
    assert node_hash(h(L0), h(L1)) == h(N01)
    # Order matters: the tree is not a set.
    assert node_hash(h(L1), h(L0)) != h(N01)


def test_leaf_and_node_domains_are_separated() -> None:
    # A leaf whose data is the concatenation of two hashes must not hash like
    # the node above them (the second-preimage attack RFC 6962 prefixes stop).
    assert leaf_hash(h(L0) + h(L1)) != h(N01)


@pytest.mark.parametrize("index", range(8), ids=lambda i: f"leaf{i}")
def test_ct_leaf_hashes(index: int) -> None:
    assert leaf_hash(bytes.fromhex(CT_LEAVES[index])) == h(LEAF_HASHES[index])


@pytest.mark.parametrize(
    ("left", "right", "parent"),
    [(L0, L1, N01), (L2, L3, N23), (L4, L5, N45), (L6, L7, N67), (N01, N23, N0123)],
    ids=["N01", "N23", "N45", "N67", "N0123"],
)
def test_ct_interior_nodes(left: str, right: str, parent: str) -> None:
    assert node_hash(h(left), h(right)) == h(parent)


# --- roots ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(9), ids=lambda n: f"size{n}")
def test_log_root_matches_published(size: int) -> None:
    assert ct_log().root(size) == h(ROOTS[size])


@pytest.mark.parametrize("size", range(9), ids=lambda n: f"size{n}")
def test_log_grown_one_leaf_at_a_time_matches_published(size: int) -> None:
    log = MerkleLog(MemoryNodeStore())
    for data in CT_LEAVES[:size]:
        log.append([bytes.fromhex(data)])
    assert log.size == size
    assert log.root() == h(ROOTS[size])


@pytest.mark.parametrize("size", range(9), ids=lambda n: f"size{n}")
def test_reference_root_matches_published(size: int) -> None:
    assert reference_root([bytes.fromhex(d) for d in CT_LEAVES[:size]]) == h(ROOTS[size])


@pytest.mark.parametrize("size", range(1, 9), ids=lambda n: f"size{n}")
def test_every_leaf_proves_the_published_root(size: int) -> None:
    log = ct_log()
    for index in range(size):
        proof = log.inclusion_proof(index, size)
        got = root_from_inclusion_proof(h(LEAF_HASHES[index]), index, size, proof)
        assert got == h(ROOTS[size]), f"leaf {index} of {size}"


def test_published_roots_are_mutually_consistent() -> None:
    log = ct_log()
    for size2 in range(9):
        for size1 in range(size2 + 1):
            proof = log.consistency_proof(size1, size2)
            verify_consistency(size1, size2, h(ROOTS[size1]), h(ROOTS[size2]), proof)


# --- published proofs ----------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), list(INCLUSION), ids=[f"{i}@{n}" for i, n in INCLUSION])
def test_published_inclusion_proof(index: int, size: int) -> None:
    want = [h(x) for x in INCLUSION[(index, size)]]
    assert ct_log().inclusion_proof(index, size) == want
    assert inclusion_proof_length(index, size) == len(want)
    verify_inclusion(h(LEAF_HASHES[index]), index, size, want, h(ROOTS[size]))


@pytest.mark.parametrize(
    ("size1", "size2"), list(CONSISTENCY), ids=[f"{a}-{b}" for a, b in CONSISTENCY]
)
def test_published_consistency_proof(size1: int, size2: int) -> None:
    want = [h(x) for x in CONSISTENCY[(size1, size2)]]
    assert ct_log().consistency_proof(size1, size2) == want
    assert consistency_proof_length(size1, size2) == len(want)
    verify_consistency(size1, size2, h(ROOTS[size1]), h(ROOTS[size2]), want)
