"""Outage drills on the scale-out stack (issue 19, drills (c) and (d)): PostgreSQL, then the
S3 server, stopped and started again in the middle of a load spread over the replicas.

While the server is down every request that needs it is answered 503 with ``Retry-After``
within :data:`PROBE_BOUND` seconds (never a 500, never a hang): the drill sends its own
requests to every replica and times them, while the load's clients retry. Stamps need no
S3, so they keep being acknowledged while S3 is down. Once the server is back, nothing
acknowledged is lost (every receipt's entry is in the log, sealed once, and every
checkpoint a client saw belongs to one history), and the service resumes by itself: the
same replica and worker processes acknowledge and seal items submitted after the restart.

Two short tests pin the bounds against a hung server rather than a stopped one (SIGSTOP:
the port still accepts, nothing answers): a new PostgreSQL connection gives up after
``evidence_api.core.db.CONNECT_TIMEOUT``, an S3 request after
``evidence_api.core.storage.s3.REQUEST_BUDGET``.

Figures printed (``-s``): how long the 503s took, and the time from the server's return to
the first acknowledged item and to the first new checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from anchoring.node import anvil_binary
from evidence_api.core.db import CONNECT_TIMEOUT, make_engine
from evidence_api.core.storage import StorageUnavailableError
from evidence_api.core.storage.s3 import REQUEST_BUDGET, S3ObjectStore
from tests.support.api import auth_header, evidence_form, metadata, random_bucket, s3_env
from tests.support.postgres import PostgresCluster, throwaway_cluster
from tests.support.scale import ScaleStack, scale_stack
from tests.support.scale_load import Ack, Load, LoadResult, check_checkpoints, check_log
from tests.support.seaweed import SeaweedS3, seaweed_s3
from tests.support.waiting import wait_until
from verifier.checkpoint import open_checkpoint
from verifier.note import VerifierKey

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.redis,
    pytest.mark.chain,
    pytest.mark.slow,
]

REPLICAS = 2
WORKERS = 2
#: Items per drill and the clients sending them (CI size; bench/scale.py runs larger).
TOTAL = 800
CLIENTS = 48
#: The server goes down once this share of the load is acknowledged.
STOP_AT = TOTAL // 3
#: Seconds the server stays down at least (the drill probes the replicas meanwhile).
DOWN_SECONDS = 5.0
#: Seconds within which a request must get its 503 while a server is down.
PROBE_BOUND = 10.0
#: Generous deadlines for a loaded 2-core machine.
LOAD_DEADLINE = 240.0
RECOVERY_DEADLINE = 120.0


class Restartable(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...


def progress(message: str) -> None:
    print(f"[outage drill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Outage:
    """What a drill measured while its server was down and after it came back."""

    #: seconds each refused probe took, by request kind
    refused: dict[str, list[float]] = field(default_factory=dict)
    #: seconds each acknowledged probe took (stamps while S3 is down)
    served: dict[str, list[float]] = field(default_factory=dict)
    #: checkpoint notes the probes saw
    notes: list[str] = field(default_factory=list)
    #: stamps the probes were acknowledged for (while S3 is down)
    acks: list[Ack] = field(default_factory=list)
    down_seconds: float = 0.0
    #: from the server's return (its own readiness check passed) to a write of our own
    #: straight to it succeeding: the part of the delays below that is the server's
    writable: float = 0.0
    #: from the server's return to the first acknowledged item of the load
    first_ack: float = 0.0
    #: from the server's return to the first evidence upload acknowledged
    first_evidence: float = 0.0
    #: from the server's return to the first checkpoint larger than any before it
    first_checkpoint: float = 0.0


@contextmanager
def drill_servers() -> Iterator[tuple[PostgresCluster, SeaweedS3, str]]:
    """A throwaway PostgreSQL cluster with a fresh database (its URL), and SeaweedFS: the
    drill's own, so that it can stop and start them."""
    with throwaway_cluster() as cluster, seaweed_s3() as s3:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE drill")
        database = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/drill"
        yield cluster, s3, database


def evidence_upload(client: httpx.Client, url: str) -> httpx.Response:
    name = f"probe-{os.urandom(8).hex()}.bin"
    return client.post(
        f"{url}/v1/evidence",
        files=evidence_form({name: os.urandom(1024)}, metadata(notes=name)),
    )


