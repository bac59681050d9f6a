"""线索转办 and 协查 through the real API on PostgreSQL.

A clue transferred, returned, re-sent and accepted, each step a ``clue`` log entry
whose proof bundle the real ``evidence-verify`` accepts (tiers 3 and 4), with no free
text in any entry; jurisdiction (404 outside, 403 for the wrong end); illegal steps
409 with the reason; 协查 to a platform and to a unit, the reply's files fixed as
evidence that verifies with its files (tiers 1-4), isolation between platforms, the
bounds of a reply (file count, size, missing or malformed parts); overdue flagged
once. With anvil: a platform's reply files verify through tier 5.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from anchoring.node import anvil_binary
from evidence_api.clues.deadlines import flag_once
from evidence_api.clues.steps import ledger_of
from tests.support.api import (
    VERIFY_CLI,
    Stack,
    anchoring_stack,
    assert_verifies,
    evidence_form,
    fresh_postgres_database,
    ok,
    run_verifier,
    wait_for_bundle,
)
from tests.support.clues import (
    ClueWorld,
    assist_body,
    clue_body,
    clue_world_stack,
    deadline,
    reply_form,
    seed_clue_world,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.postgres

FILES = {
    "seller.json": '{"name": "张某", "uscc": null}'.encode(),
    "orders.csv": b"id,amount\n1,99\n",
}


@dataclass
class Env:
    stack: Stack
    world: ClueWorld
    vkey: str

    @property
    def client(self) -> TestClient:
        return self.stack.client


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Env]:
    # No in-process deadline scans: the overdue test flags at a time of its choosing.
    data = tmp_path_factory.mktemp("clues") / "data"
    with clue_world_stack(data, postgres_url) as (stack, world):
        yield Env(stack, world, stack.client.get("/v1/log/key").text)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_clue(env: Env, who: str = "a", evidence_ids: list[str] | None = None) -> dict[str, Any]:
    body = clue_body(env.world.entity_id, evidence_ids or [])
    return ok(env.client.post("/v1/clues", json=body, headers=env.world.officer(who)), 201)


def transfer(env: Env, clue_id: str, to: str, who: str = "a", **extra: Any) -> httpx.Response:
    body = {
        "to_unit": env.world.units[to],
        "reason": "经营者在晋江，属地管辖",
        "deadline": deadline(),
    }
    response: httpx.Response = env.client.post(
        f"/v1/clues/{clue_id}/transfers", json=body | extra, headers=env.world.officer(who)
    )
    return response


def sealed_proofs(env: Env, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    def sealed() -> bool:
        entries = ok(env.client.get(url, headers=headers))["entries"]
        return all(e["bundle"]["status"] != "pending" for e in entries)

    wait_until(sealed, 30, f"the entries of {url} to be sealed")
    entries: list[dict[str, Any]] = ok(env.client.get(url, headers=headers))["entries"]
    return entries


def assert_entries_verify(env: Env, entries: list[dict[str, Any]], workdir: Path) -> None:
    for i, item in enumerate(entries):
        done = run_verifier(item["bundle"], {}, env.vkey, workdir / str(i))
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["outcome"] == "verified", report
        tiers = {t["tier"]: t["status"] for t in report["tiers"]}
        assert tiers[3] == tiers[4] == "verified", tiers


# --- clues ------------------------------------------------------------------------------


def test_a_clue_transferred_returned_resent_and_accepted_every_step_verifiable(
    env: Env, tmp_path: Path
) -> None:
    w, client = env.world, env.client
    evidence = ok(
        client.post(
            "/v1/evidence", files=evidence_form({"p.html": b"<p>x</p>"}), headers=w.officer("a")
        ),
        201,
    )["evidence_id"]
    clue = new_clue(env, evidence_ids=[evidence])
    cid = clue["clue_id"]
    assert (clue["status"], clue["unit"], clue["evidence_ids"]) == (
        "held",
        w.units["a"],
        [evidence],
    )
    for outsider in ("b", "outside"):
        assert client.get(f"/v1/clues/{cid}", headers=w.officer(outsider)).status_code == 404

    reason = "经营者注册地在晋江市，属地管辖"
    sent = ok(transfer(env, cid, "b", reason=reason), 201)
    first = sent["transfers"][0]["transfer_id"]
    assert (sent["status"], sent["unit"], sent["transfers"][0]["status"]) == (
        "pending",
        w.units["a"],
        "pending",
    )
    # the receiver reads what it is asked to accept; a third unit still sees nothing
    assert ok(client.get(f"/v1/clues/{cid}", headers=w.officer("b")))["status"] == "pending"
    listed = ok(client.get("/v1/clues", headers=w.officer("b"), params={"status": "pending"}))
    assert cid in [c["clue_id"] for c in listed["items"]]
    assert client.get(f"/v1/clues/{cid}", headers=w.officer("outside")).status_code == 404

    again = transfer(env, cid, "b")
    assert again.status_code == 409
    assert again.json()["detail"] == "a clue that is 'pending' cannot send; allowed: accept, return"
    url = f"/v1/clues/{cid}/transfers/{first}"
    wrong_end = client.post(f"{url}/accept", headers=w.officer("a"))
    assert wrong_end.status_code == 403, wrong_end.text
    no_reason = client.post(f"{url}/return", json={}, headers=w.officer("b"))
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"

    back = "经核查不属于本局管辖"
    returned = ok(client.post(f"{url}/return", json={"reason": back}, headers=w.officer("b")))
    assert (returned["status"], returned["unit"]) == ("returned", w.units["a"])
    assert returned["transfers"][0]["answer"] == back
    # the sender sees the return and its reason; the receiver no longer sees the clue
    seen = ok(client.get(f"/v1/clues/{cid}", headers=w.officer("a")))
    assert seen["status_label"] == "已退回" and seen["transfers"][0]["status"] == "returned"
    assert client.post(f"{url}/accept", headers=w.officer("b")).status_code == 404

    resent = ok(transfer(env, cid, "b"), 201)
    second = resent["transfers"][1]["transfer_id"]
    assert second != first and resent["status"] == "pending"
    accepted = ok(client.post(f"/v1/clues/{cid}/transfers/{second}/accept", headers=w.officer("b")))
    assert (accepted["status"], accepted["unit"]) == ("accepted", w.units["b"])
    assert client.get(f"/v1/clues/{cid}", headers=w.officer("a")).status_code == 404
    assert ok(client.get(f"/v1/clues/{cid}", headers=w.officer("city")))["unit"] == w.units["b"]
    twice = client.post(f"/v1/clues/{cid}/transfers/{second}/accept", headers=w.officer("b"))
    assert twice.status_code == 409 and "already accepted" in twice.json()["detail"]

    steps = accepted["steps"]
    assert [s["step"] for s in steps] == [
        "created",
        "transfer_sent",
        "transfer_returned",
        "transfer_sent",
        "transfer_accepted",
    ]
    assert [s["transfer_id"] for s in steps[1:]] == [first, first, second, second]
    entries = sealed_proofs(env, accepted["proofs_url"], w.officer("b"))
    assert [e["entry_id"] for e in entries] == [s["entry_id"] for s in steps]
    bodies = [e["bundle"]["entry"]["body"] for e in entries]
    assert all(e["bundle"]["entry"]["kind"] == "clue" for e in entries)
    assert [b["step"] for b in bodies] == [s["step"] for s in steps]
    assert all(b["clue_id"] == cid for b in bodies)
    assert bodies[0]["evidence_ids"] == [evidence] and bodies[0]["unit"] == w.units["a"]
    assert bodies[1]["reason_sha256"] == sha256(reason)
    assert bodies[2]["reason_sha256"] == sha256(back)
    assert (bodies[4]["from_unit"], bodies[4]["to_unit"], bodies[4]["unit"]) == (
        w.units["a"],
        w.units["b"],
        w.units["b"],
    )
    text = json.dumps([e["bundle"]["entry"] for e in entries], ensure_ascii=False)
    for secret in (reason, back, "假冒化妆品"):
        assert secret not in text
    assert [e["bundle"]["entry"]["id"] for e in entries] == [s["entry_id"] for s in steps]
    assert_entries_verify(env, entries, tmp_path)


def test_clue_lists_page_and_filter_and_bad_input_is_named(env: Env) -> None:
    w, client = env.world, env.client
    made = [new_clue(env, "outside")["clue_id"] for _ in range(3)]
    page = ok(client.get("/v1/clues", params={"limit": 2}, headers=w.officer("outside")))
    assert [c["clue_id"] for c in page["items"]] == made[:0:-1]
    rest = ok(
        client.get(
            "/v1/clues",
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=w.officer("outside"),
        )
    )
    assert [c["clue_id"] for c in rest["items"]] == made[:1] and rest["next_cursor"] is None
    by_unit = ok(
        client.get("/v1/clues", params={"unit": w.units["outside"]}, headers=w.officer("city"))
    )
    assert by_unit["items"] == []  # outside the city's reach
    refusals = {
        ("status", "lost"): "status",
        ("unit", "no-such-unit"): "unit",
        ("cursor", "bogus"): "cursor",
    }
    for (name, value), field in refusals.items():
        answer = client.get("/v1/clues", params={name: value}, headers=w.officer("a"))
        assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    bad_bodies = {
        "evidence_ids": clue_body(w.entity_id, ["ev-" + "0" * 28]),
        "entity_id": clue_body(2**40),
    }
    for field, body in bad_bodies.items():
        answer = client.post("/v1/clues", json=body, headers=w.officer("a"))
        assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    cid = made[0]
    for extra, field in (
        ({"to_unit": "no-such-unit"}, "to_unit"),
        ({"to_unit": w.units["outside"]}, "to_unit"),  # the holder itself
        ({"deadline": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}, "deadline"),
    ):
        body = {"to_unit": w.units["a"], "reason": "r", "deadline": deadline()} | extra
        answer = client.post(f"/v1/clues/{cid}/transfers", json=body, headers=w.officer("outside"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field, answer.text
    at_limit = clue_body(w.entity_id) | {"summary": "长" * 8000}
    assert client.post("/v1/clues", json=at_limit, headers=w.officer("a")).status_code == 201
    over = clue_body(w.entity_id) | {"summary": "长" * 8001}
    answer = client.post("/v1/clues", json=over, headers=w.officer("a"))
    assert answer.status_code == 422 and answer.json()["field"] == "summary", answer.text
    huge = clue_body(w.entity_id) | {"summary": "x" * env.stack.settings.max_json_bytes}
    assert client.post("/v1/clues", json=huge, headers=w.officer("a")).status_code == 413


# --- 协查 -------------------------------------------------------------------------------


def test_assist_to_a_platform_reply_files_are_evidence_and_platforms_are_isolated(
    env: Env, tmp_path: Path
) -> None:
    w, client = env.world, env.client
    mall, other = list(w.platforms)
    cid = new_clue(env)["clue_id"]
    body = assist_body(w.entity_id, to_platform=mall) | {"clue_id": cid}
    made = ok(client.post("/v1/assists", json=body, headers=w.officer("a")), 201)
    aid = made["assist_id"]
    assert (made["status"], made["to_platform"], made["clue_id"]) == ("open", mall, cid)

    assert client.get(f"/v1/platform/assists/{aid}", headers=w.platform(other)).status_code == 404
    stranger = client.post(
        f"/v1/platform/assists/{aid}/reply",
        files=reply_form("不是我们的", FILES),
        headers=w.platform(other),
    )
    assert stranger.status_code == 404
    assert aid not in [
        a["assist_id"]
        for a in ok(client.get("/v1/platform/assists", headers=w.platform(other)))["items"]
    ]
    mine = ok(client.get("/v1/platform/assists", headers=w.platform(mall)))
    assert [a["assist_id"] for a in mine["items"]] == [aid]
    assert mine["items"][0]["questions"] == body["questions"]

    text = "经营者实名信息及订单记录见附件"
    replied = ok(
        client.post(
            f"/v1/platform/assists/{aid}/reply",
            files=reply_form(text, FILES),
            headers=w.platform(mall),
        )
    )
    assert replied["status"] == "replied"
    reply = replied["replies"][0]
    assert reply["text"] == text and len(reply["evidence_ids"]) == len(FILES)
    # the sender reads the reply; each file is evidence of its own that verifies with it
    seen = ok(client.get(f"/v1/assists/{aid}", headers=w.officer("a")))
    assert seen["replies"] == replied["replies"]
    for evidence_id, (name, data) in zip(reply["evidence_ids"], FILES.items(), strict=True):
        bundle = wait_for_bundle(client, evidence_id, w.officer("a"), timeout=30)
        assert [f["name"] for f in bundle["manifest"]["files"]] == [name]
        assert bundle["manifest"]["submitter"] == replied["steps"][-1]["actor"]
        assert bundle["manifest"]["capture"]["environment"]["assist_id"] == aid
        assert_verifies(bundle, {name: data}, env.vkey, tmp_path / evidence_id)

    closed = ok(
        client.post(f"/v1/assists/{aid}/close", json={"note": "已取得"}, headers=w.officer("a"))
    )
    assert closed["status"] == "closed"
    late = client.post(
        f"/v1/platform/assists/{aid}/reply",
        files=reply_form("补充", FILES),
        headers=w.platform(mall),
    )
    assert late.status_code == 409
    assert late.json()["detail"] == (
        "an assistance request that is 'closed' cannot reply; allowed: none"
    )
    entries = sealed_proofs(env, closed["proofs_url"], w.officer("a"))
    bodies = [e["bundle"]["entry"]["body"] for e in entries]
    assert [b["step"] for b in bodies] == ["sent", "replied", "closed"]
    assert all(e["bundle"]["entry"]["kind"] == "assist" for e in entries)
    assert bodies[0]["to_platform"] == mall and "to_unit" not in bodies[0]
    assert bodies[0]["topics"] == ["seller_identity", "order_data"]
    assert bodies[0]["clue_id"] == cid
    assert bodies[1]["text_sha256"] == sha256(text)
    assert bodies[1]["evidence_ids"] == reply["evidence_ids"]
    assert text not in json.dumps(bodies, ensure_ascii=False)
    assert_entries_verify(env, entries, tmp_path / "steps")


def test_assist_to_a_unit_who_may_reply_and_the_bounds_of_a_reply(env: Env) -> None:
    w, client = env.world, env.client
    body = assist_body(w.entity_id, to_unit=w.units["b"])
    aid = ok(client.post("/v1/assists", json=body, headers=w.officer("a")), 201)["assist_id"]
    url = f"/v1/assists/{aid}/reply"
    assert client.get(f"/v1/assists/{aid}", headers=w.officer("outside")).status_code == 404
    assert (
        client.post(url, files=reply_form("x", {}), headers=w.officer("outside")).status_code == 404
    )
    sender = client.post(url, files=reply_form("x", {}), headers=w.officer("a"))
    assert sender.status_code == 403 and sender.json()["detail"] == "only the unit asked may reply"

    too_many = {f"f{i}.txt": b"x" for i in range(21)}
    refusals: list[tuple[dict[str, Any], int, str | None]] = [
        ({"files": reply_form("x", too_many)}, 422, "files"),
        ({"files": [("files", ("a.txt", b"a", "text/plain"))]}, 422, "metadata"),
        ({"files": reply_form("", {})}, 422, "metadata.text"),
        ({"files": [("metadata", (None, b"{not json", "application/json"))]}, 422, "metadata"),
        ({"json": {"text": "not multipart"}}, 400, None),
    ]
    for kwargs, status, field in refusals:
        answer = client.post(url, headers=w.officer("b"), **kwargs)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json().get("field") == field, answer.text
    declared = client.post(
        url,
        headers={
            **w.officer("b"),
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(env.stack.settings.max_request_bytes + 1),
        },
        content=b"",
    )
    assert declared.status_code == 413

    replied = ok(
        client.post(url, files=reply_form("该经营者已于上月注销", {}), headers=w.officer("b"))
    )
    assert replied["status"] == "replied" and replied["replies"][0]["evidence_ids"] == []
    again = ok(
        client.post(
            url,
            files=reply_form("补充：注销证明见附件", {"note.txt": b"ok"}),
            headers=w.officer("b"),
        )
    )
    assert len(again["replies"]) == 2 and len(again["replies"][1]["evidence_ids"]) == 1
    not_sender = client.post(f"/v1/assists/{aid}/close", headers=w.officer("b"))
    assert not_sender.status_code == 403
    both = {
        "name": "both targets",
        "body": assist_body(w.entity_id, to_unit=w.units["b"], to_platform=next(iter(w.platforms))),
    }
    answer = client.post("/v1/assists", json=both["body"], headers=w.officer("a"))
    assert answer.status_code == 422 and answer.json()["field"] == "to_unit"


# --- overdue ----------------------------------------------------------------------------


def test_overdue_transfers_and_requests_are_flagged_once(env: Env) -> None:
    w, client = env.world, env.client
    cid = new_clue(env)["clue_id"]
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    tid = ok(transfer(env, cid, "b", deadline=soon), 201)["transfers"][0]["transfer_id"]
    aid = ok(
        client.post(
            "/v1/assists",
            json=assist_body(w.entity_id, to_unit=w.units["b"]) | {"deadline": soon},
            headers=w.officer("a"),
        ),
        201,
    )["assist_id"]
    ledger = ledger_of(env.stack.runtime)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert flag_once(ledger, later) == 2
    assert flag_once(ledger, later) == 0  # once only

    listed = ok(client.get("/v1/clues", params={"status": "pending"}, headers=w.officer("b")))
    assert {c["clue_id"]: c["overdue"] for c in listed["items"]}[cid] is True
    clue = ok(client.get(f"/v1/clues/{cid}", headers=w.officer("a")))
    assert clue["overdue"] is True and clue["transfers"][0]["overdue"] is True
    mark = clue["steps"][-1]
    assert (mark["step"], mark["actor"], mark["transfer_id"]) == ("transfer_overdue", "system", tid)
    overdue = ok(client.get("/v1/assists", params={"overdue": "true"}, headers=w.officer("b")))
    assert [a["assist_id"] for a in overdue["items"]] == [aid]
    assist = ok(client.get(f"/v1/assists/{aid}", headers=w.officer("a")))
    assert [s["step"] for s in assist["steps"]] == ["sent", "overdue"]
    # late is still allowed: the answer comes, and the clue is no longer overdue
    done = ok(client.post(f"/v1/clues/{cid}/transfers/{tid}/accept", headers=w.officer("b")))
    assert done["overdue"] is False and done["transfers"][0]["overdue"] is True


# --- tier 5 -----------------------------------------------------------------------------


@pytest.mark.chain
@pytest.mark.slow
def test_a_platform_reply_verifies_through_tier_5(tmp_path: Path, postgres_url: str) -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `make install`")
    with (
        fresh_postgres_database(postgres_url) as url,
        anchoring_stack(tmp_path / "stack", celery=False, database_url=url) as stack,
        Session(stack.engine) as session,
    ):
        with session.begin():
            world = seed_clue_world(session)
        mall = next(iter(world.platforms))
        with httpx.Client(base_url=stack.server.base_url, timeout=60) as client:
            made = client.post(
                "/v1/assists",
                json=assist_body(world.entity_id, to_platform=mall),
                headers=world.officer("a"),
            )
            assert made.status_code == 201, made.text
            aid = made.json()["assist_id"]
            replied = client.post(
                f"/v1/platform/assists/{aid}/reply",
                files=reply_form("订单记录见附件", FILES),
                headers=world.platform(mall),
            )
            assert replied.status_code == 200, replied.text
            ids = replied.json()["replies"][0]["evidence_ids"]
            for evidence_id, (name, data) in zip(ids, FILES.items(), strict=True):
                bundle = wait_for_bundle(
                    client, evidence_id, world.officer("a"), status="anchored", timeout=120
                )
                folder = tmp_path / evidence_id
                folder.mkdir()
                (folder / "bundle.json").write_text(json.dumps(bundle), "utf-8")
                (folder / name).write_bytes(data)
                done = subprocess.run(
                    [
                        str(VERIFY_CLI),
                        str(folder / "bundle.json"),
                        "--file",
                        str(folder / name),
                        "--log-key",
                        stack.vkey.strip(),
                        *stack.chain.verifier_args(),
                        "--through",
                        "5",
                        "--json",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert done.returncode == 0, done.stdout + done.stderr
                tiers = {t["tier"]: t["status"] for t in json.loads(done.stdout)["tiers"]}
                assert tiers == dict.fromkeys(range(1, 6), "verified"), tiers


def test_who_sees_what_by_unit(env: Env) -> None:
    """Officer of each unit × clue and request reads: in reach 200 and listed, else 404
    and absent; a platform reaches no officer route (403)."""
    w, client = env.world, env.client
    cid = new_clue(env, "a")["clue_id"]
    body = assist_body(w.entity_id, to_unit=w.units["b"])
    aid = ok(client.post("/v1/assists", json=body, headers=w.officer("a")), 201)["assist_id"]
    reach = {
        f"/v1/clues/{cid}": {"a", "city"},
        f"/v1/clues/{cid}/proofs": {"a", "city"},
        f"/v1/assists/{aid}": {"a", "b", "city"},
        f"/v1/assists/{aid}/proofs": {"a", "b", "city"},
    }
    for url, seeing in reach.items():
        for who in ("a", "b", "city", "outside"):
            status = client.get(url, headers=w.officer(who)).status_code
            assert status == (200 if who in seeing else 404), (url, who, status)
    for who in ("a", "b", "city", "outside"):
        clues = ok(client.get("/v1/clues", headers=w.officer(who)))["items"]
        assists = ok(client.get("/v1/assists", headers=w.officer(who)))["items"]
        assert (cid in [c["clue_id"] for c in clues]) == (who in {"a", "city"}), who
        assert (aid in [a["assist_id"] for a in assists]) == (who in {"a", "b", "city"}), who
    mall = next(iter(w.platforms))
    assert client.get(f"/v1/assists/{aid}", headers=w.platform(mall)).status_code == 403
    assert client.get(f"/v1/platform/assists/{aid}", headers=w.platform(mall)).status_code == 404
