"""A plain reference implementation of RFC 9162 §2.1, for cross-checking the log.

Written straight from the RFC's recursive definitions over a list of leaf
*data*, with none of the log's machinery: no stored nodes, no perfect-subtree
plans, no bit tricks, and no import from :mod:`anchoring` or
:mod:`verifier`. Each function is the RFC text transcribed; ``D[a:b]`` is the
Python slice ``leaves[a:b]``.

The only liberty taken is :class:`ReferenceTree`, which memoises ``MTH`` of a
sub-list by its (begin, end) position so that tests can ask for every
historical root of a 1,000-leaf tree without rehashing it a million times.
Memoising a pure function changes nothing it returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

# RFC 9162 §2.1.1: leaf and interior-node hashes are domain-separated.
_LEAF = b"\x00"
_NODE = b"\x01"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_for(n: int) -> int:
    """RFC 9162 §2.1.1: "k be the largest power of two smaller than n (i.e., k < n <= 2k)"."""
    assert n > 1
    k = 1
    while k * 2 < n:
        k *= 2
    assert k < n <= 2 * k
    return k


# --- RFC 9162 §2.1.1: Merkle Tree Hash --------------------------------------------


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]).

    MTH({}) = SHA-256()
    MTH({d(0)}) = SHA-256(0x00 || d(0))
    MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
    """
    return _Recursion(mth).mth(leaves)


# --- RFC 9162 §2.1.3.1: Merkle inclusion proofs -----------------------------------


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), the inclusion proof of leaf ``m`` (0 <= m < n)."""
    return _Recursion(mth).path(m, leaves)


# --- RFC 9162 §2.1.4.1: Merkle consistency proofs ---------------------------------


def proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]), the consistency proof from the first ``m`` leaves to all n.

    RFC 9162 defines it for 0 < m < n. For m == n, SUBPROOF(m, D[m], true) is
    the empty list; for m == 0 we return the empty list too (every tree
    extends the empty tree), the convention the verifier also follows.
    """
    return _Recursion(mth).proof(m, leaves)


def subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    return _Recursion(mth).subproof(m, leaves, b)


class _Recursion:
    """The RFC's PATH and SUBPROOF, parameterised by how MTH of a sub-list is found."""

    def __init__(self, mth_of: Callable[[Sequence[bytes]], bytes]) -> None:
        self._mth_of = mth_of

    def mth(self, d: Sequence[bytes]) -> bytes:
        n = len(d)
        if n == 0:
            return sha256(b"")
        if n == 1:
            return sha256(_LEAF + d[0])
        k = k_for(n)
        return sha256(_NODE + self._mth_of(d[0:k]) + self._mth_of(d[k:n]))

    def path(self, m: int, d: Sequence[bytes]) -> list[bytes]:
        n = len(d)
        if not 0 <= m < n:
            raise ValueError(f"PATH({m}, D[{n}]) is undefined")
        if n == 1:
            return []  # PATH(0, {d(0)}) = {}
        k = k_for(n)
        if m < k:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            return [*self.path(m, d[0:k]), self._mth_of(d[k:n])]
        # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
        return [*self.path(m - k, d[k:n]), self._mth_of(d[0:k])]

    def proof(self, m: int, d: Sequence[bytes]) -> list[bytes]:
        n = len(d)
        if not 0 <= m <= n:
            raise ValueError(f"PROOF({m}, D[{n}]) is undefined")
        if m == 0:
            return []
        # PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
        return self.subproof(m, d, True)

    def subproof(self, m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if not 0 < m <= n:
            raise ValueError(f"SUBPROOF({m}, D[{n}], {b}) is undefined")
        if m == n:
            # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
            return [] if b else [self._mth_of(d)]
        k = k_for(n)
        if m <= k:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            return [*self.subproof(m, d[0:k], b), self._mth_of(d[k:n])]
        # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
        return [*self.subproof(m - k, d[k:n], False), self._mth_of(d[0:k])]


class _Slice(Sequence[bytes]):
    """``leaves[begin:end]`` as a view that remembers where it sits in the whole list."""

    def __init__(self, leaves: Sequence[bytes], begin: int, end: int) -> None:
        self.leaves, self.begin, self.end = leaves, begin, end

    def __len__(self) -> int:
        return self.end - self.begin

    def __getitem__(self, i: int | slice) -> bytes | _Slice:  # type: ignore[override]
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            assert step == 1
            return _Slice(self.leaves, self.begin + start, self.begin + max(start, stop))
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.leaves[self.begin + i]


class ReferenceTree:
    """The reference functions over one list of leaves, with MTH memoised by position.

    ``tree.mth(n)``, ``tree.path(m, n)`` and ``tree.proof(m, n)`` are MTH,
    PATH and PROOF of the first ``n`` leaves, ``D[0:n]``.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self._memo: dict[tuple[int, int], bytes] = {}
        self._rec = _Recursion(self._mth_of)

    def _mth_of(self, d: Sequence[bytes]) -> bytes:
        assert isinstance(d, _Slice)
        key = (d.begin, d.end)
        digest = self._memo.get(key)
        if digest is None:
            digest = self._memo[key] = self._rec.mth(d)
        return digest

    def _first(self, n: int) -> _Slice:
        if not 0 <= n <= len(self.leaves):
            raise ValueError(f"tree has {len(self.leaves)} leaves, not {n}")
        return _Slice(self.leaves, 0, n)

    def mth(self, n: int) -> bytes:
        return self._mth_of(self._first(n))

    def path(self, m: int, n: int) -> list[bytes]:
        return self._rec.path(m, self._first(n))

    def proof(self, m: int, n: int) -> list[bytes]:
        return self._rec.proof(m, self._first(n))

    def leaf_hash(self, m: int) -> bytes:
        return self.mth_range(m, m + 1)

    def mth_range(self, begin: int, end: int) -> bytes:
        """MTH(D[begin:end]), e.g. of one perfect subtree."""
        if not 0 <= begin <= end <= len(self.leaves):
            raise ValueError(f"range [{begin}, {end}) is outside the {len(self.leaves)} leaves")
        return self._mth_of(_Slice(self.leaves, begin, end))
