"""ODR (在线调解) through the real API on PostgreSQL.

A full mediation (the merchant's offer through the platform, the consumer's counter-offer
by the complaint's access token, the platform's acceptance → agreed, the complaint
resolved with substantiated left undecided), every event a log entry with no free text;
failure by the mediator and by a party's refusal; a closed mediation is final (409); the
deadline job at explicit times (idempotent, and two scans at once close each mediation
once); a platform sees only its own; the consumer's token checked (404 alike for a wrong
token and an unknown id); jurisdiction; hostile input refused with a precise 4xx.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.complaints.models import Complaint
from evidence_api.core.models import OrgUnit
from evidence_api.odr import service
from evidence_api.odr.deadlines import close_once
from evidence_api.odr.models import OdrCase, OdrEvent
from evidence_api.registry.models import Platform
from tests.support.api import (
    Stack,
    client_at,
    ok,
    problem,
    run_verifier,
)
from tests.support.clues import ClueWorld, clue_world_stack
from tests.support.complaints import complaint_fields, post_complaint
from tests.support.console import Person, login, make_user
from tests.support.odr import new_complaint, offer_body, open_case
from tests.support.waiting import wait_until

pytestmark = pytest.mark.postgres


@dataclass
class Env:
    stack: Stack
    world: ClueWorld
    mall: str  # the entity's platform code
    other: str  # another platform

    @property
    def client(self) -> TestClient:
        return self.stack.client


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Env]:
    # No in-process deadline scans: the deadline tests close at times of their choosing.
    data = tmp_path_factory.mktemp("odr") / "data"
    with clue_world_stack(data, postgres_url) as (stack, world):
        mall, other = list(world.platforms)
        yield Env(stack, world, mall, other)


def mediation(
    env: Env, unit: str = "a", *, days: int = 15, at: datetime | None = None
) -> tuple[str, str, str]:
    """A complaint of unit ``unit`` about the world's entity, triaged to ODR:
    ``(odr_id, complaint_id, access token)``."""
    with env.stack.runtime.session() as session:
        unit_id = session.execute(
            select(OrgUnit.id).where(OrgUnit.code == env.world.units[unit])
        ).scalar_one()
        platform_id = session.execute(
            select(Platform.id).where(Platform.code == env.mall)
        ).scalar_one()
    complaint_id, token = new_complaint(
        env.stack, entity_id=env.world.entity_id, platform_id=platform_id, unit_id=unit_id
    )
    return open_case(env.stack, complaint_id, days=days, at=at), complaint_id, token


def consumer(token: str) -> dict[str, str]:
    return {"X-Access-Token": token}


def respond(client: TestClient, odr_id: str, token: str, body: Any) -> httpx.Response:
    """The consumer's answer ``body`` to mediation ``odr_id``, by access token."""
    return client.post(f"/v1/public/odr/{odr_id}/respond", json=body, headers=consumer(token))


def complaint_row(env: Env, complaint_id: str) -> Complaint:
    with env.stack.runtime.session() as session:
        row = session.execute(select(Complaint).where(Complaint.id == complaint_id)).scalar_one()
        session.expunge(row)
        return row


def entries_of(env: Env, odr_id: str) -> list[dict[str, Any]]:
    with env.stack.runtime.session() as session:
        ids = session.execute(
            select(OdrEvent.entry_id)
            .join(OdrCase, OdrCase.seq == OdrEvent.odr_seq)
            .where(OdrCase.id == odr_id)
            .order_by(OdrEvent.number)
        ).scalars()
        conn = session.connection()
        found = [get_entry(conn, i) for i in ids]
    assert all(r is not None for r in found)
    return [json.loads(r.entry_json) for r in found if r is not None]


# --- the whole mediation ------------------------------------------------------------------


