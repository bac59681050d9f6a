"""The scale-out stack under load (issue 19, drills (a) and (b)): three ``evidence serve``
replicas, two Celery workers and beat on one PostgreSQL, SeaweedFS, Redis and anvil.

* (a) items spread over every replica by 64 clients: the log holds exactly the
  acknowledged entries, each sealed once; every bundle verifies through tier 5 with the
  library, a sample with the ``evidence-verify`` console script; every checkpoint seen is
  consistent with every other (no fork);
* (b) ``kill -9`` in the middle of the load, each on the same stack: a replica (clients
  move to the others), the worker holding the sealer lock (another process seals within
  :data:`HANDOVER_BOUND` s), and beat (sealing resumes once it is back). After each,
  nothing acknowledged is lost and no fork was signed, in the notes the clients saw or
  in the checkpoint table.

Sizes: :data:`ITEMS` for (a), :data:`DRILL_ITEMS` for each kill (``EVIDENCE_SCALE_ITEMS``
raises them, e.g. to 20,000 for the full drill; ``EVIDENCE_SCALE_CLI_SAMPLE`` the
console-script sample). The figures (items/s, hand-over time) are printed (``pytest -s``).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from anchoring.node import anvil_binary
from anchoring.schema import log_entry
from tests.support.api import auth_header, fresh_postgres_database, s3_env
from tests.support.scale import ScaleStack, scale_stack
from tests.support.scale_checks import (
    SEAL_DEADLINE,
    Ledger,
    anchored_bundles,
    assert_nothing_lost,
    newest_size,
    verify_with_console_script,
    verify_with_library,
    wait_anchored,
)
from tests.support.scale_load import Ack, Load, LoadResult, check_log
from tests.support.seaweed import WEED, seaweed_s3
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.chain,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.slow,
]

#: Items of drill (a) in CI; ``EVIDENCE_SCALE_ITEMS`` may raise it (20,000: the full drill).
ITEMS = max(2_000, int(os.environ.get("EVIDENCE_SCALE_ITEMS", "0")))
#: Items of each kill drill: half of (a), at least 1,000.
DRILL_ITEMS = max(1_000, ITEMS // 2)
#: Bundles checked with the ``evidence-verify`` console script (the full drill: 500).
CLI_SAMPLE = int(os.environ.get("EVIDENCE_SCALE_CLI_SAMPLE", "20"))
CLIENTS = 64
#: Seconds within which another process must sign the next checkpoint after the sealer
#: lock's holder is killed (generous: a loaded 2-core machine; beat ticks every 0.2 s).
HANDOVER_BOUND = 30.0
#: Seconds a load may take (generous; its sealing and anchoring: tests.support.scale_checks).
LOAD_DEADLINE = 600.0
#: The evidence certificates job (a certificate per anchored evidence, 20 a run) held both
#: solo workers 13-16 s a run, back to back, under this load on 2 cores, and the seal and
#: anchor ticks waited behind it: it is not what these drills measure, so it looks once an
#: hour here.
QUIET_JOBS = {"EVIDENCE_CERTIFICATE_INTERVAL": "3600"}


@pytest.fixture(scope="module")
def scale(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleStack]:
    """Three replicas, two workers and beat on a fresh database and a SeaweedFS of the
    module's own (the session's ``seaweed`` fixture belongs to the integration tests)."""
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `make install`")
    if not WEED.is_file():
        pytest.skip(f"SeaweedFS not found at {WEED}")
    root = tmp_path_factory.mktemp("scale")
    with (
        seaweed_s3() as s3,
        fresh_postgres_database(postgres_url) as database_url,
        scale_stack(
            root, database_url=database_url, s3_env=s3_env(s3), extra_env=QUIET_JOBS
        ) as stack,
    ):
        yield stack


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


# --- running a load and checking what it left ---------------------------------------------


def run_load(
    stack: ScaleStack,
    ledger: Ledger,
    total: int,
    during: Callable[[Load], None] | None = None,
    hold_at: int | None = None,
) -> LoadResult:
    """``total`` items from :data:`CLIENTS` clients over the live replicas; ``during`` runs
    meanwhile (a kill; items from ``hold_at`` on wait until it calls ``load.release()``, so
    that the kill falls inside the load however slow the machine). Every acknowledgement
    goes to the ledger, even if ``during`` fails; no item may be answered unexpectedly."""
    load = Load(stack.urls, stack.token, clients=CLIENTS, total=total, hold_at=hold_at)
    load.start()
    try:
        if during is not None:
            during(load)
    finally:
        load.release()
        result = load.join(LOAD_DEADLINE)
        ledger.acks += result.acks
        ledger.in_doubt += result.in_doubt
    print(
        f"\nload: {len(result.acks)} receipts for {total} items in {result.seconds:.1f} s = "
        f"{result.rate():.0f} receipts/s; per replica {sorted(result.by_replica().values())}; "
        f"refused {result.refusals}; in doubt {result.in_doubt}"
    )
    assert not result.failures, (result.failures, result.failure_samples)
    assert result.unfinished == 0, f"{result.unfinished} items never acknowledged"
    return result


def test_load_over_all_replicas_loses_nothing_and_verifies_through_tier_5(
    scale: ScaleStack, ledger: Ledger, tmp_path: Path
) -> None:
    result = run_load(scale, ledger, ITEMS)
    shares = result.by_replica()
    assert sorted(shares) == sorted(scale.urls()), shares
    fair = len(result.acks) / len(scale.replicas)
    assert all(n >= fair / 2 for n in shares.values()), f"uneven spread: {shares}"
    assert_nothing_lost(scale, ledger, result)
    check = check_log(scale.engine, ledger.acks)
    assert check.unacknowledged == [] and check.log_size >= len(ledger.acks)

    started = time.monotonic()
    size = wait_anchored(scale)
    anchored_after = time.monotonic() - started
    started = time.monotonic()
    bundles = anchored_bundles(scale, result.acks)
    built = time.monotonic() - started
    started = time.monotonic()
    verify_with_library(scale, bundles)
    library = time.monotonic() - started
    sample = random.Random(19).sample(bundles, min(CLI_SAMPLE, len(bundles)))
    started = time.monotonic()
    verify_with_console_script(scale, sample, tmp_path / "bundles")
    print(
        f"checkpoint {size} anchored {anchored_after:.1f} s after the checks; {len(bundles)} "
        f"bundles built in {built:.1f} s, through tier 5 by the library in {library:.1f} s, "
        f"{len(sample)} by evidence-verify in "
        f"{time.monotonic() - started:.1f} s"
    )


# --- (b) kill -9 in the middle of the load ---------------------------------------------------


def wait_done(load: Load, count: int) -> None:
    wait_until(lambda: load.done() >= count, LOAD_DEADLINE, f"{count} items acknowledged", 0.05)


def test_kill_a_replica_mid_load(scale: ScaleStack, ledger: Ledger) -> None:
    victim = len(scale.replicas) - 1
    url = scale.replicas[victim].base_url
    seen_after_kill: list[set[str]] = []

    def kill(load: Load) -> None:
        wait_done(load, DRILL_ITEMS // 3)
        scale.kill_replica(victim)  # mid-request: the load runs on until two thirds
        killed_at = len(load.result.acks)
        wait_done(load, DRILL_ITEMS * 2 // 3)
        seen_after_kill.append({ack.replica for ack in load.result.acks[killed_at + CLIENTS :]})
        load.release()

    result = run_load(scale, ledger, DRILL_ITEMS, kill, hold_at=DRILL_ITEMS * 2 // 3)
    assert url not in seen_after_kill[0], "a killed replica answered"
    assert len(seen_after_kill[0]) == len(scale.replicas) - 1, seen_after_kill
    assert_nothing_lost(scale, ledger, result)
    started = time.monotonic()
    scale.start_replica(victim)
    print(f"replica {victim} back on {url} in {time.monotonic() - started:.1f} s")
    assert scale.urls() == [r.base_url for r in scale.replicas]


def test_kill_the_sealer_lock_holder_mid_load(scale: ScaleStack, ledger: Ledger) -> None:
    handover: list[float] = []
    victims: list[int] = []

    def kill(load: Load) -> None:
        wait_done(load, DRILL_ITEMS // 3)
        load.release()
        holder: list[int] = []

        def held() -> bool:
            index = scale.lock_holder("sealer")
            holder[:] = [] if index is None else [index]
            return bool(holder)

        wait_until(held, 60, "a worker to hold the sealer lock", 0.005)
        scale.kill_worker(holder[0])
        killed = time.monotonic()
        victims.append(holder[0])
        size = newest_size(scale)
        wait_until(
            lambda: newest_size(scale) > size,
            HANDOVER_BOUND * 4,
            "the next checkpoint after the sealer was killed",
            0.02,
        )
        handover.append(time.monotonic() - killed)

    result = run_load(scale, ledger, DRILL_ITEMS, kill, hold_at=DRILL_ITEMS // 3)
    print(f"sealer lock hand-over: next checkpoint {handover[0]:.2f} s after kill -9")
    assert handover[0] <= HANDOVER_BOUND, handover
    assert_nothing_lost(scale, ledger, result)
    scale.start_worker(victims[0])


def stalled_size(stack: ScaleStack, quiet: float = 3.0) -> int:
    """The checkpoint size once it has not grown for ``quiet`` s (the ticks beat queued
    before it died are spent), while the load keeps coming."""
    last = [newest_size(stack), time.monotonic()]

    def quiet_now() -> bool:
        size = newest_size(stack)
        if size != last[0]:
            last[:] = [size, time.monotonic()]
        return time.monotonic() - last[1] >= quiet

    wait_until(quiet_now, 60, "sealing to stop without beat", 0.1)
    return int(last[0])


def pending_entries(stack: ScaleStack) -> int:
    """Entries recorded but not sealed yet."""
    with stack.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(log_entry).where(log_entry.c.leaf_index.is_(None))
            ).scalar_one()
        )


def stamp_now(stack: ScaleStack) -> Ack:
    """One stamp acknowledged by the first live replica."""
    url = stack.urls()[0]
    digest = hashlib.sha256(os.urandom(32)).hexdigest()
    response = httpx.post(
        f"{url}/v1/stamps", json={"digests": [digest]}, headers=auth_header(stack.token), timeout=60
    )
    assert response.status_code == 200, response.text
    receipt = response.json()["receipts"][0]
    return Ack("stamp", receipt["entry_id"], receipt["entry_id"], url, time.monotonic(), digest)


def test_kill_beat_mid_load(scale: ScaleStack, ledger: Ledger) -> None:
    resumed: list[float] = []

    def kill(load: Load) -> None:
        wait_done(load, DRILL_ITEMS // 10)
        scale.kill_beat()
        load.release()
        stalled_at = stalled_size(scale)
        # Beat is down and its queued ticks are spent: what is acknowledged now stays
        # pending until beat is back (one more stamp if the load had none left).
        if pending_entries(scale) == 0:
            ledger.acks.append(stamp_now(scale))
        waiting = pending_entries(scale)
        print(f"\nbeat killed: sealing stalled at size {stalled_at}, {waiting} entries waiting")
        assert waiting > 0
        restarted = time.monotonic()
        scale.start_beat()
        wait_until(
            lambda: newest_size(scale) > stalled_at,
            SEAL_DEADLINE,
            "sealing to resume after beat was restarted",
            0.05,
        )
        resumed.append(time.monotonic() - restarted)

    result = run_load(scale, ledger, DRILL_ITEMS, kill, hold_at=DRILL_ITEMS // 10)
    print(f"beat back: sealing resumed {resumed[0]:.2f} s after its restart")
    assert_nothing_lost(scale, ledger, result)
    assert scale.beat is not None and scale.beat.poll() is None
