"""One entity through credit supervision on PostgreSQL and S3, with a real Celery worker
and beat on a real Redis (issue 18, acceptance point 1): A → a case closed with a
penalty → B → a takedown completed late → C → placed on the serious-violator list → D →
a credit repair applied for publicly and accepted → B (policy v1, docs/credit.md §5).

Every step goes through the API; at each one ``GET /v1/entities/{id}/credit`` gives the
grade, the score and the lines that explain them, and every record and grade change
is a log entry that the worker seals and that the verifier library proves included
under a checkpoint signed by the log's key. The service runs no timers of its own
(no sealer, no supervisor): the beat's schedule reaches the worker, which marks the
takedown overdue and seals every entry.

Time. A repair may cover a penalty only six months after it (docs/credit-repair.md §3)
and a listing a year after its start, while a penalty weighs in full for a year. The
listing's start is given to the API (``listed_from`` 400 days back). The case is opened
and closed under the registry's clock set 200 days back (``evidence_api.registry.cases``
only: its entries, case events and the penalty record carry that time), so that by the
repair the penalty is old enough to repair and still weighs −20.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.registry import cases
from evidence_api.registry.models import TradingEntity
from tests.support.api import Stack, client_at, s3_settings, submit
from tests.support.beat import beat_stack, worker_and_beat
from tests.support.clues import ClueWorld, seed_clue_world
from tests.support.repairs import PDF, application, fresh_uscc
from tests.support.seaweed import SeaweedS3
from tests.support.waiting import wait_until
from verifier.bundle import Bundle
from verifier.canonical import canonical_json
from verifier.credit import CreditFact, grade, load_policy
from verifier.note import VerifierKey
from verifier.verify import Status, verify_bundle

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.redis, pytest.mark.slow]

#: How far back the case is opened and closed (more than six months, less than a year).
CASE_AGO = timedelta(days=200)
#: How far back the listing starts (more than the year a listing waits for its repair).
LISTED_AGO = timedelta(days=400)
MINUS = "\u2212"


@dataclass
class Env:
    stack: Stack
    world: ClueWorld
    platform: str
    vkey: str

    def get(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        got = self.stack.client.get(url, headers=headers or self.world.officer("a"))
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body

    def post(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        status: int = 200,
    ) -> dict[str, Any]:
        got = self.stack.client.post(url, json=body, headers=headers or self.world.officer("a"))
        assert got.status_code == status, got.text
        answer: dict[str, Any] = got.json()
        return answer


@contextmanager
def registry_clock(ago: timedelta) -> Iterator[None]:
    """The registry's case service sees ``now`` as ``ago`` earlier (this process only)."""

    class Earlier(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) - ago

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cases, "datetime", Earlier)
        yield


def day(moment: str) -> str:
    """The UTC date of an ISO 8601 moment, as lines show it."""
    return datetime.fromisoformat(moment).astimezone(UTC).date().isoformat()


def credit(env: Env, entity_id: int) -> dict[str, Any]:
    return env.get(f"/v1/entities/{entity_id}/credit")


def texts(answer: dict[str, Any]) -> list[str]:
    return [line["text"] for line in answer["lines"]]


def record_of(answer: dict[str, Any], kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in answer["records"] if r["kind"] == kind]
    assert len(found) == 1, (kind, answer["records"])
    return found[0]


