"""The anchoring stack end to end, as production runs it: ``evidence serve`` (intake only),
Celery ``evidence worker`` and ``evidence beat`` on a real Redis sealing and anchoring, an
anvil chain node, and the offline verifier checking every proof through tier 5.

* 1,000 items submitted concurrently all end ``anchored`` and verify through tier 5
  (in-process ``verifier.cli.run`` for all of them, the ``evidence-verify`` console script
  for a sample);
* faults while items keep coming: the worker killed with SIGKILL right after it wrote an
  anchoring transaction, the chain node stopped with a transaction in flight; afterwards
  every acknowledged item is anchored exactly once and the chain, the contract and the
  database agree;
* a reorg (anvil ``evm_snapshot`` / ``evm_revert``) takes a confirmed anchor away: the
  anchorer notices, drops it, and anchors the checkpoint again; with fees that do not
  move, with the very same signed transaction (same hash), which must not wedge it.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from anchoring.contract import load_artifact
from anchoring.node import anvil_binary
from anchoring.schema import log_checkpoint, log_entry
from tests.support.api import (
    VERIFY_CLI,
    AnchoringStack,
    ChainFacts,
    anchoring_stack,
    evidence_form,
    fresh_postgres_database,
    metadata,
    send_celery_task,
)
from tests.support.waiting import wait_until
from verifier import cli as verify_cli

pytestmark = [pytest.mark.chain, pytest.mark.redis, pytest.mark.slow]

IN_FLIGHT = ("submitted", "included")


@pytest.fixture(autouse=True)
def _needs_anvil() -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `make install`")


def progress(message: str) -> None:
    print(f"[anchoring e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- submitting -----------------------------------------------------------------------------


def item_files(n: int) -> dict[str, bytes]:
    """One small, unique capture per item (content addressing never short-circuits it)."""
    return {f"capture-{n}.html": f"<html>listing {n} {uuid.uuid4()}</html>".encode()}


@dataclass
class Accepted:
    evidence_id: str
    files: dict[str, bytes]
    sent_at: float


@dataclass
class Submitter:
    """Client threads posting evidence until told to stop (or ``limit`` is reached)."""

    stack: AnchoringStack
    threads: int = 4
    limit: int | None = None
    pause: float = 0.0
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def _claim(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or (self.limit is not None and self._next >= self.limit):
                return None
            self._next += 1
            return self._next - 1

    def _run(self) -> None:
        with self.stack.client() as client:
            while (n := self._claim()) is not None:
                files = item_files(n)
                sent = time.monotonic()
                try:
                    response = client.post(
                        "/v1/evidence",
                        files=evidence_form(files, metadata(case_ref=f"e2e-{n}")),
                    )
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.refused.append(f"item {n}: {exc!r}")
                    continue
                with self._lock:
                    if response.status_code == 201:
                        self.accepted.append(Accepted(response.json()["evidence_id"], files, sent))
                    else:
                        self.refused.append(f"item {n}: {response.status_code} {response.text}")
                if self.pause:
                    time.sleep(self.pause)

    @contextlib.contextmanager
    def running(self) -> Iterator[Submitter]:
        pool = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for thread in pool:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in pool:
                thread.join(60)

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def snapshot(self) -> list[Accepted]:
        with self._lock:
            return list(self.accepted)


# --- reading the state of the log, the database and the chain --------------------------------


def log_state(stack: AnchoringStack) -> tuple[int, int]:
    """(entries accepted, entries sealed)."""
    with stack.engine.connect() as conn:
        rows = conn.execute(select(log_entry.c.leaf_index)).all()
    return len(rows), sum(1 for r in rows if r.leaf_index is not None)


def settled(stack: AnchoringStack, total: int) -> bool:
    """Every one of ``total`` entries sealed, the newest checkpoint confirmed on chain,
    nothing in flight."""
    accepted, sealed = log_state(stack)
    rows = stack.anchor_rows()
    confirmed = max((r.size for r in rows if r.state == "confirmed"), default=0)
    in_flight = any(r.state in IN_FLIGHT for r in rows)
    return accepted == sealed == total and confirmed == total and not in_flight


def wait_settled(stack: AnchoringStack, total: int, timeout: float) -> None:
    started = time.monotonic()
    wait_until(lambda: settled(stack, total), timeout, f"all {total} items anchored", poll=0.2)
    progress(f"all {total} items anchored {time.monotonic() - started:.1f} s after the last 201")


def anchored_events(stack: AnchoringStack) -> list[dict[str, Any]]:
    """The contract's ``Anchored`` events for this log, from block 0, in chain order."""
    w3 = stack.w3()
    contract = w3.eth.contract(address=stack.chain.contract, abi=load_artifact().abi)
    logs = contract.events.Anchored.get_logs(
        from_block=0, argument_filters={"logId": stack.chain.log_id}
    )
    return [
        {
            "size": int(e["args"]["size"]),
            "root": bytes(e["args"]["root"]),
            "prev_size": int(e["args"]["prevSize"]),
            "block": int(e["blockNumber"]),
            "tx_hash": e["transactionHash"].to_0x_hex(),
        }
        for e in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))
    ]


