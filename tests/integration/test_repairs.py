"""信用修复 through the real API on PostgreSQL.

The applicant applies on the public route (no token) with attachments fixed as evidence
and gets an id, an access token and receipts; an officer of the entity's county accepts:
the placement is removed, a ``repair_accepted`` record covers the repaired records and the
listing's, the grade is recomputed, every step is a ``credit_repair`` log entry. Waiting
periods refused when applying and again at the decision; the reject path; a decision is
final; the access token (a wrong one answers like an unknown id); hostile forms 4xx; the
per-client rate limit (429 with Retry-After, another client unaffected); jurisdiction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from anchoring.queue import get_entry
from evidence_api.core.config import Settings
from evidence_api.credit.models import CreditRecord
from evidence_api.registry.models import TradingEntity
from evidence_api.repairs.models import CreditRepair
from evidence_api.violators.models import SeriousViolation
from tests.support.api import (
    Stack,
    client_at,
    fresh_postgres_database,
    ok,
    problem,
    running_stack,
)
from tests.support.console import Person
from tests.support.repairs import (
    PDF,
    PNG,
    RepairWorld,
    add_credit_record,
    add_entity,
    add_placement,
    application,
    fresh_uscc,
    seed_world,
)

pytestmark = pytest.mark.postgres

RATE_LIMIT = 3
MAX_FILES = 3
MAX_FILE_BYTES = 64 * 1024
APPLY = "/v1/public/credit-repairs"


@dataclass
class Env:
    stack: Stack
    world: RepairWorld

    @property
    def client(self) -> TestClient:
        return self.stack.client


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("repairs") / "data"
    with fresh_postgres_database(postgres_url) as url:
        settings = Settings(
            database_url=url,
            data_dir=data,
            seal_interval=0.1,
            run_supervisor=False,
            public_rate_limit=RATE_LIMIT,
            public_max_attachments=MAX_FILES,
            public_max_attachment_bytes=MAX_FILE_BYTES,
        )
        with running_stack(settings) as stack:
            yield Env(stack, seed_world(stack))


_ADDRESSES = iter(range(1, 10_000))


def applicant(env: Env) -> TestClient:
    """A client at an address of its own (its own rate-limit window)."""
    n = next(_ADDRESSES)
    return client_at(env.stack, f"192.0.{n // 250}.{n % 250 + 1}")


RAW_TYPE = "multipart/form-data; boundary=repairbound"


def raw_form(fields: dict[str, str], filename: bytes) -> bytes:
    """A multipart body written by hand: a file name with bytes no client library sends."""
    out = b""
    for name, value in (fields | {"applicant_contact": "13800000000", "statement": "整改"}).items():
        out += b"--repairbound\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += b"--repairbound\r\n"
    out += b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
    out += b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--repairbound--\r\n"
    return out


def entity_row(env: Env, entity_id: int) -> TradingEntity:
    with env.stack.runtime.session() as session:
        row = session.get(TradingEntity, entity_id)
        assert row is not None
        session.expunge(row)
        return row


def decide(env: Env, repair_id: str, decision: str, who: str = "a", **extra: Any) -> httpx.Response:
    body = {"decision": decision, "reason": "已履行处罚决定，整改到位"} | extra
    response: httpx.Response = env.client.post(
        f"/v1/credit-repairs/{repair_id}/decision", json=body, headers=env.world.officer(who)
    )
    return response


def test_apply_then_accept_removes_the_listing_covers_the_records_and_logs_every_step(
    env: Env,
) -> None:
    uscc = fresh_uscc()
    entity_id = add_entity(env.stack, env.world, uscc=uscc)
    penalty = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=200)
    violation_id = add_placement(env.stack, env.world, entity_id, days_ago=400)
    parts = application(
        uscc=uscc,
        violation_id=violation_id,
        record_refs=penalty,
        files={"整改报告.pdf": (PDF, "application/pdf"), "现场照片.png": (PNG, "image/png")},
    )
    receipt = ok(applicant(env).post(APPLY, files=parts), 201)
    repair_id, token = receipt["repair_id"], receipt["access_token"]
    assert receipt["status"] == "applied" and receipt["status_label"] == "待审核"
    assert receipt["violation_id"] == violation_id and receipt["record_refs"] == [penalty]
    assert [a["name"] for a in receipt["attachments"]] == ["整改报告.pdf", "现场照片.png"]
    for attachment in receipt["attachments"]:
        assert attachment["receipt"].strip() and len(attachment["leaf_hash"]) == 64
        evidence = ok(
            env.client.get(
                f"/v1/evidence/{attachment['evidence_id']}", headers=env.world.officer("a")
            )
        )
        assert evidence["case_ref"] == repair_id
        assert evidence["files"][0]["sha256"] == attachment["sha256"]
    # Only the token's hash is kept.
    with env.stack.runtime.session() as session:
        row = session.execute(select(CreditRepair).where(CreditRepair.id == repair_id)).scalar_one()
        assert token not in (row.token_sha256, row.statement)

    status = ok(env.client.get(f"{APPLY}/{repair_id}", headers={"X-Access-Token": token}))
    assert status["status"] == "applied" and status["decision_reason"] is None
    assert set(status) == {
        "repair_id",
        "status",
        "status_label",
        "decision_reason",
        "decided_at",
        "created_at",
    }

    # The officer of the entity's county sees it; the other county does not.
    listed = ok(env.client.get("/v1/credit-repairs?status=applied", headers=env.world.officer("a")))
    assert repair_id in [i["repair_id"] for i in listed["items"]]
    other = ok(env.client.get("/v1/credit-repairs", headers=env.world.officer("b")))
    assert repair_id not in [i["repair_id"] for i in other["items"]]
    problem(env.client.get(f"/v1/credit-repairs/{repair_id}", headers=env.world.officer("b")), 404)
    problem(decide(env, repair_id, "accept", who="b"), 404)
    detail = ok(env.client.get(f"/v1/credit-repairs/{repair_id}", headers=env.world.officer("a")))
    assert [a["evidence_id"] for a in detail["attachments"]] == [
        a["evidence_id"] for a in receipt["attachments"]
    ]
    assert {w["target"]: w["due"] for w in detail["waiting"]} == {
        violation_id: True,
        penalty: True,
    }
    assert all(w["source"].startswith("《") for w in detail["waiting"])

    accepted = ok(decide(env, repair_id, "accept"))
    assert accepted["status"] == "accepted" and accepted["record_ref"].startswith("cr-")
    with env.stack.runtime.session() as session:
        listing_records = dict(
            session.execute(
                select(CreditRecord.kind, CreditRecord.id).where(
                    CreditRecord.entity_id == entity_id,
                    CreditRecord.kind.in_(("serious_listed", "serious_removed")),
                )
            ).all()
        )
        placement = session.execute(
            select(SeriousViolation).where(SeriousViolation.id == violation_id)
        ).scalar_one()
        assert placement.status == "removed" and placement.repair_id == repair_id
        record = session.get(CreditRecord, int(accepted["record_ref"][3:]))
        assert record is not None and record.kind == "repair_accepted"
        assert record.source == f"repair:{repair_id}"
        covers = json.loads(record.covers)
        assert penalty in covers and f"cr-{listing_records['serious_listed']}" in covers
        assert f"cr-{listing_records['serious_removed']}" in covers
        assert covers == accepted["covers"]
        # Every step is a credit_repair log entry, with no free text in it.
        conn = session.connection()
        bodies = []
        for step in accepted["steps"]:
            entry = get_entry(conn, step["entry_id"])
            assert entry is not None
            bodies.append(entry)
    assert [s["step"] for s in accepted["steps"]] == ["applied", "accepted"]
    text = json.dumps([str(b) for b in bodies], ensure_ascii=False)
    assert "张某" not in text and "13800000000" not in text and "整改到位" not in text

    status = ok(env.client.get(f"{APPLY}/{repair_id}", headers={"X-Access-Token": token}))
    assert (
        status["status"] == "accepted" and status["decision_reason"] == "已履行处罚决定，整改到位"
    )
    problem(decide(env, repair_id, "reject"), 409, "final")

    # A (listed: D) → repair covering the penalty and the listing: 100, capped at B.
    assert entity_row(env, entity_id).risk_grade == "B"


def test_records_only_repair_is_independent_of_the_list(env: Env) -> None:
    entity_id = add_entity(env.stack, env.world)
    penalty = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=190)
    reduced = add_credit_record(env.stack, entity_id, "case_reduced", days_ago=100)
    name = entity_row(env, entity_id).shop_name
    parts = application(
        shop_name=name, platform=env.world.platform, record_refs=f"{penalty}，{reduced}"
    )
    repair_id = ok(applicant(env).post(APPLY, files=parts), 201)["repair_id"]
    accepted = ok(decide(env, repair_id, "accept"))
    assert accepted["covers"] == [penalty, reduced]
    # Repaired records cannot be repaired again.
    parts = application(shop_name=name, platform=env.world.platform, record_refs=penalty)
    problem(applicant(env).post(APPLY, files=parts), 409, "already repaired")


def test_waiting_periods_refuse_early_applications_and_early_decisions(env: Env) -> None:
    uscc = fresh_uscc()
    entity_id = add_entity(env.stack, env.world, uscc=uscc)
    young = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=30)
    body = problem(
        applicant(env).post(APPLY, files=application(uscc=uscc, record_refs=young)),
        422,
        young,
        "may be repaired from",
        "第六条",
    )
    assert body["field"] == "record_refs"
    violation_id = add_placement(env.stack, env.world, entity_id, days_ago=100)
    body = problem(
        applicant(env).post(APPLY, files=application(uscc=uscc, violation_id=violation_id)),
        422,
        violation_id,
        "第二十条",
    )
    earliest = (datetime.now(UTC) - timedelta(days=100)).astimezone().date()
    assert str(earliest.year + 1) in body["detail"]
    # Food: a year, not six months.
    food = add_entity(env.stack, env.world, uscc=(food_uscc := fresh_uscc()), risk_class="食品")
    seven_months = add_credit_record(env.stack, food, "case_penalty", days_ago=215)
    problem(
        applicant(env).post(APPLY, files=application(uscc=food_uscc, record_refs=seven_months)),
        422,
        "食品",
    )
    # Due when applying, not due when decided (the record's date corrected meanwhile).
    old = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=200)
    repair_id = ok(applicant(env).post(APPLY, files=application(uscc=uscc, record_refs=old)), 201)[
        "repair_id"
    ]
    with env.stack.runtime.session() as session:
        session.execute(
            update(CreditRecord)
            .where(CreditRecord.id == int(old[3:]))
            .values(occurred_at=datetime.now(UTC) - timedelta(days=10))
        )
    problem(decide(env, repair_id, "accept"), 422, "may be repaired from")
    detail = ok(env.client.get(f"/v1/credit-repairs/{repair_id}", headers=env.world.officer("a")))
    assert detail["status"] == "applied" and detail["waiting"][0]["due"] is False


def test_reject_needs_a_reason_and_is_final(env: Env) -> None:
    entity_id = add_entity(env.stack, env.world, uscc=(uscc := fresh_uscc()))
    ref = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=400)
    receipt = ok(applicant(env).post(APPLY, files=application(uscc=uscc, record_refs=ref)), 201)
    repair_id = receipt["repair_id"]
    # A second application for the same record while the first is pending: 409.
    problem(
        applicant(env).post(APPLY, files=application(uscc=uscc, record_refs=ref)), 409, repair_id
    )
    problem(decide(env, repair_id, "reject", reason=""), 422)
    problem(decide(env, repair_id, "maybe"), 422)
    rejected = ok(decide(env, repair_id, "reject", reason="整改材料不能证明已消除不良影响"))
    assert rejected["status"] == "rejected" and rejected["record_ref"] is None
    assert [s["step"] for s in rejected["steps"]] == ["applied", "rejected"]
    problem(decide(env, repair_id, "accept"), 409, "final")
    status = ok(
        env.client.get(f"{APPLY}/{repair_id}", headers={"X-Access-Token": receipt["access_token"]})
    )
    assert status["status"] == "rejected"
    assert status["decision_reason"] == "整改材料不能证明已消除不良影响"
    with env.stack.runtime.session() as session:
        kinds = session.execute(
            select(CreditRecord.kind).where(CreditRecord.entity_id == entity_id)
        ).scalars()
        assert "repair_accepted" not in set(kinds)


def test_the_access_token_is_needed_and_a_wrong_one_reveals_nothing(env: Env) -> None:
    entity_id = add_entity(env.stack, env.world, uscc=(uscc := fresh_uscc()))
    ref = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=400)
    receipt = ok(applicant(env).post(APPLY, files=application(uscc=uscc, record_refs=ref)), 201)
    url = f"{APPLY}/{receipt['repair_id']}"
    unknown = f"{APPLY}/rp-{'0' * 28}"
    token = receipt["access_token"]
    # one character changed: the last one of 32 random bytes is "A" one time in 16
    wrong = token[:-1] + ("B" if token.endswith("A") else "A")
    answers = [
        env.client.get(url),
        env.client.get(url, headers={"X-Access-Token": "x" * 43}),
        env.client.get(url, headers={"X-Access-Token": wrong}),
        env.client.get(unknown, headers={"X-Access-Token": token}),
    ]
    for response in answers:
        problem(response, 404)
    details = {r.json()["detail"].replace(receipt["repair_id"], "ID") for r in answers[:3]}
    details.add(answers[3].json()["detail"].replace(f"rp-{'0' * 28}", "ID"))
    assert len(details) == 1, details
    problem(env.client.get(f"{APPLY}/not-an-id"), 422)
    ok(env.client.get(url, headers={"X-Access-Token": token}))


def test_hostile_and_wrong_applications_are_refused_precisely(env: Env) -> None:
    entity_id = add_entity(env.stack, env.world, uscc=(uscc := fresh_uscc()))
    ref = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=400)
    client = applicant(env)

    def send(**kwargs: Any) -> httpx.Response:
        response: httpx.Response = client.post(
            APPLY, files=application(**({"uscc": uscc, "record_refs": ref} | kwargs))
        )
        return response

    big = PDF + b"0" * MAX_FILE_BYTES
    problem(send(files={"big.pdf": (big, "application/pdf")}), 413)
    many = {f"p{i}.png": (PNG, "image/png") for i in range(MAX_FILES + 1)}
    problem(send(files=many), 422)
    problem(send(files={"../etc.png": (PNG, "image/png")}), 422, "path")
    raw = raw_form(
        {"uscc": uscc, "record_refs": ref, "applicant_name": "张某", "pledge": "true"},
        b"a\x01b.png",
    )
    problem(client.post(APPLY, content=raw, headers={"content-type": RAW_TYPE}), 422, "control")
    problem(send(files={"fake.png": (b"just text", "image/png")}), 415)
    problem(send(files={"x.exe": (b"MZ\x90\x00", "application/x-msdownload")}), 415)
    problem(send(files={}), 422, "整改材料")
    problem(send(pledge="false"), 422, "信用承诺书")
    problem(send(statement="整改\x00完成"), 422, "NUL")
    problem(send(record_refs="cr-abc"), 422, "cr-")
    problem(send(record_refs="cr-99999999999999999999"), 422)
    problem(send(record_refs=f"cr-{2**63 - 1}"), 422, "no credit record")
    problem(send(record_refs=None), 422, "name what to repair")
    problem(send(uscc="91350100M000100Y44"), 422, "uscc")
    problem(send(uscc=None, shop_name="无此店铺", platform=env.world.platform), 422, "no entity")
    problem(send(uscc=None, shop_name="某店"), 422, "platform")
    problem(send(violation_id="sv-123"), 422, "violation_id")
    problem(send(applicant_name=None), 422, "applicant_name")
    # A listing's own record is repaired through its placement.
    violation_id = add_placement(env.stack, env.world, entity_id, days_ago=400)
    with env.stack.runtime.session() as session:
        listed = session.execute(
            select(CreditRecord.id).where(CreditRecord.source == f"violation:{violation_id}")
        ).scalar_one()
    problem(send(record_refs=f"cr-{listed}"), 422, "name the placement")
    # Another entity's record.
    other = add_entity(env.stack, env.world, uscc=fresh_uscc())
    foreign = add_credit_record(env.stack, other, "case_penalty", days_ago=400)
    problem(send(record_refs=foreign), 422, "no credit record")
    # Two shops with one USCC: say which.
    twin = fresh_uscc()
    add_entity(env.stack, env.world, uscc=twin)
    add_entity(env.stack, env.world, uscc=twin)
    problem(send(uscc=twin), 422, "several shops")
    # Not multipart at all.
    problem(client.post(APPLY, json={"uscc": uscc}), 400)
    # None of these was an application: the client's window is untouched.
    ok(send(), 201)


def test_one_client_is_rate_limited_with_retry_after_and_another_is_not(env: Env) -> None:
    client, other = applicant(env), applicant(env)
    for _ in range(RATE_LIMIT):
        entity_id = add_entity(env.stack, env.world, uscc=(uscc := fresh_uscc()))
        ref = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=400)
        ok(client.post(APPLY, files=application(uscc=uscc, record_refs=ref)), 201)
    entity_id = add_entity(env.stack, env.world, uscc=(uscc := fresh_uscc()))
    ref = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=400)
    parts = application(uscc=uscc, record_refs=ref)
    response = client.post(APPLY, files=parts)
    problem(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    ok(other.post(APPLY, files=parts), 201)


def test_officer_listing_filters_and_bounds(env: Env) -> None:
    headers = env.world.officer("city")
    for _ in range(2):
        entity_id = add_entity(env.stack, env.world, uscc=(uscc := fresh_uscc()))
        ref = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=400)
        ok(applicant(env).post(APPLY, files=application(uscc=uscc, record_refs=ref)), 201)
    problem(env.client.get("/v1/credit-repairs?status=done", headers=headers), 422)
    problem(env.client.get("/v1/credit-repairs?entity=0", headers=headers), 422)
    problem(env.client.get("/v1/credit-repairs?cursor=nonsense", headers=headers), 422)
    problem(env.client.get("/v1/credit-repairs?limit=201", headers=headers), 422)
    page = ok(env.client.get("/v1/credit-repairs?limit=1", headers=headers))
    assert len(page["items"]) == 1 and page["next_cursor"]
    second = ok(
        env.client.get(
            "/v1/credit-repairs",
            params={"limit": 1, "cursor": page["next_cursor"]},
            headers=headers,
        )
    )
    assert second["items"][0]["repair_id"] != page["items"][0]["repair_id"]
    problem(
        env.client.post(
            f"/v1/credit-repairs/rp-{'0' * 28}/decision",
            json={"decision": "accept", "reason": "x"},
            headers=headers,
        ),
        404,
    )


def test_public_pages_apply_and_look_up_and_the_console_decides(env: Env) -> None:
    entity_id = add_entity(env.stack, env.world, uscc=(uscc := fresh_uscc()))
    ref = add_credit_record(env.stack, entity_id, "case_penalty", days_ago=400)
    browser = applicant(env)
    page = browser.get("/public/credit-repair")
    assert page.status_code == 200
    assert 'href="/public/credit-repair" aria-current="page"' in page.text
    assert "第二十条" in page.text and 'enctype="multipart/form-data"' in page.text
    # Refused: the form comes back with the reason and what was typed.
    parts = application(uscc=uscc, record_refs=ref, pledge="no", applicant_name="李某某")
    again = browser.post("/public/credit-repair", files=parts)
    assert again.status_code == 422 and "信用承诺书" in again.text
    assert 'value="李某某"' in again.text
    receipt = browser.post("/public/credit-repair", files=application(uscc=uscc, record_refs=ref))
    assert receipt.status_code == 201, receipt.text
    assert receipt.headers["cache-control"] == "no-store"
    repair_id = re.search(r'data-testid="repair-id">(rp-[0-9a-f]{28})<', receipt.text)
    token = re.search(r'data-testid="access-token">([A-Za-z0-9_-]{43})<', receipt.text)
    assert repair_id and token and "evidence-anchor/receipt/v1" in receipt.text
    lookup = {"repair_id": repair_id.group(1), "access_token": token.group(1)}
    found = browser.post("/public/credit-repair/status", data=lookup)
    assert found.status_code == 200 and "待审核" in found.text
    wrong = browser.post("/public/credit-repair/status", data=lookup | {"access_token": "x"})
    assert wrong.status_code == 404 and "未找到" in wrong.text and "待审核" not in wrong.text

    officer = Person(env.stack, "officer", "审核员甲", unit=env.world.units["a"])
    listing = officer.get("/console/credit-repairs?status=applied")
    assert listing.status_code == 200 and repair_id.group(1) in listing.text
    url = f"/console/credit-repairs/{repair_id.group(1)}"
    detail = officer.get(url)
    assert detail.status_code == 200 and 'href="/console/evidence/ev-' in detail.text
    blank = officer.post(f"{url}/decision", {"decision": "accept", "reason": ""})
    assert blank.status_code == 422
    done = officer.post(f"{url}/decision", {"decision": "accept", "reason": "整改到位"})
    assert done.status_code == 303, done.text
    assert "准予信用修复" in officer.get(url).text
    outsider = Person(env.stack, "officer", "审核员乙", unit=env.world.units["b"])
    assert outsider.get(url).status_code == 404
    assert repair_id.group(1) not in outsider.get("/console/credit-repairs").text
