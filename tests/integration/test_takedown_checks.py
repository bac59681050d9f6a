"""Takedowns verified by re-capture, in one process: the ``takedown-checks`` job's embedded
timer, REAL Chromium (light captures) on the HTTPS market fixture
(tests/support/market_site.py) whose listings the tests remove and restore, delays of 1
and 3 seconds. A completion schedules the checks; a listing gone (404, or the platform's
下架 page) is ``removal_verified`` with evidence whose bundle verifies (library
verifier); a listing still there is ``reappeared``: the order reopened (the platform's
feed shows it), a ``reappeared`` alert for the issuing officer, the round's other check
cancelled. Rulings on disputes (uphold with a new deadline, withdraw), their 409s and
422s; a capture that fails is retried once, then failed with its reason.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from evidence_api.core.config import Settings
from evidence_api.monitoring import hosts, takedown_checks
from evidence_api.monitoring.models import (
    CHECK_FAILED,
    CHECK_PENDING,
    Alert,
    TakedownCheck,
)
from evidence_api.takedowns import service as takedowns
from evidence_api.takedowns.models import TakedownOrder
from tests.support.api import Stack, running_stack, submit
from tests.support.market_site import Listing, MarketSite
from tests.support.monitors import market_settings
from tests.support.waiting import wait_until
from verifier.bundle import Bundle
from verifier.digests import digest_stream
from verifier.verify import Status, verify_bundle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Light captures one after another on the loaded 2-core test machine.
CHECK_DEADLINE = 300.0
PLATFORM = "example-mall"


def check_settings(data: Path, market: MarketSite, **extra: Any) -> Settings:
    """The takedown-checks job's timer runs the checks here, re-captures 1 and 3 s after a
    completion."""
    defaults: dict[str, Any] = {
        "run_monitors": True,
        "monitor_tick_interval": 0.5,
        "takedown_verify_delays": "1,3",
    }
    return market_settings(data, market.ca_file, **(defaults | extra))


@pytest.fixture(scope="module")
def stack(market: MarketSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = check_settings(tmp_path_factory.mktemp("checks") / "data", market)
    with running_stack(settings) as running:
        yield running


# -- helpers ----------------------------------------------------------------------------------


def issue(stack: Stack, urls: list[str], *, days: float = 2) -> dict[str, Any]:
    evidence = submit(stack, {"listing.html": "<html>假冒商品 ¥99</html>".encode()})
    assert evidence.status_code == 201, evidence.text
    body = {
        "platform": PLATFORM,
        "listing_urls": urls,
        "legal_basis": "《电子商务法》第三十八条",
        "reason": "销售假冒注册商标商品 counterfeit goods",
        "evidence_ids": [evidence.json()["evidence_id"]],
        "deadline": (datetime.now(UTC) + timedelta(days=days)).isoformat(),
    }
    response = stack.client.post("/v1/takedowns", json=body, headers=stack.auth("officer"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def platform_post(stack: Stack, order_id: str, action: str, body: dict[str, Any]) -> Any:
    return stack.client.post(
        f"/v1/platform/takedowns/{order_id}/{action}", json=body, headers=stack.auth("platform")
    )


def complete(stack: Stack, order_id: str, *, ack: bool = True) -> dict[str, Any]:
    if ack:
        acked = platform_post(stack, order_id, "ack", {"note": "收到"})
        assert acked.status_code == 200, acked.text
    done = platform_post(
        stack,
        order_id,
        "complete",
        {"note": "已下架", "removed_at": datetime.now(UTC).isoformat()},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    return dict(done.json())


def detail(stack: Stack, order_id: str) -> dict[str, Any]:
    response = stack.client.get(f"/v1/takedowns/{order_id}", headers=stack.auth("officer"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_checks(stack: Stack, order_id: str, done: int, round_: int) -> dict[str, Any]:
    """The order's detail once ``done`` checks of round ``round_`` have finished."""
    final = {"removal_verified", "reappeared", "failed", "cancelled"}
    seen: dict[str, Any] = {}

    def finished() -> bool:
        seen.update(detail(stack, order_id))
        ended = [c for c in seen["checks"] if c["round"] == round_ and c["status"] in final]
        return len(ended) >= done

    wait_until(finished, CHECK_DEADLINE, f"{done} checks of {order_id}, round {round_}", 0.5)
    return seen


