"""The draw's seed: the hash of the chain block at a height not mined when the plan
was committed (its head plus ``spotcheck_seed_delay``), read through the runtime's
chain client (docs/inspections.md §4)."""

from __future__ import annotations

from typing import Any, Protocol

from evidence_api.core.errors import ConflictError, ServiceUnavailableError

#: Seconds ``Retry-After`` counts per block still to be mined (Ethereum: 12 s slots),
#: within these bounds.
SECONDS_PER_BLOCK = 12
MIN_RETRY, MAX_RETRY = 2, 3600


class BlockReader(Protocol):
    """What the seed needs of a chain client (:class:`anchoring.chain.ChainClient`)."""

    def chain_id(self) -> int: ...
    def head(self) -> int: ...
    def block_hash(self, number: int) -> str | None: ...


def chain_client(runtime: Any) -> BlockReader:
    """The runtime's chain client; 503 while it is being bound, 409 when none is configured."""
    if runtime.chain_pending:
        raise ServiceUnavailableError("the service is still binding its chain; retry shortly")
    if runtime.chain is None:  # a setting, not an outage: retrying will not help
        raise ConflictError(
            "no chain is configured (EVIDENCE_CHAIN=none): a spot-check draw is seeded "
            "by a future chain block"
        )
    client: BlockReader = runtime.chain.client
    return client


def retry_after(head: int, height: int) -> int:
    """Seconds to wait for block ``height`` when the chain's head is ``head``."""
    return max(MIN_RETRY, min(MAX_RETRY, (height - head) * SECONDS_PER_BLOCK))


def _unavailable(exc: Exception) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"the chain does not answer: {type(exc).__name__}: {exc}")


def commitment_point(client: BlockReader, delay: int) -> tuple[int, int]:
    """(chain id, seed height) for a plan committed now: the head plus ``delay``."""
    try:
        return client.chain_id(), client.head() + delay
    except Exception as exc:  # any RPC failure: 503, never 500
        raise _unavailable(exc) from exc


def seed_block(client: BlockReader, chain_id: int, height: int) -> bytes:
    """The 32-byte hash of block ``height``: 409 (with ``Retry-After``) while it is not
    mined, 409 when the service's chain is not the plan's."""
    try:
        current = client.chain_id()
        found = client.block_hash(height) if current == chain_id else None
        head = client.head()
    except Exception as exc:  # any RPC failure: 503, never 500
        raise _unavailable(exc) from exc
    if current != chain_id:
        raise ConflictError(
            f"the plan's seed block is on chain {chain_id}; this service reads chain {current}"
        )
    if found is None or head < height:
        raise ConflictError(
            f"seed block {height} not yet mined (chain head is {head}); "
            "the draw can be made after it",
            headers={"Retry-After": str(retry_after(head, height))},
        )
    return bytes.fromhex(found.removeprefix("0x"))