def test_offer_counter_accept_agreed_and_the_complaint_resolved(env: Env) -> None:
    w, client = env.world, env.client
    odr_id, complaint_id, token = mediation(env)
    platform = w.platform(env.mall)

    offered = ok(
        client.post(
            f"/v1/platform/odr/{odr_id}/offers",
            json={"who": "merchant", "remedy": "refund", "amount_fen": 9900, "text": "退款99元"},
            headers=platform,
        )
    )
    assert [(o["offer"], o["party"], o["state"]) for o in offered["offers"]] == [
        (1, "merchant", "open")
    ]
    seen = ok(client.get(f"/v1/public/odr/{odr_id}", headers=consumer(token)))
    assert seen["status"] == "open" and seen["status_label"] == "调解中"
    assert all(e["actor"] is None for e in seen["events"])  # no officers' pseudonyms
    assert seen["offers"][0]["remedy_label"] == "退款"

    countered = ok(
        respond(
            client,
            odr_id,
            token,
            {
                "action": "counter",
                "offer": 1,
                "remedy": "refund",
                "amount_fen": 19900,
                "text": "要求全额退款199元",
            },
        )
    )
    assert [(o["offer"], o["state"]) for o in countered["offers"]] == [
        (1, "countered"),
        (2, "open"),
    ]
    # The consumer cannot accept their own counter-offer, nor the countered one.
    problem(
        respond(client, odr_id, token, {"action": "accept", "offer": 2}),
        409,
        "only the other side",
    )
    problem(
        respond(client, odr_id, token, {"action": "accept", "offer": 1}),
        409,
        "countered",
    )

    agreed = ok(
        client.post(
            f"/v1/platform/odr/{odr_id}/respond",
            json={"action": "accept", "offer": 2, "who": "merchant"},
            headers=platform,
        )
    )
    assert agreed["status"] == "agreed" and agreed["status_label"] == "调解成功"
    assert agreed["closed_at"] is not None
    assert agreed["outcome"] == {
        "result": "agreed",
        "offer": 2,
        "party": "consumer",
        "remedy": "refund",
        "amount_fen": 19900,
        "text": "要求全额退款199元",
        "reason": None,
        "reason_label": None,
    }
    complaint = complaint_row(env, complaint_id)
    assert complaint.status == "resolved"
    assert complaint.resolved_at is not None
    assert complaint.substantiated is None  # mediation is not a finding

    officer = ok(client.get(f"/v1/odr/{odr_id}", headers=w.officer("a")))
    assert [e["kind"] for e in officer["events"]] == ["opened", "offer", "offer", "accept"]
    assert officer["parties"]["unit"] == w.units["a"]
    assert officer["parties"]["platform"] == env.mall
    entries = entries_of(env, odr_id)
    assert [e["kind"] for e in entries] == ["odr"] * 4
    bodies = [e["body"] for e in entries]
    assert [b["event"] for b in bodies] == ["opened", "offer", "offer", "accept"]
    assert [b["number"] for b in bodies] == [1, 2, 3, 4]
    assert bodies[-1]["status"] == "agreed" and bodies[-1]["complaint_status"] == "resolved"
    assert bodies[2]["ref_offer"] == 1 and bodies[2]["amount_fen"] == 19900
    assert bodies[2]["actor"] == "consumer"
    assert all(e["id"] == ev["entry_id"] for e, ev in zip(entries, officer["events"], strict=True))
    text = json.dumps(entries, ensure_ascii=False)
    assert "要求全额退款" not in text and "退款99元" not in text  # only SHA-256 of texts

    # Closed is final, whoever asks.
    for url, body, headers in (
        (f"/v1/odr/{odr_id}/notes", {"text": "迟到的备注"}, w.officer("a")),
        (f"/v1/odr/{odr_id}/extend", {"days": 3, "reason": "x"}, w.officer("a")),
        (f"/v1/odr/{odr_id}/fail", {"reason": "x"}, w.officer("a")),
        (f"/v1/platform/odr/{odr_id}/offers", offer_body(), platform),
        (f"/v1/public/odr/{odr_id}/respond", {"action": "refuse", "reason": "x"}, consumer(token)),
    ):
        problem(client.post(url, json=body, headers=headers), 409, "final")


