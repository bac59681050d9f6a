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
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from anchoring.node import anvil_binary
from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.core.ids import new_id
from evidence_api.core.models import ApiToken
from evidence_api.monitoring.models import Alert, Monitor, MonitorRun
from evidence_api.monitoring.ruleset import Rules
from tests.e2e.test_capture_stack import start_capture_worker
from tests.support.api import (
    VERIFY_CLI,
    AnchoringStack,
    anchoring_stack,
    fresh_postgres_database,
    random_bucket,
    stop_subprocess,
)
from tests.support.browser import chromium_missing
from tests.support.market_site import MarketSite, market_site
from tests.support.seaweed import WEED, seaweed_s3
from verifier.bundle import Bundle
from verifier.chain.anchor import make_anchor_check
from verifier.note import VerifierKey
from verifier.verify import Status, verify_bundle

pytestmark = [
    pytest.mark.chain,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
]

PURPOSE = "监测验收 monitoring acceptance"
#: Generous deadlines: a loaded 2-core machine runs Chromium, anvil, PostgreSQL and S3 here.
RUN_DEADLINE = 300.0
ANCHOR_DEADLINE = 300.0


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
    for missing in (
        None if anvil_binary() is not None else "anvil is not installed: run `make install`",
        chromium_missing(),
        None if WEED.is_file() else f"SeaweedFS not found at {WEED}",
    ):
        if missing:
            pytest.skip(missing)
    root = tmp_path_factory.mktemp("monitoring-stack")
    with ExitStack() as stack:
        market = stack.enter_context(market_site(root / "market"))
        s3 = stack.enter_context(seaweed_s3())
        database_url = stack.enter_context(fresh_postgres_database(postgres_url))
        env = {
            "EVIDENCE_STORAGE": "s3",
            "EVIDENCE_S3_ENDPOINT": s3.endpoint,
            "EVIDENCE_S3_ACCESS_KEY": s3.access_key,
            "EVIDENCE_S3_SECRET_KEY": s3.secret_key,
            "EVIDENCE_S3_BUCKET": random_bucket(),
            "EVIDENCE_RETENTION_DAYS": "1",
            "EVIDENCE_RUN_CAPTURES": "false",
            "EVIDENCE_RUN_MONITORS": "false",
            "EVIDENCE_MONITOR_TICK_INTERVAL": "1",
            "EVIDENCE_MONITOR_HOST_SPACING": "0",
            "EVIDENCE_CAPTURE_ALLOW": "localhost",
            "EVIDENCE_CAPTURE_UPSTREAM_CA": str(market.ca_file),
            "EVIDENCE_CAPTURE_TOTAL_SECONDS": "150",
        }
        anchoring = stack.enter_context(
            anchoring_stack(root / "stack", database_url=database_url, extra_env=env)
        )
        worker = start_capture_worker(anchoring)
        stack.callback(stop_subprocess, worker, 30.0)
        progress(f"stack up: market {market.site.base}, chain {anchoring.node.url}")
        yield MonitoringStack(anchoring, market, root)


def add_monitor(ms: MonitoringStack, url: str) -> Monitor:
    """A due monitor, inserted as the API would (its creator: the stack's officer)."""
    now = datetime.now(UTC)
    with ms.session() as session, session.begin():
        token = session.execute(
            select(ApiToken).where(ApiToken.role == "officer").order_by(ApiToken.id).limit(1)
        ).scalar_one()
        monitor = Monitor(
            id=new_id("mon"),
            name="e2e listing",
            target_kind="listing",
            url=url,
            host="localhost",
            interval_seconds=3600,
            rules=Rules().model_dump_json(),
            archive="on_alert",
            enabled=True,
            next_run_at=now,
            gone=False,
            created_by_token_id=token.id,
            created_by=f"token-{token.id}",
            created_at=now,
            updated_at=now,
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


def anchored_entry(ms: MonitoringStack, entry_id: str) -> Bundle:
    origin = ms.stack.vkey.strip().split("+", 1)[0]
    ends = time.monotonic() + ANCHOR_DEADLINE
    while True:
        with ms.stack.engine.connect() as conn:
            record = get_entry(conn, entry_id)
            assert record is not None, entry_id
            bundle = bundle_for(conn, record, origin=origin)
        if bundle.status == "anchored":
            return bundle
        assert time.monotonic() < ends, f"{entry_id} still {bundle.status}"
        time.sleep(0.5)


def verify_entry_through_tier5(ms: MonitoringStack, entry_id: str) -> dict[str, Any]:
    bundle = anchored_entry(ms, entry_id)
    chain = ms.stack.chain
    check = make_anchor_check([chain.rpc_url], contract=chain.contract, chain_id=chain.chain_id)
    report = verify_bundle(
        bundle, log_keys=[VerifierKey.from_text(ms.stack.vkey.strip())], anchor_check=check
    )
    statuses = [t.status for t in report.tiers[2:]]
    assert statuses == [Status.VERIFIED] * 3, report.to_dict()
    assert bundle.entry.kind == "monitor"
    return dict(bundle.entry.body)


def verify_package_through_tier5(ms: MonitoringStack, evidence_id: str) -> dict[str, Any]:
    """Export the evidence package once anchored; ``evidence-verify`` through tier 5."""
    with ms.stack.client(timeout=120) as client:
        ends = time.monotonic() + ANCHOR_DEADLINE
        while client.get(f"/v1/evidence/{evidence_id}/proof").json()["status"] != "anchored":
            assert time.monotonic() < ends, f"{evidence_id} not anchored"
            time.sleep(0.5)
        response = client.get(f"/v1/evidence/{evidence_id}/package", params={"purpose": PURPOSE})
    assert response.status_code == 200, response.text
    path = ms.root / f"{evidence_id}.zip"
    path.write_bytes(response.content)
    done = subprocess.run(
        [
            str(VERIFY_CLI),
            str(path),
            "--log-key",
            ms.stack.vkey.strip(),
            *ms.stack.chain.verifier_args(),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    statuses = {t["tier"]: t["status"] for t in report["tiers"]}
    assert (done.returncode, report["outcome"]) == (0, "verified"), report
    assert statuses == dict.fromkeys(range(1, 6), "verified"), report
    return report


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
    verify_package_through_tier5(ms, second.evidence_id)
    body = verify_entry_through_tier5(ms, second.entry_id)
    assert body["fired"] == ["price_changed"] and body["evidence_id"] == second.evidence_id
    assert verify_entry_through_tier5(ms, first.entry_id)["fired"] == []
