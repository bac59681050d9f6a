"""Takedown feed under load: platform clients polling while officers issue orders.

A real ``evidence serve`` subprocess (uvicorn, SQLite, local store) on loopback.
``clients`` platform clients (threads, one httpx keep-alive connection each),
spread over ``platforms`` platforms, poll ``GET /v1/platform/takedowns?since=<cursor>``
every ``poll_interval`` seconds, as a platform's integration would (a page that says
``more`` is fetched at once; clients start spread over one interval), while
``officers`` officer threads issue ``orders`` orders spread across the platforms, each
citing one evidence item. When the officers are done, every
client drains its feed; then each client's view must hold exactly its platform's
orders, each once (the service check: an order lost or duplicated fails the run).

Figures: poll latency p50/p99 under load, beside the same poll on the idle server
measured first in the same run (the baseline); and the issue rate achieved.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import Progress, Row, percentile, support
from bench.ingest import service_fields
from evidence_api.core.auth import create_token
from evidence_api.core.config import Settings as ServiceSettings
from evidence_api.registry.models import Platform
from evidence_api.runtime import NO_TIMERS, build_runtime


@dataclass(frozen=True)
class TakedownSettings:
    clients: int
    platforms: int
    orders: int
    officers: int
    idle_polls: int
    #: Seconds between a client's polls. 0 polls back to back: the server is then
    #: saturated by design and latency is queueing (clients x service time).
    poll_interval: float = 1.0

    @staticmethod
    def make(quick: bool) -> TakedownSettings:
        if quick:
            return TakedownSettings(clients=10, platforms=5, orders=100, officers=2, idle_polls=50)
        return TakedownSettings(clients=50, platforms=10, orders=1000, officers=4, idle_polls=200)


@dataclass
class TakedownResult:
    settings: TakedownSettings
    poll_ms: list[float] = field(default_factory=list)
    idle_ms: list[float] = field(default_factory=list)
    issue_seconds: float = 0.0
    polls: int = 0
    orders_seen: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class _Service:
    base_url: str
    officer: str
    platform_tokens: dict[str, list[str]]  # platform code -> one token per client


@contextmanager
def _service(root: Path, s: TakedownSettings) -> Iterator[_Service]:
    fields = service_fields(root, storage="local") | {"run_supervisor": "false"}
    settings = ServiceSettings(**fields)  # type: ignore[arg-type]
    runtime = build_runtime(settings, **NO_TIMERS, connect_chain=False)
    codes = [f"bench-mall-{i:02d}" for i in range(s.platforms)]
    tokens: dict[str, list[str]] = {code: [] for code in codes}
    try:
        with runtime.session() as session:
            now = datetime.now(UTC)
            for code in codes:
                session.add(
                    Platform(
                        code=code, name=code, webhook_enabled=False, created_at=now, updated_at=now
                    )
                )
            _, officer = create_token(session, role="officer", name="bench officer")
            for i in range(s.clients):
                code = codes[i % len(codes)]
                tokens[code].append(
                    create_token(session, role="platform", name=f"bench {i}", platform=code)[1]
                )
    finally:
        runtime.close()
    env = {f"EVIDENCE_{key.upper()}": value for key, value in fields.items()}
    with support("api").serve_subprocess(env, root / "serve.log") as server:
        yield _Service(server.base_url, officer, tokens)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _evidence(client: httpx.Client) -> str:
    meta = (
        '{"source_url":"https://bench.example/item/1","platform":"bench",'
        '"captured_at":"2026-11-26T10:00:00+08:00","capture_tool":"bench"}'
    )
    response = client.post(
        "/v1/evidence",
        files=[
            ("metadata", (None, meta, "application/json")),
            ("files", ("page.html", b"<p>bench</p>", "text/html")),
        ],
    )
    response.raise_for_status()
    return str(response.json()["evidence_id"])


class _Poller(threading.Thread):
    def __init__(
        self, base_url: str, token: str, stop: threading.Event, interval: float, offset: float
    ) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.offset = offset
        self.client = httpx.Client(base_url=base_url, headers=_headers(token), timeout=60)
        self.stop = stop
        self.seen: list[str] = []
        self.latencies: list[float] = []
        self.error: str | None = None

    def run(self) -> None:
        cursor: str | None = None
        next_poll = time.perf_counter() + self.offset
        try:
            while True:
                if self.interval > 0 and not self.stop.is_set():
                    time.sleep(max(0.0, next_poll - time.perf_counter()))
                    next_poll = max(next_poll + self.interval, time.perf_counter())
                finished = self.stop.is_set()
                params: dict[str, str | int] = {
                    "limit": 100,
                    **({"since": cursor} if cursor else {}),
                }
                started = time.perf_counter()
                response = self.client.get("/v1/platform/takedowns", params=params)
                self.latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                page = response.json()
                self.seen += [item["order_id"] for item in page["items"]]
                cursor = page["next_cursor"]
                if page["more"]:
                    next_poll = time.perf_counter()  # the rest of the backlog, at once
                if finished and not page["more"]:
                    return
        except Exception as exc:  # reported as a problem, not a crash
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.client.close()


def run(s: TakedownSettings, progress: Progress) -> TakedownResult:
    result = TakedownResult(s)
    with (
        tempfile.TemporaryDirectory(prefix="evidence-bench-takedowns-") as tmp,
        _service(Path(tmp), s) as svc,
    ):
        officer = httpx.Client(base_url=svc.base_url, headers=_headers(svc.officer), timeout=60)
        evidence_id = _evidence(officer)
        codes = list(svc.platform_tokens)
        idle = httpx.Client(
            base_url=svc.base_url,
            headers=_headers(svc.platform_tokens[codes[0]][0]),
            timeout=60,
        )
        for _ in range(s.idle_polls):  # baseline: the same poll on the idle server
            started = time.perf_counter()
            idle.get("/v1/platform/takedowns").raise_for_status()
            result.idle_ms.append((time.perf_counter() - started) * 1000)
        idle.close()
        progress(
            f"takedowns: {s.clients} platform clients polling, {s.officers} officers issue "
            f"{s.orders:,} orders to {s.platforms} platforms"
        )
        stop = threading.Event()
        spread = s.poll_interval / max(1, s.clients)
        pollers = {
            code: [
                _Poller(svc.base_url, t, stop, s.poll_interval, spread * (n * len(codes) + k))
                for n, t in enumerate(tokens)
            ]
            for k, (code, tokens) in enumerate(svc.platform_tokens.items())
        }
        for group in pollers.values():
            for poller in group:
                poller.start()
        issued: dict[str, list[str]] = {code: [] for code in codes}
        lock = threading.Lock()
        failures: list[str] = []

        def officer_thread(k: int) -> None:
            client = httpx.Client(base_url=svc.base_url, headers=_headers(svc.officer), timeout=60)
            deadline = (datetime.now(UTC) + timedelta(days=7)).isoformat()
            for i in range(k, s.orders, s.officers):
                code = codes[i % len(codes)]
                response = client.post(
                    "/v1/takedowns",
                    json={
                        "platform": code,
                        "listing_urls": [f"https://{code}.example/item/{i}"],
                        "legal_basis": "《电子商务法》第三十八条",
                        "reason": "bench",
                        "evidence_ids": [evidence_id],
                        "deadline": deadline,
                    },
                )
                if response.status_code != 201:
                    failures.append(f"issue {i}: {response.status_code} {response.text[:200]}")
                    continue
                with lock:
                    issued[code].append(response.json()["order_id"])
            client.close()

        started = time.perf_counter()
        officers = [threading.Thread(target=officer_thread, args=(k,)) for k in range(s.officers)]
        for t in officers:
            t.start()
        for t in officers:
            t.join()
        result.issue_seconds = time.perf_counter() - started
        stop.set()
        for group in pollers.values():
            for poller in group:
                poller.join(120)
        officer.close()
    result.problems += failures[:10]
    for code, group in pollers.items():
        expected = sorted(issued[code])
        for n, poller in enumerate(group):
            result.poll_ms += poller.latencies
            result.polls += len(poller.latencies)
            result.orders_seen += len(poller.seen)
            if poller.error or poller.is_alive():
                result.problems.append(f"{code} client {n}: {poller.error or 'did not finish'}")
                continue
            if len(set(poller.seen)) != len(poller.seen):
                result.problems.append(f"{code} client {n}: an order seen twice")
            if sorted(set(poller.seen)) != expected:
                lost = len(set(expected) - set(poller.seen))
                result.problems.append(f"{code} client {n}: {lost} orders lost")
    if sum(len(v) for v in issued.values()) != s.orders:
        result.problems.append(f"issued {sum(len(v) for v in issued.values())} of {s.orders}")
    return result


def rows(result: TakedownResult) -> list[Row]:
    s = result.settings
    out: list[Row] = []
    for q in (50, 99):
        out.append(
            Row(
                id=f"takedowns.poll.p{q}",
                figure=f"platform feed poll p{q}, {s.clients} clients polling every "
                f"{s.poll_interval:g} s while {s.orders:,} orders are issued",
                unit="ms",
                ours=percentile(result.poll_ms, q) if result.poll_ms else 0.0,
                baseline=percentile(result.idle_ms, q) if result.idle_ms else None,
                baseline_name="the same poll, idle server",
                ratio_kind="share",
            )
        )
    rate = s.orders / result.issue_seconds if result.issue_seconds else 0.0
    out.append(
        Row(
            id="takedowns.issue_rate",
            figure=f"orders issued/s by {s.officers} officers under that polling",
            unit="orders/s",
            ours=rate,
            baseline=None,
            baseline_name="-",
            ratio_kind="none",
            higher_is_better=True,
        )
    )
    return out


def legend(result: TakedownResult) -> str:
    verdict = "none lost or duplicated" if not result.problems else "; ".join(result.problems[:5])
    return (
        f"{result.polls:,} polls returned {result.orders_seen:,} order views; every client saw "
        f"its platform's orders: {verdict}.\nshare = ours / baseline (the idle poll). "
        f"Clients poll every {result.settings.poll_interval:g} s (poll_interval = 0: back to "
        "back, which saturates the one server process; latency is then queueing)."
    )


def raw(result: TakedownResult) -> dict[str, Any]:
    data = asdict(result)
    data["poll_ms"] = {"count": len(result.poll_ms)}
    data["idle_ms"] = {"count": len(result.idle_ms)}
    return data