def entries_verify(env: Env, answer: dict[str, Any], entity_id: int) -> dict[str, Bundle]:
    """Every record's and every grade change's entry, and the policy's, once the worker
    has sealed it, is included under a checkpoint the log key signs (verifier tiers 3 and
    4), and says what the answer says. Returns the verified bundles by entry id."""
    wanted: dict[str, dict[str, Any]] = {}
    for record in answer["records"]:
        wanted[record["entry_id"]] = {
            "kind": "credit_record",
            "entity_id": entity_id,
            "record_kind": record["kind"],
            "source": record["source"],
            "covers": record["covers"],
        }
    for change in answer["history"]:
        wanted[change["entry_id"]] = {
            "kind": "credit_grade",
            "entity_id": entity_id,
            "from": change["from_grade"],
            "to": change["to_grade"],
            "score": change["score"],
            "records": change["records"],
            "policy_sha256": answer["policy_sha256"],
        }
    wanted[answer["policy_entry_id"]] = {"kind": "credit_policy"}
    runtime = env.stack.runtime

    def bundles() -> dict[str, Bundle]:
        out = {}
        with runtime.engine.connect() as conn:
            for entry_id in wanted:
                record = get_entry(conn, entry_id)
                assert record is not None, entry_id
                out[entry_id] = bundle_for(conn, record, origin=runtime.signer.name)
        return out

    wait_until(
        lambda: all(b.status != "pending" for b in bundles().values()),
        120,
        "the worker to seal every credit entry",
    )
    key = VerifierKey.from_text(env.vkey)
    sealed = bundles()
    for entry_id, bundle in sealed.items():
        report = verify_bundle(bundle, log_keys=[key], through=4)
        tiers = {t.tier: t.status for t in report.tiers}
        assert tiers[3] == tiers[4] == Status.VERIFIED, (entry_id, report.to_dict())
        want, body = wanted[entry_id], bundle.entry.body
        assert bundle.entry.kind == want["kind"], entry_id
        if want["kind"] == "credit_policy":
            assert (body["version"], body["sha256"]) == (
                answer["policy_version"],
                answer["policy_sha256"],
            )
            continue
        assert body["entity_id"] == entity_id
        if want["kind"] == "credit_record":
            assert (body["kind"], body["source"], body["covers"]) == (
                want["record_kind"],
                want["source"],
                want["covers"],
            )
        else:
            assert (body["from"], body["to"], body["score"], body["records"]) == (
                want["from"],
                want["to"],
                want["score"],
                want["records"],
            )
            assert body["policy_sha256"] == want["policy_sha256"]
    return sealed


