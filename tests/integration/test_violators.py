"""严重违法失信名单 through the real API on PostgreSQL.

Placement, removal and expiry each make one feed change, one ``serious_violation`` log
entry and one credit record; the feed under concurrent updates (8 writers, 200 changes,
a platform paging with its cursor meanwhile) gives every change exactly once, in order,
none skipped; acknowledgements (idempotent, 404 outside the feed, 409 when changed);
signed webhooks verified at a local receiver and retried after a failure; the public API
answers allow-listed fields only, and listed placements only; hostile inputs are 4xx.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from anchoring.queue import get_entry
from evidence_api.core.auth import Principal, authenticate, create_token
from evidence_api.core.config import Settings
from evidence_api.credit.models import CreditRecord
from evidence_api.jobs import JOBS
from evidence_api.takedowns import webhook_sign
from evidence_api.takedowns.service import ledger_of
from evidence_api.violators import dispatch, service
from evidence_api.violators.models import SeriousViolation, ViolatorDelivery
from evidence_api.violators.schemas import (
    PUBLIC_DETAIL_FIELDS,
    PUBLIC_FIELDS,
    PlacementCreate,
    RemoveBody,
)
from tests.support.api import (
    Stack,
    auth_header,
    ensure_example_platform,
    fresh_postgres_database,
    ok,
    run_verifier,
    running_stack,
)
from tests.support.console import Person
from tests.support.receiver import receiver
from tests.support.violators import new_entity, place, placement
from tests.support.waiting import wait_until

pytestmark = pytest.mark.postgres

SECRET = "whsec-" + "k" * 40


@dataclass
class Env:
    stack: Stack

    @property
    def client(self) -> TestClient:
        return self.stack.client

    @property
    def admin(self) -> dict[str, str]:
        return self.stack.auth("admin")

    @property
    def platform(self) -> dict[str, str]:
        return self.stack.auth("platform")

    def principal(self, role: str) -> Principal:
        with self.stack.runtime.session() as session:
            return authenticate(session, f"Bearer {self.stack.tokens[role]}")

    def entity(self, **extra: Any) -> int:
        return new_entity(self.client, self.admin, **extra)

    def feed(self, cursor: int = 0, limit: int = 500) -> dict[str, Any]:
        return ok(
            self.client.get(
                "/v1/platform/serious-violators/feed",
                params={"cursor": cursor, "limit": limit},
                headers=self.platform,
            )
        )

    def high(self) -> int:
        with self.stack.runtime.session() as session:
            return service.high_water(session)

    def entry_body(self, entry_id: str) -> dict[str, Any]:
        with self.stack.runtime.session() as session:
            record = get_entry(session.connection(), entry_id)
            assert record is not None, entry_id
            entry = json.loads(record.entry_json)
        assert entry["kind"] == "serious_violation"
        body: dict[str, Any] = entry["body"]
        return body

    def grade(self, entity_id: int) -> str:
        credit = ok(self.client.get(f"/v1/entities/{entity_id}/credit", headers=self.admin))
        return str(credit["grade"])

    def records(self, entity_id: int) -> list[CreditRecord]:
        with self.stack.runtime.session() as session:
            rows = session.execute(
                select(CreditRecord)
                .where(CreditRecord.entity_id == entity_id)
                .order_by(CreditRecord.id)
            ).scalars()
            return [r for r in rows if r.kind.startswith("serious_")]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("violators") / "data"
    with fresh_postgres_database(postgres_url) as url:
        # No job timers: the tests expire and push when they choose.
        settings = Settings(
            database_url=url,
            data_dir=data,
            seal_interval=0.1,
            run_supervisor=False,
            webhook_allow_hosts="127.0.0.1",
            webhook_backoff=0.2,
            webhook_max_attempts=3,
        )
        with running_stack(settings) as stack:
            yield Env(stack)


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["detail"])


# --- placement, removal, expiry -----------------------------------------------------------


def test_place_remove_expire_make_feed_changes_entries_and_credit_records(env: Env) -> None:
    start = env.high()
    first, second = env.entity(uscc="91350100M000100Y43"), env.entity()
    placed = place(env.client, env.admin, first, case_id=None)
    vid = placed["violation_id"]
    assert placed["status"] == "listed" and placed["status_label"] == "列入名单"
    assert placed["changes"][0]["seq"] == start + 1
    body = env.entry_body(placed["entry_id"])
    assert body["action"] == "listed" and body["violation_id"] == vid
    assert body["change"] == start + 1 and body["entity_uscc"] == "91350100M000100Y43"
    assert "reason" not in body and len(body["reason_sha256"]) == 64

    assert env.grade(first) == "D"  # the active listing rule (docs/credit.md)
    again = env.client.post("/v1/serious-violators", json=placement(first), headers=env.admin)
    assert vid in problem(again, 409)

    removed = ok(
        env.client.post(
            f"/v1/serious-violators/{vid}/remove", json={"reason": "复议撤销"}, headers=env.admin
        )
    )
    assert removed["status"] == "removed" and removed["removal_reason"] == "复议撤销"
    assert [c["kind"] for c in removed["changes"]] == ["listed", "removed"]
    assert env.entry_body(removed["changes"][1]["entry_id"])["action"] == "removed"
    assert env.grade(first) == "A"  # the listing ended; its records weigh 0 points
    twice = env.client.post(
        f"/v1/serious-violators/{vid}/remove", json={"reason": "x"}, headers=env.admin
    )
    assert "not listed" in problem(twice, 409)

    other = place(env.client, env.admin, second, years=1)
    until = datetime.fromisoformat(other["listed_until"])
    ledger = ledger_of(env.stack.runtime)
    assert service.expire_due(ledger, now=until - timedelta(seconds=1)) == 0
    assert service.expire_due(ledger, now=until + timedelta(seconds=1)) == 1
    expired = ok(
        env.client.get(f"/v1/serious-violators/{other['violation_id']}", headers=env.admin)
    )
    assert expired["status"] == "expired"
    assert env.entry_body(expired["changes"][-1]["entry_id"])["actor"] == "system"

    changes = env.feed(start)["items"]
    assert [(c["seq"], c["kind"]) for c in changes] == [
        (start + 1, "listed"),
        (start + 2, "removed"),
        (start + 3, "listed"),
        (start + 4, "expired"),
    ]
    records = env.records(first)
    assert [(r.kind, r.source) for r in records] == [
        ("serious_listed", f"violation:{vid}"),
        ("serious_removed", f"violation:{vid}/removed"),
    ]
    assert json.loads(records[1].details)["violation_id"] == vid
    ended = env.records(second)[-1]
    assert json.loads(ended.details) == {
        "violation_id": other["violation_id"],
        "reason": "expired",
    }


def test_remove_for_repair_in_the_callers_transaction(env: Env) -> None:
    entity = env.entity()
    vid = place(env.client, env.admin, entity)["violation_id"]
    runtime = env.stack.runtime
    with runtime.session() as session:
        assert service.active_listing(session, entity) is not None
        row = service.remove_for_repair(
            session,
            runtime.sign_receipt,
            violation_id=vid,
            repair_id="rp-0123456789abcdef0123456789ab",
            actor="token-9",
            at=datetime.now(UTC),
        )
        assert row.status == "removed"
    with runtime.session() as session:
        assert service.active_listing(session, entity) is None
    seen = ok(env.client.get(f"/v1/serious-violators/{vid}", headers=env.admin))
    assert seen["repair_id"] == "rp-0123456789abcdef0123456789ab"
    assert env.entry_body(seen["changes"][-1]["entry_id"])["repair_id"] == seen["repair_id"]
    assert json.loads(env.records(entity)[-1].details)["reason"] == "repair"


# --- the feed under concurrent updates ----------------------------------------------------


def test_the_feed_loses_nothing_under_concurrent_updates(env: Env) -> None:
    """8 writers make 200 changes (each placing then removing its entities) while the
    platform pages with its cursor (7 at a time); it sees every change exactly once, in
    seq order, with no gap, including the ones that committed while it read."""
    writers, per_writer = 8, 25  # 25 changes each: 12 placements + 12 removals + 1 placement
    start = env.high()
    entities = [[env.entity() for _ in range(13)] for _ in range(writers)]
    admin = env.principal("admin")
    ledger = ledger_of(env.stack.runtime)
    errors: list[BaseException] = []
    done = threading.Event()

    def write(mine: list[int]) -> None:
        try:
            made = 0
            for entity in mine:
                detail = service.place(ledger, admin, PlacementCreate(**placement(entity)))
                made += 1
                if made == per_writer:
                    return
                service.remove(ledger, admin, detail.violation_id, RemoveBody(reason="并发"))
                made += 1
        except BaseException as exc:
            errors.append(exc)

    seen: list[int] = []

    def read() -> None:
        cursor = start
        while True:
            finished = done.is_set()  # read before paging: one more full pass after the end
            page = env.feed(cursor, limit=7)
            seen.extend(c["seq"] for c in page["items"])
            cursor = page["next_cursor"]
            if finished and not page["more"] and not page["items"]:
                return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(mine,)) for mine in entities]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    reader.join(120)
    assert not errors, errors
    total = writers * per_writer
    assert env.high() == start + total
    assert seen == list(range(start + 1, start + total + 1))


# --- acknowledgements ---------------------------------------------------------------------


def test_acknowledgements_are_idempotent_per_platform_and_change(env: Env) -> None:
    made = place(env.client, env.admin, env.entity())
    seq = made["changes"][0]["seq"]
    url = f"/v1/platform/serious-violators/changes/{seq}/ack"
    body = {"measures": ["restrict_promotion", "delist_shop"], "note": "已下架店铺"}
    first = ok(env.client.post(url, json=body, headers=env.platform))
    assert first["created"] is True and first["measure_labels"] == ["限制参加促销活动", "下架店铺"]
    again = ok(env.client.post(url, json=body, headers=env.platform))
    assert again["created"] is False and again["entry_id"] == first["entry_id"]
    changed = env.client.post(url, json={"measures": ["no_shop"]}, headers=env.platform)
    problem(changed, 409)
    entry = env.entry_body(first["entry_id"])
    assert entry["action"] == "ack" and entry["measures"] == body["measures"]
    assert entry["platform"] == "example-mall" and "note" not in entry

    # Another platform acknowledges the same change on its own.
    with env.stack.runtime.session() as session:
        code = f"p-{uuid.uuid4().hex[:8]}"
        from evidence_api.registry.models import Platform  # noqa: PLC0415

        now = datetime.now(UTC)
        session.add(Platform(code=code, name="另一平台", created_at=now, updated_at=now))
        session.flush()
        _, token = create_token(session, role="platform", name="other", platform=code)
    theirs = ok(env.client.post(url, json={"measures": ["no_shop"]}, headers=auth_header(token)))
    assert theirs["created"] is True and theirs["platform"] == code
    page = ok(
        env.client.get(
            "/v1/platform/serious-violators/feed",
            params={"cursor": seq - 1, "limit": 1},
            headers=auth_header(token),
        )
    )
    shown = page["items"][0]
    assert shown["entity"]["own"] is False and shown["entity"]["shop_id"] is None
    assert shown["acknowledged"] is True
    detail = ok(env.client.get(f"/v1/serious-violators/{made['violation_id']}", headers=env.admin))
    assert {a["platform"] for a in detail["changes"][0]["acks"]} == {"example-mall", code}

    beyond = f"/v1/platform/serious-violators/changes/{env.high() + 1000}/ack"
    problem(env.client.post(beyond, json=body, headers=env.platform), 404)


# --- webhooks -----------------------------------------------------------------------------


def test_webhooks_are_signed_and_retried(env: Env) -> None:
    code = f"hook-{uuid.uuid4().hex[:8]}"
    with receiver([500], path="/hooks/violators") as (url, got):
        ok(
            env.client.post(
                "/v1/platforms",
                json={
                    "code": code,
                    "name": "推送平台",
                    "webhook_url": url,
                    "webhook_enabled": True,
                    "webhook_secret": SECRET,
                },
                headers=env.admin,
            ),
            201,
        )
        made = place(env.client, env.admin, env.entity())
        seq = made["changes"][0]["seq"]
        runtime = env.stack.runtime
        dispatch.push_due(runtime.session, runtime.settings)
        assert len(got) == 1  # answered 500: retried after the backoff

        def delivered() -> bool:
            dispatch.push_due(runtime.session, runtime.settings)
            with runtime.session() as session:
                state = session.execute(
                    select(ViolatorDelivery.state).where(
                        ViolatorDelivery.change_seq == seq,
                        ViolatorDelivery.platform_id.in_(select_platform(code)),
                    )
                ).scalar_one()
            return state == "delivered"

        wait_until(delivered, 30, "the retried delivery")
        assert len(got) == 2
        first, second = got
        assert (
            first.headers[webhook_sign.DELIVERY_HEADER]
            == second.headers[webhook_sign.DELIVERY_HEADER]
        )
        for hit in got:
            webhook_sign.verify(
                SECRET,
                hit.body,
                hit.headers[webhook_sign.SIGNATURE_HEADER],
                now=int(time.time()),
            )
            assert hit.headers[webhook_sign.EVENT_HEADER] == "serious_violation.listed"
        payload = json.loads(second.body)
        assert payload["seq"] == seq and payload["violation_id"] == made["violation_id"]
        assert payload["entity"]["own"] is False and payload["entity"]["shop_url"] is None
        with pytest.raises(webhook_sign.SignatureMismatch):
            webhook_sign.verify(
                "wrong-secret",
                second.body,
                second.headers[webhook_sign.SIGNATURE_HEADER],
                now=int(time.time()),
            )


def select_platform(code: str) -> Any:
    from evidence_api.registry.models import Platform  # noqa: PLC0415

    return select(Platform.id).where(Platform.code == code)


# --- the public ---------------------------------------------------------------------------


def test_public_list_shows_listed_placements_with_allowed_fields_only(env: Env) -> None:
    name = f"公示测试店-{uuid.uuid4().hex[:6]}"
    listed = place(env.client, env.admin, env.entity(shop_name=name))
    gone = place(env.client, env.admin, env.entity(shop_name=name + "-移出"))
    ok(
        env.client.post(
            f"/v1/serious-violators/{gone['violation_id']}/remove",
            json={"reason": "撤销"},
            headers=env.admin,
        )
    )
    page = ok(env.client.get("/v1/public/serious-violators", params={"q": name}))
    assert [i["violation_id"] for i in page["items"]] == [listed["violation_id"]]
    assert page["total"] == 1
    assert tuple(page["items"][0]) == PUBLIC_FIELDS
    one = ok(env.client.get(f"/v1/public/serious-violators/{listed['violation_id']}"))
    assert tuple(one) == PUBLIC_DETAIL_FIELDS
    text = json.dumps(page, ensure_ascii=False) + json.dumps(one, ensure_ascii=False)
    assert "token-" not in text and "shop_id" not in text and "placed_by" not in text
    problem(env.client.get(f"/v1/public/serious-violators/{gone['violation_id']}"), 404)
    page = env.client.post("/v1/public/serious-violators", json={})
    assert page.status_code == 405


# --- hostile inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("years-beyond-statute", {"years": 4}),
        ("years-zero", {"years": 0}),
        ("until-beyond-three-years", {"years": None, "listed_until": "2099-01-01T00:00:00Z"}),
        ("until-past", {"years": None, "listed_until": "2020-01-01T00:00:00Z"}),
        ("from-future", {"listed_from": "2099-01-01T00:00:00Z"}),
        ("until-year-10000", {"years": None, "listed_until": "9999-12-31T23:59:59-14:00"}),
        ("from-year-0001", {"listed_from": "0001-01-01T00:00:00+14:00"}),
        ("both-until-and-years", {"listed_until": "2027-01-01T00:00:00Z"}),
        ("unknown-field", {"grade": "D"}),
        ("empty-basis", {"legal_basis": "   "}),
        ("basis-too-long", {"legal_basis": "条" * 513}),
        ("case-too-big", {"case_id": 2**63}),
        ("unknown-case", {"case_id": 2**63 - 1}),
        ("bad-unit", {"unit": "../x"}),
    ],
)
def test_hostile_placements_are_422(env: Env, name: str, extra: dict[str, Any]) -> None:
    body = {k: v for k, v in (placement(env.entity()) | extra).items() if v is not None}
    response = env.client.post("/v1/serious-violators", json=body, headers=env.admin)
    problem(response, 422)


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/v1/serious-violators", {"entity_id": 2**63 - 1}),
        ("GET", "/v1/serious-violators/sv-nothex", None),
        ("GET", "/v1/serious-violators?status=gone", None),
        ("GET", "/v1/serious-violators?entity=0", None),
        ("GET", "/v1/serious-violators?cursor=%00", None),
        ("GET", "/v1/platform/serious-violators/feed?cursor=-1", None),
        ("GET", "/v1/platform/serious-violators/feed?limit=501", None),
        ("GET", f"/v1/platform/serious-violators/feed?cursor={2**63}", None),
        ("POST", "/v1/platform/serious-violators/changes/0/ack", {"measures": ["no_shop"]}),
        ("POST", "/v1/platform/serious-violators/changes/1/ack", {"measures": []}),
        ("POST", "/v1/platform/serious-violators/changes/1/ack", {"measures": ["jail"]}),
        (
            "POST",
            "/v1/platform/serious-violators/changes/1/ack",
            {"measures": ["no_shop", "no_shop"]},
        ),
        ("GET", "/v1/public/serious-violators?q=%00", None),
        ("GET", "/v1/public/serious-violators?q=" + "a" * 65, None),
        ("GET", "/v1/public/serious-violators?limit=101", None),
        ("GET", "/v1/public/serious-violators/sv-" + "0" * 40, None),
    ],
)
def test_hostile_requests_are_4xx(
    env: Env, method: str, url: str, body: dict[str, Any] | None
) -> None:
    headers = env.platform if "/platform/" in url else env.admin
    response = env.client.request(method, url, json=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code in (404, 422), response.text


def test_officers_outside_the_unit_do_not_see_a_placement(env: Env) -> None:
    from evidence_api.units import service as units  # noqa: PLC0415
    from evidence_api.units.schemas import UnitCreate  # noqa: PLC0415

    tag = uuid.uuid4().hex[:6]
    with env.stack.runtime.session() as session:
        ensure_example_platform(session)
        for code, level, parent in (
            (f"qz{tag}", "city", None),
            (f"qz{tag}.a", "county", f"qz{tag}"),
            (f"xm{tag}", "city", None),
        ):
            units.create_unit(session, UnitCreate(code=code, name=code, level=level, parent=parent))
        _, inside = create_token(session, role="officer", name="in", unit=f"qz{tag}")
        _, outside = create_token(session, role="officer", name="out", unit=f"xm{tag}")
    made = place(env.client, env.admin, env.entity(), unit=f"qz{tag}.a")
    url = f"/v1/serious-violators/{made['violation_id']}"
    assert ok(env.client.get(url, headers=auth_header(inside)))["unit"] == f"qz{tag}.a"
    problem(env.client.get(url, headers=auth_header(outside)), 404)
    listed = ok(env.client.get("/v1/serious-violators", headers=auth_header(outside)))
    assert made["violation_id"] not in {i["violation_id"] for i in listed["items"]}


# --- console ------------------------------------------------------------------------------


def test_console_place_detail_remove_and_platform_ack(env: Env) -> None:
    admin = Person(env.stack, "admin", "名单管理员")
    officer = Person(env.stack, "officer", "普通执法人员")
    board = admin.get("/console/serious-violators")
    assert board.status_code == 200 and "列入严重违法失信名单" in board.text
    assert 'id="place-form"' not in officer.get("/console/serious-violators").text

    refused = admin.post(
        "/console/serious-violators",
        {"entity_id": str(env.entity()), "legal_basis": "", "reason": "x", "years": "3"},
    )
    assert refused.status_code == 422 and "legal_basis" in refused.text
    entity = env.entity()
    placed = admin.post(
        "/console/serious-violators",
        {"entity_id": str(entity), "legal_basis": "第九条", "reason": "情节严重", "years": "2"},
    )
    assert placed.status_code == 303, placed.text
    where = placed.headers["location"]
    vid = where.split("/")[-1].split("?")[0]
    page = admin.get(where)
    assert page.status_code == 200 and "已列入名单" in page.text and 'id="remove-form"' in page.text
    forbidden = officer.post(f"/console/serious-violators/{vid}/remove", {"reason": "x"})
    assert forbidden.status_code == 403

    seq = ok(env.client.get(f"/v1/serious-violators/{vid}", headers=env.admin))["changes"][0]["seq"]
    platform = Person(env.stack, "platform", "平台运营")
    feed = platform.get(f"/console/platform/serious-violators?cursor={seq - 1}")
    assert feed.status_code == 200 and f'data-seq="{seq}"' in feed.text
    none = platform.post(f"/console/platform/serious-violators/{seq}/ack", {"note": "x"})
    assert none.status_code == 422
    acked = platform.post(
        f"/console/platform/serious-violators/{seq}/ack",
        {"measure_restrict_promotion": "1", "note": "已限制"},
    )
    assert acked.status_code == 303, acked.text
    assert "限制参加促销活动" in admin.get(f"/console/serious-violators/{vid}").text

    removed = admin.post(f"/console/serious-violators/{vid}/remove", {"reason": "复核撤销"})
    assert removed.status_code == 303
    assert "已移出名单" in admin.get(removed.headers["location"]).text


def test_public_pages(env: Env) -> None:
    name = f"页面公示店-{uuid.uuid4().hex[:6]}"
    made = place(env.client, env.admin, env.entity(shop_name=name))
    env.client.cookies.clear()
    listing = env.client.get("/public/serious-violators", params={"q": name})
    assert listing.status_code == 200 and name in listing.text
    assert 'aria-current="page">严重违法失信名单' in listing.text
    detail = env.client.get(f"/public/serious-violators/{made['violation_id']}")
    assert detail.status_code == 200 and made["entry_id"] in detail.text
    assert "token-" not in detail.text
    assert env.client.get("/public/serious-violators/sv-nothing").status_code == 404
    bad = env.client.get("/public/serious-violators", params={"q": "x\x01"})
    assert bad.status_code == 422


def test_the_violator_feed_job_expires_and_pushes(env: Env) -> None:
    """The job's own steps (as the supervisor or the beat task runs them): a placement
    whose period has passed expires, and its change is pushed to a webhook."""
    code = f"job-{uuid.uuid4().hex[:8]}"
    with receiver([], path="/hooks/job") as (url, got):
        ok(
            env.client.post(
                "/v1/platforms",
                json={
                    "code": code,
                    "name": "任务平台",
                    "webhook_url": url,
                    "webhook_enabled": True,
                    "webhook_secret": SECRET,
                },
                headers=env.admin,
            ),
            201,
        )
        made = place(env.client, env.admin, env.entity(), years=1)
        runtime = env.stack.runtime
        with runtime.session() as session:
            row = session.execute(
                select(SeriousViolation).where(SeriousViolation.id == made["violation_id"])
            ).scalar_one()
            row.listed_until = datetime.now(UTC) - timedelta(seconds=1)
        steps, stop = dispatch.start_dispatch(runtime)
        # Beat runs one task per step: the job declares one task, so one step does both.
        (job,) = [j for j in JOBS if j.name == "violator-feed"]
        assert len(steps) == len(job.tasks) == 1
        try:

            def pushed_both() -> bool:
                for step in steps:
                    step()
                events = [json.loads(hit.body)["kind"] for hit in got]
                return events == ["listed", "expired"]

            wait_until(pushed_both, 30, "the listed and expired changes pushed")
        finally:
            stop(10)
    seen = ok(env.client.get(f"/v1/serious-violators/{made['violation_id']}", headers=env.admin))
    assert seen["status"] == "expired"
    problem(env.client.get(f"/v1/public/serious-violators/{made['violation_id']}"), 404)


def test_every_entry_of_a_placement_verifies_offline(env: Env, tmp_path: Path) -> None:
    """Placement, acknowledgement and removal: each a sealed ``serious_violation`` entry
    whose bundle the real ``evidence-verify`` accepts (tiers 3 and 4)."""
    made = place(env.client, env.admin, env.entity())
    vid, seq = made["violation_id"], made["changes"][0]["seq"]
    ok(
        env.client.post(
            f"/v1/platform/serious-violators/changes/{seq}/ack",
            json={"measures": ["delist_shop"]},
            headers=env.platform,
        )
    )
    ok(
        env.client.post(
            f"/v1/serious-violators/{vid}/remove", json={"reason": "撤销"}, headers=env.admin
        )
    )
    url = f"/v1/serious-violators/{vid}/proofs"

    def sealed() -> bool:
        entries = ok(env.client.get(url, headers=env.admin))["entries"]
        return all(e["bundle"]["status"] != "pending" for e in entries)

    wait_until(sealed, 30, "the placement's entries to be sealed")
    entries = ok(env.client.get(url, headers=env.admin))["entries"]
    assert [(e["action"], e["platform"]) for e in entries] == [
        ("listed", None),
        ("ack", "example-mall"),
        ("removed", None),
    ]
    vkey = env.client.get("/v1/log/key").text
    for i, entry in enumerate(entries):
        body = entry["bundle"]["entry"]["body"]
        assert body["violation_id"] == vid and body["action"] == entry["action"]
        done = run_verifier(entry["bundle"], {}, vkey, tmp_path / str(i))
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        statuses = {t["tier"]: t["status"] for t in report["tiers"]}
        assert statuses[3] == statuses[4] == "verified", statuses
    officer = Person(env.stack, "officer", "x")  # a console session reads it too
    assert officer.get(url).status_code == 200
