"""anchoring.layout: which perfect subtrees a root or proof needs.

Checked three ways: structural properties of the decomposition (exact cover,
aligned, maximal, minimal), the plans folded over reference subtree hashes
against the RFC 9162 reference implementation, and plan sizes against the
verifier's independent proof-length formulas.
"""

from __future__ import annotations

from functools import cache
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring.layout import (
    NodeID,
    Plan,
    consistency_plan,
    fold,
    inclusion_plan,
    largest_power_of_two_below,
    perfect_subtrees,
    root_plan,
)
from tests.support.reference import ReferenceTree, k_for
from verifier.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    consistency_proof_length,
    inclusion_proof_length,
)

SMALL = 70  # exhaustive checks over every range / pair up to this size
LARGE = 1100  # Hypothesis checks against the reference up to this size
REF = ReferenceTree([b"layout-leaf-%d" % i for i in range(LARGE)])

tree_sizes = st.integers(min_value=1, max_value=MAX_TREE_SIZE)


def span(node: NodeID) -> tuple[int, int]:
    """The leaf range ``[begin, end)`` covered by perfect subtree ``node``."""
    level, index = node
    return index << level, (index + 1) << level


def node_hash_ref(node: NodeID) -> bytes:
    return REF.mth_range(*span(node))


def folded(plan: Plan) -> list[bytes]:
    return [fold([node_hash_ref(node) for node in group]) for group in plan]


def group_span(group: list[NodeID]) -> tuple[int, int]:
    """The range a plan group covers; asserts its nodes are contiguous."""
    assert group, "a proof hash made of no subtrees"
    begin, end = span(group[0])
    for node in group[1:]:
        b, e = span(node)
        assert b == end, f"group {group} has a gap or overlap at {end}"
        end = e
    return begin, end


# --- largest_power_of_two_below -----------------------------------------------------


@pytest.mark.parametrize(
    ("n", "k"),
    [
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 4),
        (8, 4),
        (9, 8),
        (2**32, 2**31),
        (2**32 + 1, 2**32),
        (2**63, 2**62),
        (2**63 + 1, 2**63),
        (MAX_TREE_SIZE, 2**63),
    ],
)
def test_largest_power_of_two_below_known(n: int, k: int) -> None:
    assert largest_power_of_two_below(n) == k


def test_largest_power_of_two_below_matches_rfc_definition_exhaustively() -> None:
    for n in range(2, 5000):
        k = largest_power_of_two_below(n)
        assert k == k_for(n), n


@given(st.integers(min_value=2, max_value=2**70))
def test_largest_power_of_two_below_is_k_lt_n_le_2k(n: int) -> None:
    k = largest_power_of_two_below(n)
    assert k > 0
    assert k & (k - 1) == 0, f"{k} is not a power of two"
    assert k < n <= 2 * k


# --- perfect_subtrees ---------------------------------------------------------------


@cache
def min_cover(begin: int, end: int) -> int:
    """Fewest aligned perfect subtrees that tile [begin, end), by brute force."""
    if begin == end:
        return 0
    best = end - begin  # all single leaves
    size = 1
    while begin % size == 0 and begin + size <= end:
        best = min(best, 1 + min_cover(begin + size, end))
        size *= 2
    return best


def check_decomposition(begin: int, end: int, nodes: list[NodeID]) -> None:
    # Exact cover, left to right: each node starts where the previous ended.
    # Because a node is given as (level, index), its span is aligned by construction,
    # so this also checks that each node is a real node of the tree.
    at = begin
    for node in nodes:
        level, index = node
        assert level >= 0
        assert index >= 0
        b, e = span(node)
        assert b == at, f"[{begin}, {end}): {node} starts at {b}, want {at}"
        at = e
    assert at == end, f"[{begin}, {end}): cover ends at {at}"
    # Maximal: no node's parent also lies inside the range.
    for level, index in nodes:
        pb, pe = span((level + 1, index >> 1))
        assert not (begin <= pb and pe <= end), (
            f"[{begin}, {end}): ({level}, {index}) could be its parent ({level + 1}, {index >> 1})"
        )
    # Levels strictly rise, then strictly fall, with at most two subtrees at the peak
    # (e.g. [1, 3) is leaf 1 then leaf 2): so at most two subtrees of any one level.
    levels = [level for level, _ in nodes]
    if levels:
        first = levels.index(max(levels))
        last = len(levels) - 1 - levels[::-1].index(max(levels))
        assert last - first <= 1, levels
        rising, falling = levels[: first + 1], levels[last:]
        assert all(a < b for a, b in pairwise(rising)), levels
        assert all(a > b for a, b in pairwise(falling)), levels
    assert len(nodes) <= 2 * (end - begin).bit_length()