def test_a_mediators_proposal_needs_both_sides(env: Env) -> None:
    w, client = env.world, env.client
    odr_id, _, token = mediation(env)
    ok(client.post(f"/v1/odr/{odr_id}/offers", json=offer_body("mediator"), headers=w.officer("a")))
    half = ok(respond(client, odr_id, token, {"action": "accept", "offer": 1}))
    assert half["status"] == "open" and half["offers"][0]["assents"] == ["consumer"]
    done = ok(
        client.post(
            f"/v1/odr/{odr_id}/accept",
            json={"who": "merchant", "offer": 1},
            headers=w.officer("a"),
        )
    )
    assert done["status"] == "agreed" and done["outcome"]["party"] == "mediator"


def test_failure_by_the_mediator_and_by_a_refusal(env: Env) -> None:
    w, client = env.world, env.client
    odr_id, complaint_id, _ = mediation(env)
    ok(client.post(f"/v1/odr/{odr_id}/notes", json={"text": "已电话联系"}, headers=w.officer("a")))
    failed = ok(
        client.post(
            f"/v1/odr/{odr_id}/fail",
            json={"who": "mediator", "reason": "双方分歧过大"},
            headers=w.officer("a"),
        )
    )
    assert failed["status"] == "failed"
    assert failed["outcome"]["reason"] == "ended"
    assert failed["outcome"]["reason_label"] == "调解员终止调解"
    assert complaint_row(env, complaint_id).status == "resolved"
    assert entries_of(env, odr_id)[-1]["body"]["reason"] == "ended"

    odr_id, _, token = mediation(env)
    gone = ok(respond(client, odr_id, token, {"action": "refuse", "reason": "将另行起诉"}))
    assert gone["status"] == "failed"
    assert gone["outcome"]["reason"] == "refused" and gone["outcome"]["party"] == "consumer"


def test_a_rejection_keeps_the_mediation_open(env: Env) -> None:
    w, client = env.world, env.client
    odr_id, _, token = mediation(env)
    ok(client.post(f"/v1/odr/{odr_id}/offers", json=offer_body(), headers=w.officer("a")))
    answer = ok(
        respond(client, odr_id, token, {"action": "reject", "offer": 1, "reason": "金额太低"})
    )
    assert answer["status"] == "open"
    assert answer["offers"][0]["state"] == "rejected"
    assert answer["events"][-1]["text"] == "金额太低"


# --- deadlines ----------------------------------------------------------------------------


def test_the_deadline_job_closes_overdue_mediations_once(env: Env) -> None:
    w, client = env.world, env.client
    start = datetime.now(UTC) - timedelta(days=20)
    late, late_complaint, token = mediation(env, days=15, at=start)  # deadline 5 days ago
    fresh, _, _ = mediation(env, days=15)
    listed = ok(client.get("/v1/odr", params={"overdue": "true"}, headers=w.officer("a")))
    assert late in {i["odr_id"] for i in listed["items"]}
    assert fresh not in {i["odr_id"] for i in listed["items"]}
    # Past its deadline, nobody can act on it any more.
    problem(
        client.post(f"/v1/odr/{late}/notes", json={"text": "x"}, headers=w.officer("a")),
        409,
        "deadline passed",
    )

    ledger = service.ledger_of(env.stack.runtime)
    now = datetime.now(UTC)
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda: counts.append(close_once(ledger, now))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(counts) >= 1
    assert close_once(ledger, now) == 0  # idempotent
    with env.stack.runtime.session() as session:
        failed_events = session.execute(
            select(func.count())
            .select_from(OdrEvent)
            .join(OdrCase, OdrCase.seq == OdrEvent.odr_seq)
            .where(OdrCase.id == late, OdrEvent.kind == "failed")
        ).scalar_one()
    assert failed_events == 1

    closed = ok(client.get(f"/v1/public/odr/{late}", headers=consumer(token)))
    assert closed["status"] == "failed"
    assert closed["outcome"]["reason"] == "deadline"
    assert closed["outcome"]["reason_label"] == "调解期限届满"
    assert closed["events"][-1]["party"] == "system"
    assert complaint_row(env, late_complaint).status == "resolved"
    assert ok(client.get(f"/v1/odr/{fresh}", headers=w.officer("a")))["status"] == "open"


