"""Issue 14's takedowns verified by re-capture, on the real stack: ``evidence serve`` (no
checks of its own: ``EVIDENCE_RUN_MONITORS=false``), ``evidence worker`` and ``evidence
beat`` on Redis (beat's ``evidence.takedown_checks`` sends each due check to queue
``capture``), a real ``evidence worker --queues capture`` capturing in Chromium the HTTPS
market fixture (tests/support/market_site.py), PostgreSQL, S3 with Object Lock
(SeaweedFS), anchored on anvil, verified offline through tier 5.

One order, one listing, re-captures at +3 s and +90 s: the platform completes it through
the platform API with the listing gone (404) → the first re-capture records
``removal_verified``; the fixture restores the listing → the second records
``reappeared``: the order reopened, an alert for the issuing officer. The platform
disputes; the officer upholds with a new deadline; the platform's feed shows the
ruling. Every ``takedown`` and ``alert`` entry of the story verifies through tier 5 (the
library verifier, anchored on the chain), and so do both re-captures' evidence packages
(``evidence-verify``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.core.auth import create_token
from evidence_api.monitoring.models import Alert, AlertEvent
from evidence_api.takedowns.models import TakedownOrder
from tests.support.api import AnchoringStack, auth_header, ensure_example_platform, evidence_form
from tests.support.market_site import Listing, MarketSite
from tests.support.stacks import (
    STACK_MARKS,
    market_stack,
    skip_without_stack_tools,
    verify_entry_through_tier5,
    verify_package_through_tier5,
)

pytestmark = STACK_MARKS

PURPOSE = "下架复查验收 takedown verification acceptance"
PLATFORM = "example-mall"
#: the second re-capture's delay: time enough for the first to finish and the restore
SECOND_DELAY = 90
#: Generous deadlines: a loaded 2-core machine runs Chromium, anvil, PostgreSQL and S3 here.
CHECK_DEADLINE = 300.0


def progress(message: str) -> None:
    print(f"[takedown e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class VerificationStack:
    stack: AnchoringStack
    market: MarketSite
    root: Path
    platform_token: str

    def officer(self) -> httpx.Client:
        return self.stack.client(timeout=120)

    def platform(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.server.base_url,
            headers=auth_header(self.platform_token),
            timeout=120,
        )


@pytest.fixture(scope="module")
def verification_stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[VerificationStack]:
    skip_without_stack_tools()
    root = tmp_path_factory.mktemp("takedown-stack")
    delays = {"EVIDENCE_TAKEDOWN_VERIFY_DELAYS": f"3,{SECOND_DELAY}"}
    with market_stack(root, postgres_url, **delays) as (market, anchoring):
        with Session(anchoring.engine) as session, session.begin():
            ensure_example_platform(session)
            _, token = create_token(
                session, role="platform", name="example-mall ops", platform=PLATFORM
            )
        progress(f"stack up: market {market.site.base}, chain {anchoring.node.url}")
        yield VerificationStack(anchoring, market, root, token)


# -- steps ------------------------------------------------------------------------------------


def cite_evidence(vs: VerificationStack) -> str:
    with vs.officer() as client:
        response = client.post(
            "/v1/evidence", files=evidence_form({"listing.html": "<html>假冒 ¥99</html>".encode()})
        )
    assert response.status_code == 201, response.text
    return str(response.json()["evidence_id"])


def detail(vs: VerificationStack, order_id: str) -> dict[str, Any]:
    with vs.officer() as client:
        response = client.get(f"/v1/takedowns/{order_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for(vs: VerificationStack, order_id: str, what: str, ok: Any) -> dict[str, Any]:
    """Poll the order's officer view until ``ok(view)``; fail on a failed check."""
    ends = time.monotonic() + CHECK_DEADLINE
    while True:
        view = detail(vs, order_id)
        failed = [c["reason"] for c in view["checks"] if c["status"] == "failed"]
        assert not failed, failed
        if ok(view):
            return view
        states = [(c["delay_seconds"], c["status"], c["attempts"]) for c in view["checks"]]
        assert time.monotonic() < ends, f"{what} not seen after {CHECK_DEADLINE} s: {states}"
        time.sleep(0.5)