def assert_evidence_verifies(stack: Stack, evidence_id: str) -> dict[str, Any]:
    """The kept evidence's bundle verifies (tiers 1-4) with its files; returns the bundle's
    manifest."""
    headers = stack.auth("officer")
    deadline = time.monotonic() + 30
    while True:
        data = stack.client.get(f"/v1/evidence/{evidence_id}/proof", headers=headers).json()
        if data["status"] != "pending":
            break
        assert time.monotonic() < deadline, f"{evidence_id} not sealed"
        time.sleep(0.1)
    bundle = Bundle.model_validate(data)
    assert bundle.manifest is not None
    files = []
    for item in bundle.manifest.files:
        got = stack.client.get(
            f"/v1/evidence/{evidence_id}/files/{item.name}",
            params={"purpose": "takedown check test"},
            headers=headers,
        )
        assert got.status_code == 200, got.text
        files.append(digest_stream(item.name, io.BytesIO(got.content)))
    report = verify_bundle(
        bundle, files=files, log_keys=[stack.runtime.signer.verifier()], through=4
    )
    assert [t.status for t in report.tiers[:4]] == [Status.VERIFIED] * 4, report.to_dict()
    return dict(data["manifest"])


def entry_body(stack: Stack, order_id: str, change_seq: int) -> dict[str, Any]:
    proofs = stack.client.get(f"/v1/takedowns/{order_id}/proofs", headers=stack.auth("officer"))
    assert proofs.status_code == 200, proofs.text
    found = [e for e in proofs.json()["entries"] if e["change_seq"] == change_seq]
    assert len(found) == 1, proofs.json()
    return dict(found[0]["bundle"]["entry"]["body"])