def test_extensions_move_the_deadline_and_are_bounded(env: Env) -> None:
    w, client = env.world, env.client
    odr_id, _, _ = mediation(env, days=5)
    before = ok(client.get(f"/v1/odr/{odr_id}", headers=w.officer("a")))
    moved = ok(
        client.post(
            f"/v1/odr/{odr_id}/extend",
            json={"days": 7, "reason": "商家核实物流"},
            headers=w.officer("a"),
        )
    )
    old = datetime.fromisoformat(before["deadline"])
    assert datetime.fromisoformat(moved["deadline"]) == old + timedelta(days=7)
    assert moved["extensions_left"] == 1
    ok(
        client.post(
            f"/v1/odr/{odr_id}/extend", json={"days": 1, "reason": "x"}, headers=w.officer("a")
        )
    )
    problem(
        client.post(
            f"/v1/odr/{odr_id}/extend", json={"days": 1, "reason": "x"}, headers=w.officer("a")
        ),
        409,
        "already extended",
    )


# --- who sees what ------------------------------------------------------------------------


def test_a_platform_sees_only_its_own(env: Env) -> None:
    w, client = env.world, env.client
    odr_id, _, _ = mediation(env)
    mine = ok(client.get("/v1/platform/odr", headers=w.platform(env.mall)))
    assert odr_id in {i["odr_id"] for i in mine["items"]}
    assert all(i["platform"] == env.mall for i in mine["items"])
    theirs = ok(client.get("/v1/platform/odr", headers=w.platform(env.other)))
    assert odr_id not in {i["odr_id"] for i in theirs["items"]}
    missing = problem(client.get(f"/v1/platform/odr/{odr_id}", headers=w.platform(env.other)), 404)
    nowhere = problem(
        client.get(
            "/v1/platform/odr/odr-00000000000000000000000000ff", headers=w.platform(env.other)
        ),
        404,
    )
    assert missing["detail"].replace(odr_id, "X") == nowhere["detail"].replace(
        "odr-00000000000000000000000000ff", "X"
    )
    problem(
        client.post(
            f"/v1/platform/odr/{odr_id}/offers", json=offer_body(), headers=w.platform(env.other)
        ),
        404,
    )


def test_officers_reach_only_their_jurisdiction(env: Env) -> None:
    w, client = env.world, env.client
    odr_id, _, _ = mediation(env, unit="a")
    assert ok(client.get(f"/v1/odr/{odr_id}", headers=w.officer("city")))["odr_id"] == odr_id
    for who in ("b", "outside"):
        problem(client.get(f"/v1/odr/{odr_id}", headers=w.officer(who)), 404)
        problem(
            client.post(f"/v1/odr/{odr_id}/notes", json={"text": "x"}, headers=w.officer(who)),
            404,
        )
        listed = ok(client.get("/v1/odr", headers=w.officer(who)))
        assert odr_id not in {i["odr_id"] for i in listed["items"]}
    listed = ok(
        client.get(
            "/v1/odr", params={"platform": env.mall, "status": "open"}, headers=w.officer("a")
        )
    )
    assert odr_id in {i["odr_id"] for i in listed["items"]}
    other = ok(client.get("/v1/odr", params={"platform": env.other}, headers=w.officer("a")))
    assert other["items"] == []