def stamp(client: httpx.Client, url: str) -> httpx.Response:
    return client.post(
        f"{url}/v1/stamps", json={"digests": [hashlib.sha256(os.urandom(32)).hexdigest()]}
    )


def checkpoint(client: httpx.Client, url: str) -> httpx.Response:
    return client.get(f"{url}/v1/log/checkpoint")


PROBES: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
    "evidence": evidence_upload,
    "stamp": stamp,
    "checkpoint": checkpoint,
}


def probe_while_down(
    stack: ScaleStack, refused: tuple[str, ...], served: tuple[str, ...], outage: Outage
) -> None:
    """Until :data:`DOWN_SECONDS` have passed: each probe kind of ``refused`` must get 503
    with a numeric ``Retry-After`` within :data:`PROBE_BOUND` s on every replica, each of
    ``served`` a 200 (timed, and its checkpoint notes kept)."""
    started = time.monotonic()
    with httpx.Client(headers=auth_header(stack.token), timeout=60) as client:
        while time.monotonic() - started < DOWN_SECONDS:
            for url in stack.urls():
                for kind in (*refused, *served):
                    sent = time.monotonic()
                    response = PROBES[kind](client, url)
                    took = time.monotonic() - sent
                    if kind in refused:
                        assert response.status_code == 503, (kind, url, response.text[:500])
                        assert response.headers.get("Retry-After", "").isdigit(), response.headers
                        assert took <= PROBE_BOUND, f"{kind} at {url} took {took:.1f} s to fail"
                        outage.refused.setdefault(kind, []).append(took)
                    else:
                        assert response.status_code == 200, (kind, url, response.text[:500])
                        outage.served.setdefault(kind, []).append(took)
                        if kind == "checkpoint":
                            outage.notes.append(response.text)
                        if kind == "stamp":
                            outage.acks += stamp_acks(response, url)
    outage.down_seconds = time.monotonic() - started


def stamp_acks(response: httpx.Response, url: str) -> list[Ack]:
    now = time.monotonic()
    return [
        Ack("stamp", r["entry_id"], r["entry_id"], url, now, r["digest"])
        for r in response.json()["receipts"]
    ]


def checkpoint_size(stack: ScaleStack, note: str) -> int:
    return open_checkpoint(note, [VerifierKey.from_text(stack.vkey.strip())]).size


def newest_size(stack: ScaleStack) -> int:
    """The newest checkpoint's size, from the first replica that answers with one."""
    for url in stack.urls():
        try:
            response = httpx.get(f"{url}/v1/log/checkpoint", timeout=30)
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            return checkpoint_size(stack, response.text)
    return -1


def acks_after(load: Load, moment: float, kind: str | None = None) -> list[Ack]:
    """The load's acknowledgements answered after ``moment`` (of ``kind``, if given)."""
    return [
        ack
        for ack in list(load.result.acks)
        if ack.at > moment and (kind is None or ack.kind == kind)
    ]


def measure_recovery(
    stack: ScaleStack, load: Load, back: float, outage: Outage, writable: Callable[[], bool]
) -> None:
    """Wait for a direct write to the server, the first acknowledgement, the first
    evidence acknowledgement and the first checkpoint larger than any signed before the
    server's return; record their delays."""
    size_then = newest_size(stack)
    marks: dict[str, float] = {}

    def recovered() -> bool:
        if "writable" not in marks and writable():
            marks["writable"] = time.monotonic() - back
        if "ack" not in marks and acks_after(load, back):
            marks["ack"] = min(ack.at for ack in acks_after(load, back)) - back
        if "evidence" not in marks and acks_after(load, back, "evidence"):
            marks["evidence"] = min(ack.at for ack in acks_after(load, back, "evidence")) - back
        if "checkpoint" not in marks and newest_size(stack) > size_then:
            marks["checkpoint"] = time.monotonic() - back
        return len(marks) == 4

    wait_until(recovered, RECOVERY_DEADLINE, "acknowledgements and a new checkpoint", 0.05)
    outage.writable = marks["writable"]
    outage.first_ack = marks["ack"]
    outage.first_evidence = marks["evidence"]
    outage.first_checkpoint = marks["checkpoint"]


