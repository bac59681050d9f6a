"""The full runs of tests/unit/test_log_properties.py's properties (60 generated logs of up to
1,000 leaves per property; the unit tier checks 10) and its exhaustive cross-check of every
proof of every tree up to 70 leaves against the RFC 9162 reference."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_log_properties import (
    PROPERTY,
    Built,
    built_logs,
    check_consistencies,
    check_consistency,
    check_inclusion,
    check_inclusions,
    check_roots,
    leaves_for,
)

pytestmark = pytest.mark.slow


@PROPERTY
@given(built_logs())
def test_root_at_every_historical_size_is_reference_mth(built: Built) -> None:
    check_roots(built)


@PROPERTY
@given(built_logs(), st.randoms(use_true_random=False))
def test_inclusion_proofs_verify_match_reference_and_detect_bit_flips(
    built: Built, rnd: random.Random
) -> None:
    check_inclusions(built, rnd)


@PROPERTY
@given(built_logs(), st.randoms(use_true_random=False))
def test_consistency_proofs_verify_match_reference_and_detect_bit_flips(
    built: Built, rnd: random.Random
) -> None:
    check_consistencies(built, rnd)


def test_every_proof_of_every_small_tree() -> None:
    built = Built(leaves_for(7, 70), [1, 2, 3, 57, 7])
    rnd = random.Random(70)
    for size2 in range(71):
        for index in range(size2):
            check_inclusion(built, index, size2, rnd)
        for size1 in range(size2 + 1):
            check_consistency(built, size1, size2, rnd)