def test_the_consumers_token_is_checked(env: Env) -> None:
    client = env.client
    odr_id, _, token = mediation(env)
    _, _, other_token = mediation(env)
    unknown = "odr-00000000000000000000000000aa"
    wrong = problem(client.get(f"/v1/public/odr/{odr_id}", headers=consumer(other_token)), 404)
    none = problem(client.get(f"/v1/public/odr/{unknown}", headers=consumer(token)), 404)
    assert wrong["detail"].replace(odr_id, "X") == none["detail"].replace(unknown, "X")
    assert "complaint" not in wrong["detail"]  # nothing about the complaint leaks
    problem(
        respond(client, odr_id, "x" * 43, {"action": "refuse", "reason": "x"}),
        404,
    )
    problem(
        client.get(f"/v1/public/odr/{odr_id}"), 401
    )  # no token at all: refused before the body is read
    problem(client.get(f"/v1/public/odr/{odr_id}", headers=consumer("a b")), 401)
    problem(client.get(f"/v1/public/odr/{odr_id}", headers=consumer("t" * 257)), 401)
    assert ok(client.get(f"/v1/public/odr/{odr_id}", headers=consumer(token)))["status"] == "open"


# --- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("offers", offer_body(amount_fen=10_000_000_001), "amount_fen"),
        ("offers", offer_body(amount_fen=-1), "amount_fen"),
        ("offers", offer_body(amount_fen=0), "at least 1"),
        ("offers", offer_body(amount_fen=2**64), "amount_fen"),
        ("offers", offer_body() | {"amount_fen": "100"}, "amount_fen"),
        ("offers", offer_body(text="退款\x00"), "control"),
        ("offers", offer_body(text="x" * 2001), "text"),
        ("offers", offer_body(text="   "), "text"),
        ("offers", offer_body(remedy="cash"), "remedy"),
        ("offers", offer_body(who="court"), "who"),
        ("offers", offer_body(counter_to=0), "counter_to"),
        ("offers", offer_body(extra="x"), "extra"),
        ("accept", {"who": "consumer", "offer": 2**63}, "offer"),
        ("accept", {"who": "mediator", "offer": 1}, "who"),
        ("reject", {"who": "consumer", "offer": 1}, "reason"),
        ("extend", {"days": 31, "reason": "x"}, "days"),
        ("extend", {"days": 0, "reason": "x"}, "days"),
        ("fail", {"who": "mediator"}, "reason"),
        ("notes", {"text": "\x07"}, "control"),
    ],
)
def test_hostile_mediator_input_is_422(env: Env, path: str, body: Any, words: str) -> None:
    odr_id, _, _ = mediation(env)
    problem(
        env.client.post(f"/v1/odr/{odr_id}/{path}", json=body, headers=env.world.officer("a")),
        422,
        words,
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"action": "accept"}, "offer"),
        ({"action": "reject", "offer": 1}, "reason"),
        ({"action": "counter", "offer": 1}, "remedy"),
        ({"action": "counter", "remedy": "refund", "text": "x"}, "at least 1"),
        ({"action": "refuse"}, "reason"),
        ({"action": "accept", "offer": 1, "text": "x"}, "only with counter"),
        ({"action": "accept", "offer": 1, "who": "merchant"}, "who"),
        ({"action": "pay"}, "action"),
        ([], "body"),
    ],
)
def test_hostile_consumer_input_is_422(env: Env, body: Any, words: str) -> None:
    odr_id, _, token = mediation(env)
    problem(
        respond(env.client, odr_id, token, body),
        422,
        words,
    )


def test_bad_ids_and_filters_and_answers_to_no_offer(env: Env) -> None:
    w, client = env.world, env.client
    problem(client.get("/v1/odr/odr-XYZ", headers=w.officer("a")), 422)
    problem(
        client.get("/v1/odr", params={"status": "closed"}, headers=w.officer("a")), 422, "status"
    )
    problem(client.get("/v1/odr", params={"limit": 201}, headers=w.officer("a")), 422)
    problem(client.get("/v1/odr", params={"cursor": "zzz"}, headers=w.officer("a")), 422)
    problem(client.get("/v1/odr", params={"platform": "Bad Code"}, headers=w.officer("a")), 422)
    problem(client.get("/v1/odr", params={"entity": 2**63}, headers=w.officer("a")), 422)
    odr_id, _, token = mediation(env)
    problem(
        respond(client, odr_id, token, {"action": "accept", "offer": 7}),
        409,
        "no offer 7",
    )
    problem(
        client.post(
            f"/v1/odr/{odr_id}/offers", json=offer_body(counter_to=3), headers=w.officer("a")
        ),
        409,
        "no offer 3",
    )


