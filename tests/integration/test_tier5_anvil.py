"""Tier 5 end to end: a checkpoint anchored on a real anvil, verified by the real
``evidence-verify`` console script over JSON-RPC.

The contract is deployed from the committed artifact with web3 (test side only:
the verifier itself speaks plain JSON-RPC). A second anvil plays "another
chain": once with another chain id, once with the same chain id and the same
contract address but another history, so that the two endpoints disagree.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.anvil import ANVIL, DEV_KEY, free_port, rpc
from tests.support.anvil import anvil as start_anvil
from tests.support.factories import Sealed, sealed_evidence
from verifier.bundle import Bundle
from verifier.chain.abi import log_id_for

pytestmark = pytest.mark.chain

SCRIPT = Path(sys.executable).with_name("evidence-verify")


@dataclass
class Anchored:
    url: str
    chain_id: int
    contract: str
    sealed: Sealed
    bundle: dict[str, Any]
    dir: Path

    def write(self, bundle: dict[str, Any], name: str = "bundle.json") -> Path:
        path = self.dir / name
        path.write_text(json.dumps(bundle, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    def base_args(self, bundle: Path | None = None) -> list[str]:
        args = [str(bundle or self.dir / "bundle.json")]
        for name in self.sealed.files:
            args += ["--file", str(self.dir / name)]
        return [*args, "--log-key", str(self.dir / "log.vkey")]

    def chain_args(self, url: str | None = None) -> list[str]:
        return [
            "--rpc",
            url or self.url,
            "--contract",
            self.contract,
            "--chain-id",
            str(self.chain_id),
        ]


def evidence_verify(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def tier5(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stdout.splitlines() if line.startswith("  5 ")]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


def anchor_checkpoint(url: str, sealed: Sealed) -> tuple[str, dict[str, Any]]:
    """Deploy EvidenceLog, allow the dev account to submit, anchor the sealed log's head."""
    # Imported here: importing web3 (py-evm) raises the interpreter's recursion limit for the
    # whole test session, which other tests' deep-nesting checks must not run under.
    from web3 import HTTPProvider, Web3  # noqa: PLC0415

    from anchoring.chain import ChainClient, deploy  # noqa: PLC0415

    w3 = Web3(HTTPProvider(url))
    contract = deploy(w3, DEV_KEY)
    client = ChainClient(w3, contract, DEV_KEY)
    log_id = log_id_for(sealed.signer.name)
    client.set_submitter(log_id, client.sender)
    # The first anchor of a log needs no consistency proof.
    tx = client.prepare_anchor(log_id, sealed.log.size, sealed.log.root(), [])
    client.broadcast(tx)
    receipt = client.wait(tx.tx_hash)
    assert receipt.status == 1
    record = {
        "chain_id": client.chain_id(),
        "contract": contract,
        "log_id": "0x" + log_id.hex(),
        "tx_hash": receipt.tx_hash,
        "block_number": receipt.block_number,
        "block_hash": receipt.block_hash,
        "block_timestamp": client.block_timestamp(receipt.block_number),
        "size": sealed.log.size,
        "root": sealed.log.root().hex(),
    }
    return contract, record


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    if not ANVIL.is_file():
        pytest.skip(f"anvil not found at {ANVIL}: run `npm ci --prefix contracts`")
    folder = tmp_path_factory.mktemp("tier5")
    sealed = sealed_evidence()
    with start_anvil() as node:
        contract, record = anchor_checkpoint(node.url, sealed)
        bundle = {**sealed.bundle.model_dump(mode="json"), "status": "anchored", "anchor": record}
        Bundle.model_validate(bundle)  # the issuer's own check: a valid anchored bundle
        state = Anchored(node.url, node.chain_id, contract, sealed, bundle, folder)
        state.write(bundle)
        for name, data in sealed.files.items():
            (folder / name).write_bytes(data)
        (folder / "log.vkey").write_text(sealed.signer.verifier().to_text() + "\n")
        yield state


# --- verified -------------------------------------------------------------------------------