def anchored_size(stack: AnchoringStack, root: bytes) -> int:
    """The size the contract records for the anchor with ``root`` (0: none)."""
    w3 = stack.w3()
    contract = w3.eth.contract(address=stack.chain.contract, abi=load_artifact().abi)
    size, _, _ = contract.functions.checkpointOf(stack.chain.log_id, root).call()
    return int(size)


def fetch_bundles(stack: AnchoringStack, ids: list[str], threads: int = 4) -> list[dict[str, Any]]:
    local = threading.local()

    def fetch(evidence_id: str) -> dict[str, Any]:
        if not hasattr(local, "client"):
            local.client = stack.client()
        response = local.client.get(f"/v1/evidence/{evidence_id}/proof")
        assert response.status_code == 200, response.text
        bundle: dict[str, Any] = response.json()
        return bundle

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fetch, ids))


# --- verifying ----------------------------------------------------------------------------


def write_case(folder: Path, bundle: dict[str, Any], files: dict[str, bytes]) -> list[str]:
    """Bundle and files on disk, as an appraiser receives them; returns the file args."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    args = [str(folder / "bundle.json")]
    for name, data in files.items():
        (folder / name).write_bytes(data)
        args += ["--file", str(folder / name)]
    return args


def verify_in_process(case_args: list[str], vkey: str, chain: ChainFacts) -> dict[str, Any]:
    """``verifier.cli.run`` (the CLI's own code path) with tier 5 against the chain."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = verify_cli.run(
            [*case_args, "--log-key", vkey.strip(), *chain.verifier_args(), "--json"]
        )
    report: dict[str, Any] = json.loads(out.getvalue())
    report["exit_code"] = code
    return report


def assert_verified(report: dict[str, Any]) -> None:
    statuses = {t["tier"]: t["status"] for t in report["tiers"]}
    assert report["exit_code"] == 0 and report["outcome"] == "verified", report
    assert statuses == {
        1: "verified",
        2: "verified",
        3: "verified",
        4: "verified",
        5: "verified",
    }, report