@pytest.fixture
def env(tmp_path: Path, postgres_url: str, seaweed: SeaweedS3) -> Iterator[Env]:
    s3 = s3_settings(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    s3_and_jobs = {
        "EVIDENCE_STORAGE": "s3",
        "EVIDENCE_S3_ENDPOINT": seaweed.endpoint,
        "EVIDENCE_S3_ACCESS_KEY": seaweed.access_key,
        "EVIDENCE_S3_SECRET_KEY": seaweed.secret_key,
        "EVIDENCE_S3_BUCKET": s3["s3_bucket"],
        "EVIDENCE_RETENTION_DAYS": "1",
        "EVIDENCE_OVERDUE_INTERVAL": "0.5",
        "EVIDENCE_CREDIT_REGRADE_INTERVAL": "0.5",
        "EVIDENCE_RUN_MONITORS": "false",
        "EVIDENCE_RUN_CAPTURES": "false",
    }
    with beat_stack(tmp_path / "data", postgres_url, s3_and_jobs, **s3) as (stack, worker_env):
        with stack.runtime.session() as session:
            world = seed_clue_world(session)
        with worker_and_beat(worker_env, tmp_path):
            yield Env(
                stack, world, next(iter(world.platforms)), stack.client.get("/v1/log/key").text
            )


def test_a_to_c_to_d_to_repair_to_b_each_step_explained_and_logged(
    env: Env, tmp_path: Path
) -> None:
    officer, admin = env.world.officer("a"), env.stack.auth("admin")
    uscc = fresh_uscc()
    number = f"泉丰市监网案〔2026〕{uuid.uuid4().int % 10**6}号"

    # --- A: a new entity, no records ---------------------------------------------------
    entity = env.post(
        "/v1/entities",
        {
            "platform": env.platform,
            "shop_name": "某某保健品旗舰店",
            "shop_id": f"shop-{uuid.uuid4().hex[:8]}",
            "uscc": uscc,
            "risk_class": "保健品",
            "unit": env.world.units["a"],
        },
        status=201,
    )
    eid = int(entity["id"])
    start = credit(env, eid)
    assert (start["graded"], start["grade"], start["score"]) == (False, "A", 100)
    assert start["lines"] == [] and start["records"] == [] and start["history"] == []
    assert start["policy_version"] == 1 and len(start["policy_sha256"]) == 64

    # --- B: a case opened and closed with a penalty (200 days ago) ----------------------
    with registry_clock(CASE_AGO):
        case = env.post(
            "/v1/cases",
            {"number": number, "title": "某某保健品旗舰店虚假宣传案", "entity_id": eid},
            status=201,
        )
        for to in ("filed", "investigating", "handling"):
            env.post(f"/v1/cases/{case['id']}/transition", {"to": to})
        closed = env.post(
            f"/v1/cases/{case['id']}/transition",
            {"to": "closed", "outcome": "penalty", "note": "作出行政处罚决定"},
        )
    assert closed["status"]["code"] == "closed" and closed["outcome"]["code"] == "penalty"
    after_case = credit(env, eid)
    penalty = record_of(after_case, "case_penalty")
    assert penalty["source"] == f"case:{case['id']}"
    assert datetime.now(UTC) - datetime.fromisoformat(penalty["occurred_at"]) > CASE_AGO
    assert (after_case["graded"], after_case["grade"], after_case["score"]) == (True, "B", 80)
    assert texts(after_case) == [f"{MINUS}20 行政处罚结案 ({day(penalty['occurred_at'])})"]
    line = after_case["lines"][0]
    assert (line["ref"], line["kind"], line["points"]) == (penalty["ref"], "case_penalty", -20)
    assert line["entry_id"] == penalty["entry_id"]
    assert after_case["history"][0]["to_grade"] == "B"
    assert after_case["history"][0]["records"] == [penalty["ref"]]

    # --- C: a takedown of the case's listing, completed after the worker marked it overdue
    evidence = submit(env.stack, {"page.html": "<p>根治高血压</p>".encode()}, headers=officer)
    assert evidence.status_code == 201, evidence.text
    order = env.post(
        "/v1/takedowns",
        {
            "platform": env.platform,
            "listing_urls": ["https://mall.example.com/item/10086"],
            "legal_basis": "《电子商务法》第三十八条",
            "reason": "商品页宣称“根治高血压”，涉嫌虚假宣传",
            "evidence_ids": [evidence.json()["evidence_id"]],
            "deadline": (datetime.now(UTC) + timedelta(seconds=3)).isoformat(),
            "grant_files": False,
            "case_number": number,
        },
        status=201,
    )
    oid = order["order_id"]
    wait_until(
        lambda: env.get(f"/v1/takedowns/{oid}")["status"] == "overdue",
        90,
        "the worker's overdue scan to mark the order overdue",
    )
    done = env.post(
        f"/v1/platform/takedowns/{oid}/complete",
        {"note": "已下架", "removed_at": datetime.now(UTC).isoformat()},
        headers=env.world.platform(env.platform),
    )
    assert done["status"] == "completed"
    after_takedown = credit(env, eid)
    late = record_of(after_takedown, "takedown_late")
    assert late["source"] == f"takedown:{oid}" and late["details"]["overdue"] is True
    assert (after_takedown["grade"], after_takedown["score"]) == ("C", 70)
    assert texts(after_takedown) == [
        f"{MINUS}20 行政处罚结案 ({day(penalty['occurred_at'])})",
        f"{MINUS}10 逾期下架 ({day(late['occurred_at'])})",
    ]
    assert after_takedown["history"][0]["to_grade"] == "C"
    assert after_takedown["history"][0]["records"] == [late["ref"]]

    # --- D: placed on the serious-violator list (from 400 days ago, for 3 years) ---------
    listed_from = datetime.now(UTC) - LISTED_AGO
    placed = env.post(
        "/v1/serious-violators",
        {
            "entity_id": eid,
            "legal_basis": "《市场监督管理严重违法失信名单管理办法》第十条",
            "reason": "虚假宣传且逾期未下架，情节严重",
            "case_id": case["id"],
            "listed_from": listed_from.isoformat(),
            "years": 3,
        },
        headers=admin,
        status=201,
    )
    violation_id = placed["violation_id"]
    listed_credit = credit(env, eid)
    listed = record_of(listed_credit, "serious_listed")
    assert listed["source"] == f"violation:{violation_id}"
    assert (listed_credit["grade"], listed_credit["score"]) == ("D", 70)
    assert texts(listed_credit) == [
        f"{MINUS}20 行政处罚结案 ({day(penalty['occurred_at'])})",
        f"{MINUS}10 逾期下架 ({day(late['occurred_at'])})",
        f"0 列入严重违法失信名单 ({day(listed['occurred_at'])})",
        f"上限D 列入严重违法失信名单未移出 ({listed['ref']}, {day(listed['occurred_at'])})",
    ]
    rule = listed_credit["lines"][-1]
    assert (rule["kind"], rule["ref"], rule["points"]) == ("active_listing", listed["ref"], 0)
    assert listed_credit["history"][0]["to_grade"] == "D"

    # --- the repair: applied for on the public form, accepted by the county's officer -----
    applicant = client_at(env.stack, "198.51.100.7")
    applied = applicant.post(
        "/v1/public/credit-repairs",
        files=application(
            uscc=uscc,
            violation_id=violation_id,
            record_refs=penalty["ref"],
            files={"整改报告.pdf": (PDF, "application/pdf")},
        ),
    )
    assert applied.status_code == 201, applied.text
    repair_id = applied.json()["repair_id"]
    accepted = env.post(
        f"/v1/credit-repairs/{repair_id}/decision",
        {"decision": "accept", "reason": "已履行处罚决定，整改到位，作出信用承诺"},
    )
    assert accepted["status"] == "accepted"

    # --- B: 100 − 10 (the late takedown, not repairable) = 90, capped at B for a year ------
    final = credit(env, eid)
    repaired = record_of(final, "repair_accepted")
    removed = record_of(final, "serious_removed")
    assert repaired["source"] == f"repair:{repair_id}"
    assert set(repaired["covers"]) >= {penalty["ref"], listed["ref"]}
    assert (final["grade"], final["score"]) == ("B", 90)
    cap_end = (datetime.fromisoformat(repaired["occurred_at"]) + timedelta(days=365)).astimezone(
        UTC
    )
    assert texts(final) == [
        f"0 行政处罚结案 ({day(penalty['occurred_at'])}, 已信用修复 {repaired['ref']} 不再计分)",
        f"{MINUS}10 逾期下架 ({day(late['occurred_at'])})",
        f"0 列入严重违法失信名单 ({day(listed['occurred_at'])})",
        f"0 移出严重违法失信名单 ({day(removed['occurred_at'])})",
        f"0 信用修复 ({day(repaired['occurred_at'])})",
        f"上限B 信用修复后365天内 ({repaired['ref']}, {day(repaired['occurred_at'])}"
        f"起至{cap_end.date().isoformat()})",
    ]
    assert final["lines"][-1]["kind"] == "after_repair"
    # next: the late takedown's half weight or the cap's end, whichever comes first
    half = datetime.fromisoformat(late["occurred_at"]) + timedelta(days=365)
    assert datetime.fromisoformat(final["next_change_at"]) == min(half, cap_end)
    # the removal and the repair are recorded in one transaction, the removal first: the
    # listing's end alone gives C (docs/credit.md §5), the repair then B
    history = [(c["from_grade"], c["to_grade"], c["records"]) for c in reversed(final["history"])]
    assert [to for _, to, _ in history] == ["B", "C", "D", "C", "B"]
    assert [frm for frm, _, _ in history][1:] == ["B", "C", "D", "C"]
    assert history[-2][2] == [removed["ref"]] and history[-1][2] == [repaired["ref"]]
    assert {c["cause"] for c in final["history"]} == {"record"}
    with env.stack.runtime.session() as session:
        row = session.get(TradingEntity, eid)
        assert row is not None and row.risk_grade == "B"  # mirrored for lists and pools

    # --- every record and grade change: sealed by the worker, included, saying the same ---
    verified = entries_verify(env, final, eid)
    assert len(verified) == len(final["records"]) + len(final["history"]) + 1 == 5 + 5 + 1
    # recomputed from the entries' own facts and the policy document alone: the same
    policy = env.get(f"/v1/credit/policies/{final['policy_version']}", headers=admin)
    assert policy["sha256"] == final["policy_sha256"]
    document = json.dumps(policy["document"], ensure_ascii=False).encode()
    assert hashlib.sha256(canonical_json(json.loads(document))).hexdigest() == policy["sha256"]
    facts = []
    for record in final["records"]:
        body = verified[record["entry_id"]].entry.body
        facts.append(
            CreditFact(
                ref=record["ref"],
                kind=body["kind"],
                at=datetime.fromisoformat(body["occurred_at"]),
                source=body["source"],
                covers=tuple(body["covers"]),
            )
        )
    again = grade(facts, load_policy(document), datetime.fromisoformat(final["as_of"]))
    assert (again.grade, again.score) == (final["grade"], final["score"])
    assert [line.text for line in again.lines] == texts(final)
