"""Prometheus metrics of one app: ``GET /metrics`` (text exposition format).

Every app has its own :class:`~prometheus_client.CollectorRegistry` (tests build many
apps in one process; the global registry would mix them). Two kinds of samples:

* request samples, counted by :class:`evidence_api.core.observability.RequestContext` as
  requests pass: requests by method, route template (never the raw path: bounded
  cardinality) and status; latency; evidence bytes received;
* state samples, read from the database when scraped by :class:`StateCollector`, each
  with one cheap, bounded query: log size, sealing lag, anchor lag, the newest anchor's
  confirmations, the webhook backlog. A scrape never fails because of them: when the
  database (or the chain) does not answer, those samples are left out and
  ``evidence_metrics_database_up`` is 0.

Access: open by default (the service listens on loopback unless told otherwise); with
``EVIDENCE_METRICS_TOKEN`` set, ``/metrics`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Select, column, func, select, table, text

from anchoring.schema import anchor_tx, log_checkpoint, log_entry
from evidence_api.core.errors import UnauthorizedError

if TYPE_CHECKING:
    from evidence_api.core.runtime import Runtime

log = logging.getLogger(__name__)

#: Counts over a queue stop at this many rows: a scrape stays cheap during a backlog.
COUNT_CAP = 100_000
#: Seconds the chain may take to tell its head block at scrape time.
CHAIN_DEADLINE = 2.0
#: The takedown workflow's webhook queue, read by name: core imports no feature package.
_WEBHOOKS = table("webhook_delivery", column("seq"), column("state"))
#: Latency buckets (seconds): API calls take milliseconds, uploads up to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Request bodies counted as evidence intake (method, route template).
INTAKE_ROUTES = frozenset({("POST", "/v1/evidence")})


class Metrics:
    """One app's registry and the request metrics the middleware updates."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "evidence_http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "evidence_http_request_duration_seconds",
            "Seconds from a request's arrival to its response's last byte",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.intake_bytes = Counter(
            "evidence_intake_bytes",
            "Evidence upload bytes received (request bodies of POST /v1/evidence, "
            "multipart framing included, refused and aborted uploads too)",
            registry=self.registry,
        )
        self.state = StateCollector(runtime)
        self.registry.register(self.state)

    def observe(self, method: str, route: str, status: int, seconds: float, body: int) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if body and (method, route) in INTAKE_ROUTES:
            self.intake_bytes.inc(body)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _age(at: datetime | None, now: datetime) -> float:
    if at is None:
        return 0.0
    if at.tzinfo is None:  # SQLite hands timestamps back naive; they were written in UTC
        at = at.replace(tzinfo=UTC)
    return max(0.0, (now - at).total_seconds())


def _capped_count(conn: Connection, rows: Select[Any]) -> int:
    """``count(*)`` of ``rows``, stopping at :data:`COUNT_CAP`."""
    capped = rows.limit(COUNT_CAP).subquery()
    return int(conn.execute(select(func.count()).select_from(capped)).scalar_one())


class StateCollector(Collector):
    """The log's, the anchorer's and the webhooks' state, read when scraped."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self._runtime = runtime
        self._head_lock = threading.Lock()
        self._head_pending = False

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime()
        up = GaugeMetricFamily(
            "evidence_metrics_database_up",
            "1 when the last scrape could read the database, 0 when its samples are missing",
        )
        if runtime is None:
            up.add_metric([], 0)
            yield up
            return
        try:
            families = list(self._from_database(runtime))
        except Exception as exc:  # the database is down: skip its samples, never fail
            log.warning("metrics: database state unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_database(self, runtime: Runtime) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with runtime.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # bounded even if a table is locked
                conn.execute(text("SET LOCAL statement_timeout = 2000"))
            log_size = conn.execute(select(func.max(log_checkpoint.c.size))).scalar() or 0
            pending_where = log_entry.c.leaf_index.is_(None)
            pending = _capped_count(conn, select(log_entry.c.seq).where(pending_where))
            oldest = conn.execute(
                select(func.min(log_entry.c.received_at)).where(pending_where)
            ).scalar()
            webhooks = _capped_count(
                conn, select(_WEBHOOKS.c.seq).where(_WEBHOOKS.c.state == "pending")
            )
            anchored = None
            if runtime.chain is not None:
                anchored = conn.execute(
                    select(anchor_tx.c.size, anchor_tx.c.block_number, anchor_tx.c.block_timestamp)
                    .where(anchor_tx.c.state.in_(("included", "confirmed")))
                    .order_by(anchor_tx.c.size.desc(), anchor_tx.c.id.desc())
                    .limit(1)
                ).first()
            conn.rollback()
        yield _gauge("evidence_log_size", "Tree size of the newest signed checkpoint", log_size)
        yield _gauge(
            "evidence_sealing_pending_entries",
            f"Entries received but not yet sealed into the log (counted up to {COUNT_CAP})",
            pending,
        )
        yield _gauge(
            "evidence_sealing_oldest_pending_age_seconds",
            "Seconds the oldest unsealed entry has waited (0 when none is pending)",
            _age(oldest, now),
        )
        yield _gauge(
            "evidence_webhook_pending_deliveries",
            f"Webhook deliveries not yet delivered or given up (counted up to {COUNT_CAP})",
            webhooks,
        )
        if runtime.chain is None:  # EVIDENCE_CHAIN=none: nothing is ever anchored
            return
        anchored_size = anchored.size if anchored is not None else 0
        yield _gauge(
            "evidence_anchor_lag_entries",
            "Newest checkpoint's size minus the newest anchored (included) size",
            max(0, log_size - anchored_size),
        )
        if anchored is None:
            return
        if anchored.block_timestamp is not None:
            yield _gauge(
                "evidence_anchor_last_age_seconds",
                "Seconds since the block of the newest anchor (chain time)",
                max(0.0, now.timestamp() - anchored.block_timestamp),
            )
        head = self._chain_head(runtime)
        if head is not None and anchored.block_number is not None:
            yield _gauge(
                "evidence_anchor_confirmations",
                "Blocks holding the newest anchor, its own included",
                max(0, head - anchored.block_number + 1),
            )

    def _chain_head(self, runtime: Runtime) -> int | None:
        """The chain's head block, or None when it does not answer within the deadline.

        Asked in a daemon thread, at most one at a time: a hung node holds one thread,
        never a scrape or a pile of threads."""
        chain = runtime.chain
        if chain is None:
            return None
        with self._head_lock:
            if self._head_pending:
                return None
            self._head_pending = True
        found: list[int] = []

        def ask() -> None:
            try:
                found.append(chain.client.head())
            except Exception as exc:
                log.debug("metrics: chain head unavailable: %s", exc)
            finally:
                with self._head_lock:
                    self._head_pending = False

        thread = threading.Thread(target=ask, name="metrics-chain-head", daemon=True)
        thread.start()
        thread.join(CHAIN_DEADLINE)
        return found[0] if found else None


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _authorised(request: Request) -> None:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    token = runtime.settings.metrics_token if runtime is not None else None
    if token is None or not token.get_secret_value():
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.get_secret_value().encode()
    ):
        raise UnauthorizedError("/metrics needs Authorization: Bearer <EVIDENCE_METRICS_TOKEN>")


def add_metrics_route(app: FastAPI, metrics: Metrics) -> None:
    """``GET /metrics``: not in the OpenAPI document (it is not JSON, and not the API)."""

    @app.get("/metrics", include_in_schema=False)
    def metrics_route(request: Request) -> Response:  # a thread: the collector queries SQL
        _authorised(request)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
