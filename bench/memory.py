"""Figure 5: the server's memory while it receives a 1 GiB file.

A 1 GiB file (GiB = 2^30 bytes) is written to a temp dir, then streamed with
httpx from the open file object (the client reads 64 KiB at a time, so it
stays small too) to a real ``evidence serve`` subprocess: once with the local
store, once with S3 (SeaweedFS with Object Lock). While it uploads, the RSS of
each of the server's processes (``evidence serve``, its worker processes, one
per core by default, and its certificate helper once started) is sampled with
psutil every 50 ms, and the largest is kept: the target is per process, and
whichever process the kernel hands the connection receives the file. The
figure is the peak, beside the baseline: the same server's idle RSS measured
just before the upload (after one small warm-up submission, so the code paths
are loaded). The 201's SHA-256 must equal the local file's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.common import Progress, Row, verdict
from bench.ingest import SharedS3, evidence_service, metadata_json

MiB = 1 << 20
GiB = 1 << 30
PEAK_TARGET_MIB = 150.0
SAMPLE_S = 0.05
IDLE_S = 1.0
CHUNK = 8 * MiB


@dataclass
class MemorySettings:
    quick: bool
    file_bytes: int

    @classmethod
    def make(cls, quick: bool) -> MemorySettings:
        return cls(quick, 64 * MiB if quick else GiB)


class RssSampler:
    """Samples the RSS of a process (and its children) every ``interval`` seconds: their
    sum, or with ``largest`` the largest of them."""

    def __init__(
        self,
        pid: int,
        interval: float = SAMPLE_S,
        *,
        children: bool = True,
        largest: bool = False,
    ) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.children = children
        self.largest = largest
        self.samples: list[tuple[float, int]] = []  # (monotonic time, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def rss(self) -> int:
        sizes = [0]
        family = self.process.children(recursive=True) if self.children else []
        for proc in [self.process, *family]:
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes.append(proc.memory_info().rss)
        return max(sizes) if self.largest else sum(sizes)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.rss()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), self.rss()))

    @property
    def peak(self) -> int:
        return max(rss for _, rss in self.samples)


@dataclass
class Upload:
    storage: str
    file_bytes: int
    idle_rss: int
    idle_samples: int
    peak_rss: int
    samples: int
    seconds: float
    #: the bench process alone (it streams the file): before the upload, and its peak
    client_rss: int
    client_peak_rss: int
    status: int
    sha256_local: str
    sha256_reported: str | None
    #: the server's RSS over the upload, downsampled to at most ~100 points (s, MiB)
    timeline: list[tuple[float, float]] = field(default_factory=list)
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.status == 201 and self.sha256_reported == self.sha256_local

    @property
    def mb_s(self) -> float:
        return self.file_bytes / 1e6 / self.seconds if self.seconds else 0.0


@dataclass
class MemoryResult:
    settings: MemorySettings
    uploads: list[Upload] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def make_file(path: Path, size: int) -> str:
    """Write ``size`` bytes to ``path`` (an 8 MiB random block, each copy numbered);
    return its SHA-256."""
    block = bytearray(os.urandom(CHUNK))
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for n, start in enumerate(range(0, size, CHUNK)):
            block[:16] = b"%016d" % n
            chunk = memoryview(block)[: min(CHUNK, size - start)]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def measure_upload(
    service: Any, storage: str, path: Path, sha256: str, progress: Progress
) -> Upload:
    size = path.stat().st_size
    with service.client(timeout=600.0) as client:
        # warm-up: one small submission loads every code path (and creates the bucket)
        warm = client.post(
            "/v1/evidence",
            files=[
                ("metadata", (None, metadata_json(0), "application/json")),
                ("files", ("warm-up.txt", b"warm-up", "text/plain")),
            ],
        )
        if warm.status_code != 201:
            raise RuntimeError(f"warm-up: {warm.status_code} {warm.text[:500]}")
        time.sleep(0.3)
        idle = RssSampler(service.pid, largest=True)
        with idle:
            time.sleep(IDLE_S)
        progress(
            f"memory {storage}: idle RSS {idle.peak / MiB:.1f} MiB; uploading {size / MiB:,.0f} MiB"
        )
        own = RssSampler(os.getpid(), children=False)
        own_before = own.rss()
        with open(path, "rb") as fh, RssSampler(service.pid, largest=True) as busy, own:
            start = time.monotonic()
            response = client.post(
                "/v1/evidence",
                files=[
                    ("metadata", (None, metadata_json(1), "application/json")),
                    ("files", (path.name, fh, "application/octet-stream")),
                ],
            )
            seconds = time.monotonic() - start
    reported = None
    if response.status_code == 201:
        files = response.json().get("files", [])
        reported = files[0]["sha256"] if len(files) == 1 and files[0]["size"] == size else None
    step = max(1, len(busy.samples) // 100)
    timeline = [(round(t - start, 3), round(rss / MiB, 1)) for t, rss in busy.samples[::step]]
    upload = Upload(
        storage,
        size,
        idle.peak,
        len(idle.samples),
        busy.peak,
        len(busy.samples),
        seconds,
        own_before,
        own.peak,
        response.status_code,
        sha256,
        reported,
        timeline,
    )
    progress(
        f"memory {storage}: {response.status_code} in {seconds:.1f} s "
        f"({upload.mb_s:.0f} MB/s); server peak RSS {busy.peak / MiB:.1f} MiB over "
        f"{len(busy.samples)} samples; sha256 {'matches' if upload.intact else 'DIFFERS'}"
    )
    if not upload.intact:
        upload.problem = (
            f"{storage}: upload answered {response.status_code}, sha256 {reported} "
            f"(local file {sha256}) {response.text[:300] if response.status_code != 201 else ''}"
        )
    return upload


def run(settings: MemorySettings, s3: SharedS3, progress: Progress) -> MemoryResult:
    result = MemoryResult(settings)
    with tempfile.TemporaryDirectory(prefix="evidence-bench-memory-") as tmp:
        root = Path(tmp)
        path = root / "upload-1GiB.bin" if settings.file_bytes == GiB else root / "upload.bin"
        progress(f"memory: writing a {settings.file_bytes / MiB:,.0f} MiB file")
        sha256 = make_file(path, settings.file_bytes)
        storages = ["local", "s3"]
        for storage in storages:
            if storage == "s3" and not s3.available:
                result.skipped[storage] = "SeaweedFS binary not found"
                progress("memory s3: skipped: SeaweedFS binary not found")
                continue
            options: dict[str, Any] = {"storage": storage}
            if storage == "s3":
                options |= {"s3": s3.get(), "bucket": s3.new_bucket("bench-memory")}
            with evidence_service(root / f"serve-{storage}", **options) as service:
                upload = measure_upload(service, storage, path, sha256, progress)
            result.uploads.append(upload)
            if upload.problem:
                result.problems.append(upload.problem)
    return result


def rows(result: MemoryResult) -> list[Row]:
    return [
        Row(
            id=f"memory.{u.storage}.peak_rss",
            figure=f"{_size(u.file_bytes)} upload, {u.storage} store: server peak RSS per process",
            unit="MiB",
            ours=u.peak_rss / MiB,
            baseline=u.idle_rss / MiB,
            baseline_name="the server's idle RSS before the upload",
            ratio_kind="share",
            target=f"< {PEAK_TARGET_MIB:g} MiB",
            verdict=verdict(u.peak_rss / MiB < PEAK_TARGET_MIB),
        )
        for u in result.uploads
    ]


def legend(result: MemoryResult) -> str:
    lines = [
        "ratio = peak / idle. RSS of the largest of `evidence serve`'s processes (it and "
        "its worker processes, and its certificate helper once started), sampled every "
        f"{SAMPLE_S * 1e3:.0f} ms with psutil; idle: {IDLE_S:g} s before the upload, after a "
        "warm-up submission."
    ]
    for u in result.uploads:
        lines.append(
            f"{u.storage}: {_size(u.file_bytes)} in {u.seconds:.1f} s ({u.mb_s:.0f} MB/s), "
            f"{u.samples} samples; peak - idle = {(u.peak_rss - u.idle_rss) / MiB:.1f} MiB; "
            f"client (bench process) RSS {u.client_rss / MiB:.0f} MiB before, "
            f"+{(u.client_peak_rss - u.client_rss) / MiB:.1f} MiB at peak; 201 sha256 "
            + ("= the local file's: intact" if u.intact else f"DIFFERS (status {u.status})")
        )
    for storage, why in result.skipped.items():
        lines.append(f"{storage}: skipped: {why}")
    lines += [f"  ! {p}" for p in result.problems]
    return "\n".join(lines)


def raw(result: MemoryResult) -> dict[str, Any]:
    return {
        "settings": asdict(result.settings),
        "uploads": [
            {
                **{k: v for k, v in asdict(u).items() if k != "timeline"},
                "intact": u.intact,
                "mb_per_s": u.mb_s,
                "idle_rss_mib": u.idle_rss / MiB,
                "peak_rss_mib": u.peak_rss / MiB,
                "median_rss_mib": statistics.median(rss for _, rss in u.timeline)
                if u.timeline
                else None,
                "timeline_s_mib": u.timeline,
            }
            for u in result.uploads
        ],
        "skipped": result.skipped,
        "problems": result.problems,
    }


def _size(n: int) -> str:
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"
