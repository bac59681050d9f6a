"""投诉举报 through the real API on PostgreSQL (docs/complaints.md).

The public intake: a complaint with attachments fixed as evidence whose bundles the real
``evidence-verify`` accepts, the access token shown once and the status read with it;
hostile forms refused with the precise 4xx naming the limit; the per-client rate limit
(429 with Retry-After, another client unaffected); the professional-complainant flag on
a generated pattern and not on ordinary complaints; triage to a clue, to ODR and
rejection; resolution with the credit record; jurisdiction.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from evidence_api.complaints.models import Complaint, PublicSubmission
from evidence_api.complaints.service import FIELDS
from evidence_api.credit.models import CreditRecord
from evidence_api.intake.models import Evidence
from evidence_api.intake.public import form_limit
from tests.support.api import (
    Stack,
    assert_verifies,
    client_at,
    multipart_body,
    ok,
    problem,
    wait_for_bundle,
)
from tests.support.clues import ClueWorld, clue_world_stack
from tests.support.complaints import (
    JPEG,
    PDF,
    PNG,
    complaint_fields,
    make_complaint,
    post_complaint,
)
from tests.support.console import Person

pytestmark = pytest.mark.postgres

RATE_LIMIT = 3
MAX_FILES = 3
MAX_BYTES = 64 * 1024


@dataclass
class Env:
    stack: Stack
    world: ClueWorld
    platform: str
    vkey: str

    @property
    def officer(self) -> dict[str, str]:
        return self.stack.auth("officer")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("complaints") / "data"
    limits = {
        "public_rate_limit": RATE_LIMIT,
        "public_max_attachments": MAX_FILES,
        "public_max_attachment_bytes": MAX_BYTES,
    }
    with clue_world_stack(data, postgres_url, **limits) as (stack, world):
        yield Env(stack, world, next(iter(world.platforms)), stack.client.get("/v1/log/key").text)


_ADDRESSES = iter(range(1, 60000))


def fresh_client(env: Env) -> TestClient:
    """A client at an address no other test used (its own rate-limit window)."""
    n = next(_ADDRESSES)
    return client_at(env.stack, f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")


def counts(env: Env) -> tuple[int, int, int]:
    with env.stack.runtime.session() as session:
        return (
            session.execute(select(func.count()).select_from(Complaint)).scalar_one(),
            session.execute(select(func.count()).select_from(Evidence)).scalar_one(),
            session.execute(select(func.count()).select_from(PublicSubmission)).scalar_one(),
        )


# --- intake ---------------------------------------------------------------------------------


def test_intake_fixes_attachments_as_evidence_and_shows_the_token_once(
    env: Env, tmp_path: Path
) -> None:
    files = {"订单截图.png": (PNG, "image/png"), "发票.pdf": (PDF, "application/pdf")}
    fields = complaint_fields(platform=env.platform, contact=f"{uuid.uuid4().hex}@example.cn")
    created = ok(post_complaint(fresh_client(env), fields, files), 201)
    assert created["complaint_id"].startswith("cp-")
    assert created["status"] == "received" and created["status_label"] == "待处理"
    assert len(created["access_token"]) == 43
    assert created["entry"]["entry_id"].startswith("cpe-") and created["entry"]["receipt"]
    names = [a["name"] for a in created["attachments"]]
    assert names == list(files)

    # Each attachment is real evidence: stored, logged, and verifying offline with its file.
    for attachment in created["attachments"]:
        bundle = wait_for_bundle(
            env.stack.client, attachment["evidence_id"], env.officer, timeout=30
        )
        assert bundle["receipt"] == attachment["receipt"] or bundle["status"] != "pending"
        data = files[attachment["name"]][0]
        assert_verifies(bundle, {attachment["name"]: data}, env.vkey, tmp_path / attachment["name"])

    # The complainant reads the status and the outcome with the token, nothing else.
    url = f"/v1/public/complaints/{created['complaint_id']}"
    status = ok(env.stack.client.get(url, headers={"X-Access-Token": created["access_token"]}))
    assert set(status) == {
        "complaint_id",
        "status",
        "status_label",
        "outcome_label",
        "substantiated",
        "received_at",
        "resolved_at",
    }
    assert status["status"] == "received" and status["outcome_label"] == "办理中"
    wrong = "A" * 43
    problem(env.stack.client.get(url, headers={"X-Access-Token": wrong}), 404)
    assert env.stack.client.get(url).status_code == 422  # no token

    # Officers see the target resolved to the entity, the complainant and the evidence.
    detail = ok(
        env.stack.client.get(f"/v1/complaints/{created['complaint_id']}", headers=env.officer)
    )
    assert detail["entity_id"] == env.world.entity_id
    assert detail["platform"] == env.platform
    assert detail["complainant_name"] == "张三"
    assert detail["evidence_ids"] == [a["evidence_id"] for a in created["attachments"]]
    assert detail["steps"][0]["action"] == "received"
    assert detail["steps"][0]["entry_id"] == created["entry"]["entry_id"]
    assert detail["flagged"] is False and detail["flag_reasons"] == []
    assert detail["category_label"] == "商品质量"


def raw_form(*parts: tuple[bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    text = [(f'form-data; name="{k}"'.encode(), v.encode()) for k, v in complaint_fields().items()]
    body, ctype = multipart_body([*text, *parts])
    return body, {"Content-Type": ctype}


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("too_many_files", 422, ("too many files", f"at most {MAX_FILES}")),
        ("file_too_large", 413, (f"exceeds the limit of {MAX_BYTES} bytes",)),
        ("declared_type", 415, ("application/zip", "not accepted")),
        ("content_type_mismatch", 415, ("content is not image/png", "application/pdf")),
        ("undeclared_unknown", 415, ("content is none of",)),
        ("path_name", 422, ("contains a path",)),
        ("control_name", 422, ("control character",)),
        ("long_name", 422, ("exceeds 255 bytes",)),
        ("nul_text", 422, ("NUL",)),
        ("missing_contact", 422, ("'contact' is required",)),
        ("unknown_field", 422, ("unexpected form field",)),
        ("long_text", 422, ("exceeds 5000 characters",)),
        ("bad_category", 422, ("category: one of",)),
        ("empty_file", 422, ("is empty",)),
    ],
)
def test_hostile_forms_are_refused_precisely(
    env: Env, case: str, status: int, words: tuple[str, ...]
) -> None:
    client = fresh_client(env)
    before = counts(env)
    fields = complaint_fields()
    files: dict[str, tuple[bytes, str]] = {}
    if case == "too_many_files":
        files = {f"p{i}.png": (PNG, "image/png") for i in range(MAX_FILES + 1)}
    elif case == "file_too_large":
        files = {"big.png": (PNG + bytes(MAX_BYTES), "image/png")}
    elif case == "declared_type":
        files = {"a.zip": (b"PK\x03\x04" + bytes(20), "application/zip")}
    elif case == "undeclared_unknown":
        files = {"a.bin": (b"\x00\x01binary", "application/octet-stream")}
    elif case == "content_type_mismatch":
        files = {"a.png": (PDF, "image/png")}
    elif case == "path_name":
        files = {"../../etc/a.png": (PNG, "image/png")}
    elif case == "long_name":
        files = {"图" * 90 + ".png": (PNG, "image/png")}
    elif case == "nul_text":
        fields["text"] = "abc\x00def"
    elif case == "missing_contact":
        del fields["contact"]
    elif case == "long_text":
        fields["text"] = "长" * 5001
    elif case == "bad_category":
        fields["category"] = "nonsense"
    elif case == "empty_file":
        files = {"a.txt": (b"", "text/plain")}
    if case == "control_name":
        body, headers = raw_form((b'form-data; name="files"; filename="a\x01.png"', PNG))
        response = client.post("/v1/public/complaints", content=body, headers=headers)
    elif case == "unknown_field":
        body, headers = raw_form((b'form-data; name="metadata"', b"{}"))
        response = client.post("/v1/public/complaints", content=body, headers=headers)
    else:
        response = post_complaint(client, fields, files)
    problem(response, status, *words)
    assert counts(env) == before, "a refused form leaves no complaint, evidence or count"


def test_a_declared_length_over_the_limit_is_refused_before_the_body(env: Env) -> None:
    limit = form_limit(env.stack.settings, FIELDS)
    body, headers = raw_form()

    def stream() -> Iterator[bytes]:  # what would follow is never asked for
        yield body
        raise AssertionError("the body was read past the declared length's refusal")

    response = fresh_client(env).post(
        "/v1/public/complaints",
        content=stream(),
        headers={**headers, "Content-Length": str(limit + 1)},
    )
    problem(response, 413, f"limit of {limit} bytes", f"{MAX_FILES} attachments")


def test_rate_limit_per_client_with_retry_after(env: Env) -> None:
    first, other = fresh_client(env), fresh_client(env)
    for i in range(RATE_LIMIT):
        fields = complaint_fields(contact=f"rate{i}-{uuid.uuid4().hex}@example.cn")
        ok(post_complaint(first, fields), 201)
    before = counts(env)
    refused = post_complaint(first, complaint_fields(contact="late@example.cn"))
    body = problem(refused, 429, f"at most {RATE_LIMIT} public submissions")
    wait = int(refused.headers["Retry-After"])
    window = env.stack.settings.public_rate_window
    assert window - 120 <= wait <= window, (wait, body)
    assert counts(env) == before
    ok(post_complaint(other, complaint_fields(contact=f"{uuid.uuid4().hex}@example.cn")), 201)


# --- flags ----------------------------------------------------------------------------------


def test_the_flag_fires_on_a_professional_pattern(env: Env) -> None:
    contact = f"pro-{uuid.uuid4().hex[:8]}@example.cn"
    ids = []
    for i in range(12):
        shop = f"职业样本店{uuid.uuid4().hex[:6]}{i}"
        text = (
            f"本人于{shop}购买的商品标签不合格，订单号{100000 + i * 7919}，"
            "属于知假卖假，依据食品安全法要求十倍赔偿，否则向监管部门举报。"
        )
        fields = complaint_fields(
            shop_name=shop, text=text, contact=contact, category="food_safety"
        )
        ids.append(ok(post_complaint(fresh_client(env), fields), 201)["complaint_id"])
    details = [ok(env.stack.client.get(f"/v1/complaints/{i}", headers=env.officer)) for i in ids]
    assert details[0]["flagged"] is False  # a first complaint is nobody's pattern
    last = details[-1]
    assert last["flagged"] is True
    reasons = {r["code"]: r for r in last["flag_reasons"]}
    assert {"volume", "near_text", "targets", "keywords"} <= set(reasons), reasons
    assert reasons["volume"]["count"] == 12 and reasons["volume"]["threshold"] == 5
    assert reasons["targets"]["targets"] == 12
    assert "十倍赔偿" in reasons["keywords"]["keywords"]
    # Flagged complaints are listed by the filter, and are triaged like any other.
    listed = ok(env.stack.client.get("/v1/complaints?flagged=true&limit=200", headers=env.officer))
    assert last["complaint_id"] in {c["complaint_id"] for c in listed["items"]}
    rejected = ok(
        env.stack.client.post(
            f"/v1/complaints/{ids[-1]}/triage",
            json={"action": "reject", "reason": "经核实为职业索赔，不予受理"},
            headers=env.officer,
        )
    )
    assert rejected["status"] == "rejected"


def test_the_flag_stays_quiet_on_ordinary_complaints(env: Env) -> None:
    samples = [
        ("quality", "买的电饭煲用了三天就坏了，商家不给换。"),
        ("after_sales", "退货申请提交一周无人处理，客服电话打不通。"),
        ("false_advertising", "页面写着买一送一，下单后只发了一件。"),
        ("pricing", "结算时价格比页面标价高了二十元。"),
    ]
    ids = []
    for category, text in samples:
        fields = complaint_fields(
            category=category,
            text=text,
            shop_name=f"普通店{uuid.uuid4().hex[:6]}",
            name="李四",
            contact=f"1390000{uuid.uuid4().int % 10000:04d}",
        )
        ids.append(ok(post_complaint(fresh_client(env), fields), 201)["complaint_id"])
    for complaint_id in ids:
        detail = ok(env.stack.client.get(f"/v1/complaints/{complaint_id}", headers=env.officer))
        assert detail["flagged"] is False, detail["flag_reasons"]


# --- triage and resolution ------------------------------------------------------------------


def test_triage_to_clue_then_resolve_substantiated_records_credit(env: Env) -> None:
    fields = complaint_fields(platform=env.platform, contact=f"{uuid.uuid4().hex}@example.cn")
    created = ok(post_complaint(fresh_client(env), fields, {"a.jpg": (JPEG, "image/jpeg")}), 201)
    complaint_id = created["complaint_id"]
    client = env.stack.client
    # Outside the holder's reach (a county officer; the complaint is the top's): 404.
    problem(client.get(f"/v1/complaints/{complaint_id}", headers=env.world.officer("a")), 404)
    problem(
        client.post(
            f"/v1/complaints/{complaint_id}/resolve",
            json={"substantiated": True},
            headers=env.officer,
        ),
        409,
        "needs status clue or odr",
    )
    triaged = ok(
        client.post(
            f"/v1/complaints/{complaint_id}/triage",
            json={"action": "to_clue", "reason": "涉嫌销售不合格商品"},
            headers=env.officer,
        )
    )
    assert triaged["status"] == "clue" and triaged["clue_id"].startswith("clu-")
    clue = ok(client.get(f"/v1/clues/{triaged['clue_id']}", headers=env.officer))
    assert clue["entity_id"] == env.world.entity_id
    assert clue["evidence_ids"] == [created["attachments"][0]["evidence_id"]]
    problem(
        client.post(
            f"/v1/complaints/{complaint_id}/triage",
            json={"action": "reject", "reason": "x"},
            headers=env.officer,
        ),
        409,
    )
    resolved = ok(
        client.post(
            f"/v1/complaints/{complaint_id}/resolve",
            json={"substantiated": True, "note": "经核查属实"},
            headers=env.officer,
        )
    )
    assert resolved["status"] == "resolved" and resolved["substantiated"] is True
    assert [s["action"] for s in resolved["steps"]] == ["received", "to_clue", "resolve"]
    assert len({s["entry_id"] for s in resolved["steps"]}) == 3
    with env.stack.runtime.session() as session:
        record = session.execute(
            select(CreditRecord).where(CreditRecord.source == f"complaint:{complaint_id}")
        ).scalar_one()
        assert record.kind == "complaint_verified"
        assert record.entity_id == env.world.entity_id
        assert json.loads(record.details)["complaint_id"] == complaint_id
    status = ok(
        client.get(
            f"/v1/public/complaints/{complaint_id}",
            headers={"X-Access-Token": created["access_token"]},
        )
    )
    assert status["status"] == "resolved" and status["outcome_label"] == "经核查属实"


def test_triage_to_clue_needs_an_entity(env: Env) -> None:
    complaint_id = make_complaint(env.stack, shop_name=f"未知店{uuid.uuid4().hex[:6]}")
    problem(
        env.stack.client.post(
            f"/v1/complaints/{complaint_id}/triage",
            json={"action": "to_clue"},
            headers=env.officer,
        ),
        422,
        "entity_id: required",
    )
    triaged = ok(
        env.stack.client.post(
            f"/v1/complaints/{complaint_id}/triage",
            json={"action": "to_clue", "entity_id": env.world.entity_id},
            headers=env.officer,
        )
    )
    assert triaged["entity_id"] == env.world.entity_id and triaged["clue_id"]


def test_triage_to_odr_opens_a_mediation(env: Env) -> None:
    complaint_id = make_complaint(env.stack, platform=env.platform)
    triaged = ok(
        env.stack.client.post(
            f"/v1/complaints/{complaint_id}/triage",
            json={"action": "to_odr", "reason": "消费纠纷，适合在线调解"},
            headers=env.officer,
        )
    )
    assert triaged["status"] == "odr" and triaged["odr_id"].startswith("odr-")
    resolved = ok(
        env.stack.client.post(
            f"/v1/complaints/{complaint_id}/resolve",
            json={"substantiated": False},
            headers=env.officer,
        )
    )
    assert resolved["status"] == "resolved" and resolved["substantiated"] is False
    with env.stack.runtime.session() as session:
        assert (
            session.execute(
                select(CreditRecord).where(CreditRecord.source == f"complaint:{complaint_id}")
            ).first()
            is None
        )
    report = make_complaint(env.stack, kind="report")
    problem(
        env.stack.client.post(
            f"/v1/complaints/{report}/triage", json={"action": "to_odr"}, headers=env.officer
        ),
        422,
        "only a complaint",
    )


def test_reject_needs_a_reason_and_is_final(env: Env) -> None:
    complaint_id = make_complaint(env.stack)
    url = f"/v1/complaints/{complaint_id}"
    problem(
        env.stack.client.post(f"{url}/triage", json={"action": "reject"}, headers=env.officer),
        422,
        "reason",
    )
    rejected = ok(
        env.stack.client.post(
            f"{url}/triage",
            json={"action": "reject", "reason": "不属于市场监管职责"},
            headers=env.officer,
        )
    )
    assert rejected["status"] == "rejected"
    assert rejected["triage_reason"] == "不属于市场监管职责"
    problem(
        env.stack.client.post(f"{url}/resolve", json={"substantiated": True}, headers=env.officer),
        409,
    )
    listed = ok(env.stack.client.get("/v1/complaints?status=rejected", headers=env.officer))
    assert complaint_id in {c["complaint_id"] for c in listed["items"]}
    problem(env.stack.client.get("/v1/complaints?status=nope", headers=env.officer), 422)


# --- pages ----------------------------------------------------------------------------------


def test_public_pages_form_receipt_and_status(env: Env) -> None:
    client = fresh_client(env)
    page = client.get("/public/complaints")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and "投诉举报" in page.text
    assert 'href="/public/complaints" aria-current="page"' in page.text
    fields = complaint_fields(contact=f"{uuid.uuid4().hex}@example.cn")
    parts = [(k, (None, v.encode(), "text/plain")) for k, v in fields.items()]
    receipt = client.post(
        "/public/complaints", files=[*parts, ("files", ("a.png", PNG, "image/png"))]
    )
    assert receipt.status_code == 201, receipt.text
    assert receipt.headers["cache-control"] == "no-store"
    found = re.search(r'id="complaint-id">(cp-[0-9a-f]{28})<', receipt.text)
    token = re.search(r'id="access-token">([A-Za-z0-9_-]{43})<', receipt.text)
    assert found and token
    assert receipt.text.count('data-testid="attachment-receipt"') == 1
    status = client.post(
        "/public/complaints/status",
        data={"complaint_id": found.group(1), "access_token": token.group(1)},
    )
    assert status.status_code == 200 and 'data-status="received"' in status.text
    wrong = client.post(
        "/public/complaints/status", data={"complaint_id": found.group(1), "access_token": "x"}
    )
    assert wrong.status_code == 404 and 'id="lookup-error"' in wrong.text
    refused = client.post("/public/complaints", files=[*parts[:-1]])  # no contact
    assert refused.status_code == 422 and "contact&#39; is required" in refused.text


def test_console_list_detail_triage_and_resolve(env: Env) -> None:
    complaint_id = make_complaint(
        env.stack,
        platform=env.platform,
        contact=f"{uuid.uuid4().hex}@example.cn",
        text="控制台测试：收到的外套有破损，商家拒绝处理。",
    )
    officer = Person(env.stack, "officer", "投诉处理员")
    listing = officer.get("/console/complaints?status=received")
    assert listing.status_code == 200 and complaint_id in listing.text
    flagged_only = officer.get("/console/complaints?flagged=1&status=received")
    assert complaint_id not in flagged_only.text
    detail = officer.get(f"/console/complaints/{complaint_id}")
    assert detail.status_code == 200 and 'id="triage-form"' in detail.text
    refused = officer.post(f"/console/complaints/{complaint_id}/triage", {"action": "reject"})
    assert refused.status_code == 422 and "reason" in refused.text
    moved = officer.post(
        f"/console/complaints/{complaint_id}/triage", {"action": "to_clue", "reason": "转线索"}
    )
    assert moved.status_code == 303, moved.text
    done = officer.post(
        f"/console/complaints/{complaint_id}/resolve", {"substantiated": "no", "note": "未查实"}
    )
    assert done.status_code == 303, done.text
    page = officer.get(f"/console/complaints/{complaint_id}")
    assert 'data-status="resolved"' in page.text
    assert page.text.count('data-testid="step"') == 3
