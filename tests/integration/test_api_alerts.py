"""Alerts through the real API, on SQLite and on PostgreSQL (+ SeaweedFS S3).

Alerts are opened the way the runs engine opens them: ``alert_log.open_alert`` in a
transaction of the service's own runtime. Then: every filter and the pagination of
``GET /v1/alerts``; dismiss and convert (open only: 409 naming the status found; 422 for
a bad reason or an unknown case); convert creating a case in 线索 for the alert's entity
or linking an existing case, the evidence (a real submission) linked and the case's
history naming the alert; each state change an ``alert`` log entry whose proof bundle
the real ``evidence-verify`` accepts through tier 4 once sealed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from evidence_api.core.auth import create_token
from evidence_api.monitoring.alert_log import AlertDraft, ledger_of, open_alert
from evidence_api.monitoring.models import Alert
from evidence_api.monitoring.observation import (
    GONE,
    PRICE_CHANGED,
    PROHIBITED_WORDS,
    REAPPEARED,
    RULE_LABELS,
    sha256_text,
)
from evidence_api.registry.models import Platform
from evidence_api.runtime import Runtime
from tests.support.api import (
    BACKENDS,
    Stack,
    assert_change_entries_verify,
    auth_header,
    backend_params,
    open_backend,
    running_stack,
    submit,
)
from tests.support.monitors import monitor_row

KINDS = [p for p in backend_params() if p.id in ("sqlite-local", "postgres-s3")]
assert {p.id for p in KINDS} <= set(BACKENDS)


def platform_id(runtime: Runtime, code: str) -> int:
    """The id of platform ``code``, registered first if it is not yet."""
    with runtime.session() as session:
        found = session.execute(select(Platform.id).where(Platform.code == code)).scalar()
        if found is not None:
            return int(found)
        now = datetime.now(UTC)
        row = Platform(code=code, name=f"{code} 平台", created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        return int(row.id)


def add_monitor(runtime: Runtime, name: str = "旗舰店商品页") -> tuple[int, str]:
    """A monitor row (as ``POST /v1/monitors`` leaves one): its seq and id."""
    now = datetime.now(UTC)
    with runtime.session() as session:
        token, _ = create_token(session, role="officer", name="monitor owner")
        row = monitor_row(
            "https://shop.example.com/item/42",
            created_by_token_id=token.id,
            created_by=f"token-{token.id}",
            now=now,
            name=name,
            next_run_at=now + timedelta(hours=1),
        )
        session.add(row)
        session.flush()
        return int(row.seq), row.id


def open_alerts(runtime: Runtime, drafts: list[tuple[AlertDraft, datetime | None]]) -> list[str]:
    """Open each alert as the runs engine does (one transaction each); their ids."""
    ledger = ledger_of(runtime)
    ids = []
    for draft, at in drafts:
        with runtime.session() as session:
            ids.append(open_alert(ledger, session, draft, at=at).id)
        ledger.queued(1)
    return ids


def draft(rule: str = PRICE_CHANGED, recipient: str = "token-999", **fields: Any) -> AlertDraft:
    reason = fields.pop("reason", f"{RULE_LABELS[rule]}: 测试 test")
    return AlertDraft(rule=rule, reason=reason, recipient=recipient, **fields)


@dataclass
class World:
    stack: Stack

    @property
    def client(self) -> Any:
        return self.stack.client

    @property
    def runtime(self) -> Runtime:
        return self.stack.runtime

    def officer(self) -> dict[str, str]:
        return self.stack.auth("officer")

    def pseudonym(self, role: str = "officer") -> str:
        me = self.client.get("/v1/alerts?recipient=me", headers=self.stack.auth(role))
        assert me.status_code == 200, me.text
        from evidence_api.core.auth import authenticate  # noqa: PLC0415

        with self.runtime.session() as session:
            return authenticate(session, f"Bearer {self.stack.tokens[role]}").pseudonym

    def evidence(self) -> str:
        response = submit(self.stack, {"listing.html": "<html>全网最低价 ¥99</html>".encode()})
        assert response.status_code == 201, response.text
        return str(response.json()["evidence_id"])

    def entity(self, shop: str) -> int:
        response = self.client.post(
            "/v1/entities",
            json={"platform": "example-mall", "shop_name": shop},
            headers=self.officer(),
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def alerts(self, query: str = "", role: str = "officer") -> list[str]:
        """Every alert id the listing gives for ``query``, page after page (limit 2)."""
        ids: list[str] = []
        cursor = ""
        while True:
            url = f"/v1/alerts?limit=2{'&' + query if query else ''}{cursor}"
            page = self.client.get(url, headers=self.stack.auth(role))
            assert page.status_code == 200, page.text
            ids += [item["id"] for item in page.json()["items"]]
            if page.json()["next_cursor"] is None:
                return ids
            cursor = f"&cursor={page.json()['next_cursor']}"


@pytest.fixture(params=KINDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with (
        open_backend(request, request.param, tmp_path / "data") as backend,
        running_stack(backend.settings.model_copy(update={"seal_interval": 0.1})) as stack,
    ):
        yield World(stack)


def verify_alert(world: World, alert_id: str, workdir: Path, changes: int) -> list[dict[str, Any]]:
    """Every change of the alert is a sealed ``alert`` entry that evidence-verify accepts."""
    return assert_change_entries_verify(
        world.client,
        f"/v1/alerts/{alert_id}/proofs",
        world.officer(),
        kind="alert",
        id_field="alert_id",
        object_id=alert_id,
        changes=changes,
        workdir=workdir,
        timeout=20,
    )


# --- listing -------------------------------------------------------------------------


def test_filters_and_pagination(world: World) -> None:
    runtime = world.runtime
    mall, other = platform_id(runtime, "example-mall"), platform_id(runtime, "mall-b")
    shop_a, shop_b = world.entity("甲旗舰店"), world.entity("乙专营店")
    monitor_seq, monitor_id = add_monitor(runtime)
    me = world.pseudonym()
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    ids = open_alerts(
        runtime,
        [
            (draft(PRICE_CHANGED, platform_id=mall, entity_id=shop_a), t0),
            (draft(PROHIBITED_WORDS, me, platform_id=mall, entity_id=shop_a), t0 + timedelta(1)),
            (
                draft(GONE, me, platform_id=other, monitor_seq=monitor_seq, monitor_id=monitor_id),
                t0 + timedelta(2),
            ),
            (draft(REAPPEARED, platform_id=other, entity_id=shop_b), t0 + timedelta(3)),
            (draft(PRICE_CHANGED, me, entity_id=shop_b), t0 + timedelta(4)),
        ],
    )
    newest_first = ids[::-1]
    assert world.alerts() == newest_first  # three pages of at most two
    assert world.alerts(f"rule={PRICE_CHANGED}") == [ids[4], ids[0]]
    assert world.alerts("platform=example-mall") == [ids[1], ids[0]]
    assert world.alerts("platform=mall-b") == [ids[3], ids[2]]
    assert world.alerts("platform=no-such-mall") == []
    assert world.alerts(f"entity_id={shop_b}") == [ids[4], ids[3]]
    assert world.alerts(f"monitor={monitor_id}") == [ids[2]]
    assert world.alerts("recipient=me") == [ids[4], ids[2], ids[1]]
    assert world.alerts("status=open") == newest_first
    assert world.alerts("status=dismissed") == []
    since = (t0 + timedelta(1)).isoformat().replace("+00:00", "%2B08:00")  # 8 h earlier
    until = (t0 + timedelta(3)).isoformat().replace("+00:00", "Z")
    assert world.alerts(f"since={since}&until={until}") == [ids[2], ids[1]]
    assert world.alerts(f"rule={PROHIBITED_WORDS}&platform=example-mall&recipient=me") == [ids[1]]

    item = world.client.get("/v1/alerts?limit=1", headers=world.officer()).json()["items"][0]
    assert item["id"] == ids[4]
    assert (item["rule"], item["rule_label"]) == (PRICE_CHANGED, "价格变动 price changed")
    assert (item["status"], item["status_label"]) == ("open", "待处理 open")
    assert (item["entity_id"], item["recipient"], item["case"]) == (shop_b, me, None)
    assert item["created_at"].startswith("2026-11-05T08:00:00")
    gone = world.client.get(f"/v1/alerts/{ids[2]}", headers=world.officer()).json()
    assert (gone["monitor_id"], gone["platform"]) == (monitor_id, "mall-b")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-11-01T08:00:00", "since"),  # no time zone
        ("until=2026-11-01", "until"),
        ("rule=cheap", "rule"),
        ("status=closed", "status"),
        ("recipient=someone", "recipient"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("limit=201", "limit"),
        ("entity_id=0", "entity_id"),
    ],
    ids=lambda v: str(v).split("=")[0],
)
def test_bad_filters_are_422_naming_the_field(world: World, query: str, field: str) -> None:
    response = world.client.get(f"/v1/alerts?{query}", headers=world.officer())
    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json()), response.text


def test_only_officers_and_admins(world: World) -> None:
    (alert_id,) = open_alerts(world.runtime, [(draft(), None)])
    for role, status in (("officer", 200), ("admin", 200), ("appraiser", 403), ("platform", 403)):
        got = world.client.get(f"/v1/alerts/{alert_id}", headers=world.stack.auth(role))
        assert got.status_code == status, (role, got.text)
    assert world.client.get("/v1/alerts").status_code == 401
    missing = "alr-" + "0" * 28
    assert world.client.get(f"/v1/alerts/{missing}", headers=world.officer()).status_code == 404
    bad = world.client.get("/v1/alerts/alr-xyz", headers=world.officer())
    assert bad.status_code == 422


# --- triage -------------------------------------------------------------------------


def test_dismiss_then_409_and_every_change_verifies(world: World, tmp_path: Path) -> None:
    evidence = world.evidence()
    (alert_id,) = open_alerts(world.runtime, [(draft(evidence_id=evidence), None)])
    url = f"/v1/alerts/{alert_id}"
    for body in ({}, {"reason": ""}, {"reason": "x" * 2001}, {"reason": "ok", "extra": 1}):
        bad = world.client.post(f"{url}/dismiss", json=body, headers=world.officer())
        assert bad.status_code == 422, (body, bad.text)
    reason = "价格调整属正常促销 a normal promotion; " + "x" * 1950
    assert len(reason) <= 2000
    done = world.client.post(f"{url}/dismiss", json={"reason": reason}, headers=world.officer())
    assert done.status_code == 200, done.text
    detail = done.json()
    assert (detail["status"], detail["status_label"]) == ("dismissed", "已排除 dismissed")
    opened, dismissed = detail["history"]
    assert (opened["from_status"], opened["to_status"], opened["actor"]) == (None, "open", "system")
    assert (dismissed["from_status"], dismissed["to_status"]) == ("open", "dismissed")
    assert dismissed["actor"] == world.pseudonym() and dismissed["note"] == reason
    assert dismissed["label"] == "已排除 dismissed"
    assert dismissed["proof_url"] == f"{url}/proofs" == detail["proofs_url"]
    assert detail["evidence_url"] == f"/v1/evidence/{evidence}"

    again = world.client.post(f"{url}/dismiss", json={"reason": "again"}, headers=world.officer())
    assert again.status_code == 409 and "dismissed" in again.json()["detail"], again.text
    convert = world.client.post(f"{url}/convert", json={}, headers=world.officer())
    assert convert.status_code == 409 and "已排除" in convert.json()["detail"], convert.text

    entries = verify_alert(world, alert_id, tmp_path, 2)
    body = entries[1]["bundle"]["entry"]["body"]
    assert body["from"] == "open" and body["actor"] == world.pseudonym()
    assert body["note_sha256"] == sha256_text(reason)
    assert body["evidence_id"] == evidence
    assert reason not in json.dumps(entries[1]["bundle"])  # only the digest is public
    listed = world.client.get("/v1/alerts?status=dismissed", headers=world.officer()).json()
    assert [i["id"] for i in listed["items"]] == [alert_id]


def test_convert_to_a_new_clue_and_to_an_existing_case(world: World, tmp_path: Path) -> None:
    shop = world.entity("丙商行")
    first, second = world.evidence(), world.evidence()
    mall = platform_id(world.runtime, "example-mall")
    new_id, linked_id, orphan_id = open_alerts(
        world.runtime,
        [
            (draft(PROHIBITED_WORDS, entity_id=shop, platform_id=mall, evidence_id=first), None),
            (draft(PRICE_CHANGED, entity_id=shop, evidence_id=second), None),
            (draft(GONE), None),
        ],
    )
    # a new case (线索) for the alert's entity, its evidence linked
    got = world.client.post(
        f"/v1/alerts/{new_id}/convert", json={"note": "转立案调查"}, headers=world.officer()
    )
    assert got.status_code == 200, got.text
    alert = got.json()
    assert (alert["status"], alert["status_label"]) == ("converted", "已转线索 converted")
    assert alert["case"] == f"预警线索-{new_id}" and alert["history"][-1]["note"] == "转立案调查"
    case = world.client.get(f"/v1/cases/{alert['case_id']}", headers=world.officer()).json()
    assert case["number"] == alert["case"] and case["entity_id"] == shop
    assert case["title"] == "违禁/极限用语：丙商行"
    assert case["status"]["code"] == "clue"
    assert [e["evidence_id"] for e in case["evidence"]] == [first]
    events = world.client.get(
        f"/v1/cases/{alert['case_id']}/events", headers=world.officer()
    ).json()["items"]
    assert [e["kind"] for e in events] == ["created", "evidence_linked"]
    assert new_id in events[1]["note"] and events[1]["evidence_id"] == first

    # the same case, by number, for the second alert
    unknown = world.client.post(
        f"/v1/alerts/{linked_id}/convert", json={"case_number": "无此案"}, headers=world.officer()
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "case_number"
    got = world.client.post(
        f"/v1/alerts/{linked_id}/convert",
        json={"case_number": alert["case"]},
        headers=world.officer(),
    )
    assert got.status_code == 200, got.text
    assert got.json()["case_id"] == alert["case_id"]
    case = world.client.get(f"/v1/cases/{alert['case_id']}", headers=world.officer()).json()
    assert [e["evidence_id"] for e in case["evidence"]] == [first, second]
    again = world.client.post(
        f"/v1/alerts/{linked_id}/convert", json={"title": "again"}, headers=world.officer()
    )
    assert again.status_code == 409 and "converted" in again.json()["detail"]

    # an alert without evidence or entity: a case titled by the rule; the history names it
    got = world.client.post(
        f"/v1/alerts/{orphan_id}/convert", json={"title": "自定标题"}, headers=world.officer()
    )
    assert got.status_code == 200, got.text
    orphan_case = got.json()["case_id"]
    events = world.client.get(f"/v1/cases/{orphan_case}/events", headers=world.officer()).json()
    assert [e["kind"] for e in events["items"]] == ["created", "updated"]
    assert orphan_id in events["items"][1]["note"]

    # a closed case takes no alert
    closed = world.client.post(
        f"/v1/cases/{orphan_case}/transition", json={"to": "closed"}, headers=world.officer()
    )
    assert closed.status_code == 200, closed.text
    (late,) = open_alerts(world.runtime, [(draft(GONE), None)])
    refused = world.client.post(
        f"/v1/alerts/{late}/convert",
        json={"case_number": got.json()["case"]},
        headers=world.officer(),
    )
    assert refused.status_code == 409, refused.text
    with world.runtime.session() as session:  # the refusal left the alert open
        assert session.execute(select(Alert.status).where(Alert.id == late)).scalar() == "open"

    entries = verify_alert(world, new_id, tmp_path, 2)
    body = entries[1]["bundle"]["entry"]["body"]
    assert body["case_id"] == alert["case_id"] and body["to"] == "converted"
    assert body["evidence_id"] == first and body["note_sha256"] == sha256_text("转立案调查")
    verify_alert(world, linked_id, tmp_path, 2)


def test_case_number_bounds(world: World) -> None:
    (alert_id,) = open_alerts(world.runtime, [(draft(), None)])
    url = f"/v1/alerts/{alert_id}/convert"
    for body in ({"case_number": "x" * 65}, {"title": "t" * 257}, {"note": ""}, {"case": "1"}):
        bad = world.client.post(url, json=body, headers=world.officer())
        assert bad.status_code == 422, (body, bad.text)
    headers = auth_header(world.stack.tokens["appraiser"])
    assert world.client.post(url, json={}, headers=headers).status_code == 403
