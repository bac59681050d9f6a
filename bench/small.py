"""Small items at scale (issue 12): evidence/s and p99 at 8 and 32 clients on the local
store and on SeaweedFS S3, and ``/v1/stamps`` digests/s, through a real ``evidence serve``.

Each evidence is one file of 1 KB (1,000 bytes; the issue's "small item"; unique bytes,
so content addressing never short-circuits a write). The multipart bodies are built
before the clock starts, so the client threads measure the server, not the client's
encoder. Each client
thread holds one keep-alive connection. The baseline, in the same run: ``GET
/healthz`` at the same concurrency (the HTTP stack alone: what a request costs
the server before it does any work).

Run alone: ``.venv/bin/python -m bench.small [--quick] [--workers N] [--storage local,s3]``.
Every answer is checked (201, the files' digests); after the run the database must
hold every acknowledged evidence id and stamp entry, none twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.common import (
    CORES,
    CpuMeter,
    CpuSplit,
    Progress,
    Row,
    bound_row,
    percentile,
    support,
    verdict,
)
from bench.databases import scratch_postgres
from bench.ingest import (
    Payload,
    Service,
    SharedS3,
    evidence_service,
    random_digests,
    run_concurrent,
)
from evidence_api.core.db import make_engine

TARGET_EVIDENCE_S = 200.0
TARGET_P99_MS = 250.0
TARGET_STAMPS_S = 10_000.0
SMALL_FILE = 1_000
SMALL_FILES = 1
STAMPS_PER_REQUEST = 1000
TITLE = "Small items: 1 KB evidence and /v1/stamps through a real evidence serve"
LEGEND = (
    "Rates and p99 are wall-clock on this machine (the clients share its cores with the\n"
    "server and, on S3, with SeaweedFS); the baseline is GET /healthz at the same\n"
    "concurrency. The CPU bound: the machine's cores divided by the CPU seconds per\n"
    "evidence of the server (all its processes), the S3 server and the client threads\n"
    "during that load: the rate these parties could reach with every core theirs alone."
)


def multipart(n: int, tag: int, payload: Payload) -> tuple[bytes, str, list[str]]:
    """A ``POST /v1/evidence`` body, its content type, and its files' SHA-256."""
    boundary = f"bench{uuid.uuid4().hex}"
    meta = json.dumps(support("api").metadata(case_ref=f"bench-{n}")).encode()
    out = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'
        "Content-Type: application/json\r\n\r\n".encode(),
        meta,
        b"\r\n",
    ]
    digests = []
    for p in range(SMALL_FILES):
        data = payload.file(tag, n, p)
        digests.append(hashlib.sha256(data).hexdigest())
        out += [
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="capture-{p}.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode(),
            data,
            b"\r\n",
        ]
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}", digests


@dataclass
class Figure:
    label: str
    clients: int
    count: int
    seconds: float
    latencies: list[float]
    #: CPU per item of the server (all its processes), the S3 server and the clients:
    #: unlike the rates, not skewed by a busy machine
    cpu: CpuSplit = field(default_factory=CpuSplit)

    @property
    def cpu_ms(self) -> float:
        """The server's CPU per item, ms."""
        return self.cpu.server_ms

    @property
    def per_s(self) -> float:
        return self.count / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1e3

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1e3


@dataclass
class SmallResult:
    evidence: list[Figure] = field(default_factory=list)
    healthz: list[Figure] = field(default_factory=list)
    stamps: Figure | None = None
    problems: list[str] = field(default_factory=list)


def post_small(
    service: Service,
    count: int,
    clients: int,
    tag: int,
    payload: Payload,
    store_pid: int | None = None,
) -> tuple[Figure, list[str], list[str]]:
    bodies = [multipart(n, tag, payload) for n in range(count)]

    def job(client: httpx.Client, n: int) -> dict[str, Any]:
        body, ctype, _ = bodies[n]
        response = client.post("/v1/evidence", content=body, headers={"content-type": ctype})
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/evidence: {response.status_code} {response.text[:300]}")
        answer: dict[str, Any] = response.json()
        return answer

    meter = CpuMeter(service.pid, store_pid)
    load = run_concurrent(
        count, clients, service.client, job, lambda c: c.close(), clock=meter.clock
    )
    cpu = meter.per_item(count)
    problems = []
    for n, answer in enumerate(load.results):
        if [f["sha256"] for f in answer["files"]] != bodies[n][2]:
            problems.append(f"evidence {answer['evidence_id']}: files differ from those sent")
    ids = [a["evidence_id"] for a in load.results]
    return Figure("", clients, count, load.seconds, load.latencies, cpu), ids, problems