def feed_items(stack: Stack) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, str] = {"since": cursor} if cursor else {}
        page = stack.client.get(
            "/v1/platform/takedowns", params=params, headers=stack.auth("platform")
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not page.json()["more"]:
            return items


# -- removal verified -------------------------------------------------------------------------


def test_a_listing_gone_is_removal_verified_with_evidence_that_verifies(
    stack: Stack, market: MarketSite
) -> None:
    market.market.put("gone-404", Listing(state="404"))
    market.market.put("gone-page", Listing(state="removed"))
    urls = [market.url("gone-404"), market.url("gone-page")]
    order = issue(stack, urls)
    oid = order["order_id"]
    completed = complete(stack, oid)

    # completion scheduled one check per URL per delay, round 1, due 1 s and 3 s later
    scheduled = detail(stack, oid)["checks"]
    assert sorted((c["url"], c["delay_seconds"], c["round"]) for c in scheduled) == sorted(
        (u, d, 1) for u in urls for d in (1, 3)
    )
    done_at = datetime.fromisoformat(completed["updated_at"])
    for c in scheduled:
        due = datetime.fromisoformat(c["due_at"])
        assert abs((due - done_at).total_seconds() - c["delay_seconds"]) < 0.01, c

    seen = wait_checks(stack, oid, 4, 1)
    assert seen["status"] == "completed"
    assert {c["status"] for c in seen["checks"]} == {"removal_verified"}, seen["checks"]
    verified = [e for e in seen["history"] if e["check"] == "removal_verified"]
    assert len(verified) == 4
    for event in verified:
        assert (event["from_status"], event["to_status"], event["actor"]) == (
            "completed",
            "completed",
            "system",
        )
        assert event["url"] in urls and event["delay_seconds"] in (1, 3)
        body = entry_body(stack, oid, event["change_seq"])
        assert body["check"] == "removal_verified"
        assert body["evidence_id"] == event["evidence_id"]
        assert body["delay_seconds"] == event["delay_seconds"]
        assert len(body["url_sha256"]) == 64
    by_event = {c["change_seq"]: c for c in seen["checks"]}
    for event in verified:
        assert by_event[event["change_seq"]]["evidence_id"] == event["evidence_id"]

    # each verification's evidence: a light capture of the gone page, verifying
    manifest = assert_evidence_verifies(stack, verified[0]["evidence_id"])
    assert manifest["source"]["url"] in urls
    assert manifest["source"]["platform"] == PLATFORM
    names = {f["name"] for f in manifest["files"]}
    assert {"dom.html", "main-document.json", "environment.json"} <= names

    # the platform sees the verifications in its feed and its order's history, and
    # may read what they kept
    feed = [i for i in feed_items(stack) if i["order_id"] == oid]
    assert feed[-1]["change_seq"] == max(e["change_seq"] for e in verified)
    view = stack.client.get(f"/v1/platform/takedowns/{oid}", headers=stack.auth("platform"))
    assert view.status_code == 200, view.text
    shown = [e for e in view.json()["history"] if e["check"] == "removal_verified"]
    assert [e["evidence_id"] for e in shown] == [e["evidence_id"] for e in verified]
    kept = stack.client.get(
        f"/v1/platform/takedowns/{oid}/evidence/{verified[0]['evidence_id']}",
        headers=stack.auth("platform"),
    )
    assert kept.status_code == 200, kept.text
    # nothing reappeared: no alert for this order
    with stack.runtime.session() as session:
        seq = session.execute(select(TakedownOrder.seq).where(TakedownOrder.id == oid)).scalar()
        assert session.execute(select(Alert.id).where(Alert.order_seq == seq)).first() is None


# -- reappeared -------------------------------------------------------------------------------


def test_a_listing_still_there_reopens_the_order_and_alerts_its_officer(
    stack: Stack, market: MarketSite
) -> None:
    market.market.put("back")  # live: the platform said completed, it is not
    order = issue(stack, [market.url("back")], days=3)
    oid = order["order_id"]
    complete(stack, oid)

    seen = wait_checks(stack, oid, 2, 1)  # one reappeared, the other cancelled
    assert seen["status"] == "reopened", seen["history"][-1]
    statuses = sorted(c["status"] for c in seen["checks"])
    assert statuses == ["cancelled", "reappeared"], seen["checks"]
    cancelled = next(c for c in seen["checks"] if c["status"] == "cancelled")
    assert cancelled["delay_seconds"] == 3 and cancelled["evidence_id"] is None
    reopening = seen["history"][-1]
    assert (reopening["from_status"], reopening["to_status"], reopening["check"]) == (
        "completed",
        "reopened",
        "reappeared",
    )
    # the new deadline: now + the order's original span (3 days), not the issued one
    new_deadline = datetime.fromisoformat(seen["deadline"])
    at = datetime.fromisoformat(reopening["at"])
    assert abs((new_deadline - at) - timedelta(days=3)) < timedelta(seconds=5)
    assert datetime.fromisoformat(reopening["deadline"]) == new_deadline
    # the content stays as issued (its digest still matches the issuance entry)
    assert seen["content"]["deadline"] == entry_body(stack, oid, order["change_seq"])["deadline"]
    body = entry_body(stack, oid, reopening["change_seq"])
    assert body["check"] == "reappeared" and body["to"] == "reopened"
    assert body["evidence_id"] == reopening["evidence_id"]
    manifest = assert_evidence_verifies(stack, reopening["evidence_id"])
    assert manifest["source"]["url"] == market.url("back")

    # the alert: for the issuing officer, citing the evidence, naming host and delay
    with stack.runtime.session() as session:
        seq = session.execute(select(TakedownOrder.seq).where(TakedownOrder.id == oid)).scalar()
        alerts = list(session.execute(select(Alert).where(Alert.order_seq == seq)).scalars())
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.rule, alert.status, alert.recipient) == ("reappeared", "open", order["issued_by"])
    assert alert.evidence_id == reopening["evidence_id"]
    host = urlsplit(market.url("back")).hostname or ""
    assert f"{host} 上" in alert.reason and f"on {host} " in alert.reason
    assert "1 s 后重新出现" in alert.reason and "1 s after" in alert.reason
    assert json.loads(alert.detail)["reopened"] is True

    # the platform's feed shows the order reopened, with its actions back
    mine = [i for i in feed_items(stack) if i["order_id"] == oid][-1]
    assert mine["status"] == "reopened" and mine["change_seq"] == reopening["change_seq"]
    assert mine["allowed_actions"] == ["ack", "complete", "dispute"]

    # completed again (now taken down for real: the 下架 page): round 2, verified
    market.market.update("back", state="removed")
    complete(stack, oid, ack=False)
    seen = wait_checks(stack, oid, 2, 2)
    second = [c for c in seen["checks"] if c["round"] == 2]
    assert sorted(c["status"] for c in second) == ["removal_verified"] * 2, second
    assert seen["status"] == "completed"


