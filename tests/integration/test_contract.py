"""The EvidenceLog contract, deployed from the committed artifact, on two real EVMs.

Every behavioural test runs on the in-process eth-tester chain (py-evm) and on anvil (the
pinned npm binary; marked ``chain``). Proofs come from :class:`anchoring.MerkleLog`, and every
refusal is asserted by its decoded custom error and arguments through
:func:`anchoring.contract.decode_revert`, which must read both chains' exceptions
(eth-tester raises ``TransactionFailed``, anvil ``ContractCustomError``).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped]
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxReceipt

from anchoring.contract import (
    DEFAULT_ARTIFACT,
    Artifact,
    decode_revert,
    error_selectors,
    load_artifact,
    log_id_for,
)
from anchoring.log import MerkleLog
from anchoring.store.memory import MemoryNodeStore
from verifier.errors import RootMismatchError
from verifier.merkle import consistency_proof_length, verify_consistency

REPO = Path(__file__).resolve().parents[2]
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\x00" * 32
MAX_SIZE = 2**48 - 1
#: Revert exceptions of the two chains: anvil (JSON-RPC) and eth-tester (in-process).
REVERTS = (ContractLogicError, TransactionFailed)

CHAINS = [
    pytest.param("eth-tester", id="eth-tester"),
    pytest.param("anvil", id="anvil", marks=pytest.mark.chain),
]


# --- set-up ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact() -> Artifact:
    return load_artifact()


@pytest.fixture(params=CHAINS)
def w3(request: pytest.FixtureRequest) -> Web3:
    name = "anvil_w3" if request.param == "anvil" else "tester_w3"
    client: Web3 = request.getfixturevalue(name)
    return client


@dataclass(frozen=True)
class Deployed:
    w3: Web3
    contract: Contract
    abi: list[dict[str, Any]]
    receipt: TxReceipt
    owner: str
    submitter: str
    stranger: str
    heir: str

    def send(self, fn: Any, sender: str) -> TxReceipt:
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
        assert receipt["status"] == 1
        return receipt

    def reverts(self, fn: Any, sender: str) -> tuple[str, tuple[Any, ...]]:
        """The custom error (name, args) a transaction is refused with; nothing is mined."""
        before = self.w3.eth.block_number
        with pytest.raises(REVERTS) as info:
            fn.transact({"from": sender})
        decoded = decode_revert(info.value, self.abi)
        assert decoded is not None, f"undecodable revert: {info.value!r}"
        assert self.w3.eth.block_number == before
        return decoded

    def latest(self, log_id: bytes) -> tuple[int, bytes, int, int]:
        size, root, ts, block = self.contract.functions.latest(log_id).call()
        return size, root, ts, block

    def checkpoint_of(self, log_id: bytes, root: bytes) -> tuple[int, int, int]:
        size, ts, block = self.contract.functions.checkpointOf(log_id, root).call()
        return size, ts, block

    def count(self, log_id: bytes) -> int:
        return int(self.contract.functions.anchorCount(log_id).call())

    def anchor(self, log_id: bytes, size: int, root: bytes, proof: Sequence[bytes]) -> TxReceipt:
        return self.send(
            self.contract.functions.anchor(log_id, size, root, list(proof)), self.submitter
        )

    def block_facts(self, receipt: TxReceipt) -> tuple[int, int]:
        """(timestamp, number) of the block that mined ``receipt``."""
        block = self.w3.eth.get_block(receipt["blockNumber"])
        return int(block["timestamp"]), int(block["number"])


@pytest.fixture
def deployed(w3: Web3, artifact: Artifact) -> Deployed:
    owner, submitter, stranger, heir = (str(a) for a in w3.eth.accounts[:4])
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": owner}))
    assert receipt["status"] == 1
    contract = cast(Contract, w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi))
    return Deployed(w3, contract, artifact.abi, receipt, owner, submitter, stranger, heir)


LOG = log_id_for("evidence.test/log")
#: The contract's marker of a log set up but not yet anchored; refused as a root.
OPEN = b"\x00" * 31 + b"\x01"


@pytest.fixture
def anchoring(deployed: Deployed) -> Deployed:
    """``deployed`` with ``submitter`` allowed on ``LOG``."""
    deployed.send(
        deployed.contract.functions.setSubmitter(LOG, deployed.submitter, True), deployed.owner
    )
    return deployed


def merkle_log(size: int, seed: int = 0) -> MerkleLog:
    rng = random.Random(seed)
    log = MerkleLog(MemoryNodeStore())
    log.append(rng.randbytes(40) for _ in range(size))
    return log


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


# --- deployment --------------------------------------------------------------------------


def test_deployed_code_is_the_artifact_and_deployer_owns_it(
    deployed: Deployed, artifact: Artifact
) -> None:
    code = deployed.w3.eth.get_code(deployed.contract.address)
    assert code.to_0x_hex() == artifact.deployed_bytecode
    c = deployed.contract.functions
    assert c.owner().call() == deployed.owner
    assert c.pendingOwner().call() == ZERO_ADDRESS
    assert c.isSubmitter(LOG, deployed.submitter).call() is False
    assert c.MAX_SIZE().call() == MAX_SIZE
    (event,) = deployed.contract.events.OwnershipTransferred().process_receipt(deployed.receipt)
    assert (event["args"]["previousOwner"], event["args"]["newOwner"]) == (
        ZERO_ADDRESS,
        deployed.owner,
    )


def test_a_log_never_anchored_reads_as_zeros(deployed: Deployed) -> None:
    root = merkle_log(1).root(1)
    for _ in range(2):  # before and after it is set up (a submitter allowed)
        assert deployed.latest(LOG) == (0, ZERO_HASH, 0, 0)
        for probe in (root, ZERO_HASH, OPEN):
            assert deployed.checkpoint_of(LOG, probe) == (0, 0, 0)
        assert deployed.count(LOG) == 0
        deployed.send(
            deployed.contract.functions.setSubmitter(LOG, deployed.submitter, True),
            deployed.owner,
        )


# --- anchoring ---------------------------------------------------------------------------


def test_first_anchor_takes_no_proof(anchoring: Deployed) -> None:
    log = merkle_log(7)
    root = log.root(7)
    stray = log.consistency_proof(3, 7)
    assert anchoring.reverts(
        anchoring.contract.functions.anchor(LOG, 7, root, stray[:1]), anchoring.submitter
    ) == ("ProofLength", (1, 0))
    receipt = anchoring.anchor(LOG, 7, root, [])
    ts, number = anchoring.block_facts(receipt)
    assert anchoring.latest(LOG) == (7, root, ts, number)
    assert anchoring.checkpoint_of(LOG, root) == (7, ts, number)
    assert anchoring.count(LOG) == 1
    (event,) = anchoring.contract.events.Anchored().process_receipt(receipt)
    assert event["args"] == {"logId": LOG, "size": 7, "root": root, "prevSize": 0}


def test_extensions_with_real_consistency_proofs(anchoring: Deployed) -> None:
    rng = random.Random(20261126)
    log = merkle_log(5000, seed=1)
    sizes = sorted(rng.sample(range(1, 5001), 14))
    anchored: dict[int, tuple[bytes, int, int]] = {}
    indices: dict[int, int] = {}
    previous = 0
    for size in sizes:
        root = log.root(size)
        proof = log.consistency_proof(previous, size) if previous else []
        want = anchoring.contract.functions.consistencyProofLength(previous, size).call()
        assert len(proof) == want == consistency_proof_length(previous, size)
        receipt = anchoring.anchor(LOG, size, root, proof)
        (event,) = anchoring.contract.events.Anchored().process_receipt(receipt)
        assert event["args"] == {"logId": LOG, "size": size, "root": root, "prevSize": previous}
        anchored[size] = (root, *anchoring.block_facts(receipt))
        indices[size] = anchoring.count(LOG) - 1
        previous = size

    assert anchoring.count(LOG) == len(sizes)
    last = sizes[-1]
    assert anchoring.latest(LOG) == (last, *anchored[last])
    assert sorted(indices.values()) == list(range(len(sizes)))
    # Every anchor reads back by its root, whatever its index; roots of sizes never anchored,
    # and the marker of an open log, read as zeros.
    for size, (root, ts, block) in anchored.items():
        assert anchoring.checkpoint_of(LOG, root) == (size, ts, block)
    for size in (1, sizes[0] - 1, sizes[3] + 1, last + 1):
        if size not in anchored:
            assert anchoring.checkpoint_of(LOG, log.root(size)) == (0, 0, 0)
    assert anchoring.checkpoint_of(LOG, OPEN) == (0, 0, 0)
    assert anchoring.checkpoint_of(log_id_for("evidence.test/other"), anchored[last][0]) == (
        0,
        0,
        0,
    )
    # Block numbers strictly increase: one anchor per block on both chains.
    numbers = [anchored[s][2] for s in sizes]
    assert numbers == sorted(set(numbers))


def test_every_small_extension_is_accepted_and_every_flip_refused(deployed: Deployed) -> None:
    """All 0 < m < n <= 24, simulated with eth_call from a log anchored at m.

    Covers old sizes that are powers of two (their root seeds the path) and not, and checks
    one modified proof per pair against the reference verifier's verdict.
    """
    c = deployed.contract.functions
    log = merkle_log(24, seed=6)
    for m in range(1, 24):
        log_id = log_id_for(f"evidence.test/pairs/{m}")
        deployed.send(c.setSubmitter(log_id, deployed.submitter, True), deployed.owner)
        deployed.anchor(log_id, m, log.root(m), [])
        for n in range(m + 1, 25):
            proof = log.consistency_proof(m, n)
            c.anchor(log_id, n, log.root(n), proof).call({"from": deployed.submitter})
            bad = list(proof)
            bad[(m + n) % len(bad)] = flip(bad[(m + n) % len(bad)], m + n)
            with pytest.raises(REVERTS) as info:
                c.anchor(log_id, n, log.root(n), bad).call({"from": deployed.submitter})
            assert decode_revert(info.value, deployed.abi) == _expected_mismatch(
                m, n, log.root(m), log.root(n), bad
            ), (m, n)


def test_logs_are_independent(anchoring: Deployed) -> None:
    other = log_id_for("evidence.test/other")
    anchoring.send(
        anchoring.contract.functions.setSubmitter(other, anchoring.submitter, True),
        anchoring.owner,
    )
    a, b = merkle_log(9, seed=2), merkle_log(9, seed=3)
    anchoring.anchor(LOG, 4, a.root(4), [])
    anchoring.anchor(other, 9, b.root(9), [])
    anchoring.anchor(LOG, 9, a.root(9), a.consistency_proof(4, 9))
    assert anchoring.latest(LOG)[:2] == (9, a.root(9))
    assert anchoring.latest(other)[:2] == (9, b.root(9))
    assert (anchoring.count(LOG), anchoring.count(other)) == (2, 1)
    assert anchoring.checkpoint_of(other, a.root(4)) == (0, 0, 0)
    assert anchoring.checkpoint_of(LOG, a.root(4))[0] == 4


# --- refusals ----------------------------------------------------------------------------


@pytest.fixture
def at_six(anchoring: Deployed) -> tuple[Deployed, MerkleLog]:
    """``LOG`` anchored at 4 and then 6 leaves of a 16-leaf log."""
    log = merkle_log(16, seed=4)
    anchoring.anchor(LOG, 4, log.root(4), [])
    anchoring.anchor(LOG, 6, log.root(6), log.consistency_proof(4, 6))
    return anchoring, log


def anchor_call(d: Deployed, size: int, root: bytes, proof: Sequence[bytes]) -> Any:
    return d.contract.functions.anchor(LOG, size, root, list(proof))


def test_refusals_leave_the_log_unchanged(at_six: tuple[Deployed, MerkleLog]) -> None:
    d, log = at_six
    before = d.latest(LOG)
    root6, root10 = log.root(6), log.root(10)
    other = b"\x5a" * 32
    cases: list[tuple[str, Any, str, tuple[Any, ...]]] = [
        ("rollback", anchor_call(d, 5, log.root(5), []), "Rollback", (6, 5)),
        ("fork", anchor_call(d, 6, other, []), "Fork", (6, root6, other)),
        ("already-anchored", anchor_call(d, 6, root6, []), "AlreadyAnchored", (6,)),
        ("zero-root", anchor_call(d, 10, ZERO_HASH, []), "ZeroRoot", ()),
        ("reserved-root", anchor_call(d, 10, OPEN, []), "ReservedRoot", ()),
        ("reserved-root-before-size", anchor_call(d, 0, OPEN, []), "ReservedRoot", ()),
        ("zero-size", anchor_call(d, 0, root10, []), "ZeroSize", ()),
        (
            "size-too-large",
            anchor_call(d, MAX_SIZE + 1, root10, []),
            "SizeTooLarge",
            (MAX_SIZE + 1, MAX_SIZE),
        ),
    ]
    for name, fn, error, args in cases:
        assert d.reverts(fn, d.submitter) == (error, args), name
    # A stranger is refused before anything else is looked at.
    assert d.reverts(anchor_call(d, 10, root10, log.consistency_proof(6, 10)), d.stranger) == (
        "NotSubmitter",
        (LOG, d.stranger),
    )
    assert d.latest(LOG) == before
    assert d.count(LOG) == 2


def test_proof_length_is_checked_before_hashing(at_six: tuple[Deployed, MerkleLog]) -> None:
    d, log = at_six
    proof = log.consistency_proof(6, 10)
    want = consistency_proof_length(6, 10)
    assert len(proof) == want == 4
    root10 = log.root(10)
    for name, bad in {
        "empty": [],
        "truncated": proof[:-1],
        "trailing-garbage": [*proof, b"\x01" * 32],
    }.items():
        assert d.reverts(anchor_call(d, 10, root10, bad), d.submitter) == (
            "ProofLength",
            (len(bad), want),
        ), name


def _expected_mismatch(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> tuple[str, tuple[bytes, bytes]]:
    """What the reference verifier (verifier.merkle) says is wrong with a same-length proof."""
    with pytest.raises(RootMismatchError) as info:
        verify_consistency(size1, size2, root1, root2, proof)
    err = info.value
    name = "OldRootMismatch" if err.expected_root == root1 else "NewRootMismatch"
    return name, (err.expected_root, err.calculated_root)


def test_modified_proofs_are_refused_like_the_reference(
    at_six: tuple[Deployed, MerkleLog],
) -> None:
    d, log = at_six
    proof = log.consistency_proof(6, 10)
    root6, root10 = log.root(6), log.root(10)
    seen = set()
    for position in range(len(proof)):
        for bit in (0, 255):
            bad = list(proof)
            bad[position] = flip(bad[position], bit)
            expected = _expected_mismatch(6, 10, root6, root10, bad)
            got = d.reverts(anchor_call(d, 10, root10, bad), d.submitter)
            assert got == expected, f"modified-proof@{position}-bit-{bit}"
            seen.add(got[0])
    # 6 -> 10 has hashes of both kinds: some feed only the new root, some both.
    assert seen == {"OldRootMismatch", "NewRootMismatch"}
    swapped = [proof[1], proof[0], *proof[2:]]
    assert d.reverts(anchor_call(d, 10, root10, swapped), d.submitter) == _expected_mismatch(
        6, 10, root6, root10, swapped
    )
    # The honest proof for another new root: the old root checks out, the new one does not.
    assert d.reverts(anchor_call(d, 10, log.root(11), proof), d.submitter) == (
        "NewRootMismatch",
        (log.root(11), root10),
    )
    d.anchor(LOG, 10, root10, proof)  # and the genuine one is accepted


def test_a_proof_from_another_old_size_is_refused(
    at_six: tuple[Deployed, MerkleLog],
) -> None:
    d, log = at_six
    # From 4 (not the latest anchor, 6): 4 -> 10 takes 2 hashes, 6 -> 10 takes 4.
    stale = log.consistency_proof(4, 10)
    assert d.reverts(anchor_call(d, 10, log.root(10), stale), d.submitter) == (
        "ProofLength",
        (2, 4),
    )
    # 1 -> 9 takes 4 hashes, as 6 -> 9 does: it passes the length check and fails on the old
    # root, whose recomputation from the wrong path the reference verifier reproduces.
    stale = log.consistency_proof(1, 9)
    assert len(stale) == consistency_proof_length(6, 9) == 4
    name, (expected, calculated) = _expected_mismatch(6, 9, log.root(6), log.root(9), stale)
    assert (name, expected) == ("OldRootMismatch", log.root(6))
    assert d.reverts(anchor_call(d, 9, log.root(9), stale), d.submitter) == (
        "OldRootMismatch",
        (log.root(6), calculated),
    )


# --- roles -------------------------------------------------------------------------------


def test_submitters_are_set_per_log_by_the_owner(deployed: Deployed) -> None:
    c = deployed.contract.functions
    log = merkle_log(3, seed=5)
    assert deployed.reverts(c.anchor(LOG, 3, log.root(3), []), deployed.submitter) == (
        "NotSubmitter",
        (LOG, deployed.submitter),
    )
    assert deployed.reverts(c.setSubmitter(LOG, deployed.stranger, True), deployed.stranger) == (
        "NotOwner",
        (deployed.stranger,),
    )
    assert deployed.reverts(c.setSubmitter(LOG, ZERO_ADDRESS, True), deployed.owner) == (
        "ZeroAddress",
        (),
    )
    receipt = deployed.send(c.setSubmitter(LOG, deployed.submitter, True), deployed.owner)
    (event,) = deployed.contract.events.SubmitterSet().process_receipt(receipt)
    assert event["args"] == {"logId": LOG, "account": deployed.submitter, "allowed": True}
    assert c.isSubmitter(LOG, deployed.submitter).call() is True
    assert c.isSubmitter(log_id_for("evidence.test/other"), deployed.submitter).call() is False
    deployed.anchor(LOG, 2, log.root(2), [])

    deployed.send(c.setSubmitter(LOG, deployed.submitter, False), deployed.owner)
    assert c.isSubmitter(LOG, deployed.submitter).call() is False
    assert deployed.reverts(
        c.anchor(LOG, 3, log.root(3), log.consistency_proof(2, 3)), deployed.submitter
    ) == ("NotSubmitter", (LOG, deployed.submitter))


def test_setting_submitters_again_keeps_the_log(anchoring: Deployed) -> None:
    """Only the first setSubmitter of a log opens it; later ones never touch its anchors."""
    c = anchoring.contract.functions
    log = merkle_log(9, seed=8)
    anchoring.anchor(LOG, 4, log.root(4), [])
    before = anchoring.latest(LOG)
    for account, allowed in (
        (anchoring.stranger, True),
        (anchoring.submitter, False),
        (anchoring.stranger, False),
        (anchoring.submitter, True),
    ):
        anchoring.send(c.setSubmitter(LOG, account, allowed), anchoring.owner)
        assert anchoring.latest(LOG) == before
        assert anchoring.count(LOG) == 1
    anchoring.anchor(LOG, 9, log.root(9), log.consistency_proof(4, 9))
    assert anchoring.latest(LOG)[:2] == (9, log.root(9))
    assert anchoring.count(LOG) == 2


def test_two_step_ownership_transfer(deployed: Deployed) -> None:
    c = deployed.contract.functions
    old, heir, stranger = deployed.owner, deployed.heir, deployed.stranger
    assert deployed.reverts(c.transferOwnership(heir), stranger) == ("NotOwner", (stranger,))
    assert deployed.reverts(c.transferOwnership(ZERO_ADDRESS), old) == ("ZeroAddress", ())
    assert deployed.reverts(c.acceptOwnership(), heir) == ("NotPendingOwner", (heir,))

    receipt = deployed.send(c.transferOwnership(heir), old)
    (event,) = deployed.contract.events.OwnershipTransferStarted().process_receipt(receipt)
    assert event["args"] == {"previousOwner": old, "newOwner": heir}
    assert (c.owner().call(), c.pendingOwner().call()) == (old, heir)
    # Until accepted, the old owner still rules and nobody else may accept.
    deployed.send(c.setSubmitter(LOG, deployed.submitter, True), old)
    assert deployed.reverts(c.acceptOwnership(), stranger) == ("NotPendingOwner", (stranger,))
    assert deployed.reverts(c.acceptOwnership(), old) == ("NotPendingOwner", (old,))

    receipt = deployed.send(c.acceptOwnership(), heir)
    (event,) = deployed.contract.events.OwnershipTransferred().process_receipt(receipt)
    assert event["args"] == {"previousOwner": old, "newOwner": heir}
    assert (c.owner().call(), c.pendingOwner().call()) == (heir, ZERO_ADDRESS)
    assert deployed.reverts(c.setSubmitter(LOG, stranger, True), old) == ("NotOwner", (old,))
    assert deployed.reverts(c.acceptOwnership(), heir) == ("NotPendingOwner", (heir,))
    deployed.send(c.setSubmitter(LOG, stranger, True), heir)


# --- the proof-length rule ---------------------------------------------------------------


def test_proof_length_rule_matches_the_verifier(deployed: Deployed) -> None:
    rule = deployed.contract.functions.consistencyProofLength
    pairs = [(m, n) for n in range(1, 25) for m in range(n + 1)]
    rng = random.Random(7)
    for _ in range(120):
        a, b = sorted(rng.randrange(1, 2 ** rng.randrange(1, 65)) for _ in range(2))
        pairs.append((a, b))
    pairs += [(2**63, 2**64 - 1), (2**64 - 2, 2**64 - 1), (1, 2**64 - 1), (2**47 + 1, 2**48 - 1)]
    for m, n in pairs:
        assert rule(m, n).call() == consistency_proof_length(m, n), (m, n)
    assert deployed.reverts(rule(5, 4), deployed.owner) == ("Rollback", (5, 4))


# --- the artifact ------------------------------------------------------------------------


def test_artifact_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (REPO / "contracts" / "node_modules" / "solc").is_dir():
        pytest.skip("contracts/node_modules missing: run `npm ci --prefix contracts`")
    out = tmp_path / "EvidenceLog.json"
    subprocess.run(
        [node, str(REPO / "contracts" / "compile.js"), str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.read_bytes() == DEFAULT_ARTIFACT.read_bytes()
    built = json.loads(out.read_text())
    assert built["compiler"]["version"].startswith("0.8.37+")
    assert built["compiler"]["settings"]["evmVersion"] == "cancun"
    assert json.loads(built["metadata"])["settings"]["optimizer"]["enabled"] is True


# --- pure helpers ------------------------------------------------------------------------


def test_log_id_is_sha256_of_the_origin() -> None:
    # printf %s 'evidence.example/log' | sha256sum
    expected = hashlib.sha256(b"evidence.example/log").hexdigest()
    assert log_id_for("evidence.example/log").hex() == expected
    assert log_id_for("取证/log") == hashlib.sha256("取证/log".encode()).digest()


def test_decode_revert_reads_both_exception_shapes(artifact: Artifact) -> None:
    selector = next(
        s for s, (name, _) in error_selectors(artifact.abi).items() if name == "Rollback"
    )
    data = selector + (6).to_bytes(32, "big") + (5).to_bytes(32, "big")
    anvil_style = ContractCustomError(data.hex(), data="0x" + data.hex())
    tester_style = TransactionFailed(f"execution reverted: {data!r}")
    for exc in (
        anvil_style,
        tester_style,
        ContractLogicError("x", data={"data": "0x" + data.hex()}),
    ):
        assert decode_revert(exc, artifact.abi) == ("Rollback", (6, 5))
    # Not ours: an Error(string) revert, a bare panic, no data, garbage.
    error_string = bytes.fromhex("08c379a0") + b"\x00" * 64
    for exc in (
        TransactionFailed(f"execution reverted: {error_string!r}"),
        TransactionFailed("execution reverted: out of gas"),
        ContractLogicError("execution reverted", data="0x"),
        ValueError("unrelated"),
        ContractCustomError("x", data="0x" + selector.hex()),  # arguments missing
    ):
        assert decode_revert(exc, artifact.abi) is None, repr(exc)