# --- the console --------------------------------------------------------------------------


def test_the_console_pages_mediate_and_the_platform_answers(env: Env) -> None:
    w = env.world
    odr_id, complaint_id, _ = mediation(env)
    late, _, _ = mediation(env, days=1, at=datetime.now(UTC) - timedelta(days=3))
    officer = Person(env.stack, "officer", "丰泽所调解员", unit=w.units["a"])
    board = officer.get("/console/odr")
    assert board.status_code == 200 and "在线纠纷调解" in board.text
    assert re.search(
        rf'data-overdue="true"[^>]*>\s*<td><a class="mono" href="/console/odr/{late}"', board.text
    )
    assert "odr." not in re.sub(r"<[^>]+>", "", board.text).replace("odr-", "")
    overdue = officer.get("/console/odr?overdue=true")
    assert late in overdue.text and odr_id not in overdue.text

    page = officer.get(f"/console/odr/{odr_id}")
    assert page.status_code == 200 and 'id="offer-form"' in page.text and "调解中" in page.text
    refused_form = officer.post(
        f"/console/odr/{odr_id}/offers",
        {"who": "merchant", "remedy": "refund", "amount": "1.999", "text": "退款"},
    )
    assert refused_form.status_code == 422 and "two decimals" in refused_form.text
    unprotected = officer.post(f"/console/odr/{odr_id}/notes", {"note_text": "无CSRF"}, csrf=False)
    assert unprotected.status_code == 403
    made = officer.post(
        f"/console/odr/{odr_id}/offers",
        {"who": "mediator", "remedy": "compensation", "amount": "50.5", "text": "赔偿50.5元"},
    )
    assert made.status_code == 303, made.text[:2000]
    shown = officer.get(f"/console/odr/{odr_id}")
    assert "¥50.50" in shown.text and 'data-state="open"' in shown.text

    username, password = make_user(env.stack.runtime, "platform", platform=env.mall)
    platform = TestClient(env.stack.client.app)
    csrf = login(platform, username, password)
    listed = platform.get("/console/platform/odr")
    assert listed.status_code == 200 and odr_id in listed.text
    answered = platform.post(
        f"/console/platform/odr/{odr_id}/respond",
        data={"r_who": "merchant", "r_action": "accept", "r_offer": "1", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answered.status_code == 303, answered.text[:2000]
    ok(
        env.client.post(
            f"/v1/odr/{odr_id}/accept",
            json={"who": "consumer", "offer": 1},
            headers=w.officer("a"),
        )
    )
    final = officer.get(f"/console/odr/{odr_id}")
    assert 'data-status="agreed"' in final.text and 'id="offer-form"' not in final.text
    assert "¥50.50" in final.text and complaint_row(env, complaint_id).status == "resolved"
    other_user, other_password = make_user(env.stack.runtime, "platform", platform=env.other)
    other = TestClient(env.stack.client.app)
    login(other, other_user, other_password)
    assert other.get(f"/console/platform/odr/{odr_id}").status_code == 404


def test_from_the_public_intake_through_triage_to_the_consumers_answer(env: Env) -> None:
    """The whole path with the complaints feature: a complaint filed on the public form,
    triaged to ODR by an officer, answered by the consumer with the token shown at filing."""
    stack = env.stack
    filed = post_complaint(
        client_at(stack, "198.51.100.77"),
        complaint_fields(platform=env.mall, shop_name="某某美妆旗舰店"),
    )
    assert filed.status_code == 201, filed.text
    complaint_id, token = filed.json()["complaint_id"], filed.json()["access_token"]
    admin = stack.auth("admin")  # no unit: reaches a complaint of any unit, or the top
    triaged = ok(
        stack.client.post(
            f"/v1/complaints/{complaint_id}/triage",
            json={"action": "to_odr", "reason": "消费纠纷，适合在线调解"},
            headers=admin,
        )
    )
    odr_id = triaged["odr_id"]
    seen = ok(stack.client.get(f"/v1/public/odr/{odr_id}", headers=consumer(token)))
    assert seen["complaint_id"] == complaint_id and seen["status"] == "open"
    detail = ok(stack.client.get(f"/v1/odr/{odr_id}", headers=admin))
    expected = datetime.fromisoformat(detail["opened_at"]) + timedelta(
        days=stack.settings.odr_default_days
    )
    assert datetime.fromisoformat(detail["deadline"]) == expected
    ok(stack.client.post(f"/v1/odr/{odr_id}/offers", json=offer_body(), headers=admin))
    agreed = ok(respond(stack.client, odr_id, token, {"action": "accept", "offer": 1}))
    assert agreed["status"] == "agreed"
    status = ok(stack.client.get(f"/v1/public/complaints/{complaint_id}", headers=consumer(token)))
    assert status["status"] == "resolved"


def test_the_mediators_other_forms(env: Env) -> None:
    w = env.world
    odr_id, _, _ = mediation(env)
    officer = Person(env.stack, "officer", "丰泽所调解员乙", unit=w.units["a"])
    base = f"/console/odr/{odr_id}"
    assert officer.post(f"{base}/notes", {"note_text": "已电话联系商家"}).status_code == 303
    assert (
        officer.post(f"{base}/extend", {"days": "3", "ext_reason": "核实物流"}).status_code == 303
    )
    assert officer.post(f"{base}/extend", {"days": "31", "ext_reason": "x"}).status_code == 422
    made = officer.post(
        f"{base}/offers", {"who": "merchant", "remedy": "replace", "amount": "", "text": "换新"}
    )
    assert made.status_code == 303
    no_reason = officer.post(
        f"{base}/answer", {"a_who": "consumer", "a_decision": "reject", "a_offer": "1"}
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    rejected = officer.post(
        f"{base}/answer",
        {"a_who": "consumer", "a_decision": "reject", "a_offer": "1", "a_reason": "不要换货"},
    )
    assert rejected.status_code == 303
    ended = officer.post(f"{base}/fail", {"fail_who": "consumer", "fail_reason": "消费者不同意"})
    assert ended.status_code == 303
    page = officer.get(base).text
    assert 'data-status="failed"' in page and "一方拒绝调解" in page
    assert [m for m in re.findall(r'data-kind="([a-z]+)"', page)] == [
        "opened",
        "note",
        "extend",
        "offer",
        "reject",
        "failed",
    ]
    assert re.findall(r'data-state="([a-z]+)"', page) == ["rejected"]


def test_every_event_entry_is_sealed_and_verifies_offline(env: Env, tmp_path: Path) -> None:
    """The real ``evidence-verify`` accepts each event's entry (tiers 3 and 4)."""
    w, client = env.world, env.client
    odr_id, _, token = mediation(env)
    ok(client.post(f"/v1/odr/{odr_id}/offers", json=offer_body(), headers=w.officer("a")))
    ok(respond(client, odr_id, token, {"action": "accept", "offer": 1}))
    events = ok(client.get(f"/v1/odr/{odr_id}", headers=w.officer("a")))["events"]
    vkey = client.get("/v1/log/key").text

    def bundles() -> list[dict[str, Any]]:
        with env.stack.runtime.session() as session:
            conn = session.connection()
            records = [get_entry(conn, e["entry_id"]) for e in events]
            return [
                bundle_for(conn, r, origin=env.stack.runtime.signer.name).model_dump(mode="json")
                for r in records
                if r is not None
            ]

    wait_until(
        lambda: all(b["status"] != "pending" for b in bundles()), 30, "the events to be sealed"
    )
    found = bundles()
    assert len(found) == len(events) == 3
    for i, (bundle, event) in enumerate(zip(found, events, strict=True)):
        assert bundle["entry"]["id"] == event["entry_id"]
        done = run_verifier(bundle, {}, vkey, tmp_path / str(i))
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["outcome"] == "verified", report
        tiers = {t["tier"]: t["status"] for t in report["tiers"]}
        assert tiers[3] == tiers[4] == "verified", tiers