def test_anchored_bundle_verifies_through_tier_5(chain: Anchored) -> None:
    done = evidence_verify(*chain.base_args(), *chain.chain_args(), "--through", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    line = tier5(done)
    assert "通过 verified" in line
    assert f"block {chain.bundle['anchor']['block_number']}" in line
    assert re.search(r"; \d+ confirmations? \(need 1\); endpoints: ", line), line
    assert chain.url in line
    assert "核验通过 VERIFIED" in done.stdout


def test_json_report_with_a_lower_case_contract(chain: Anchored) -> None:
    args = chain.chain_args()
    args[3] = chain.contract.lower()
    assert args[3] != chain.contract  # the deployer returns the EIP-55 (mixed-case) form
    done = evidence_verify(*chain.base_args(), *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "verified"
    assert report["tiers"][4]["name"] == "anchor"
    assert report["tiers"][4]["status"] == "verified"


def test_without_rpc_tier_5_stays_offline(chain: Anchored) -> None:
    done = evidence_verify(*chain.base_args())
    assert done.returncode == 2
    assert "offline" in tier5(done)


def test_through_4_does_not_touch_the_chain(chain: Anchored) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = evidence_verify(*chain.base_args(), *chain.chain_args(dead), "--through", "4")
    assert done.returncode == 0, done.stdout
    assert "skipped" in tier5(done)


# --- the trusted configuration ----------------------------------------------------------------


def test_wrong_contract_fails(chain: Anchored) -> None:
    args = chain.chain_args()
    args[3] = "0x" + "12" * 20
    done = evidence_verify(*chain.base_args(), *args)
    assert done.returncode == 1, done.stdout
    assert "is not the trusted" in tier5(done)


def test_wrong_chain_id_fails(chain: Anchored) -> None:
    args = chain.chain_args()
    args[5] = str(chain.chain_id + 1)
    done = evidence_verify(*chain.base_args(), *args)
    assert done.returncode == 1, done.stdout
    assert "chain id" in tier5(done)


def test_malformed_contract_is_unusable_input(chain: Anchored) -> None:
    args = chain.chain_args()
    args[3] = "0x1234"
    done = evidence_verify(*chain.base_args(), *args)
    assert done.returncode == 3
    assert done.stderr.startswith("evidence-verify: unusable input: --contract")


def test_rpc_without_contract_or_chain_id_is_unusable_input(chain: Anchored) -> None:
    done = evidence_verify(*chain.base_args(), "--rpc", chain.url)
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "--rpc needs --contract and --chain-id" in done.stderr


# --- an altered anchor record ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("tx_hash", "0x" + "ab" * 32, "is not on this chain"),
        ("block_hash", "0x" + "cd" * 32, "block"),
        ("block_number", 1, "block number"),
        ("block_timestamp", 1_700_000_000, "block time"),
        ("log_id", "0x" + "ef" * 32, "log id"),
    ],
)
def test_altered_anchor_record_fails(chain: Anchored, field: str, value: Any, says: str) -> None:
    altered = {**chain.bundle, "anchor": {**chain.bundle["anchor"], field: value}}
    path = chain.write(altered, f"altered-{field}.json")
    done = evidence_verify(*chain.base_args(path), *chain.chain_args())
    assert done.returncode == 1, done.stdout + done.stderr
    line = tier5(done)
    assert "失败 FAILED" in line and says in line


def test_altered_root_is_unusable_input(chain: Anchored) -> None:
    # The anchor's root must be the checkpoint's: a bundle that says otherwise is refused
    # when loaded (§10.3), before any chain is asked.
    altered = {**chain.bundle, "anchor": {**chain.bundle["anchor"], "root": "00" * 32}}
    done = evidence_verify(*chain.base_args(chain.write(altered, "r.json")), *chain.chain_args())
    assert done.returncode == 3
    assert "anchor (size, root) differs from the checkpoint's" in done.stderr