def run_drill(
    drills: Drills,
    server: Restartable,
    writable: Callable[[], bool],
    refused: tuple[str, ...],
    served: tuple[str, ...],
) -> tuple[LoadResult, Outage, float]:
    """The load, held a third of the way in until the server is stopped (so that the
    outage falls inside it however slow the machine); probed while down, started again;
    the load finished. Returns its result, the outage's figures and the moment the server
    came back. Should a step fail, what the load was acknowledged for still goes into
    ``drills``, so that the next drill's check of the whole log does not count it as
    unacknowledged."""
    stack = drills.stack
    outage = Outage()
    load = Load(stack.urls, stack.token, clients=CLIENTS, total=TOTAL, hold_at=STOP_AT)
    load.start()
    try:
        wait_until(
            lambda: load.done() >= STOP_AT and newest_size(stack) > 0,
            LOAD_DEADLINE,
            f"{STOP_AT} acknowledgements and a first checkpoint (the workers sealing)",
            0.1,
        )
        server.stop()
        load.release()
        progress(f"server stopped after {load.done()} acknowledgements")
        probe_while_down(stack, refused, served, outage)
        server.start()
        back = time.monotonic()
        progress(f"server back after {outage.down_seconds:.1f} s down")
        measure_recovery(stack, load, back, outage, writable)
    except BaseException:
        load.release()
        result = load.join(LOAD_DEADLINE)
        drills.acks += result.acks + outage.acks
        drills.in_doubt += result.in_doubt
        raise
    result = load.join(LOAD_DEADLINE)
    progress(f"load over: {len(result.acks)} acknowledgements")
    return result, outage, back


def assert_nothing_lost(stack: ScaleStack, result: LoadResult, outage: Outage, back: float) -> int:
    """Every item acknowledged, none failed or hung; every acknowledged entry sealed once
    (those acknowledged after the server's return included), nothing in the log that no
    one was acknowledged for beyond the requests in doubt; one history of checkpoints; the
    same processes still running. Returns the number of checkpoint sizes checked."""
    assert not result.failures, (result.failures, result.failure_samples)
    assert result.unfinished == 0, result
    assert result.refusals.get("timeout", 0) == 0, result.refusals  # no request hung 60 s
    assert [ack for ack in result.acks if ack.at > back], "nothing acknowledged after the return"
    acks = result.acks + outage.acks

    def all_sealed() -> bool:
        checked = check_log(stack.engine, acks)
        return not (checked.missing or checked.unsealed)

    wait_until(
        all_sealed,
        RECOVERY_DEADLINE,
        "every acknowledged entry sealed",
        0.2,
    )
    checked = check_log(stack.engine, acks)
    assert not checked.duplicates, checked.duplicates[:10]
    assert len(checked.unacknowledged) <= result.in_doubt, checked.unacknowledged[:10]
    assert checked.entries == len(acks) + len(checked.unacknowledged)
    sizes = check_checkpoints(result.checkpoints + outage.notes, stack.vkey, stack.urls()[0])
    assert newest_size(stack) >= len(acks)
    assert all(replica.alive for replica in stack.replicas), "a replica exited"
    assert all(w is not None and w.poll() is None for w in stack.workers), "a worker exited"
    return sizes


def report(name: str, result: LoadResult, outage: Outage, sizes: int) -> None:
    def span(times: list[float]) -> str:
        return f"{len(times)} in {min(times):.3f}-{max(times):.3f} s" if times else "none"

    print(
        f"\n{name}: {len(result.acks)} items acknowledged in {result.seconds:.1f} s by "
        f"{CLIENTS} clients on {REPLICAS} replicas, refusals {result.refusals}, in doubt "
        f"{result.in_doubt}; down {outage.down_seconds:.1f} s; "
        + "; ".join(f"503 to {kind}: {span(t)}" for kind, t in outage.refused.items())
        + "".join(f"; 200 to {kind}: {span(t)}" for kind, t in outage.served.items())
        + f"; after the return: server writable {outage.writable:.2f} s, first ack "
        f"{outage.first_ack:.2f} s, first evidence ack "
        f"{outage.first_evidence:.2f} s, first new checkpoint {outage.first_checkpoint:.2f} s; "
        f"{sizes} checkpoint sizes consistent"
    )


