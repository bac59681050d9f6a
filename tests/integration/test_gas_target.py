"""Gas per EvidenceLog anchor against the target of issue 12, on eth-tester (deterministic).

Every anchor, at every size from 10 to 10^7 and with the longest consistency proof for that
size, is within 60,000 + 1,500 * log2(size); the first, odd- and even-indexed anchors of a log
do the same work, so their execution gas is equal (only their calldata may differ, by the
zero bytes of their log ids). Gas is not timing: the EVM charges the same on every run, so
these are exact assertions. ``python -m bench.gas`` prints the same rows, on anvil too.
"""

from __future__ import annotations

import math

import pytest
from web3 import EthereumTesterProvider, Web3

from anchoring.contract import load_artifact
from bench import gas
from verifier.merkle import consistency_proof_length

SIZES = tuple(10**e for e in range(1, 8))


@pytest.fixture(scope="module")
def rows() -> list[gas.GasRow]:
    w3 = Web3(EthereumTesterProvider())
    chain = gas.Chain("eth-tester", w3, w3.eth.accounts[0])
    contract = gas.deploy(chain, load_artifact())
    return [row for size in SIZES for row in gas.measure(chain, contract, size)]


def test_every_anchor_is_within_the_target(rows: list[gas.GasRow]) -> None:
    assert {(r.size, r.anchor) for r in rows} == {(n, a) for n in SIZES for a in gas.ANCHORS}
    for row in rows:
        assert row.target == pytest.approx(60_000 + 1_500 * math.log2(row.size))
        assert row.gas <= row.target, row
        assert row.gas == gas.INTRINSIC_GAS + row.calldata_gas + row.execution_gas


def test_the_proofs_are_the_longest_for_each_size(rows: list[gas.GasRow]) -> None:
    longest = {10: 5, 100: 8, 1_000: 11, 10_000: 15, 100_000: 18, 10**6: 21, 10**7: 25}
    for row in rows:
        if row.anchor == "first":
            assert (row.old_size, row.proof_length) == (0, 0), row
            continue
        assert row.proof_length == consistency_proof_length(row.old_size, row.size)
        assert row.proof_length == longest[row.size], row


def test_odd_and_even_anchors_do_the_same_work(rows: list[gas.GasRow]) -> None:
    by_key = {(r.size, r.anchor): r for r in rows}
    for size in SIZES:
        odd, even = by_key[(size, "odd")], by_key[(size, "even")]
        assert odd.execution_gas == even.execution_gas, (odd, even)
        # the same proof; only the log ids (32 bytes of calldata each) differ
        assert abs(odd.calldata_gas - even.calldata_gas) <= 32 * 12
    # Execution grows with the proof alone, never with the size or the index.
    firsts = {by_key[(n, "first")].execution_gas for n in SIZES}
    assert len(firsts) == 1, firsts


@pytest.mark.parametrize("size", [*range(4, 600), 1_000, 4_096, 10_000, 65_537, 100_000])
def test_longest_from_agrees_with_trying_every_old_size(size: int) -> None:
    # From 4 leaves on, no proof from m = 1 is longer than every proof from m >= 2 (the
    # bench's even anchor needs an m // 2 >= 1 before m).
    fast, slow = gas.longest_from(size), gas.longest_from_exhaustive(size)
    assert fast == slow, size
    assert consistency_proof_length(fast, size) == max(
        consistency_proof_length(m, size) for m in range(1, size)
    )