def get_healthz(service: Service, count: int, clients: int) -> Figure:
    def job(client: httpx.Client, n: int) -> None:
        client.get("/healthz").raise_for_status()

    meter = CpuMeter(service.pid)
    load = run_concurrent(
        count, clients, service.client, job, lambda c: c.close(), clock=meter.clock
    )
    return Figure("healthz", clients, count, load.seconds, load.latencies, meter.per_item(count))


def post_stamps(service: Service, requests: int, clients: int) -> tuple[Figure, list[str]]:
    batches = [random_digests(STAMPS_PER_REQUEST) for _ in range(requests)]

    def job(client: httpx.Client, n: int) -> list[str]:
        response = client.post("/v1/stamps", json={"digests": batches[n]})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST /v1/stamps: {response.status_code} {response.text[:300]}")
        receipts = response.json()["receipts"]
        if [r["digest"] for r in receipts] != batches[n]:
            raise RuntimeError("POST /v1/stamps answered for other digests than were sent")
        return [r["entry_id"] for r in receipts]

    meter = CpuMeter(service.pid)
    load = run_concurrent(
        requests, clients, service.client, job, lambda c: c.close(), clock=meter.clock
    )
    digests = requests * STAMPS_PER_REQUEST
    ids = [i for batch in load.results for i in batch]
    fig = Figure("stamps", clients, digests, load.seconds, load.latencies, meter.per_item(digests))
    return fig, ids


def check_durable(service: Service, evidence_ids: list[str], entry_ids: list[str]) -> list[str]:
    """Every acknowledged evidence and stamp is in the database, once."""
    engine = make_engine(service.database_url)
    try:
        with engine.connect() as conn:
            have = set(conn.execute(text("SELECT id FROM evidence")).scalars())
            entries = list(conn.execute(text("SELECT entry_id FROM log_entry")).scalars())
    finally:
        engine.dispose()
    problems = [
        f"acknowledged evidence {i} is not in the database" for i in evidence_ids if i not in have
    ][:5]
    counted: dict[str, int] = {}
    for e in entries:
        counted[e] = counted.get(e, 0) + 1
    problems += [f"entry {e} recorded {c} times" for e, c in counted.items() if c > 1][:5]
    problems += [
        f"acknowledged entry {e} is not in the log" for e in entry_ids if e not in counted
    ][:5]
    problems += [
        f"acknowledged evidence {e} has no log entry" for e in evidence_ids if e not in counted
    ][:5]
    return problems


def run(
    quick: bool,
    storages: list[str],
    s3: SharedS3 | None,
    progress: Progress,
    extra: dict[str, str] | None = None,
    database: str = "sqlite",
) -> SmallResult:
    result = SmallResult()
    count = 64 if quick else 400
    payload = Payload(SMALL_FILE, seed=3)
    tag = 0
    with tempfile.TemporaryDirectory(prefix="evidence-bench-small-") as tmp:
        for storage in storages:
            server = None
            store_pid: int | None = None
            if storage == "s3":
                if s3 is None or not s3.available:
                    result.problems.append("s3: SeaweedFS binary not found")
                    continue
                server = s3.get()
                store_pid = server.pid
            root = Path(tmp) / storage
            with ExitStack() as scratch:
                url = None
                if database == "postgres":
                    url = scratch.enter_context(scratch_postgres())
                service = scratch.enter_context(
                    evidence_service(
                        root,
                        storage=storage,
                        s3=server,
                        bucket=f"bench-small-{uuid.uuid4().hex[:12]}",
                        database_url=url,
                        extra=extra,
                    )
                )
                progress(f"small {storage}: evidence serve pid {service.pid}")
                tag += 1
                post_small(service, 8, 4, tag, payload)  # warm-up, untimed
                # The baselines and stamps before the evidence loads: each evidence's
                # 存证证书 is drawn in the background after the load, and that backlog
                # would take the server's spare CPU from whatever is measured after it.
                stamp_ids: list[str] = []
                if storage == storages[0]:
                    for clients in (8, 32):
                        service.settle(progress)
                        hz = get_healthz(service, count, clients)
                        result.healthz.append(hz)
                        progress(
                            f"healthz {clients} clients: {hz.per_s:.0f}/s, "
                            f"server CPU {hz.cpu_ms:.2f} ms/request"
                        )
                    post_stamps(service, 2, 2)  # warm-up
                    service.settle(progress)
                    fig, stamp_ids = post_stamps(service, 8 if quick else 30, 4)
                    result.stamps = fig
                    progress(
                        f"stamps: {fig.per_s:,.0f} digests/s, "
                        f"server CPU {fig.cpu_ms * 1e3:.0f} us/digest"
                    )
                acknowledged: list[str] = []
                for clients in (8, 32):
                    tag += 1
                    service.settle(progress)
                    fig, ids, problems = post_small(
                        service, count, clients, tag, payload, store_pid
                    )
                    fig.label = storage
                    acknowledged += ids
                    result.problems += problems
                    result.evidence.append(fig)
                    progress(
                        f"small {storage} {clients} clients: {fig.per_s:.1f} evidence/s, "
                        f"p50 {fig.p50_ms:.0f} ms, p99 {fig.p99_ms:.0f} ms, "
                        f"CPU per evidence: server {fig.cpu.server_ms:.2f} ms, "
                        f"S3 server {fig.cpu.store_ms:.2f} ms, clients {fig.cpu.clients_ms:.2f} "
                        f"ms: CPU bound {fig.cpu.bound(CORES):.0f}/s on {CORES} cores"
                    )
                result.problems += [
                    f"{storage}: {p}" for p in check_durable(service, acknowledged, stamp_ids)
                ]
    for problem in result.problems[:10]:
        progress(f"small: PROBLEM: {problem}")
    return result


