"""Figures 7-8: anchoring latency and gas: ``python -m bench.anchor [--quick] [--json FILE]``.

Figure 7, submit-to-anchored latency. The production stack on this machine
(``tests.support.api.anchoring_stack``): anvil mining a block every second, ``evidence
serve`` on SQLite, sealing every second (``EVIDENCE_SEAL_INTERVAL=1``), anchoring runs every
0.5 s, one confirmation. Measured twice: with the Celery worker and beat on Redis
(``celery``) and with the service's in-process sealer and anchorer (``embedded``). 200 items
are submitted at a steady pace over 40 s (jittered, 4 client threads); an item's latency
runs from the moment its request is sent until the service holds a confirmed anchor that
covers it (the database is polled every 20 ms; its proof bundle then reads ``anchored``,
which is checked for every item at the end). Beside it, the bare chain's latency on the same
anvil in the same window: a raw ``anchor`` transaction of another EvidenceLog (another
account) sent at random moments, timed from ``eth_sendRawTransaction`` to its receipt. With
one-second blocks that is half a block on average; the service adds the seal, the anchoring
tick and the confirmation tick. Target: p50 <= 3 s.

Figure 8, gas per evidence item. Real ``anchor`` transactions on anvil (a block per
transaction) against a real tree: a log of 10,000 leaves is anchored once, then grows by b
leaves between anchors (b = 1, 100, 10,000), each anchor carrying its RFC 9162 consistency
proof; gas per item = the transaction's ``gasUsed`` / b, the mean of 4 anchors. The naive
baseline, one transaction per item: a 7-byte contract assembled here (``PUSH1 1 PUSH1 0
CALLDATALOAD SSTORE STOP``) that stores the item's 32-byte digest (``digest -> 1``), the
least a per-item design can write; its mean ``gasUsed`` over 10 calls with fresh digests.
Also the anchors sent during figure 7's run, their total gas over the items they covered
("as run").

Progress goes to stderr, tables to stdout. Exit status 1 if a service check fails (an item
not accepted or not anchored, the chain refusing a bench transaction); a missed target
prints MISS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from eth_account import Account
from hexbytes import HexBytes
from sqlalchemy import func, select
from web3 import Web3

from anchoring.chain import ChainClient, deploy
from anchoring.contract import log_id_for
from anchoring.log import MerkleLog
from anchoring.schema import anchor_tx, log_entry
from anchoring.store.memory import MemoryNodeStore
from bench.common import Progress, Row, format_table, percentile, support, verdict
from verifier.merkle import consistency_proof_length, leaf_hash

#: anvil's second well-known development account (the service anchors from the first):
#: the bare-chain baseline and the gas bench send from it, never racing the service's nonces.
BENCH_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
TARGET_P50_S = 3.0
STACKS = ("celery", "embedded")
POLL_S = 0.02

#: Runtime code of the naive baseline: PUSH1 1, PUSH1 0, CALLDATALOAD, SSTORE, STOP
#: (storage[calldata[0:32]] = 1).
NAIVE_RUNTIME = bytes.fromhex("60016000355500")
#: Creation code: CODECOPY the 7 runtime bytes (at offset 12) to memory 0, RETURN them.
NAIVE_INIT = bytes.fromhex("6007600c60003960076000f3") + NAIVE_RUNTIME


@dataclass
class AnchorSettings:
    quick: bool
    submissions: int
    #: seconds over which the submissions are spread
    window_s: float
    threads: int
    stacks: tuple[str, ...]
    batches: tuple[int, ...]
    anchors_per_batch: int
    base_size: int
    naive_calls: int
    seed: int

    @classmethod
    def make(cls, quick: bool, seed: int = 20261126) -> AnchorSettings:
        if quick:
            return cls(quick, 30, 10.0, 4, STACKS, (1, 100, 10_000), 2, 10_000, 4, seed)
        return cls(quick, 200, 40.0, 4, STACKS, (1, 100, 10_000), 4, 10_000, 10, seed)


@dataclass
class LatencyResult:
    stack: str
    submitted: int = 0
    #: submit-to-anchored, seconds, one per item
    latencies_s: list[float] = field(default_factory=list)
    #: bare chain: raw anchor transaction sent -> receipt, seconds
    chain_s: list[float] = field(default_factory=list)
    anchors: int = 0
    anchored_items: int = 0
    anchor_gas: int = 0
    problems: list[str] = field(default_factory=list)

    def p(self, values: list[float], q: float) -> float:
        return percentile(values, q) if values else 0.0

    @property
    def gas_per_item(self) -> float:
        return self.anchor_gas / self.anchored_items if self.anchored_items else 0.0


@dataclass
class GasResult:
    batch: int
    base_size: int
    gas: list[int] = field(default_factory=list)
    proof_lengths: list[int] = field(default_factory=list)

    @property
    def per_item(self) -> float:
        return mean(self.gas) / self.batch


@dataclass
class AnchorResult:
    settings: AnchorSettings
    latency: list[LatencyResult] = field(default_factory=list)
    gas: list[GasResult] = field(default_factory=list)
    naive_gas: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def naive_per_item(self) -> float:
        return mean(self.naive_gas) if self.naive_gas else 0.0


# --- sending transactions from the bench's own account -----------------------------------------


def send_raw(w3: Web3, tx: dict[str, Any], key: str = BENCH_KEY) -> HexBytes:
    """Sign ``tx`` (nonce, gas and fees filled in here) and send it; returns its hash."""
    account = Account.from_key(key)
    tx = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
        **tx,
    }
    tx.setdefault("gas", int(w3.eth.estimate_gas(tx) * 1.25))  # type: ignore[arg-type]
    tx.setdefault("maxFeePerGas", 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9)
    tx.setdefault("maxPriorityFeePerGas", 10**9)
    signed = account.sign_transaction(tx)
    return w3.eth.send_raw_transaction(signed.raw_transaction)


def wait_receipt(w3: Web3, tx_hash: HexBytes) -> dict[str, Any]:
    """The receipt of a transaction that must succeed."""
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} failed")
    return dict(receipt)


class BenchLog:
    """An EvidenceLog log anchored from the bench's account, over a real in-memory tree."""

    def __init__(self, client: ChainClient, name: str) -> None:
        self.client = client
        self.log_id = log_id_for(name)
        self.tree = MerkleLog(MemoryNodeStore())
        self.anchored = 0
        client.set_submitter(self.log_id, client.sender)

    def grow(self, count: int) -> None:
        start = self.tree.size
        self.tree.append_hashes(
            [leaf_hash(b"bench item %d" % n) for n in range(start, start + count)]
        )

    def prepare(self) -> Any:
        size = self.tree.size
        proof = self.tree.consistency_proof(self.anchored, size) if self.anchored else []
        return self.client.prepare_anchor(self.log_id, size, self.tree.root(size), proof)

    def anchor(self) -> int:
        """Anchor the tree's current size; returns the transaction's gasUsed."""
        tx = self.prepare()
        self.client.broadcast(tx)
        receipt = self.client.wait(tx.tx_hash)
        if receipt.status != 1:
            raise RuntimeError(f"anchor of size {self.tree.size} failed")
        self.anchored = self.tree.size
        return receipt.gas_used


