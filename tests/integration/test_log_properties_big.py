"""tests/unit/test_log_properties.py's proof-cost checks on a tree of 2**20 - 1 leaves (the unit
tier builds 2**16 - 1): a root reads one node per set bit of its size, and every inclusion and
consistency proof at the sizes where the tree changes shape, and at random sizes, reads at
most 2 * ceil(log2 n) + 2 nodes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring import MerkleLog
from tests.unit.test_log_properties import (
    big_edge_sizes,
    build_big_log,
    check_big_tree_reads,
    check_random_reads,
)

pytestmark = pytest.mark.slow

BIG = 2**20 - 1


@pytest.fixture(scope="module")
def big_log() -> MerkleLog:
    return build_big_log(BIG)


@pytest.mark.parametrize("size", big_edge_sizes(BIG))
def test_proof_reads_are_logarithmic_in_a_big_tree(big_log: MerkleLog, size: int) -> None:
    check_big_tree_reads(big_log, size)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_proof_reads_are_logarithmic_at_random_sizes(
    big_log: MerkleLog, data: st.DataObject
) -> None:
    check_random_reads(big_log, data)