def raw(result: SmallResult) -> dict[str, Any]:
    """The figures for results.json (latency lists summarised)."""

    def figure(f: Figure) -> dict[str, Any]:
        return {
            "label": f.label,
            "clients": f.clients,
            "count": f.count,
            "per_s": f.per_s,
            "p50_ms": f.p50_ms,
            "p99_ms": f.p99_ms,
            "server_cpu_ms": f.cpu.server_ms,
            "store_cpu_ms": f.cpu.store_ms,
            "clients_cpu_ms": f.cpu.clients_ms,
            "cpu_bound_per_s": f.cpu.bound(CORES),
        }

    return {
        "evidence": [figure(f) for f in result.evidence],
        "healthz": [figure(f) for f in result.healthz],
        "stamps": figure(result.stamps) if result.stamps else None,
        "problems": result.problems,
    }


def rows(result: SmallResult) -> list[Row]:
    out: list[Row] = []
    healthz = {f.clients: f for f in result.healthz}
    for fig in result.evidence:
        hz = healthz.get(fig.clients)
        name = f"small.{fig.label}.c{fig.clients}"
        out.append(
            Row(
                id=f"{name}.evidence_per_s",
                figure=f"evidence/s, 1 x 1 KB, {fig.label}, {fig.clients} clients",
                unit="items/s",
                ours=fig.per_s,
                baseline=hz.per_s if hz else None,
                baseline_name="GET /healthz/s",
                ratio_kind="share",
                higher_is_better=True,
                target=f">= {TARGET_EVIDENCE_S:.0f}/s",
                verdict=verdict(fig.per_s >= TARGET_EVIDENCE_S),
            )
        )
        out.append(
            Row(
                id=f"{name}.p99_ms",
                figure=f"p99 latency, {fig.label}, {fig.clients} clients",
                unit="ms",
                ours=fig.p99_ms,
                baseline=percentile(hz.latencies, 99) * 1e3 if hz else None,
                baseline_name="GET /healthz p99",
                ratio_kind="none",
                target=f"< {TARGET_P99_MS:.0f} ms",
                verdict=verdict(fig.p99_ms < TARGET_P99_MS),
            )
        )
        figure = f"evidence/s, {fig.label}, {fig.clients} clients"
        out.append(bound_row(f"{name}.cpu_bound", figure, "items/s", fig.per_s, fig.cpu))
    if result.stamps is not None:
        s = result.stamps
        out.append(
            Row(
                id="small.stamps.digests_per_s",
                figure=f"/v1/stamps x{STAMPS_PER_REQUEST}/request, {s.clients} clients",
                unit="items/s",
                ours=s.per_s,
                baseline=None,
                baseline_name="",
                ratio_kind="none",
                higher_is_better=True,
                target=f">= {TARGET_STAMPS_S:,.0f}/s",
                verdict=verdict(s.per_s >= TARGET_STAMPS_S),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.small")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="EVIDENCE_WORKERS")
    parser.add_argument("--storage", default="local,s3")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--server-path", help="PYTHONPATH of the server (e.g. an older tree, for a baseline)"
    )
    args = parser.parse_args(argv)
    extra = {"EVIDENCE_WORKERS": str(args.workers)} if args.workers else {}
    if args.server_path:
        extra["PYTHONPATH"] = args.server_path

    progress = Progress()

    with ExitStack() as stack:
        shared = SharedS3(stack, progress)
        result = run(args.quick, args.storage.split(","), shared, progress, extra, args.database)
    for row in rows(result):
        base = f"{row.baseline:,.1f}" if row.baseline is not None else "-"
        print(
            f"{row.id:42} {row.ours:10,.1f} {row.unit:8} beside {base:>10} "
            f"{row.baseline_name:18} {row.target:12} {row.verdict}"
        )
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