# --- figure 7: latency --------------------------------------------------------------------------


class ConfirmedWatch:
    """Polls the service's database: when did each confirmed anchor size first appear?"""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _confirmed(self) -> int:
        with self.engine.connect() as conn:
            size = conn.execute(
                select(func.max(anchor_tx.c.size)).where(anchor_tx.c.state == "confirmed")
            ).scalar_one()
        return int(size or 0)

    def _run(self) -> None:
        last = -1
        while not self._stop.is_set():
            now = time.monotonic()
            size = self._confirmed()
            if size > last:
                self.timeline.append((now, size))
                last = size
            time.sleep(POLL_S)

    def start(self) -> ConfirmedWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def size(self) -> int:
        return self.timeline[-1][1] if self.timeline else 0

    def anchored_at(self, leaf_index: int) -> float | None:
        return next((t for t, size in self.timeline if size > leaf_index), None)


def chain_baseline(
    w3: Web3, stop: threading.Event, result: LatencyResult, rng: random.Random, progress: Progress
) -> None:
    """Raw anchor transactions at random moments until ``stop``: sent -> receipt, seconds."""
    try:
        client = ChainClient(w3, deploy(w3, BENCH_KEY), BENCH_KEY)
        log = BenchLog(client, "bench.anchor/baseline")
        while not stop.wait(rng.uniform(0.3, 1.3)):
            log.grow(1)
            tx = log.prepare()
            sent = time.monotonic()
            client.broadcast(tx)
            while client.receipt(tx.tx_hash) is None:
                time.sleep(0.005)
            result.chain_s.append(time.monotonic() - sent)
            log.anchored = log.tree.size
    except Exception as exc:  # reported; the service's figure is still worth having
        result.problems.append(f"{result.stack}: bare chain baseline: {exc!r}")
    progress(f"bare chain: {len(result.chain_s)} raw anchor transactions timed")


