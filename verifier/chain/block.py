"""The hash of one block, asked of a chain over JSON-RPC: the seed of a verifiable draw
(docs/spot-check.md §4, §11).

Three calls: ``eth_chainId`` (must be the plan's chain), ``eth_blockNumber`` (the head:
a block above it is not mined yet, and there is nothing to verify), then
``eth_getBlockByNumber(height, false)`` whose ``hash`` is the seed. Answers are read as
strictly as tier 5 reads them (:mod:`verifier.chain.rpc`).
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.chain.rpc import RpcClient, hash32, quantity
from verifier.errors import ChainCheckError, MalformedAnswerError


class BlockNotMinedError(ChainCheckError):
    """The block is above the chain's head: the seed does not exist yet."""


class WrongChainError(ChainCheckError):
    """The endpoint serves another chain than the one named."""


@dataclass(frozen=True)
class SeedBlock:
    height: int
    hash: bytes
    #: the endpoint's head when asked: head - height + 1 confirmations
    head: int

    @property
    def confirmations(self) -> int:
        return self.head - self.height + 1


def block_hash_at(client: RpcClient, chain_id: int, height: int) -> SeedBlock:
    """Block ``height``'s hash on chain ``chain_id``, as ``client``'s endpoint serves it.

    Raises :class:`WrongChainError`, :class:`BlockNotMinedError` ("block N not yet mined
    (head is M)"), :class:`MalformedAnswerError`, or the transport's
    :class:`~verifier.errors.EndpointUnavailableError`."""
    served = quantity(client.call("eth_chainId", []), "eth_chainId")
    if served != chain_id:
        raise WrongChainError(f"the endpoint serves chain id {served}, not {chain_id}")
    head = quantity(client.call("eth_blockNumber", []), "eth_blockNumber")
    if head < height:
        raise BlockNotMinedError(f"block {height} not yet mined (head is {head})")
    answer = client.call("eth_getBlockByNumber", [hex(height), False])
    if answer is None:
        raise BlockNotMinedError(f"block {height} not yet mined (the endpoint has no such block)")
    if not isinstance(answer, dict):
        raise MalformedAnswerError(f"eth_getBlockByNumber({height}) is not a block object")
    if quantity(answer.get("number"), "block number") != height:
        raise MalformedAnswerError("eth_getBlockByNumber answered with another block")
    return SeedBlock(height, hash32(answer.get("hash"), "block hash"), head)
