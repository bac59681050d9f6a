"""Gas per anchor of the EvidenceLog contract: ``python -m bench.gas [--quick] [--sizes ...]``.

For each tree size s (default 10, 100, ..., 1e7) a fresh log anchors s/2 and then s, with a
real RFC 9162 consistency proof from :class:`anchoring.MerkleLog`. Trees of ten million leaves
are not built: a :class:`UniformNodeStore` gives every leaf the same hash, so every perfect
subtree of level l has the same hash, one per level, and the log assembles genuine proofs
from those (the contract cannot tell: it checks the same hashes either way).

The contract writes a fresh meta slot for every second anchor (see the layout in
contracts/EvidenceLog.sol), so each size is measured at both parities of the anchor index:
"even" (index 2: the log anchored s/4, s/2, then s) and "odd" (index 1: s/2, then s; this
one also writes the meta pair). Their mean is what a long run of anchors costs on average.
The figure is the whole transaction's gas (receipt ``gasUsed``, the 21,000 intrinsic gas
included), beside the target 60,000 + 1,500 * log2(s).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract

from anchoring.contract import Artifact, load_artifact, log_id_for
from anchoring.layout import NodeID
from anchoring.log import MerkleLog
from anchoring.store.base import NodeRun, NodeStore
from verifier.merkle import consistency_proof_length, leaf_hash, node_hash, verify_consistency

DEFAULT_SIZES = tuple(10**e for e in range(1, 8))
#: ``--quick``: three sizes on eth-tester alone, a few seconds. The trees are virtual, so a
#: size costs the same time whatever it is: these still span the target's crossing point.
QUICK_SIZES = (10, 1_000, 100_000)
QUICK_CHAINS = ("eth-tester",)
TARGET_BASE = 60_000
TARGET_PER_LEVEL = 1_500


def target_gas(size: int) -> float:
    return TARGET_BASE + TARGET_PER_LEVEL * math.log2(size)


# --- a virtual tree of identical leaves ------------------------------------------------------


class UniformNodeStore:
    """A read-only :class:`NodeStore` of ``size`` identical leaves, in O(64) memory.

    Node ``(level, index)`` is the perfect subtree of leaves ``[index * 2**level,
    (index + 1) * 2**level)``; with identical leaves its hash depends on the level alone.
    """

    def __init__(self, size: int, leaf: bytes = leaf_hash(b"evidence-anchor gas bench")) -> None:
        self._size = size
        self._levels = [leaf]
        for _ in range(64):
            top = self._levels[-1]
            self._levels.append(node_hash(top, top))

    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        self._size = size

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        for level, index in ids:
            if (index + 1) << level > self._size:
                raise ValueError(f"node {(level, index)} lies beyond size {self._size}")
        return [self._levels[level] for level, _ in ids]

    def append(self, runs: Sequence[NodeRun], old_size: int, new_size: int) -> None:
        raise NotImplementedError("the uniform tree is virtual and read-only: use resize()")

    @contextmanager
    def snapshot(self) -> Iterator[NodeStore]:
        yield self


# --- chains ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    name: str
    w3: Web3
    account: str


@contextmanager
def eth_tester_chain() -> Iterator[Chain]:
    w3 = Web3(EthereumTesterProvider())
    yield Chain("eth-tester", w3, w3.eth.accounts[0])


@contextmanager
def anvil_chain() -> Iterator[Chain]:
    # The launcher lives with the test fixtures (one implementation of "start anvil").
    from tests.support.anvil import anvil  # noqa: PLC0415 - optional, only for --chain anvil

    with anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        yield Chain("anvil", w3, w3.eth.accounts[0])


def anvil_available() -> bool:
    try:
        from tests.support.anvil import ANVIL  # noqa: PLC0415
    except ImportError:
        return False
    return ANVIL.is_file()


def default_chains(quick: bool = False) -> tuple[str, ...]:
    """eth-tester, and anvil when installed; ``quick``: eth-tester alone."""
    if quick:
        return QUICK_CHAINS
    return ("eth-tester", *(("anvil",) if anvil_available() else ()))


def default_sizes(quick: bool = False) -> tuple[int, ...]:
    return QUICK_SIZES if quick else DEFAULT_SIZES


CHAINS: dict[str, Callable[[], AbstractContextManager[Chain]]] = {
    "eth-tester": eth_tester_chain,
    "anvil": anvil_chain,
}


def _send(chain: Chain, fn: Any) -> int:
    """Send a contract call as a transaction; return its gas used (it must succeed)."""
    tx_hash = fn.transact({"from": chain.account})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} failed")
    return int(receipt["gasUsed"])


def deploy(chain: Chain, artifact: Artifact) -> Contract:
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor().transact({"from": chain.account})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    return cast(
        Contract, chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    )


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GasRow:
    chain: str
    size: int
    old_size: int
    proof_length: int
    gas_even: int
    gas_odd: int
    target: float

    @property
    def mean(self) -> float:
        return (self.gas_even + self.gas_odd) / 2

    @property
    def worst(self) -> int:
        return max(self.gas_even, self.gas_odd)

    @property
    def per_leaf(self) -> float:
        """Mean gas per newly anchored leaf (evidence item) at this anchoring cadence."""
        return self.mean / (self.size - self.old_size)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"mean": self.mean, "worst": self.worst, "per_leaf": self.per_leaf}


def _anchor_sequence(
    chain: Chain, contract: Contract, tree: UniformNodeStore, log_id: bytes, sizes: Sequence[int]
) -> int:
    """Anchor ``sizes`` in order on a fresh log; return the gas of the last anchor."""
    log = MerkleLog(tree)
    gas, previous, previous_root = 0, 0, b""
    for size in sizes:
        tree.resize(size)
        root = log.root(size)
        proof = log.consistency_proof(previous, size) if previous else []
        if previous:  # a bench of wrong proofs would measure nothing
            verify_consistency(previous, size, previous_root, root, proof)
        gas = _send(chain, contract.functions.anchor(log_id, size, root, proof))
        previous, previous_root = size, root
    return gas


def measure(chain: Chain, contract: Contract, size: int) -> GasRow:
    old = size // 2
    tree = UniformNodeStore(size)
    gas: dict[str, int] = {}
    for parity, steps in (("even", (size // 4, old, size)), ("odd", (old, size))):
        log_id = log_id_for(f"bench.gas/{size}/{parity}")
        _send(chain, contract.functions.setSubmitter(log_id, chain.account, True))
        gas[parity] = _anchor_sequence(chain, contract, tree, log_id, [s for s in steps if s])
    return GasRow(
        chain=chain.name,
        size=size,
        old_size=old,
        proof_length=consistency_proof_length(old, size),
        gas_even=gas["even"],
        gas_odd=gas["odd"],
        target=target_gas(size),
    )


def _verdict(gas: float, target: float) -> str:
    return "PASS" if gas <= target else "MISS"


def format_rows(rows: Sequence[GasRow]) -> str:
    header = (
        "chain",
        "size",
        "from",
        "proof",
        "gas even",
        "gas odd",
        "mean",
        "target",
        "mean/target",
        "even?",
        "odd?",
        "mean?",
        "gas/new leaf",
    )
    lines = [
        (
            r.chain,
            f"{r.size:,}",
            f"{r.old_size:,}",
            str(r.proof_length),
            f"{r.gas_even:,}",
            f"{r.gas_odd:,}",
            f"{r.mean:,.0f}",
            f"{r.target:,.0f}",
            f"{r.mean / r.target:.3f}",
            _verdict(r.gas_even, r.target),
            _verdict(r.gas_odd, r.target),
            _verdict(r.mean, r.target),
            f"{r.per_leaf:,.2f}",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-" * len(render(header))
    legend = (
        "gas: whole-transaction gasUsed of anchor(from -> size) with a consistency proof of "
        "`proof` hashes;\n"
        "even/odd: the anchor's index in its log (odd also stores a meta pair slot); "
        "mean: the long-run average;\n"
        "target: 60,000 + 1,500 * log2(size); even?/odd?/mean?: that figure against the target."
    )
    body = [render(line) for line in lines]
    return "\n".join(
        ["EvidenceLog gas per anchor", rule, render(header), rule, *body, rule, legend]
    )


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = {int(float(p)) if "e" in p.lower() else int(p) for p in text.split(",")}
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"sizes must be integers like 1e3,1e6: {text!r}") from exc
    if min(sizes) < 4:
        raise argparse.ArgumentTypeError("every size must be at least 4 leaves")
    return tuple(sorted(sizes))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gas",
        description="Gas per EvidenceLog anchor against the target 60,000 + 1,500*log2(size).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds: sizes 10, 1e3, 1e5 on eth-tester alone",
    )
    parser.add_argument(
        "--sizes", type=_sizes, help="tree sizes (default 1e1..1e7; --quick: 10,1e3,1e5)"
    )
    parser.add_argument(
        "--chain",
        action="append",
        choices=sorted(CHAINS),
        help="chain(s) to measure on (default: eth-tester, and anvil when installed; "
        "--quick: eth-tester)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    return parser.parse_args(argv)


def run(chains: Sequence[str], sizes: Sequence[int], artifact: Artifact) -> list[GasRow]:
    rows: list[GasRow] = []
    for name in chains:
        with CHAINS[name]() as chain:
            contract = deploy(chain, artifact)
            for size in sizes:
                print(f"[{name}] size {size:,}", file=sys.stderr, flush=True)
                rows.append(measure(chain, contract, size))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chains = args.chain or default_chains(args.quick)
    rows = run(chains, args.sizes or default_sizes(args.quick), load_artifact())
    print(format_rows(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