# -- rulings ----------------------------------------------------------------------------------


def ruling(stack: Stack, order_id: str, body: dict[str, Any], role: str = "officer") -> Any:
    return stack.client.post(
        f"/v1/takedowns/{order_id}/ruling", json=body, headers=stack.auth(role)
    )


def test_rulings_uphold_reopens_with_a_new_deadline_and_withdraw_is_final(
    stack: Stack,
) -> None:
    upheld = issue(stack, ["https://example-mall.example/item/rule-1"])
    oid = upheld["order_id"]
    future = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0).isoformat()
    # not disputed yet: 409 naming the state
    early = ruling(stack, oid, {"decision": "uphold", "reason": "维持", "deadline": future})
    assert early.status_code == 409, early.text
    assert early.json()["detail"].startswith("cannot uphold an order that is issued")
    disputed = platform_post(stack, oid, "dispute", {"reason": "商品为正品"})
    assert disputed.status_code == 200 and disputed.json()["allowed_actions"] == []

    bad: list[tuple[dict[str, Any], str]] = [
        ({"decision": "uphold", "reason": "维持"}, "deadline"),
        (
            {
                "decision": "uphold",
                "reason": "维持",
                "deadline": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            },
            "deadline",
        ),
        (
            {
                "decision": "uphold",
                "reason": "维持",
                "deadline": (datetime.now(UTC) + timedelta(days=367)).isoformat(),
            },
            "deadline",
        ),
        ({"decision": "uphold", "reason": "维持", "deadline": "2027-01-01T00:00:00"}, "deadline"),
        ({"decision": "withdraw", "reason": "撤回", "deadline": future}, "deadline"),
        ({"decision": "overturn", "reason": "x"}, "decision"),
        ({"decision": "withdraw", "reason": ""}, "reason"),
        ({"decision": "withdraw", "reason": "长" * 2001}, "reason"),
        ({"decision": "withdraw", "reason": "x", "extra": 1}, "extra"),
    ]
    for body, field in bad:
        refused = ruling(stack, oid, body)
        assert refused.status_code == 422, (body, refused.text)
        assert field in json.dumps(refused.json(), ensure_ascii=False), (body, refused.json())
    # a platform may not rule
    assert (
        ruling(stack, oid, {"decision": "withdraw", "reason": "x"}, "platform").status_code == 403
    )

    reason = "经审查，异议不成立，维持下架通知 / the dispute is rejected"
    longest = "长" * 1999 + "。"
    done = ruling(stack, oid, {"decision": "uphold", "reason": longest, "deadline": future})
    assert done.status_code == 200, done.text  # 2000 characters: the most
    assert done.json()["status"] == "reopened"
    assert done.json()["ruling"]["decision"] == "uphold"
    assert datetime.fromisoformat(done.json()["deadline"]) == datetime.fromisoformat(future)
    again = ruling(stack, oid, {"decision": "withdraw", "reason": reason})
    assert again.status_code == 409  # no longer disputed

    # the platform sees the ruling in its feed and its order view; its actions are back
    mine = [i for i in feed_items(stack) if i["order_id"] == oid][-1]
    assert mine["status"] == "reopened" and mine["ruling"]["decision"] == "uphold"
    assert mine["ruling"]["reason"] == longest
    assert datetime.fromisoformat(mine["ruling"]["deadline"]) == datetime.fromisoformat(future)
    assert mine["allowed_actions"] == ["ack", "complete", "dispute"]
    view = stack.client.get(f"/v1/platform/takedowns/{oid}", headers=stack.auth("platform"))
    last = view.json()["history"][-1]
    assert (last["decision"], last["from_status"], last["to_status"]) == (
        "uphold",
        "disputed",
        "reopened",
    )
    body = entry_body(stack, oid, last["change_seq"])
    assert body["decision"] == "uphold" and len(body["reason_sha256"]) == 64
    assert "reason" not in body  # only its digest is in the log
    # the content still hashes to what was issued
    assert (
        view.json()["content"]["deadline"]
        == entry_body(stack, oid, upheld["change_seq"])["deadline"]
    )

    # withdraw: final
    withdrawn = issue(stack, ["https://example-mall.example/item/rule-2"])
    wid = withdrawn["order_id"]
    assert platform_post(stack, wid, "dispute", {"reason": "已整改"}).status_code == 200
    closed = ruling(stack, wid, {"decision": "withdraw", "reason": reason})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "withdrawn" and closed.json()["allowed_actions"] == []
    assert closed.json()["ruling"]["deadline"] is None
    after = platform_post(stack, wid, "ack", {"note": "x"})
    assert after.status_code == 409 and "withdrawn is final" in after.json()["detail"]
    mine = [i for i in feed_items(stack) if i["order_id"] == wid][-1]
    assert mine["status"] == "withdrawn" and mine["ruling"]["reason"] == reason
    assert (
        ruling(stack, f"td-{'0' * 28}", {"decision": "withdraw", "reason": "x"}).status_code == 404
    )

    # the upheld order is open again: past its new deadline the overdue scan marks it
    marked = takedowns.scan_overdue(
        takedowns.ledger_of(stack.runtime),
        now=datetime.fromisoformat(future) + timedelta(seconds=1),
    )
    assert marked >= 1
    assert detail(stack, oid)["status"] == "overdue"
    assert detail(stack, wid)["status"] == "withdrawn"  # final: never overdue


