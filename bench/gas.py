"""Gas per anchor of the EvidenceLog contract: ``python -m bench.gas [--quick] [--sizes ...]``.

For each tree size n (default 10, 100, ..., 1e7) the anchor of n is measured with the
*longest* RFC 9162 consistency proof any earlier size m < n has to n (:func:`longest_from`
picks m), and each anchor is judged on its own against the target 60,000 + 1,500 * log2(n),
never a mean. Three anchors per size, each on a fresh log:

* ``first``: the log's first anchor, of n leaves (no proof);
* ``odd``: index 1: the log anchored m, then n;
* ``even``: index 2: the log anchored m // 2, m, then n.

The contract's storage work is the same at every index (one fresh slot per anchor, see the
layout in contracts/EvidenceLog.sol), so the three differ only by the proof; both parities are
still measured because the previous layout did not (it wrote a fresh meta slot every second
anchor), and a layout change that brought that back would show here. Proofs are real:
:class:`anchoring.MerkleLog` assembles them and :func:`verifier.merkle.verify_consistency`
checks each before it is sent. Trees of ten million leaves are not built: a
:class:`UniformNodeStore` gives every leaf the same hash, so every perfect subtree of level l
has the same hash, one per level, and the log assembles genuine proofs from those (the contract
cannot tell: it checks the same hashes either way).

The figure is the whole transaction's gas (receipt ``gasUsed``, the 21,000 intrinsic gas
included). ``--artifact`` measures another build of the contract (e.g. an older one, for a
before/after comparison); it needs only ``setSubmitter`` and ``anchor``.
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

#: The anchors measured per size: name -> the sizes anchored before n, given m (the old size
#: with the longest proof to n). The name says the index of the measured anchor in its log.
ANCHORS: dict[str, Callable[[int], tuple[int, ...]]] = {
    "first": lambda m: (),
    "odd": lambda m: (m,),
    "even": lambda m: (m // 2, m),
}

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

    def size_and_nodes(self, ids: Sequence[NodeID]) -> tuple[int, list[bytes | None]]:
        return self._size, [
            self._levels[level] if (index + 1) << level <= self._size else None
            for level, index in ids
        ]

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


#: Intrinsic gas of every transaction, and calldata gas per zero and non-zero byte (EIP-2028).
INTRINSIC_GAS = 21_000
ZERO_BYTE_GAS, NONZERO_BYTE_GAS = 4, 16


def calldata_gas(data: bytes) -> int:
    return sum(NONZERO_BYTE_GAS if b else ZERO_BYTE_GAS for b in data)


def _send(chain: Chain, fn: Any) -> tuple[int, int]:
    """Send a contract call as a transaction (it must succeed); return its gas used and the
    part of it its calldata costs."""
    tx_hash = fn.transact({"from": chain.account})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} failed")
    data = bytes(chain.w3.eth.get_transaction(tx_hash)["input"])
    return int(receipt["gasUsed"]), calldata_gas(data)


def deploy(chain: Chain, artifact: Artifact) -> Contract:
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor().transact({"from": chain.account})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    return cast(
        Contract, chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    )


# --- measuring -------------------------------------------------------------------------------


def longest_from(size: int) -> int:
    """The old size m, 2 <= m < size, whose consistency proof to ``size`` is the longest (the
    largest such m on a tie).

    The proof from m has ``seed + inner - shift + border`` hashes (verifier.merkle): inner, the
    level where the paths to leaves m-1 and size-1 split, is where (m-1) has a 0 and (size-1) a 1
    with the bits above equal; border is then fixed; seed - shift is largest (1) for an odd m
    that is not a power of two. So the candidates are, per split level, the largest and the
    smallest m below it of each kind; :func:`longest_from_exhaustive` (all m) agrees up to 3,000
    and at the bench's sizes up to 1e5 (tests/integration/test_gas_target.py).
    """
    if size < 3:
        raise ValueError(f"size {size}: an old size m with 2 <= m < size needs size >= 3")
    last = size - 1
    best = (-1, 0)
    for split in range(1, last.bit_length() + 1):
        if not (last >> (split - 1)) & 1:
            continue
        prefix = (last >> split) << split
        top = 1 << (split - 1)  # the low bits of m-1 below the split take 0 .. top-1
        for low in {0, 1, 2, top - 2, top - 1}:
            m = prefix + low + 1
            if 0 <= low < top and 2 <= m < size:
                best = max(best, (consistency_proof_length(m, size), m))
    return best[1]


def longest_from_exhaustive(size: int) -> int:
    """:func:`longest_from` by trying every m (for tests; O(size))."""
    return max(range(2, size), key=lambda m: (consistency_proof_length(m, size), m))


@dataclass(frozen=True)
class GasRow:
    """One anchor of ``size`` leaves: ``anchor`` names its index (first: 0, odd: 1, even: 2)."""

    chain: str
    size: int
    anchor: str
    #: the size of the log's previous anchor (0 for the first anchor)
    old_size: int
    proof_length: int
    gas: int
    target: float
    #: the part of ``gas`` the transaction's calldata costs (4 per zero byte, 16 per other)
    calldata_gas: int

    @property
    def execution_gas(self) -> int:
        """Gas beyond the intrinsic 21,000 and the calldata: what the contract's code costs."""
        return self.gas - INTRINSIC_GAS - self.calldata_gas

    @property
    def ratio(self) -> float:
        return self.gas / self.target

    @property
    def passed(self) -> bool:
        return self.gas <= self.target

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "execution_gas": self.execution_gas,
            "ratio": self.ratio,
            "passed": self.passed,
        }


