"""The checks after a load on the scale-out stack (issue 19), shared by the drills
(``tests/e2e/test_scale_stack.py``) and ``bench/scale.py``'s full-size drill (a): every
acknowledged entry in the log once and sealed, the newest checkpoint anchored, every
bundle through tier 5 with the library and a sample with ``evidence-verify``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from anchoring.schema import anchor_tx, log_checkpoint
from tests.support.api import evidence_verify
from tests.support.scale import ScaleStack
from tests.support.scale_load import Ack, LoadResult, check_checkpoints, check_log
from tests.support.waiting import wait_until
from verifier.bundle import Bundle
from verifier.chain.anchor import make_anchor_check
from verifier.note import VerifierKey
from verifier.verify import Status, verify_bundle

#: Seconds the log may take to seal a load, and then to anchor its newest checkpoint
#: (generous: a loaded 2-core machine).
SEAL_DEADLINE = 180.0
ANCHOR_DEADLINE = 300.0


@dataclass
class Ledger:
    """Everything the module's loads were acknowledged, for the checks after each drill
    (they share one stack, so the log holds every drill's entries)."""

    acks: list[Ack] = field(default_factory=list)
    #: stamp requests retried after the service may have recorded them
    in_doubt: int = 0


def newest_size(stack: ScaleStack) -> int:
    """The size of the newest signed checkpoint in the database."""
    with stack.engine.connect() as conn:
        return int(
            conn.execute(select(func.coalesce(func.max(log_checkpoint.c.size), 0))).scalar_one()
        )


def confirmed_size(stack: ScaleStack) -> int:
    """The largest tree size with a confirmed anchor (0: none yet)."""
    with stack.engine.connect() as conn:
        size = conn.execute(
            select(func.max(anchor_tx.c.size)).where(anchor_tx.c.state == "confirmed")
        ).scalar_one()
    return int(size or 0)


def wait_sealed(stack: ScaleStack, ledger: Ledger) -> None:
    """Every acknowledged entry sealed (the workers seal; beat ticks every 0.2 s)."""
    wait_until(
        lambda: not check_log(stack.engine, ledger.acks).unsealed,
        SEAL_DEADLINE,
        "every acknowledged entry to be sealed",
        0.5,
    )


def assert_nothing_lost(stack: ScaleStack, ledger: Ledger, result: LoadResult) -> None:
    """Once sealed: every acknowledged entry of the module's loads is in the log, sealed
    once; no receipt names an entry twice; the entries nobody was acknowledged for are
    stamps whose request was in doubt (none without a kill); no fork in the notes the
    load saw nor in the checkpoint table."""
    wait_sealed(stack, ledger)
    check = check_log(stack.engine, ledger.acks)
    assert check.missing == [], f"acknowledged but lost: {check.missing[:10]}"
    assert check.duplicates == [], f"acknowledged twice: {check.duplicates[:10]}"
    assert check.unsealed == []
    assert len(check.unacknowledged) <= ledger.in_doubt, check.unacknowledged[:10]
    assert check.entries == len(ledger.acks) + len(check.unacknowledged)
    with stack.engine.connect() as conn:
        table = [str(note) for note in conn.execute(select(log_checkpoint.c.note)).scalars()]
    sizes = check_checkpoints(result.checkpoints + table, stack.vkey, stack.urls()[0])
    print(
        f"log: {check.entries} entries of the load's kinds for {len(ledger.acks)} receipts, "
        f"tree size {check.log_size}; {sizes} checkpoint sizes consistent "
        f"({len(result.checkpoints)} seen by clients)"
    )


# --- verifying --------------------------------------------------------------------------


def wait_anchored(stack: ScaleStack) -> int:
    """Wait until the newest checkpoint is anchored (confirmed); its size."""
    target = newest_size(stack)
    wait_until(
        lambda: confirmed_size(stack) >= target,
        ANCHOR_DEADLINE,
        f"the checkpoint of size {target} to be anchored",
        0.5,
    )
    return target


def anchored_bundles(stack: ScaleStack, acks: list[Ack]) -> list[Bundle]:
    """Each ack's bundle, all anchored (call :func:`wait_anchored` first)."""
    origin = stack.vkey.strip().split("+", 1)[0]
    bundles = []
    with stack.engine.connect() as conn:
        for ack in acks:
            record = get_entry(conn, ack.entry_id)
            assert record is not None, ack
            bundles.append(bundle_for(conn, record, origin=origin))
    assert {b.status for b in bundles} == {"anchored"}
    return bundles


def verify_with_library(stack: ScaleStack, bundles: list[Bundle]) -> None:
    """Tiers 3-5 of every bundle verified by the library (log key and chain out of band)."""
    chain = stack.chain
    check = make_anchor_check([chain.rpc_url], contract=chain.contract, chain_id=chain.chain_id)
    key = VerifierKey.from_text(stack.vkey.strip())
    for bundle in bundles:
        report = verify_bundle(bundle, log_keys=[key], anchor_check=check)
        assert [t.status for t in report.tiers[2:]] == [Status.VERIFIED] * 3, report.to_dict()


def verify_with_console_script(stack: ScaleStack, bundles: list[Bundle], folder: Path) -> None:
    """The real ``evidence-verify`` on each bundle: tiers 3-5 verified, nothing failed."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, bundle in enumerate(bundles):
        path = folder / f"bundle-{i}.json"
        path.write_text(bundle.to_json(), encoding="utf-8")
        code, report, statuses = evidence_verify(path, stack.vkey, stack.chain, timeout=120)
        assert [statuses[t] for t in (3, 4, 5)] == ["verified"] * 3, report
        assert report["outcome"] != "failed" and code in (0, 2), report


# --- (a) load over every replica ----------------------------------------------------------
