"""The sealer under load: 20,000 stamps in requests of 1,000, sealed while they
arrive, and not one entry lost or duplicated.

What is checked, against what the clients were told (their receipts): the
final tree has exactly as many leaves as receipts were issued; its leaves are
exactly the receipts' leaf hashes, each once, at consecutive indices in
receive order; the signed checkpoint's root is what a plain RFC 9162
reference implementation computes from the entries, so every receipt's leaf
has an inclusion proof at its index that the verifier accepts against the
signed checkpoint (all 20,000 are checked); the product's own proofs, built
from its stored nodes, are the same (every 17th leaf directly, 40 random
receipts through the API); and every checkpoint signed on the way is a prefix
of the final one.

On PostgreSQL the same checks run after two API replicas on one database,
each with its own sealer, took 8,000 stamps concurrently: the sealers must
take turns.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from anchoring.log import MerkleLog
from anchoring.schema import log_checkpoint, log_entry
from anchoring.store.sql import SqlNodeStore
from evidence_api.core.config import Settings
from tests.support.api import Stack, fresh_postgres_database, running_stack
from tests.support.reference import ReferenceTree
from verifier.checkpoint import open_checkpoint
from verifier.merkle import leaf_hash, verify_consistency, verify_inclusion
from verifier.note import VerifierKey
from verifier.receipt import open_receipt

pytestmark = pytest.mark.slow

REQUESTS = 20
PER_REQUEST = 1000
TOTAL = REQUESTS * PER_REQUEST  # 20,000
#: Fewer on the two-replica run: signing receipts (~1 ms each) dominates its time.
REPLICA_REQUESTS = 8
#: Seal early every 700 entries (and every 50 ms): seals cut across requests.
SEALING: dict[str, Any] = {"seal_interval": 0.05, "max_batch": 700}


def stamp_batch(stack: Stack) -> list[dict[str, Any]]:
    digests = [hashlib.sha256(os.urandom(16)).hexdigest() for _ in range(PER_REQUEST)]
    response = stack.client.post(
        "/v1/stamps", json={"digests": digests}, headers=stack.auth("officer")
    )
    assert response.status_code == 200, response.text[:500]
    receipts: list[dict[str, Any]] = response.json()["receipts"]
    assert [r["digest"] for r in receipts] == digests
    return receipts


def wait_until_sealed(engine: Engine, size: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            pending = conn.execute(
                select(func.count()).select_from(log_entry).where(log_entry.c.leaf_index.is_(None))
            ).scalar_one()
            latest = conn.execute(select(func.max(log_checkpoint.c.size))).scalar_one()
        if pending == 0 and latest == size:
            return
        assert latest is None or latest <= size, f"the log grew to {latest}, beyond {size}"
        assert time.monotonic() < deadline, f"{pending} pending, checkpoint at {latest}"
        time.sleep(0.1)


def check_log(
    stack: Stack, engine: Engine, batches: list[list[dict[str, Any]]], vkey: VerifierKey
) -> None:
    """Everything a client was promised is in the tree, once, and provably so."""
    receipts = [r for batch in batches for r in batch]
    total = len(receipts)
    checkpoint = open_checkpoint(stack.client.get("/v1/log/checkpoint").text, [vkey])
    assert checkpoint.size == total  # final log size == receipts issued

    sample = range(0, total, 17)  # the product's own proofs, from its stored nodes
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                log_entry.c.entry_id,
                log_entry.c.entry,
                log_entry.c.leaf_hash,
                log_entry.c.leaf_index,
            ).order_by(log_entry.c.leaf_index)
        ).all()
        signed = conn.execute(
            select(log_checkpoint.c.size, log_checkpoint.c.root).order_by(log_checkpoint.c.size)
        ).all()
        tree = MerkleLog(SqlNodeStore(conn))
        assert tree.size == total
        stored = {i: (tree.leaf_hash(i), tree.inclusion_proof(i, total)) for i in sample}

    # The tree's leaves are exactly the receipts' leaf hashes: same set, same count,
    # consecutive indices, each entry hashing to its leaf.
    assert [row.leaf_index for row in rows] == list(range(total))
    index_of = {bytes(row.leaf_hash).hex(): row.leaf_index for row in rows}
    assert len(index_of) == total
    assert set(index_of) == {r["leaf_hash"] for r in receipts}
    entry_of = {row.entry_id: row.leaf_index for row in rows}
    assert len(entry_of) == total
    assert all(entry_of[r["entry_id"]] == index_of[r["leaf_hash"]] for r in receipts)
    for row in rows:
        assert leaf_hash(row.entry.encode()) == bytes(row.leaf_hash)

    # Within each request, receive order is leaf order.
    for batch in batches:
        indices = [index_of[r["leaf_hash"]] for r in batch]
        assert indices == sorted(indices)

    # A plain reference implementation, fed the entries in leaf order, signs off the
    # root; each receipt's leaf then has an inclusion proof at its index that the
    # verifier accepts against the signed checkpoint.
    reference = ReferenceTree([row.entry.encode() for row in rows])
    assert reference.mth(total) == checkpoint.root
    for receipt in receipts:
        index = index_of[receipt["leaf_hash"]]
        verify_inclusion(
            bytes.fromhex(receipt["leaf_hash"]),
            index,
            total,
            reference.path(index, total),
            checkpoint.root,
        )
    # The product's stored nodes give the same leaves and proofs.
    for index, (stored_leaf, proof) in stored.items():
        assert stored_leaf == bytes(rows[index].leaf_hash)
        assert proof == reference.path(index, total), index

    # Every checkpoint signed on the way is a prefix of the final tree.
    assert len(signed) > len(batches) // 2  # sealed while stamps arrived, not once at the end
    assert signed[-1].size == total
    for size, root in signed:
        assert reference.mth(size) == bytes(root)
        proof = stack.client.get(
            "/v1/log/proof/consistency", params={"from": size, "to": total}
        ).json()
        verify_consistency(
            size, total, bytes(root), checkpoint.root, [bytes.fromhex(h) for h in proof["hashes"]]
        )

    # The API serves the same proofs, by leaf hash, for a sample of receipts.
    for receipt in random.Random(7).sample(receipts, 40):
        found = stack.client.get(
            "/v1/log/proof/inclusion", params={"leaf_hash": receipt["leaf_hash"]}
        ).json()
        assert found["index"] == index_of[receipt["leaf_hash"]]
        assert [bytes.fromhex(h) for h in found["hashes"]] == reference.path(found["index"], total)
        open_receipt(receipt["receipt"], [vkey])


def test_twenty_thousand_stamps_none_lost_or_duplicated(tmp_path: Path) -> None:
    with running_stack(Settings(data_dir=tmp_path / "data", **SEALING)) as stack:
        batches = [stamp_batch(stack) for _ in range(REQUESTS)]
        wait_until_sealed(stack.runtime.engine, TOTAL)
        vkey = VerifierKey.from_text(stack.client.get("/v1/log/key").text.strip())
        check_log(stack, stack.runtime.engine, batches, vkey)


@pytest.mark.postgres
def test_two_replicas_with_two_sealers_lose_and_duplicate_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "log.key"
    with fresh_postgres_database(postgres_url) as url, ExitStack() as stacks:
        # Both replicas share the database and the log key, as a deployment would.
        first = stacks.enter_context(
            running_stack(Settings(data_dir=tmp_path / "a", database_url=url, **SEALING))
        )
        key.write_text(first.runtime.settings.dev_key_path.read_text())
        second = stacks.enter_context(
            running_stack(
                Settings(data_dir=tmp_path / "b", database_url=url, log_key_file=key, **SEALING),
                tokens=first.tokens,
            )
        )
        assert first.runtime.signer.to_text() == second.runtime.signer.to_text()
        batches: list[list[dict[str, Any]]] = [[] for _ in range(REPLICA_REQUESTS)]
        errors: list[BaseException] = []

        def submit_half(replica: Stack, slots: range) -> None:
            try:
                for slot in slots:
                    batches[slot] = stamp_batch(replica)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=submit_half, args=(first, range(0, REPLICA_REQUESTS, 2))),
            threading.Thread(target=submit_half, args=(second, range(1, REPLICA_REQUESTS, 2))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert not errors, errors
        wait_until_sealed(first.runtime.engine, REPLICA_REQUESTS * PER_REQUEST)
        vkey = VerifierKey.from_text(first.client.get("/v1/log/key").text.strip())
        check_log(first, first.runtime.engine, batches, vkey)