def measure_latency(stack_kind: str, settings: AnchorSettings, progress: Progress) -> LatencyResult:
    api = support("api")
    result = LatencyResult(stack_kind)
    rng = random.Random(settings.seed)
    with (
        tempfile.TemporaryDirectory(prefix=f"evidence-bench-anchor-{stack_kind}-") as tmp,
        api.anchoring_stack(
            Path(tmp),
            celery=stack_kind == "celery",
            block_time=1.0,
            seal_interval=1.0,
            anchor_interval=0.5,
            confirmations=1,
        ) as stack,
    ):
        progress(f"{stack_kind}: stack up (anvil {stack.node.url}, 1 s blocks)")
        watch = ConfirmedWatch(stack.engine).start()
        local = threading.local()

        def submit(n: int) -> tuple[str | None, float]:
            if not hasattr(local, "client"):
                local.client = stack.client()
            files = {f"capture-{n}.html": f"<html>{n} {os.urandom(8).hex()}</html>".encode()}
            sent = time.monotonic()
            response = local.client.post(
                "/v1/evidence", files=api.evidence_form(files, api.metadata(case_ref=f"b-{n}"))
            )
            if response.status_code != 201:
                result.problems.append(f"{stack_kind}: item {n}: {response.status_code}")
                return None, sent
            return str(response.json()["evidence_id"]), sent

        stop = threading.Event()
        baseline = threading.Thread(
            target=chain_baseline, args=(stack.w3(), stop, result, rng, progress)
        )
        try:
            warm, _ = submit(-1)  # the first anchor of the log, and warm processes
            _wait(lambda: watch.size() >= 1, 60, f"{stack_kind}: the first anchor")
            warm_size = watch.size()
            baseline.start()
            step = settings.window_s / settings.submissions
            begin = time.monotonic()
            with ThreadPoolExecutor(settings.threads) as pool:
                futures = []
                for n in range(settings.submissions):
                    due = begin + n * step + rng.uniform(0, step)
                    time.sleep(max(0.0, due - time.monotonic()))
                    futures.append(pool.submit(submit, n))
                sent = [f.result() for f in futures]
            progress(
                f"{stack_kind}: {len(sent)} items submitted in {time.monotonic() - begin:.1f} s"
            )
            accepted = [(eid, at) for eid, at in sent if eid is not None]
            total = len(accepted) + (warm is not None)
            _wait(lambda: watch.size() >= total, 60, f"{stack_kind}: all items anchored")
        finally:
            stop.set()
            if baseline.is_alive():
                baseline.join(60)
            watch.stop()
        with stack.engine.connect() as conn:
            index = dict(conn.execute(select(log_entry.c.entry_id, log_entry.c.leaf_index)).all())
            rows = conn.execute(
                select(anchor_tx).where(
                    anchor_tx.c.state == "confirmed", anchor_tx.c.size > warm_size
                )
            ).all()
        result.submitted = len(sent)
        for eid, at in accepted:
            anchored = watch.anchored_at(index[eid])
            if anchored is None:
                result.problems.append(f"{stack_kind}: {eid} never anchored")
            else:
                result.latencies_s.append(anchored - at)
        result.problems += _check_bundles(stack, [eid for eid, _ in accepted])
        w3 = stack.w3()
        result.anchors = len(rows)
        result.anchor_gas = sum(
            int(w3.eth.get_transaction_receipt(r.tx_hash)["gasUsed"]) for r in rows
        )
        result.anchored_items = max((r.size for r in rows), default=warm_size) - warm_size
    return result


def _check_bundles(stack: Any, ids: list[str]) -> list[str]:
    """Every item's proof bundle, as a client fetches it, says ``anchored``."""
    problems = []
    with stack.client() as client:
        for eid in ids:
            status = client.get(f"/v1/evidence/{eid}/proof").json().get("status")
            if status != "anchored":
                problems.append(f"{eid}: bundle {status}, not anchored")
    return problems


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_S)


