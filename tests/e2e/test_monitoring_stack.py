"""Issue 14's monitor runs on the real stack: beat's ``evidence.monitor_tick`` in a Celery
worker queues the due monitors' runs and sends them to queue ``capture``, where a real
``evidence worker --queues capture`` runs them in Chromium against the HTTPS market
fixture (tests/support/market_site.py); Redis, PostgreSQL, S3 with Object Lock
(SeaweedFS), anchored on anvil, verified offline through tier 5.

One monitor on one listing: the first run fires nothing and leaves a ``monitor`` entry;
the test changes the price; the next run fires exactly ``price_changed``, keeps the full
capture as evidence and opens the alert citing it. The evidence package verifies through
tier 5 with the ``evidence-verify`` console script, and both runs' ``monitor`` entries
through tier 5 with the library verifier (anchored on the chain).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from evidence_api.core.models import ApiToken
from evidence_api.monitoring.models import Alert, Monitor, MonitorRun
from tests.support.api import AnchoringStack
from tests.support.market_site import MarketSite
from tests.support.monitors import monitor_row
from tests.support.stacks import (
    STACK_MARKS,
    market_stack,
    skip_without_stack_tools,
    verify_entry_through_tier5,
    verify_package_through_tier5,
)

pytestmark = STACK_MARKS

PURPOSE = "监测验收 monitoring acceptance"
#: Generous deadlines: a loaded 2-core machine runs Chromium, anvil, PostgreSQL and S3 here.
RUN_DEADLINE = 300.0


def progress(message: str) -> None:
    print(f"[monitoring e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class MonitoringStack:
    stack: AnchoringStack
    market: MarketSite
    root: Path

    def session(self) -> Session:
        return Session(self.stack.engine, expire_on_commit=False)


@pytest.fixture(scope="module")
def monitoring_stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[MonitoringStack]:
    skip_without_stack_tools()
    root = tmp_path_factory.mktemp("monitoring-stack")
    with market_stack(root, postgres_url) as (market, anchoring):
        progress(f"stack up: market {market.site.base}, chain {anchoring.node.url}")
        yield MonitoringStack(anchoring, market, root)


def add_monitor(ms: MonitoringStack, url: str) -> Monitor:
    """A due monitor, inserted as the API would (its creator: the stack's officer)."""
    now = datetime.now(UTC)
    with ms.session() as session, session.begin():
        token = session.execute(
            select(ApiToken).where(ApiToken.role == "officer").order_by(ApiToken.id).limit(1)
        ).scalar_one()
        monitor = monitor_row(
            url,
            created_by_token_id=token.id,
            created_by=f"token-{token.id}",
            now=now,
            name="e2e listing",
        )
        session.add(monitor)
    return monitor


def due_now(ms: MonitoringStack, monitor: Monitor) -> None:
    with ms.session() as session, session.begin():
        session.execute(
            update(Monitor).where(Monitor.seq == monitor.seq).values(next_run_at=datetime.now(UTC))
        )


def finished_runs(ms: MonitoringStack, monitor: Monitor, count: int) -> list[MonitorRun]:
    """Poll until ``count`` runs of the monitor are done; fail on a failed one."""
    ends = time.monotonic() + RUN_DEADLINE
    while True:
        with ms.session() as session:
            found = list(
                session.execute(
                    select(MonitorRun)
                    .where(MonitorRun.monitor_seq == monitor.seq)
                    .order_by(MonitorRun.seq)
                ).scalars()
            )
        failed = [r.reason for r in found if r.status == "failed"]
        assert not failed, failed
        done = [r for r in found if r.status == "done"]
        if len(done) >= count:
            return done
        states = [(r.status, r.deferrals) for r in found]
        assert time.monotonic() < ends, f"runs not done after {RUN_DEADLINE} s: {states}"
        time.sleep(0.5)


def monitor_entry_through_tier5(ms: MonitoringStack, entry_id: str) -> dict[str, Any]:
    """A run's ``monitor`` entry, verified through tier 5 once anchored: its body."""
    bundle = verify_entry_through_tier5(ms.stack, entry_id)
    assert bundle.entry.kind == "monitor"
    return dict(bundle.entry.body)


def test_a_price_change_fires_on_celery_and_everything_verifies_through_tier5(
    monitoring_stack: MonitoringStack,
) -> None:
    ms = monitoring_stack
    ms.market.market.put("e2e")
    monitor = add_monitor(ms, ms.market.url("e2e"))
    progress("monitor added; waiting for beat's tick and the capture worker")
    [first] = finished_runs(ms, monitor, 1)
    assert first.fired == "[]" and first.evidence_id is None and first.entry_id
    ms.market.market.update("e2e", price="150.00")
    due_now(ms, monitor)
    progress("price changed; waiting for the second run")
    second = finished_runs(ms, monitor, 2)[1]
    assert [f["rule"] for f in json.loads(second.fired or "[]")] == ["price_changed"]
    assert second.evidence_id and second.entry_id
    with ms.session() as session:
        alerts = list(session.execute(select(Alert).where(Alert.run_seq == second.seq)).scalars())
    assert [(a.rule, a.evidence_id) for a in alerts] == [("price_changed", second.evidence_id)]
    assert ms.market.market.hits("e2e") >= 3  # light, light, then the full capture
    progress("verifying the evidence package and both monitor entries through tier 5")
    verify_package_through_tier5(ms.stack, second.evidence_id, purpose=PURPOSE, folder=ms.root)
    body = monitor_entry_through_tier5(ms, second.entry_id)
    assert body["fired"] == ["price_changed"] and body["evidence_id"] == second.evidence_id
    assert monitor_entry_through_tier5(ms, first.entry_id)["fired"] == []