# -- failures ---------------------------------------------------------------------------------


def test_a_failed_capture_is_retried_once_then_failed_never_a_pass(stack: Stack) -> None:
    """A listed URL the capture refuses (an address outside the allow-list): the check is
    not passed, it is retried once and then failed with the capture's reason."""
    order = issue(stack, ["https://192.0.2.10/item/unreachable"])
    oid = order["order_id"]
    with stack.runtime.session() as session:
        seq = session.execute(select(TakedownOrder.seq).where(TakedownOrder.id == oid)).scalar()
        assert seq is not None
        row = TakedownCheck(
            order_seq=seq,
            round=1,
            delay_seconds=60,
            url="https://192.0.2.10/item/unreachable",
            due_at=datetime.now(UTC) + timedelta(days=1),  # the timer leaves it to the test
            status=CHECK_PENDING,
            attempts=0,
        )
        session.add(row)
        session.flush()
        check_id = row.id
    checks = takedown_checks.checks_of(stack.runtime)
    assert takedown_checks.run_check(checks, check_id) == CHECK_PENDING
    with stack.runtime.session() as session:
        first = session.get_one(TakedownCheck, check_id)
        assert (first.status, first.attempts, first.evidence_id) == (CHECK_PENDING, 1, None)
        assert first.reason is not None and first.reason.startswith("attempt 1 failed, retried")
        assert "192.0.2.10" in first.reason, first.reason
    assert takedown_checks.run_check(checks, check_id) == CHECK_FAILED
    shown = {c["check_id"]: c for c in detail(stack, oid)["checks"]}[check_id]
    assert (shown["status"], shown["attempts"]) == ("failed", 2)
    assert shown["reason"].startswith("failed after 2 attempts")
    assert takedown_checks.run_check(checks, check_id) == "not claimed"
    # nothing was recorded as a verification
    assert all(e["check"] is None for e in detail(stack, oid)["history"])


