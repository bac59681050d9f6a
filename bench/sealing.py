"""Figure 6: sealing 100,000 stamps, and a check that none is lost or duplicated.

100 requests of 1,000 digests go to ``/v1/stamps`` of a real ``evidence serve``
subprocess (SQLite, local store, its in-process sealer on the default
settings) from a few client threads. Then the bench polls the public
checkpoint until the log holds every entry. Figures: the seal throughput
(entries/s from the first submission until the last entry is sealed; and the
backlog left at the last answer divided by the time it took to drain, when
there was one), each beside the submission throughput of the same run. When
the sealer keeps up with the intake, those say little about the sealer itself,
so a third figure gives its capacity: ``anchoring.sealer.seal_pending`` (the
function the service's sealer runs, with the service's ``max_batch``) timed
in the bench process on a backlog of as many entries, enqueued beforehand
into a scratch database migrated like the service's, once on SQLite (the
embedded deployment) and once on PostgreSQL (the compose deployment; a
throwaway database on ``127.0.0.1:5432``, created and dropped by the bench).
Each is judged against the issue's target, 10,000 entries/s, and shown beside
the submission rate of the run. Before the clock starts, one entry is sealed
on the same engine, as the service's sealer runs warm.

Checks, after everything is sealed (any failure makes the run fail):

* receipts issued == entries in ``log_entry`` == ``merkle_log.size`` == the
  latest checkpoint's size; no entry id or leaf hash is issued twice; no entry
  is still pending;
* the leaves stored in the tree (``merkle_tile``, read through
  ``SqlNodeStore``) are, as a set and as a multiset, the receipts' leaf hashes,
  and each entry's ``leaf_index`` points at its own leaf; the leaf indices are
  exactly 0..n-1;
* the root of those leaves, recomputed in memory, is the latest checkpoint's
  root, and the checkpoint's signature verifies with ``/v1/log/key``;
* for 1,000 random receipts plus the first and the last issued (and the
  entries at leaf 0 and leaf n-1): the receipt's signature verifies and names
  its leaf hash, and the inclusion proof served by ``/v1/log/proof/inclusion``
  verifies against the latest checkpoint;
* every entry was sealed within the ``max_merge_delay`` its receipt promised.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from anchoring.entries import make_entry, utc_timestamp
from anchoring.log import MerkleLog
from anchoring.queue import QueuedEntry, enqueue
from anchoring.schema import log_checkpoint, log_entry, merkle_log
from anchoring.sealer import seal_pending
from anchoring.store.memory import MemoryNodeStore
from anchoring.store.sql import SqlNodeStore
from bench.common import Progress, Row, percentile, verdict
from bench.databases import BACKENDS, scratch_engine
from bench.databases import LABELS as DB_LABELS
from bench.ingest import (
    STAMPS_PER_REQUEST,
    SharedS3,
    evidence_service,
    post_stamps,
    random_digests,
)
from evidence_api.core.db import make_engine
from evidence_api.core.ids import new_id
from verifier.checkpoint import open_checkpoint
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.note import SignerKey, VerifierKey
from verifier.receipt import open_receipt

POLL_S = 0.05
#: the issue's target for the sealer's capacity, entries/s (on PostgreSQL, and on SQLite)
CAPACITY_TARGET = 10_000
LEAF_CHUNK = 8192


@dataclass
class SealingSettings:
    quick: bool
    requests: int
    threads: int
    sample: int
    seed: int
    #: give up waiting for the sealer after this many seconds past the last answer
    timeout_s: float

    @classmethod
    def make(cls, quick: bool, seed: int = 20261126) -> SealingSettings:
        if quick:
            return cls(quick, 3, 4, 100, seed, 120.0)
        return cls(quick, 100, 4, 1000, seed, 600.0)


@dataclass
class SealingResult:
    settings: SealingSettings
    entries: int = 0
    submit_seconds: float = 0.0
    #: seconds from the first submission until the checkpoint covered every entry
    sealed_seconds: float = 0.0
    #: entries sealed (latest checkpoint size) when the last answer arrived
    sealed_at_last_answer: int = 0
    request_p50_ms: float = 0.0
    request_p99_ms: float = 0.0
    checkpoints: int = 0
    batch_median: float = 0.0
    merge_delay_max_s: float = 0.0
    merge_delay_p99_s: float = 0.0
    max_merge_delay: int = 0
    #: seal_pending on a backlog of ``entries`` in a scratch database (in the bench process),
    #: per backend (``sqlite``, ``postgres``)
    capacity_seconds: dict[str, float] = field(default_factory=dict)
    capacity_seals: dict[str, int] = field(default_factory=dict)
    max_batch: int = 0
    proofs_checked: int = 0
    proof_p50_ms: float = 0.0
    proof_p99_ms: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: (seconds since the first submission, checkpoint size), downsampled
    timeline: list[tuple[float, int]] = field(default_factory=list)

    @property
    def submit_rate(self) -> float:
        return self.entries / self.submit_seconds if self.submit_seconds else 0.0

    @property
    def seal_rate(self) -> float:
        return self.entries / self.sealed_seconds if self.sealed_seconds else 0.0

    @property
    def backlog(self) -> int:
        return self.entries - self.sealed_at_last_answer

    @property
    def drain_seconds(self) -> float:
        return self.sealed_seconds - self.submit_seconds

    def capacity_rate(self, backend: str) -> float:
        seconds = self.capacity_seconds.get(backend, 0.0)
        return self.entries / seconds if seconds else 0.0

    @property
    def drain_rate(self) -> float:
        return self.backlog / self.drain_seconds if self.backlog and self.drain_seconds > 0 else 0.0


def _checkpoint_size(client: httpx.Client) -> int:
    response = client.get("/v1/log/checkpoint")
    if response.status_code == 404:
        return 0
    response.raise_for_status()
    return int(response.text.split("\n")[1])


def run(settings: SealingSettings, _: SharedS3, progress: Progress) -> SealingResult:
    result = SealingResult(settings)
    total = settings.requests * STAMPS_PER_REQUEST
    batches = [random_digests(STAMPS_PER_REQUEST) for _ in range(settings.requests)]
    with (
        tempfile.TemporaryDirectory(prefix="evidence-bench-sealing-") as tmp,
        evidence_service(Path(tmp) / "serve", storage="local") as service,
        service.client() as client,
    ):
        result.max_merge_delay = service.settings.max_merge_delay
        progress(
            f"sealing: {settings.requests} requests x {STAMPS_PER_REQUEST:,} digests on "
            f"{settings.threads} threads to evidence serve pid {service.pid} (SQLite, sealer "
            f"every {service.settings.seal_interval:g} s or {service.settings.max_batch:,} entries)"
        )
        start = time.monotonic()
        load = post_stamps(service, batches, settings.threads)
        answered = time.monotonic()
        result.sealed_at_last_answer = _checkpoint_size(client)
        result.entries = total
        result.submit_seconds = answered - start
        result.request_p50_ms = percentile(load.latencies, 50) * 1e3
        result.request_p99_ms = percentile(load.latencies, 99) * 1e3
        progress(
            f"sealing: {total:,} receipts in {result.submit_seconds:.2f} s "
            f"({result.submit_rate:,.0f}/s); {result.sealed_at_last_answer:,} sealed so far"
        )
        timeline = [(answered - start, result.sealed_at_last_answer)]
        size, last_report = result.sealed_at_last_answer, answered
        while size < total:
            now = time.monotonic()
            if now - answered > settings.timeout_s:
                result.problems.append(
                    f"only {size:,} of {total:,} entries sealed {settings.timeout_s:g} s after "
                    "the last submission"
                )
                break
            if now - last_report >= 5:
                progress(f"sealing: {size:,}/{total:,} sealed")
                last_report = now
            time.sleep(POLL_S)
            size = _checkpoint_size(client)
            timeline.append((time.monotonic() - start, size))
        result.sealed_seconds = time.monotonic() - start
        step = max(1, len(timeline) // 100)
        result.timeline = [(round(t, 3), n) for t, n in timeline[::step]]
        progress(
            f"sealing: all sealed {result.drain_seconds:.2f} s after the last answer "
            f"({result.seal_rate:,.0f} entries/s since the first submission)"
        )
        receipts = [r for body in load.results for r in body["receipts"]]
        _check(result, receipts, service, client, progress)
        result.max_batch = service.settings.max_batch
        for backend in BACKENDS:
            try:
                _capacity(result, backend, Path(tmp) / "capacity", progress)
            except Exception as exc:  # e.g. no PostgreSQL: a problem, the other rows stay
                result.problems.append(f"capacity on {backend}: {type(exc).__name__}: {exc}")
    for problem in result.problems[:10]:
        progress(f"sealing: PROBLEM: {problem}")
    return result


def _capacity(result: SealingResult, backend: str, root: Path, progress: Progress) -> None:
    """Time ``seal_pending`` on a backlog of ``result.entries`` stamps in a scratch database."""
    signer = SignerKey.generate("evidence.local/log")
    receipt = "(the sealer never reads receipts)"

    def stamps(count: int) -> list[QueuedEntry]:
        at, received = utc_timestamp(), datetime.now(UTC)
        items = []
        for _ in range(count):
            entry = make_entry("stamp", new_id("st"), {"sha256": "00" * 32}, at=at)
            items.append(QueuedEntry(entry, leaf_hash(entry.leaf_data()), received, receipt))
        return items

    with scratch_engine(backend, root) as engine:
        with engine.begin() as conn:  # warm-up: the service's sealer runs on a warm engine
            enqueue(conn, stamps(1))
        warm = seal_pending(engine, signer, max_batch=result.max_batch)
        with engine.begin() as conn:
            for begin in range(0, result.entries, STAMPS_PER_REQUEST):
                enqueue(conn, stamps(min(STAMPS_PER_REQUEST, result.entries - begin)))
        progress(
            f"sealing: capacity: {result.entries:,} entries pending in a scratch "
            f"{DB_LABELS[backend]} database"
        )
        start = time.perf_counter()
        seals = seal_pending(engine, signer, max_batch=result.max_batch)
        result.capacity_seconds[backend] = time.perf_counter() - start
    result.capacity_seals[backend] = len(seals)
    sealed = sum(s.count for s in seals)
    if sum(s.count for s in warm) != 1 or sealed != result.entries:
        result.problems.append(
            f"capacity on {backend}: sealed {sealed:,} of {result.entries:,} entries"
        )
    elif seals[-1].size != result.entries + 1:
        result.problems.append(
            f"capacity on {backend}: log size {seals[-1].size:,}, expected {result.entries + 1:,}"
        )
    progress(
        f"sealing: capacity on {DB_LABELS[backend]}: seal_pending sealed {result.entries:,} in "
        f"{result.capacity_seconds[backend]:.2f} s ({result.capacity_rate(backend):,.0f}/s, "
        f"{len(seals)} seals)"
    )


def _check(
    result: SealingResult,
    receipts: list[dict[str, Any]],
    service: Any,
    client: httpx.Client,
    progress: Progress,
) -> None:
    settings = result.settings
    problems = result.problems
    checks = result.checks
    vk = VerifierKey.from_text(client.get("/v1/log/key").text.strip())
    checkpoint = open_checkpoint(client.get("/v1/log/checkpoint").text, [vk])
    checks["checkpoint signature verifies"] = True
    n = len(receipts)
    issued = [bytes.fromhex(r["leaf_hash"]) for r in receipts]
    checks["receipts issued == digests submitted"] = n == result.entries
    checks["no entry id issued twice"] = len({r["entry_id"] for r in receipts}) == n
    checks["no leaf hash issued twice"] = len(set(issued)) == n

    engine = make_engine(service.database_url)
    try:
        with engine.connect() as conn:
            log_size = conn.execute(select(merkle_log.c.size)).scalar_one()
            count, pending = conn.execute(
                select(func.count(), func.count() - func.count(log_entry.c.leaf_index)).select_from(
                    log_entry
                )
            ).one()
            rows = conn.execute(
                select(
                    log_entry.c.leaf_index, log_entry.c.leaf_hash, log_entry.c.entry_id
                ).order_by(log_entry.c.leaf_index)
            ).all()
            delays = [
                (sealed - received).total_seconds()
                for received, sealed in conn.execute(
                    select(log_entry.c.received_at, log_entry.c.sealed_at)
                ).all()
                if sealed is not None
            ]
            sizes = list(
                conn.execute(
                    select(log_checkpoint.c.size).order_by(log_checkpoint.c.size)
                ).scalars()
            )
            tree = MerkleLog(SqlNodeStore(conn))
            leaves: list[bytes] = []
            for begin in range(0, log_size, LEAF_CHUNK):
                ids = [(0, i) for i in range(begin, min(begin + LEAF_CHUNK, log_size))]
                leaves += tree.store.get_nodes(ids)
    finally:
        engine.dispose()
    progress(f"sealing: read {len(leaves):,} leaves and {count:,} entries back from the database")

    checks["log size == receipts issued"] = log_size == n
    checks["checkpoint size == receipts issued"] = checkpoint.size == n
    checks["log_entry rows == receipts issued"] = count == n
    checks["nothing pending"] = pending == 0
    checks["leaf indices are 0..n-1"] = [r.leaf_index for r in rows] == list(range(n))
    checks["tree leaves == receipts' leaf hashes (set)"] = set(leaves) == set(issued)
    checks["tree leaves == receipts' leaf hashes (multiset)"] = Counter(leaves) == Counter(issued)
    checks["each entry's leaf_index holds its leaf hash"] = all(
        r.leaf_index is not None
        and r.leaf_index < len(leaves)
        and leaves[r.leaf_index] == bytes(r.leaf_hash)
        for r in rows
    )
    by_id = {r["entry_id"]: bytes.fromhex(r["leaf_hash"]) for r in receipts}
    checks["each receipt's entry is in the log with its leaf hash"] = len(by_id) == n and all(
        by_id.get(r.entry_id) == bytes(r.leaf_hash) for r in rows
    )
    memory = MerkleLog(MemoryNodeStore())
    memory.append_hashes(leaves)
    checks["root of the leaves == checkpoint root"] = (
        len(leaves) == checkpoint.size and memory.root() == checkpoint.root
    )
    result.merge_delay_max_s = max(delays) if delays else 0.0
    result.merge_delay_p99_s = percentile(delays, 99) if delays else 0.0
    checks["every entry sealed within max_merge_delay"] = (
        result.merge_delay_max_s <= result.max_merge_delay
    )
    result.checkpoints = len(sizes)
    steps = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
    result.batch_median = statistics.median(steps) if steps else 0.0

    # receipts and inclusion proofs, for a sample
    rng = random.Random(settings.seed)
    picked = set(rng.sample(range(n), min(settings.sample, n))) | {0, n - 1}
    position = {leaf: i for i, leaf in enumerate(issued)}
    for index in (0, len(leaves) - 1):
        if 0 <= index < len(leaves) and leaves[index] in position:
            picked.add(position[leaves[index]])
    bad_receipts, bad_proofs = 0, 0
    timings: list[float] = []
    for i in sorted(picked):
        receipt = receipts[i]
        leaf = issued[i]
        try:
            opened = open_receipt(receipt["receipt"], [vk])
            if opened.leaf_hash != leaf:
                raise ValueError("receipt names another leaf")
        except Exception as exc:
            bad_receipts += 1
            problems.append(f"receipt {receipt['entry_id']}: {exc}")
        fetched = time.perf_counter()
        response = client.get(
            "/v1/log/proof/inclusion", params={"leaf_hash": leaf.hex(), "size": checkpoint.size}
        )
        try:
            response.raise_for_status()
            proof = response.json()
            verify_inclusion(
                leaf,
                proof["index"],
                proof["tree_size"],
                [bytes.fromhex(h) for h in proof["hashes"]],
                checkpoint.root,
            )
            if proof["tree_size"] != checkpoint.size:
                raise ValueError(f"proof for size {proof['tree_size']}")
        except Exception as exc:
            bad_proofs += 1
            problems.append(f"inclusion of {receipt['entry_id']}: {exc}")
        timings.append(time.perf_counter() - fetched)
    result.proofs_checked = len(picked)
    result.proof_p50_ms = percentile(timings, 50) * 1e3
    result.proof_p99_ms = percentile(timings, 99) * 1e3
    checks[f"{len(picked)} sampled receipts verify"] = bad_receipts == 0
    checks[f"{len(picked)} sampled inclusion proofs verify against the checkpoint"] = (
        bad_proofs == 0
    )
    problems += [f"check failed: {name}" for name, ok in checks.items() if not ok]
    progress(
        f"sealing: {sum(checks.values())}/{len(checks)} checks passed; "
        f"{len(picked)} receipts and proofs checked"
    )


def rows(result: SealingResult) -> list[Row]:
    if not result.entries:
        return []
    n = result.entries
    figure = f"seal {n:,} stamps"
    submit = result.submit_rate / 1e3
    out = [
        Row(
            id="sealing.first_submit_to_sealed",
            figure=f"{figure}: first submission -> all sealed",
            unit="k entries/s",
            ours=result.seal_rate / 1e3,
            baseline=submit,
            baseline_name=f"submission, {result.settings.threads} threads",
            ratio_kind="share",
            higher_is_better=True,
        )
    ]
    if result.backlog > result.max_batch and result.drain_rate > 0:
        out.append(
            Row(
                id="sealing.backlog_drain",
                figure=f"{figure}: backlog of {result.backlog:,} at last answer -> sealed",
                unit="k entries/s",
                ours=result.drain_rate / 1e3,
                baseline=submit,
                baseline_name=f"submission, {result.settings.threads} threads",
                ratio_kind="share",
                higher_is_better=True,
            )
        )
    for backend in BACKENDS:
        rate = result.capacity_rate(backend)
        if rate <= 0:
            continue
        out.append(
            Row(
                id=f"sealing.sealer_capacity.{backend}",
                figure=f"{figure}: seal_pending on a backlog of {n:,}, {DB_LABELS[backend]}",
                unit="k entries/s",
                ours=rate / 1e3,
                baseline=submit,
                baseline_name=f"submission, {result.settings.threads} threads",
                ratio_kind="share",
                higher_is_better=True,
                target=f">= {CAPACITY_TARGET / 1e3:g}k entries/s",
                verdict=verdict(rate >= CAPACITY_TARGET),
            )
        )
    return out


def legend(result: SealingResult) -> str:
    r = result
    lines = [
        "ratio = seal rate / submission rate. Timed from the first request: "
        f"all {r.entries:,} answered at {r.submit_seconds:.2f} s "
        f"(request p50/p99 {r.request_p50_ms:,.0f}/{r.request_p99_ms:,.0f} ms), "
        f"{r.sealed_at_last_answer:,} sealed then; all sealed at {r.sealed_seconds:.2f} s "
        f"({r.drain_seconds:.2f} s after the last answer"
        + (
            f"; the sealer kept up: a backlog of {r.backlog:,} <= one seal of max_batch "
            f"{r.max_batch:,}, so no drain rate is given, the {POLL_S * 1e3:.0f} ms polling "
            "would dominate it)."
            if r.backlog <= r.max_batch
            else ")."
        ),
        f"{r.checkpoints:,} checkpoints, median {r.batch_median:,.0f} entries per seal "
        f"(max_batch {r.max_batch:,}); "
        f"merge delay (sealed_at - received_at) max {r.merge_delay_max_s:.2f} s, "
        f"p99 {r.merge_delay_p99_s:.2f} s, promised <= {r.max_merge_delay} s.",
        "capacity: seal_pending sealed "
        + "; ".join(
            f"{r.entries:,} pending entries in {seconds:.2f} s "
            f"({r.capacity_seals.get(b, 0)} seals) on {DB_LABELS[b]}"
            for b, seconds in r.capacity_seconds.items()
        )
        + ", in the bench process on a scratch database each, while the service sat idle.",
        f"inclusion proofs: {r.proofs_checked} fetched and verified, "
        f"p50/p99 {r.proof_p50_ms:.1f}/{r.proof_p99_ms:.1f} ms per fetch + verify.",
        "Checks (no entry lost or duplicated):",
    ]
    lines += [f"  {'ok  ' if ok else 'FAIL'} {name}" for name, ok in r.checks.items()]
    lines += [f"  ! {p}" for p in r.problems[:10]]
    return "\n".join(lines)


def raw(result: SealingResult) -> dict[str, Any]:
    data = asdict(result)
    data.update(
        submit_rate=result.submit_rate,
        seal_rate=result.seal_rate,
        backlog_at_last_answer=result.backlog,
        drain_seconds=result.drain_seconds,
        drain_rate=result.drain_rate,
        capacity_rate={b: result.capacity_rate(b) for b in result.capacity_seconds},
        timeline_s_size=data.pop("timeline"),
    )
    return data