# --- figure 8: gas ------------------------------------------------------------------------------


def measure_gas(settings: AnchorSettings, progress: Progress) -> tuple[list[GasResult], list[int]]:
    with support("anvil").anvil() as node:  # a block per transaction
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        client = ChainClient(w3, deploy(w3, BENCH_KEY), BENCH_KEY)
        results = []
        for batch in settings.batches:
            log = BenchLog(client, f"bench.anchor/gas/{batch}")
            log.grow(settings.base_size)
            log.anchor()  # the log's first anchor needs no proof: not what is measured
            result = GasResult(batch, settings.base_size)
            for _ in range(settings.anchors_per_batch):
                old = log.tree.size
                log.grow(batch)
                result.proof_lengths.append(consistency_proof_length(old, log.tree.size))
                result.gas.append(log.anchor())
            progress(f"gas: batch {batch:,}: {result.gas} -> {result.per_item:,.1f} gas/item")
            results.append(result)
        naive = measure_naive(w3, settings.naive_calls)
        progress(f"gas: naive one tx per item: {naive}")
    return results, naive


def measure_naive(w3: Web3, calls: int) -> list[int]:
    """gasUsed of ``calls`` transactions, each storing one fresh digest in the 7-byte contract."""
    created = wait_receipt(w3, send_raw(w3, {"data": NAIVE_INIT}))
    address = created["contractAddress"]
    if w3.eth.get_code(address) != NAIVE_RUNTIME:
        raise RuntimeError("the naive baseline contract was not deployed as assembled")
    gas = []
    for _ in range(calls):
        digest = os.urandom(32)
        receipt = wait_receipt(w3, send_raw(w3, {"to": address, "data": digest}))
        if int.from_bytes(w3.eth.get_storage_at(address, int.from_bytes(digest))) != 1:
            raise RuntimeError("the naive baseline did not store its digest")
        gas.append(int(receipt["gasUsed"]))
    return gas


# --- running and reporting ----------------------------------------------------------------------


def run(settings: AnchorSettings, progress: Progress) -> AnchorResult:
    result = AnchorResult(settings)
    for kind in settings.stacks:
        progress(f"section anchor latency: {kind}")
        try:
            measured = measure_latency(kind, settings, progress)
        except Exception as exc:  # report it, measure the rest, fail the run
            result.problems.append(f"latency {kind}: {type(exc).__name__}: {exc}")
            progress(f"latency {kind} FAILED: {exc}")
            continue
        result.problems += measured.problems
        result.latency.append(measured)
        progress(
            f"{kind}: p50 {measured.p(measured.latencies_s, 50):.2f} s, "
            f"p99 {measured.p(measured.latencies_s, 99):.2f} s; bare chain p50 "
            f"{measured.p(measured.chain_s, 50):.2f} s"
        )
    progress("section anchor gas")
    try:
        result.gas, result.naive_gas = measure_gas(settings, progress)
    except Exception as exc:
        result.problems.append(f"gas: {type(exc).__name__}: {exc}")
    return result


def rows(result: AnchorResult) -> list[Row]:
    out = []
    for lat in result.latency:
        chain = "raw anchor tx -> receipt"
        for stat in (50, 99):
            ours = lat.p(lat.latencies_s, stat)
            out.append(
                Row(
                    id=f"anchor.latency.{lat.stack}.p{stat}",
                    figure=f"submit -> anchored, {lat.stack}, p{stat} "
                    f"({len(lat.latencies_s)} items)",
                    unit="s",
                    ours=ours,
                    baseline=lat.p(lat.chain_s, stat) or None,
                    baseline_name=f"{chain} p{stat} ({len(lat.chain_s)} txs)",
                    ratio_kind="share",
                    target=f"<= {TARGET_P50_S:g} s" if stat == 50 else "",
                    verdict=verdict(ours <= TARGET_P50_S) if stat == 50 else "-",
                )
            )
    naive = result.naive_per_item or None
    naive_name = "1 tx per item (SSTORE)"
    for gas in result.gas:
        out.append(
            Row(
                id=f"anchor.gas.batch={gas.batch}",
                figure=f"gas per item, {gas.batch:,} {'item' if gas.batch == 1 else 'items'} "
                "per anchor",
                unit="k gas/item",
                ours=gas.per_item / 1e3,
                baseline=naive / 1e3 if naive else None,
                baseline_name=naive_name,
            )
        )
    for lat in result.latency:
        if lat.anchored_items:
            out.append(
                Row(
                    id=f"anchor.gas.as_run.{lat.stack}",
                    figure=(
                        f"gas per item as run, {lat.stack} ({lat.anchors} anchors, "
                        f"{lat.anchored_items / lat.anchors:.1f} items each)"
                    ),
                    unit="k gas/item",
                    ours=lat.gas_per_item / 1e3,
                    baseline=naive / 1e3 if naive else None,
                    baseline_name=naive_name,
                )
            )
    return out