def add_check(stack: Stack, order_id: str, url: str, **fields: Any) -> int:
    """A check row of ``order_id`` (not due: the embedded timer leaves it to the test)."""
    with stack.runtime.session() as session:
        seq = session.execute(
            select(TakedownOrder.seq).where(TakedownOrder.id == order_id)
        ).scalar_one()
        values: dict[str, Any] = {
            "round": 1,
            "delay_seconds": 60,
            "url": url,
            "due_at": datetime.now(UTC) + timedelta(days=1),
            "status": CHECK_PENDING,
            "attempts": 0,
        }
        row = TakedownCheck(order_seq=seq, **(values | fields))
        session.add(row)
        session.flush()
        return int(row.id)


def cancel(stack: Stack, check_id: int) -> None:
    with stack.runtime.session() as session:
        session.execute(
            update(TakedownCheck).where(TakedownCheck.id == check_id).values(status="cancelled")
        )


def test_a_busy_host_defers_the_check_without_using_an_attempt(stack: Stack) -> None:
    url = "https://busy.example/item/1"
    order = issue(stack, [url])
    check_id = add_check(stack, order["order_id"], url)
    settings = stack.runtime.settings
    held = [
        hosts.acquire(
            stack.runtime.session,
            "busy.example",
            concurrency=settings.monitor_host_concurrency,
            spacing=0,
            holder=f"test-{i}",
            lease_seconds=600,
        )
        for i in range(settings.monitor_host_concurrency)
    ]
    assert None not in held  # every slot of the host is taken
    try:
        before = datetime.now(UTC)
        checks = takedown_checks.checks_of(stack.runtime)
        assert takedown_checks.run_check(checks, check_id) == "deferred"
        # the timer may try it again once due (1 s on): it is deferred the same way, so
        # read it when it rests pending
        rested: list[TakedownCheck] = []

        def pending() -> bool:
            with stack.runtime.session() as session:
                row = session.get_one(TakedownCheck, check_id)
                session.expunge(row)
            rested[:] = [row]
            return row.status == CHECK_PENDING

        wait_until(pending, 30, "the deferred check to rest pending", 0.05)
        row = rested[0]
        assert (row.attempts, row.owner, row.started_at) == (0, None, None)
        assert row.due_at >= before + takedown_checks.MIN_DEFER
        assert row.due_at < datetime.now(UTC) + timedelta(minutes=1)
    finally:
        cancel(stack, check_id)  # the timer need not try an unresolvable host later
        for i, slot in enumerate(held):
            assert slot is not None
            hosts.release(stack.runtime.session, "busy.example", slot, f"test-{i}")


def test_an_abandoned_check_is_retried_once_then_failed(stack: Stack) -> None:
    url = "https://abandoned.example/item/1"
    order = issue(stack, [url])
    long_ago = datetime.now(UTC) - timedelta(days=1)
    first = add_check(
        stack,
        order["order_id"],
        url,
        status="running",
        attempts=1,
        started_at=long_ago,
        owner="dead-host:1:1",
    )
    second = add_check(
        stack,
        order["order_id"],
        url,
        status="running",
        attempts=2,
        started_at=long_ago,
        owner="dead-host:1:2",
    )
    fresh = add_check(
        stack,
        order["order_id"],
        url,
        status="running",
        attempts=1,
        started_at=datetime.now(UTC),
        owner="live-host:1:1",
    )
    checks = takedown_checks.checks_of(stack.runtime)
    takedown_checks.recover(checks)  # (the timer's step may have recovered them first)
    with stack.runtime.session() as session:
        retried = session.get_one(TakedownCheck, first)
        assert (retried.status, retried.owner) == (CHECK_PENDING, None)
        assert retried.reason is not None and "interrupted" in retried.reason
        ended = session.get_one(TakedownCheck, second)
        assert ended.status == CHECK_FAILED and ended.finished_at is not None
        assert ended.reason is not None and ended.reason.startswith("failed after 2 attempts")
        alive = session.get_one(TakedownCheck, fresh)
        assert alive.status == "running"  # its process may still be capturing
    cancel(stack, first)
