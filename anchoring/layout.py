"""Which stored nodes a root or proof needs — pure arithmetic, no I/O.

The log stores the hash of every *perfect* subtree: node ``(level, index)``
covers leaves ``[index * 2**level, (index + 1) * 2**level)``. Any node of the
RFC 9162 tree of size n covers a range that splits into at most log2(n)
perfect subtrees, so a root or a proof at any historical size needs only
O(log n) stored nodes. These functions say *which*; the log fetches them in
one batch and folds them (see :func:`fold`).
"""

from __future__ import annotations

from collections.abc import Sequence

from verifier.merkle import EMPTY_ROOT, node_hash

NodeID = tuple[int, int]  # (level, index)
#: A proof hash is the fold of these perfect subtrees (left to right).
Plan = list[list[NodeID]]


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(begin: int, end: int) -> list[NodeID]:
    """Decompose the leaf range ``[begin, end)`` into maximal perfect subtrees, left to right."""
    out: list[NodeID] = []
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length()
        while (1 << level) > end - begin:
            level -= 1
        out.append((level, begin >> level))
        begin += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of an RFC 9162 node from its perfect subtrees, left to right.

    The node splits at its largest power of two, which is exactly its first
    perfect subtree, so the node hash is folded from the right.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_plan(size: int) -> list[NodeID]:
    return perfect_subtrees(0, size)


def inclusion_plan(index: int, size: int) -> Plan:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, as perfect subtrees per proof hash."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    # The recursion emits the deepest sibling first.
    return [perfect_subtrees(b, e) for b, e in reversed(ranges)]


def consistency_plan(size1: int, size2: int) -> Plan:
    """PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1 (empty when size1 is 0 or size2)."""
    if size1 in (0, size2):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, size2, size1, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    return [perfect_subtrees(b, e) for b, e in reversed(ranges)]