def platform_post(vs: VerificationStack, order_id: str, action: str, body: dict[str, Any]) -> Any:
    with vs.platform() as client:
        response = client.post(f"/v1/platform/takedowns/{order_id}/{action}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def feed(vs: VerificationStack) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with vs.platform() as client:
        while True:
            page = client.get("/v1/platform/takedowns", params={"since": cursor} if cursor else {})
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if not page.json()["more"]:
                return items


# -- the story --------------------------------------------------------------------------------


def test_removal_verified_then_reappeared_reopens_alerts_and_the_ruling_reaches_the_platform(
    verification_stack: VerificationStack,
) -> None:
    vs = verification_stack
    vs.market.market.put("e2e", Listing(state="404"))  # the platform really took it down
    url = vs.market.url("e2e")
    with vs.officer() as client:
        issued = client.post(
            "/v1/takedowns",
            json={
                "platform": PLATFORM,
                "listing_urls": [url],
                "legal_basis": "《电子商务法》第三十八条",
                "reason": "销售假冒注册商标商品 counterfeit goods",
                "evidence_ids": [cite_evidence(vs)],
                "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
            },
        )
    assert issued.status_code == 201, issued.text
    oid = issued.json()["order_id"]
    issuer = issued.json()["issued_by"]
    platform_post(vs, oid, "ack", {"note": "收到"})
    done = platform_post(
        vs, oid, "complete", {"note": "已下架", "removed_at": datetime.now(UTC).isoformat()}
    )
    assert done["status"] == "completed"
    progress("completed through the platform API; waiting for the +3 s re-capture")

    view = wait_for(
        vs,
        oid,
        "removal_verified",
        lambda v: any(c["status"] == "removal_verified" for c in v["checks"]),
    )
    verified = next(e for e in view["history"] if e["check"] == "removal_verified")
    assert view["status"] == "completed" and verified["url"] == url
    vs.market.market.update("e2e", state="live")  # the listing is back
    progress(f"listing restored; waiting for the +{SECOND_DELAY} s re-capture")

    view = wait_for(vs, oid, "reopened", lambda v: v["status"] == "reopened")
    reopening = view["history"][-1]
    assert (reopening["check"], reopening["from_status"], reopening["to_status"]) == (
        "reappeared",
        "completed",
        "reopened",
    )
    assert sorted(c["status"] for c in view["checks"]) == ["reappeared", "removal_verified"]
    with Session(vs.stack.engine) as session:
        seq = session.execute(select(TakedownOrder.seq).where(TakedownOrder.id == oid)).scalar()
        alerts = list(session.execute(select(Alert).where(Alert.order_seq == seq)).scalars())
        assert len(alerts) == 1
        alert = alerts[0]
        alert_entries = list(
            session.execute(
                select(AlertEvent.entry_id).where(AlertEvent.alert_seq == alert.seq)
            ).scalars()
        )
    assert (alert.rule, alert.status, alert.recipient) == ("reappeared", "open", issuer)
    assert alert.evidence_id == reopening["evidence_id"]

    # the platform sees the reopening in its feed, disputes; the officer upholds
    mine = [i for i in feed(vs) if i["order_id"] == oid][-1]
    assert mine["status"] == "reopened" and mine["change_seq"] == reopening["change_seq"]
    platform_post(vs, oid, "dispute", {"reason": "已再次下架，商品为他人链接"})
    new_deadline = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    reason = "复查证据显示商品仍在售，维持通知 / the re-capture shows it on sale; upheld"
    with vs.officer() as client:
        ruled = client.post(
            f"/v1/takedowns/{oid}/ruling",
            json={"decision": "uphold", "reason": reason, "deadline": new_deadline.isoformat()},
        )
    assert ruled.status_code == 200, ruled.text
    mine = [i for i in feed(vs) if i["order_id"] == oid][-1]
    assert mine["status"] == "reopened"
    assert (mine["ruling"]["decision"], mine["ruling"]["reason"]) == ("uphold", reason)
    assert datetime.fromisoformat(mine["ruling"]["deadline"]) == new_deadline
    assert datetime.fromisoformat(mine["deadline"]) == new_deadline

    progress("verifying every takedown and alert entry, and both re-captures, through tier 5")
    history = detail(vs, oid)["history"]
    # issued, acknowledged, completed, removal_verified, reopened, disputed, reopened (ruling)
    assert [e["to_status"] for e in history] == [
        "issued",
        "acknowledged",
        "completed",
        "completed",
        "reopened",
        "disputed",
        "reopened",
    ]
    for event in history:
        bundle = verify_entry_through_tier5(vs.stack, event["entry_id"])
        assert bundle.entry.kind == "takedown" and bundle.entry.body["order_id"] == oid
        assert bundle.entry.body["to"] == event["to_status"]
    ruling = verify_entry_through_tier5(vs.stack, history[-1]["entry_id"])
    assert ruling.entry.body["decision"] == "uphold"
    for entry_id in alert_entries:
        body = verify_entry_through_tier5(vs.stack, entry_id).entry.body
        assert body["rule"] == "reappeared" and body["order_id"] == oid
    for event in (verified, reopening):
        _, report = verify_package_through_tier5(
            vs.stack, event["evidence_id"], purpose=PURPOSE, folder=vs.root
        )
        assert report["outcome"] == "verified"