def test_perfect_subtrees_every_small_range() -> None:
    for begin in range(SMALL + 1):
        for end in range(begin, SMALL + 1):
            nodes = perfect_subtrees(begin, end)
            check_decomposition(begin, end, nodes)
            assert len(nodes) == min_cover(begin, end), (begin, end, nodes)


@given(st.integers(min_value=0, max_value=MAX_TREE_SIZE), st.integers(0, MAX_TREE_SIZE))
def test_perfect_subtrees_any_range(a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    check_decomposition(begin, end, perfect_subtrees(begin, end))


@given(st.integers(min_value=0, max_value=MAX_TREE_SIZE))
def test_perfect_subtrees_from_zero_are_the_set_bits(n: int) -> None:
    # [0, n) splits into one subtree per set bit of n, biggest first.
    levels = [level for level, _ in perfect_subtrees(0, n)]
    assert levels == [b for b in reversed(range(n.bit_length())) if n >> b & 1]
    assert root_plan(n) == perfect_subtrees(0, n)


def test_perfect_subtrees_empty_range() -> None:
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(17, 17) == []


# --- fold ---------------------------------------------------------------------------


def test_fold_of_nothing_is_the_empty_root() -> None:
    # printf '' | sha256sum
    assert fold([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert fold([]) == EMPTY_ROOT


def test_root_plan_folds_to_reference_mth() -> None:
    for n in range(LARGE + 1):
        assert fold([node_hash_ref(node) for node in root_plan(n)]) == REF.mth(n), n


def test_fold_of_an_rfc_subtree_is_its_mth() -> None:
    # Every node of the RFC tree starts at a multiple of the power of two that
    # bounds its width; for those ranges the decomposition folds to MTH.
    for begin in range(SMALL + 1):
        for end in range(begin + 1, SMALL + 1):
            width = 1 << (end - begin - 1).bit_length()
            if begin % width == 0:
                nodes = perfect_subtrees(begin, end)
                got = fold([node_hash_ref(n) for n in nodes])
                assert got == REF.mth_range(begin, end), (begin, end)


# --- inclusion_plan -----------------------------------------------------------------


def check_inclusion_plan(index: int, size: int) -> None:
    plan = inclusion_plan(index, size)
    assert len(plan) == inclusion_proof_length(index, size)
    assert folded(plan) == REF.path(index, size), (index, size)


def test_inclusion_plan_matches_reference_for_every_small_tree() -> None:
    for size in range(1, SMALL + 1):
        for index in range(size):
            check_inclusion_plan(index, size)


@given(st.data())
def test_inclusion_plan_matches_reference(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=LARGE), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    check_inclusion_plan(index, size)


@given(st.data())
def test_inclusion_plan_of_huge_trees(data: st.DataObject) -> None:
    size = data.draw(tree_sizes, label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    plan = inclusion_plan(index, size)
    assert len(plan) == inclusion_proof_length(index, size)
    nodes = [node for group in plan for node in group]
    # O(log n) stored nodes, and never one that is not complete at this size.
    assert len(nodes) <= 2 * (size - 1).bit_length() + 2
    for group in plan:
        begin, end = group_span(group)
        assert end <= size
        assert not begin <= index < end, "a proof hash covers the proven leaf"


# --- consistency_plan ---------------------------------------------------------------


def check_consistency_plan(size1: int, size2: int) -> None:
    plan = consistency_plan(size1, size2)
    assert len(plan) == consistency_proof_length(size1, size2)
    assert folded(plan) == REF.proof(size1, size2), (size1, size2)


def test_consistency_plan_matches_reference_for_every_small_pair() -> None:
    for size2 in range(SMALL + 1):
        for size1 in range(size2 + 1):
            check_consistency_plan(size1, size2)


@given(st.data())
def test_consistency_plan_matches_reference(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(min_value=0, max_value=LARGE), label="size2")
    size1 = data.draw(st.integers(min_value=0, max_value=size2), label="size1")
    check_consistency_plan(size1, size2)


@settings(max_examples=300)
@given(st.data())
def test_consistency_plan_of_huge_trees(data: st.DataObject) -> None:
    size2 = data.draw(tree_sizes, label="size2")
    size1 = data.draw(st.integers(min_value=0, max_value=size2), label="size1")
    plan = consistency_plan(size1, size2)
    assert len(plan) == consistency_proof_length(size1, size2)
    nodes = [node for group in plan for node in group]
    assert len(nodes) <= 2 * (size2 - 1).bit_length() + 2
    for group in plan:
        _, end = group_span(group)
        assert end <= size2


@pytest.mark.parametrize("size", [0, 1, 2, 3, 64, 1000, MAX_TREE_SIZE])
def test_consistency_plan_is_empty_from_zero_and_to_itself(size: int) -> None:
    assert consistency_plan(0, size) == []
    assert consistency_plan(size, size) == []
