"""Thin chain adapter (web3 8, local signing with eth-account).

One object per chain endpoint and sender. It builds, signs and sends
``anchor`` transactions, reads the contract's records, and decodes reverts
the same way on anvil (``ContractCustomError``) and on the in-process
eth-tester chain (``TransactionFailed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound

from anchoring.contract import Artifact, decode_revert, load_artifact
from anchoring.errors import ChainError, ChainUnavailableError, RevertError

__all__ = [
    "ChainClient",
    "ChainError",
    "ChainUnavailableError",
    "OnChainCheckpoint",
    "Receipt",
    "RevertError",
    "SentTx",
    "deploy",
]

#: Gas estimates are padded by this factor: the proof path may differ slightly by then.
GAS_MARGIN = 1.25


@dataclass(frozen=True)
class OnChainCheckpoint:
    size: int
    root: bytes
    timestamp: int
    block_number: int


@dataclass(frozen=True)
class SentTx:
    tx_hash: str
    nonce: int
    raw: bytes


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    gas_used: int


class ChainClient:
    def __init__(
        self, w3: Web3, contract_address: str, key: str | bytes, artifact: Artifact | None = None
    ) -> None:
        self.w3 = w3
        self.artifact = artifact or load_artifact()
        self.account: LocalAccount = Account.from_key(key)
        self.contract: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(contract_address), abi=self.artifact.abi
        )

    @property
    def address(self) -> str:
        return str(self.contract.address)

    @property
    def sender(self) -> str:
        return str(self.account.address)

    # --- facts about the chain ------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def genesis_hash(self) -> str:
        return HexBytes(self.w3.eth.get_block(0)["hash"]).to_0x_hex()

    def code_hash(self) -> str:
        code = self.w3.eth.get_code(self.contract.address)
        return Web3.keccak(code).to_0x_hex()

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        try:
            block = self.w3.eth.get_block(number)
        except Exception:
            return None
        return HexBytes(block["hash"]).to_0x_hex()

    def block_timestamp(self, number: int) -> int:
        return int(self.w3.eth.get_block(number)["timestamp"])

    # --- contract reads -------------------------------------------------------------

    def latest(self, log_id: bytes) -> OnChainCheckpoint:
        size, root, ts, block = self.contract.functions.latest(log_id).call()
        return OnChainCheckpoint(int(size), bytes(root), int(ts), int(block))

    def checkpoint_of(self, log_id: bytes, root: bytes) -> OnChainCheckpoint | None:
        """The anchor of ``log_id`` whose root is ``root``; None if there is none."""
        size, ts, block = self.contract.functions.checkpointOf(log_id, root).call()
        if size == 0:
            return None
        return OnChainCheckpoint(int(size), root, int(ts), int(block))

    def is_submitter(self, log_id: bytes, account: str | None = None) -> bool:
        return bool(self.contract.functions.isSubmitter(log_id, account or self.sender).call())

    # --- transactions ---------------------------------------------------------------

    def _send(self, fn: Any) -> SentTx:
        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        params: dict[str, Any] = {"from": self.account.address, "nonce": nonce}
        try:
            gas = fn.estimate_gas(params)
        except Exception as exc:
            decoded = decode_revert(exc, self.artifact.abi)
            if decoded is not None:
                raise RevertError(*decoded) from exc
            raise
        tx = fn.build_transaction(
            {**params, "gas": int(gas * GAS_MARGIN), "chainId": self.chain_id()}
        )
        signed = self.account.sign_transaction(tx)
        return SentTx(HexBytes(signed.hash).to_0x_hex(), nonce, bytes(signed.raw_transaction))

    def prepare_anchor(self, log_id: bytes, size: int, root: bytes, proof: list[bytes]) -> SentTx:
        """Build and sign (but do not send) an ``anchor`` transaction.

        The caller records the hash before broadcasting, so a crash between
        the two can always be reconciled from the chain.
        """
        return self._send(self.contract.functions.anchor(log_id, size, root, proof))

    def broadcast(self, tx: SentTx) -> None:
        try:
            self.w3.eth.send_raw_transaction(tx.raw)
        except Exception as exc:
            text = str(exc).lower()
            if "already known" in text or "known transaction" in text:
                return  # a retry of a broadcast that already reached the node
            decoded = decode_revert(exc, self.artifact.abi)
            if decoded is not None:
                raise RevertError(*decoded) from exc
            raise ChainError(f"broadcast failed: {exc}") from exc

    def receipt(self, tx_hash: str) -> Receipt | None:
        try:
            r = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        if r is None or r.get("blockNumber") is None:
            return None
        return Receipt(
            tx_hash,
            int(r["status"]),
            int(r["blockNumber"]),
            HexBytes(r["blockHash"]).to_0x_hex(),
            int(r["gasUsed"]),
        )

    def tx_known(self, tx_hash: str) -> bool:
        """Whether the node still knows the transaction (mined or in its pool)."""
        try:
            return self.w3.eth.get_transaction(HexBytes(tx_hash)) is not None
        except TransactionNotFound:
            return False

    def set_submitter(self, log_id: bytes, account: str, allowed: bool = True) -> Receipt:
        tx = self._send(self.contract.functions.setSubmitter(log_id, account, allowed))
        self.broadcast(tx)
        return self.wait(tx.tx_hash)

    def wait(self, tx_hash: str, timeout: float = 60.0) -> Receipt:
        self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout)
        receipt = self.receipt(tx_hash)
        if receipt is None:  # pragma: no cover - wait_for_transaction_receipt returned
            raise ChainError(f"no receipt for {tx_hash}")
        return receipt


def deploy(w3: Web3, key: str | bytes, artifact: Artifact | None = None) -> str:
    """Deploy EvidenceLog from ``key``'s account; returns the contract address."""
    artifact = artifact or load_artifact()
    account: LocalAccount = Account.from_key(key)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    params: dict[str, Any] = {"from": account.address, "nonce": nonce}
    gas = factory.constructor().estimate_gas(params)
    tx = factory.constructor().build_transaction(
        {**params, "gas": int(gas * GAS_MARGIN), "chainId": int(w3.eth.chain_id)}
    )
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise ChainError("EvidenceLog deployment failed")
    return str(receipt["contractAddress"])