def _anchor_sequence(
    chain: Chain, contract: Contract, tree: UniformNodeStore, log_id: bytes, sizes: Sequence[int]
) -> tuple[int, int]:
    """Anchor ``sizes`` in order on a fresh log; return the gas of the last anchor and the
    part of it its calldata costs."""
    log = MerkleLog(tree)
    gas, previous, previous_root = (0, 0), 0, b""
    for size in sizes:
        tree.resize(size)
        root = log.root(size)
        proof = log.consistency_proof(previous, size) if previous else []
        if previous:  # a bench of wrong proofs would measure nothing
            verify_consistency(previous, size, previous_root, root, proof)
        gas = _send(chain, contract.functions.anchor(log_id, size, root, proof))
        previous, previous_root = size, root
    return gas


def measure(chain: Chain, contract: Contract, size: int, tag: str = "") -> list[GasRow]:
    """The first, odd and even anchor of ``size`` leaves, each on a fresh log (``tag`` keeps the
    logs of two runs on one contract apart)."""
    old = longest_from(size)
    tree = UniformNodeStore(size)
    rows = []
    for name, before in ANCHORS.items():
        steps = (*before(old), size)
        log_id = log_id_for(f"bench.gas/{tag}{size}/{name}")
        _send(chain, contract.functions.setSubmitter(log_id, chain.account, True))
        gas, data_gas = _anchor_sequence(chain, contract, tree, log_id, steps)
        previous = steps[-2] if len(steps) > 1 else 0
        rows.append(
            GasRow(
                chain=chain.name,
                size=size,
                anchor=name,
                old_size=previous,
                proof_length=consistency_proof_length(previous, size) if previous else 0,
                gas=gas,
                target=target_gas(size),
                calldata_gas=data_gas,
            )
        )
    return rows


def _verdict(row: GasRow) -> str:
    return "PASS" if row.passed else "MISS"


def format_rows(rows: Sequence[GasRow]) -> str:
    header = (
        "chain",
        "size",
        "anchor",
        "from",
        "proof",
        "calldata",
        "execution",
        "gas",
        "target",
        "gas/target",
        "verdict",
    )
    lines = [
        (
            r.chain,
            f"{r.size:,}",
            r.anchor,
            f"{r.old_size:,}",
            str(r.proof_length),
            f"{r.calldata_gas:,}",
            f"{r.execution_gas:,}",
            f"{r.gas:,}",
            f"{r.target:,.0f}",
            f"{r.ratio:.3f}",
            _verdict(r),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-" * len(render(header))
    missed = sum(not r.passed for r in rows)
    legend = (
        "gas: whole-transaction gasUsed of anchor(from -> size) = 21,000 intrinsic + calldata + "
        "execution (the contract's code);\n"
        "proof: hashes in its consistency proof, the longest any old size has to `size`; "
        "anchor: its index in its log (first 0, odd 1, even 2);\n"
        "target: 60,000 + 1,500 * log2(size); each anchor judged on its own: "
        f"{len(rows) - missed} of {len(rows)} PASS."
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
    if max(sizes) > 2**48 - 1:
        raise argparse.ArgumentTypeError("every size must fit the contract: at most 2^48 - 1")
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
    parser.add_argument(
        "--artifact",
        type=Path,
        help="measure this build artifact instead of contracts/build/EvidenceLog.json",
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
                rows.extend(measure(chain, contract, size))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chains = args.chain or default_chains(args.quick)
    rows = run(chains, args.sizes or default_sizes(args.quick), load_artifact(args.artifact))
    print(format_rows(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