def verify_subprocess(case_args: list[str], vkey: str, chain: ChainFacts) -> dict[str, Any]:
    """The real ``evidence-verify`` console script."""
    done = subprocess.run(
        [str(VERIFY_CLI), *case_args, "--log-key", vkey.strip(), *chain.verifier_args(), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    report["exit_code"] = done.returncode
    return report


# --- (a) 1,000 items end to end --------------------------------------------------------------


def test_thousand_items_end_anchored_and_verify_through_tier_5(tmp_path: Path) -> None:
    total = 1000
    with anchoring_stack(tmp_path / "stack") as stack:
        progress(f"stack up: contract {stack.chain.contract} on {stack.chain.rpc_url}")
        early: dict[int, tuple[Accepted, dict[str, Any]]] = {}  # anchor size -> an item's bundle
        submitter = Submitter(stack, threads=4, limit=total)
        started = time.monotonic()
        with submitter.running(), stack.client() as client:
            # While items stream in, keep a few bundles anchored at earlier checkpoints: they
            # must still verify at the end, when newer anchors exist.
            while submitter.count() < total and time.monotonic() - started < 120:
                time.sleep(0.3)
                done = submitter.snapshot()[:-50]  # some time ago, so maybe anchored by now
                if not done:
                    continue
                item = random.choice(done)
                bundle = client.get(f"/v1/evidence/{item.evidence_id}/proof").json()
                if bundle["status"] == "anchored":
                    early.setdefault(bundle["anchor"]["size"], (item, bundle))
        submit_seconds = time.monotonic() - started
        assert not submitter.refused, submitter.refused[:5]
        assert len(submitter.accepted) == total
        progress(f"{total} items accepted in {submit_seconds:.1f} s; {len(early)} early anchors")

        wait_settled(stack, total, timeout=60)
        items = submitter.accepted
        bundles = fetch_bundles(stack, [i.evidence_id for i in items])
        assert [b["status"] for b in bundles] == ["anchored"] * total
        assert {b["anchor"]["size"] for b in bundles} == {total}
        assert sorted(b["inclusion"]["index"] for b in bundles) == list(range(total))

        started = time.monotonic()
        cases = [
            write_case(tmp_path / "cases" / str(n), bundle, item.files)
            for n, (item, bundle) in enumerate(zip(items, bundles, strict=True))
        ]
        for args in cases:
            assert_verified(verify_in_process(args, stack.vkey, stack.chain))
        progress(f"{total} bundles verified through tier 5 in {time.monotonic() - started:.1f} s")

        assert early, "no bundle was seen anchored while items streamed in"
        for size, (item, bundle) in sorted(early.items()):  # older anchors still verify
            args = write_case(tmp_path / "early" / str(size), bundle, item.files)
            assert_verified(verify_in_process(args, stack.vkey, stack.chain))

        for args in random.sample(cases, 10):
            report = verify_subprocess(args, stack.vkey, stack.chain)
            assert_verified(report)
            assert "confirmation" in report["tiers"][4]["detail"], report

        events = anchored_events(stack)
        sizes = [e["size"] for e in events]
        assert sizes == sorted(set(sizes)) and sizes[-1] == total, sizes
        progress(f"{len(events)} anchors on chain: sizes {sizes}")


# --- (b) faults while items keep coming ---------------------------------------------------------


def newest_row_id(stack: AnchoringStack) -> int:
    return max((r.id for r in stack.anchor_rows()), default=0)


def wait_for_new_submission(stack: AnchoringStack, after_id: int, timeout: float = 30) -> Any:
    """The first ``anchor_tx`` row newer than ``after_id``, as soon as it appears
    (the anchorer writes it, in state ``submitted``, before it broadcasts)."""
    found: list[Any] = []

    def appeared() -> bool:
        found[:] = [r for r in stack.anchor_rows() if r.id > after_id]
        return bool(found)

    wait_until(appeared, timeout, "a new anchoring transaction", poll=0.01)
    return found[0]


def check_consistent(stack: AnchoringStack, items: list[Accepted]) -> dict[str, int]:
    """Every acknowledged item anchored exactly once; chain, contract and database agree."""
    total = len(items)
    with stack.engine.connect() as conn:
        entries = conn.execute(select(log_entry.c.entry_id, log_entry.c.leaf_index)).all()
        checkpoints = {r.size: bytes(r.root) for r in conn.execute(select(log_checkpoint)).all()}
    # In the log exactly once: one entry per acknowledged id, leaves 0..n-1.
    assert sorted(e.entry_id for e in entries) == sorted(i.evidence_id for i in items)
    assert sorted(e.leaf_index for e in entries) == list(range(total))

    bundles = fetch_bundles(stack, [i.evidence_id for i in items])
    assert [b["status"] for b in bundles] == ["anchored"] * total
    assert all(b["inclusion"]["index"] < b["anchor"]["size"] for b in bundles)

    # The chain: append-only, each checkpoint anchored at most once, each from the last.
    events = anchored_events(stack)
    sizes = [e["size"] for e in events]
    assert sizes == sorted(set(sizes)), f"a checkpoint anchored twice or out of order: {sizes}"
    assert [e["prev_size"] for e in events] == [0, *sizes[:-1]]
    assert sizes[-1] == total
    for event in events:
        assert event["root"] == checkpoints[event["size"]], event

    # The database: confirmed anchors are exactly the chain's, with the contract's roots.
    rows = stack.anchor_rows()
    confirmed = [r for r in rows if r.state == "confirmed"]
    assert len({r.size for r in confirmed}) == len(confirmed), "two confirmed rows of one size"
    assert sorted(r.size for r in confirmed) == sizes
    by_size = {e["size"]: e for e in events}
    for row in confirmed:
        assert bytes(row.root) == checkpoints[row.size]
        assert anchored_size(stack, bytes(row.root)) == row.size
        assert row.tx_hash == by_size[row.size]["tx_hash"]
        assert row.block_number == by_size[row.size]["block"]
    assert not [r for r in rows if r.state in IN_FLIGHT]
    states: dict[str, int] = {}
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
    return states


@pytest.mark.postgres
def test_worker_killed_and_chain_stopped_mid_stream_every_item_anchored_once(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        fresh_postgres_database(postgres_url) as database_url,
        anchoring_stack(tmp_path / "stack", database_url=database_url) as stack,
    ):
        submitter = Submitter(stack, threads=2, pause=0.02)
        with submitter.running():
            wait_until(lambda: stack.confirmed_size() > 0, 60, "a first confirmed anchor")
            progress(f"anchoring; {submitter.count()} items accepted so far")

            # Fault 1: kill -9 the worker the moment it has written a transaction row.
            killed = wait_for_new_submission(stack, newest_row_id(stack))
            status = stack.kill_worker()
            assert status == -9
            progress(f"worker killed (-9) right after row {killed.id} (size {killed.size})")
            time.sleep(2)  # items keep arriving; nothing seals or anchors now
            at_restart = log_state(stack)[0]
            stack.start_worker()
            wait_until(
                lambda: stack.confirmed_size() >= at_restart,
                90,
                f"anchoring to resume past {at_restart} items after the worker restart",
            )
            progress(f"worker back; anchored past {at_restart} items")

            # Fault 2: stop the chain node while an anchoring transaction is in flight.
            stranded = wait_for_new_submission(stack, newest_row_id(stack))
            stack.node.stop()
            progress(f"anvil stopped with row {stranded.id} (size {stranded.size}) in flight")
            time.sleep(3)
            stack.node.start()
            progress("anvil restarted on the same port and state file")
            time.sleep(3)
        items = submitter.accepted
        assert not submitter.refused, submitter.refused[:5]
        progress(f"{len(items)} items accepted, none refused; waiting for the anchorer")
        # A transaction the restarted node forgot is dropped after EVIDENCE_ANCHOR_DROP_AFTER
        # (8 s here), then sent again: allow for that.
        wait_settled(stack, len(items), timeout=120)
        states = check_consistent(stack, items)
        rows = {r.id: r for r in stack.anchor_rows()}
        for what, row in (("killed worker's", killed), ("stopped node's", stranded)):
            final = rows[row.id]
            assert final.state in ("confirmed", "dropped"), final
            progress(
                f"the {what} transaction (size {row.size}): {final.state} {final.detail or ''}"
            )
        progress(f"consistent; anchor_tx rows by state: {states}")


# --- (c) a reorg takes a confirmed anchor away -------------------------------------------------


def rpc(stack: AnchoringStack, method: str, params: list[Any]) -> Any:
    reply = httpx.post(
        stack.node.url,
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
        timeout=30,
    ).json()
    assert "error" not in reply, reply
    return reply["result"]


def submit_one(stack: AnchoringStack, client: httpx.Client, n: int) -> Accepted:
    files = item_files(n)
    response = client.post("/v1/evidence", files=evidence_form(files))
    assert response.status_code == 201, response.text
    return Accepted(response.json()["evidence_id"], files, time.monotonic())


def test_reorg_drops_the_anchor_and_the_checkpoint_is_anchored_again(tmp_path: Path) -> None:
    with anchoring_stack(tmp_path / "stack") as stack, stack.client() as client:
        assert stack.redis_url is not None
        # Fees that do not move, as on a consortium chain with a fixed gas price (or an idle
        # anvil once its base fee has decayed to the floor): the anchor sent again after the
        # reorg is then byte for byte the transaction the reorg took away, same hash.
        rpc(stack, "anvil_setNextBlockBaseFeePerGas", ["0x0"])
        first = submit_one(stack, client, 0)
        wait_settled(stack, 1, timeout=60)
        snapshot = rpc(stack, "evm_snapshot", [])
        head_at_snapshot = stack.w3().eth.block_number

        second = submit_one(stack, client, 1)
        wait_settled(stack, 2, timeout=60)
        (lost,) = [r for r in stack.anchor_rows() if r.size == 2]
        assert lost.state == "confirmed" and lost.block_number > head_at_snapshot
        assert anchored_size(stack, bytes(lost.root)) == 2
        progress(f"size 2 anchored in block {lost.block_number} by {lost.tx_hash}")

        # Hold the schedule so that the confirm task below is the first to see the reorg.
        stack.stop_beat()
        queue = redis.Redis.from_url(f"{stack.redis_url}/0")
        wait_until(lambda: queue.llen("celery") == 0, 30, "the task queue to drain")
        time.sleep(1)  # the task in hand, if any, finishes
        assert rpc(stack, "evm_revert", [snapshot]) is True
        assert anchored_size(stack, bytes(lost.root)) == 0, "the revert left the anchor on chain"
        progress(f"reverted to block {head_at_snapshot}: the size-2 anchor is gone")

        send_celery_task(stack.redis_url, "evidence.confirm")
        wait_until(
            lambda: next(r for r in stack.anchor_rows() if r.id == lost.id).state == "dropped",
            30,
            "the anchorer to drop the reorged anchor",
        )
        row = next(r for r in stack.anchor_rows() if r.id == lost.id)
        assert row.detail == "reorg" and row.block_hash is None
        # The service no longer claims the lost anchor: the item is back to sealed.
        assert client.get(f"/v1/evidence/{second.evidence_id}/proof").json()["status"] == "sealed"
        progress("the anchorer marked the anchor dropped; the bundle is sealed again")

        stack.start_beat()
        wait_settled(stack, 2, timeout=60)
        (again,) = [r for r in stack.anchor_rows() if r.size == 2 and r.state == "confirmed"]
        # Not asserted: a different block hash. anvil can mine the byte-identical block again
        # (same parent, number and timestamp, the same signed transaction at the same fee),
        # which is a legitimate outcome; what matters is below: the row went through
        # "dropped", was sent again, and the chain holds the anchor again.
        # Fees unchanged: the same signed transaction, sent again under the row it had.
        assert (again.id, again.tx_hash) == (lost.id, lost.tx_hash)
        assert again.detail == "sent again (was dropped)"
        assert anchored_size(stack, bytes(lost.root)) == 2
        events = anchored_events(stack)
        assert [e["size"] for e in events] == [1, 2]
        assert events[1]["block"] == again.block_number
        progress(f"size 2 anchored again in block {again.block_number} (row {again.id})")

        for n, item in enumerate((first, second)):
            bundle = client.get(f"/v1/evidence/{item.evidence_id}/proof").json()
            assert bundle["status"] == "anchored"
            assert bundle["anchor"]["block_hash"] == again.block_hash
            args = write_case(tmp_path / "cases" / str(n), bundle, item.files)
            assert_verified(verify_in_process(args, stack.vkey, stack.chain))