def latency_legend(result: AnchorResult) -> str:
    s = result.settings
    return (
        f"{s.submissions} items over {s.window_s:g} s per stack; anvil 1 s blocks; seal every "
        "1 s, anchor runs every 0.5 s, 1 confirmation;\n"
        "ratio = ours / the bare chain's latency (a raw anchor tx sent -> its receipt, same "
        "anvil, same window).\n"
        "Where anvil's block boundary falls between the service's ticks moves the p50 by up to "
        "~0.5 s; each stack's run has its own."
    )


def gas_legend(result: AnchorResult) -> str:
    s = result.settings
    return (
        f"ours: anchor gasUsed / the items it adds; a log of {s.base_size:,} leaves growing by "
        f"that many per anchor (mean of {s.anchors_per_batch} anchors);\n"
        "as run: figure 7's anchors, their gas over the items they covered.\n"
        "baseline: one tx per item to a 7-byte contract storing the item's digest (mean of "
        f"{len(result.naive_gas)} txs, {result.naive_per_item:,.0f} gas each); ratio = "
        "baseline / ours (times cheaper)."
    )


def legend(result: AnchorResult) -> str:
    return f"latency: {latency_legend(result)}\ngas: {gas_legend(result)}"


def raw(result: AnchorResult) -> dict[str, Any]:
    data = asdict(result)
    data["naive_per_item"] = result.naive_per_item
    for lat, out in zip(result.latency, data["latency"], strict=True):
        out |= {
            "p50_s": lat.p(lat.latencies_s, 50),
            "p99_s": lat.p(lat.latencies_s, 99),
            "chain_p50_s": lat.p(lat.chain_s, 50),
            "chain_p99_s": lat.p(lat.chain_s, 99),
            "gas_per_item": lat.gas_per_item,
        }
    for gas, out in zip(result.gas, data["gas"], strict=True):
        out["per_item"] = gas.per_item
    return data


def render(result: AnchorResult) -> str:
    latency = [r for r in rows(result) if r.id.startswith("anchor.latency")]
    gas = [r for r in rows(result) if r.id.startswith("anchor.gas")]
    return "\n".join(
        [
            format_table(
                "Figure 7: submit-to-anchored latency, s", latency, latency_legend(result)
            ),
            "",
            format_table("Figure 8: gas per evidence item, k gas", gas, gas_legend(result)),
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.anchor",
        description=(
            "Anchoring: submit-to-anchored latency (p50/p99) on the Celery and the embedded "
            "stack beside the bare chain's latency, and gas per evidence item at 1, 100 and "
            "10,000 items per anchor beside one transaction per item."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run (about a minute)")
    parser.add_argument("--submissions", type=int, help="items per stack (default 200)")
    parser.add_argument("--window", type=float, help="seconds to spread them over (default 40)")
    parser.add_argument(
        "--stack", action="append", choices=STACKS, help="stack(s) to measure (default: both)"
    )
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = AnchorSettings.make(args.quick, args.seed)
    settings.submissions = args.submissions or settings.submissions
    settings.window_s = args.window or settings.window_s
    settings.stacks = tuple(args.stack) if args.stack else settings.stacks
    progress = Progress()
    result = run(settings, progress)
    print(render(result), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = [r.as_dict() for r in rows(result)]
        args.json.write_text(json.dumps({"figures": figures, "raw": raw(result)}, indent=2) + "\n")
        progress(f"wrote {args.json}")
    for problem in result.problems[:20]:
        print(f"problem: {problem}", file=sys.stderr)
    if result.problems:
        print("SERVICE CHECK FAILED: see the problems above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