@dataclass
class Drills:
    """The stack both drills run on (one start for the module), its servers, and what
    earlier drills were acknowledged for: each drill checks the whole log."""

    stack: ScaleStack
    cluster: PostgresCluster
    s3: SeaweedS3
    acks: list[Ack] = field(default_factory=list)
    in_doubt: int = 0


@pytest.fixture(scope="module")
def drills(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drills]:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `make install`")
    with ExitStack() as stack:
        cluster, s3, database = stack.enter_context(drill_servers())
        scale = stack.enter_context(
            scale_stack(
                tmp_path_factory.mktemp("outages") / "stack",
                replicas=REPLICAS,
                workers=WORKERS,
                database_url=database,
                s3_env=s3_env(s3),
            )
        )
        progress(f"stack up: {REPLICAS} replicas, {WORKERS} workers")
        yield Drills(scale, cluster, s3)
        progress("stopping the stack")


def drill(
    drills: Drills,
    server: Restartable,
    writable: Callable[[], bool],
    name: str,
    **probes: tuple[str, ...],
) -> Outage:
    """Run a drill on ``server`` and check it; add its acknowledgements to ``drills``."""
    stack = drills.stack
    result, outage, back = run_drill(drills, server, writable, probes["refused"], probes["served"])
    outage.acks = drills.acks + outage.acks
    result.in_doubt += drills.in_doubt
    drills.acks = result.acks + outage.acks
    drills.in_doubt = result.in_doubt
    sizes = assert_nothing_lost(stack, result, outage, back)
    report(name, result, outage, sizes)
    return outage


def test_postgres_restarted_under_load(drills: Drills) -> None:
    def writable() -> bool:
        try:
            with psycopg.connect(drills.cluster.url, connect_timeout=2, autocommit=True) as conn:
                conn.execute("CREATE TEMPORARY TABLE probe (n int)")
                conn.execute("INSERT INTO probe VALUES (1)")
            return True
        except psycopg.Error:
            return False

    drill(
        drills,
        drills.cluster,
        writable,
        "PostgreSQL restart",
        refused=("evidence", "stamp", "checkpoint"),
        served=(),
    )


def test_s3_restarted_under_load(drills: Drills) -> None:
    client, bucket = drills.s3.client(), random_bucket()
    client.make_bucket(bucket, object_lock=True)

    def writable() -> bool:
        try:
            client.put_object(bucket, f"probe-{time.monotonic()}", io.BytesIO(b"probe"), 5)
            return True
        except Exception:  # refused, reset, timed out, 503 ...: not yet
            return False

    outage = drill(
        drills,
        drills.s3,
        writable,
        "S3 restart",
        refused=("evidence",),
        served=("stamp", "checkpoint"),
    )
    # stamps need no S3: they kept being acknowledged while it was down
    assert outage.served["stamp"], "no stamp probe acknowledged while S3 was down"


def test_a_hung_database_fails_a_new_connection_within_the_connect_timeout() -> None:
    with throwaway_cluster() as cluster:
        engine = make_engine(cluster.url.replace("postgresql://", "postgresql+psycopg://"))
        postmaster = int(Path(cluster.data, "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            sent = time.monotonic()
            with pytest.raises(OperationalError), engine.connect():
                pass
            took = time.monotonic() - sent
        finally:
            os.kill(postmaster, signal.SIGCONT)
        print(f"\nhung PostgreSQL: a new connection failed after {took:.2f} s")
        assert CONNECT_TIMEOUT - 1 <= took <= CONNECT_TIMEOUT + 5
        with engine.connect():  # the same engine connects once the server answers again
            pass
        engine.dispose()


def test_a_hung_s3_fails_within_the_request_budget() -> None:
    with seaweed_s3() as s3:
        store = S3ObjectStore(
            s3.endpoint, s3.access_key, s3.secret_key, random_bucket(), retention_days=1
        )
        store.ensure_bucket()
        assert s3.process is not None
        os.killpg(s3.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            sent = time.monotonic()
            with pytest.raises(StorageUnavailableError):
                store.put_bytes(os.urandom(1024), "application/octet-stream")
            took = time.monotonic() - sent
        finally:
            os.killpg(s3.process.pid, signal.SIGCONT)
        print(f"\nhung S3: an upload failed after {took:.2f} s")
        assert took <= REQUEST_BUDGET + 2
        store.put_bytes(os.urandom(1024), "application/octet-stream")  # the same store recovers