def test_tx_hash_of_another_transaction_fails(chain: Anchored) -> None:
    # The contract's deployment: a real transaction on the chain, but not the anchor.
    block = rpc(chain.url, "eth_getBlockByNumber", ["0x1", False])
    assert isinstance(block, dict)
    other = block["transactions"][0]
    assert other != chain.bundle["anchor"]["tx_hash"]
    altered = {**chain.bundle, "anchor": {**chain.bundle["anchor"], "tx_hash": other}}
    done = evidence_verify(*chain.base_args(chain.write(altered, "t.json")), *chain.chain_args())
    assert done.returncode == 1, done.stdout
    assert "失败 FAILED" in tier5(done)


# --- confirmations and endpoints ---------------------------------------------------------------


def test_too_few_confirmations_is_incomplete_until_more_blocks(chain: Anchored) -> None:
    head = int(str(rpc(chain.url, "eth_blockNumber")), 16)
    have = head - chain.bundle["anchor"]["block_number"] + 1
    args = [*chain.base_args(), *chain.chain_args(), "--min-confirmations", str(have + 2)]
    done = evidence_verify(*args)
    assert done.returncode == 2, done.stdout
    assert f"not yet final: {have} of {have + 2} confirmations" in tier5(done)
    rpc(chain.url, "anvil_mine", ["0x2"])
    done = evidence_verify(*args)
    assert done.returncode == 0, done.stdout
    assert f"{have + 2} confirmations" in tier5(done)


def test_unreachable_second_endpoint_is_incomplete(chain: Anchored) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = evidence_verify(*chain.base_args(), *chain.chain_args(), "--rpc", dead)
    assert done.returncode == 2, done.stdout
    line = tier5(done)
    assert f"could not reach {dead}" in line and "confirmed the anchor" in line


def test_endpoint_of_another_chain_id_disagrees(chain: Anchored) -> None:
    with start_anvil(chain_id=chain.chain_id + 7) as other:
        done = evidence_verify(*chain.base_args(), *chain.chain_args(), "--rpc", other.url)
    assert done.returncode == 1, done.stdout
    line = tier5(done)
    assert "endpoints disagree" in line
    assert chain.url in line and other.url in line
    assert f"serves chain id {chain.chain_id + 7}" in line


def test_endpoint_with_another_history_disagrees(chain: Anchored) -> None:
    # Same chain id, same deployer and nonce (so the same contract address), but this chain
    # anchored another tree of the same size for the same log: a split view between endpoints.
    fork = sealed_evidence(before=4, after=4)
    assert fork.log.size == chain.sealed.log.size and fork.log.root() != chain.sealed.log.root()
    with start_anvil(chain_id=chain.chain_id) as other:
        contract, _ = anchor_checkpoint(other.url, fork)
        assert contract == chain.contract
        done = evidence_verify(*chain.base_args(), *chain.chain_args(), "--rpc", other.url)
    assert done.returncode == 1, done.stdout
    line = tier5(done)
    assert "endpoints disagree" in line and f"{chain.url} confirms the anchor" in line
    root = chain.sealed.log.root().hex()
    assert f"{other.url}: the contract records no checkpoint with root {root}" in line


def test_new_chain_of_the_same_id_disagrees_on_its_genesis(chain: Anchored) -> None:
    # A node of another chain that has not reached the anchor's block looks like a node still
    # syncing; its genesis block gives it away. anvil's genesis holds its start second.
    time.sleep(1.1)
    with start_anvil(chain_id=chain.chain_id) as other:
        genesis = [
            rpc(url, "eth_getBlockByNumber", ["0x0", False]) for url in (chain.url, other.url)
        ]
        assert isinstance(genesis[0], dict) and isinstance(genesis[1], dict)
        assert genesis[0]["hash"] != genesis[1]["hash"]
        done = evidence_verify(*chain.base_args(), *chain.chain_args(), "--rpc", other.url)
    assert done.returncode == 1, done.stdout
    line = tier5(done)
    assert "endpoints disagree on the chain's genesis block" in line
    assert genesis[1]["hash"] in line
