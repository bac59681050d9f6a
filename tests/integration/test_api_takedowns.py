"""Takedown orders through the real API, on SQLite and on PostgreSQL (+ SeaweedFS S3).

Issue -> acknowledge -> complete, and dispute; 409 naming the allowed actions; 422 for
a past deadline and unknown references; the isolation matrix on every platform
endpoint (platform A gets 404, never 403, for platform B's orders and evidence and
for evidence its own orders do not cite); every state change is a ``takedown`` log
entry whose proof bundle the real ``evidence-verify`` accepts through tier 4;
webhooks signed, retried after a 500 and logged, against a real local HTTP server;
the feed loses no order under concurrent issuers; and overdue detection by the
in-process timer and by a real Celery worker + beat on a real Redis.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from anchoring.schema import log_entry
from evidence_api.core.auth import create_token
from evidence_api.core.config import Settings
from evidence_api.registry.models import Platform
from evidence_api.takedowns import webhook_sign
from tests.support.api import (
    BACKENDS,
    Backend,
    Stack,
    assert_change_entries_verify,
    auth_header,
    backend_params,
    evidence_subprocess,
    open_backend,
    running_stack,
    stop_subprocess,
    submit,
)
from tests.support.receiver import receiver
from tests.support.redis import redis_server
from tests.support.waiting import wait_until
from verifier.canonical import canonical_json

KINDS = [p for p in backend_params() if p.id in ("sqlite-local", "postgres-s3")]
assert {p.id for p in KINDS} <= set(BACKENDS)
FILES = {"listing.html": "<html>假冒商品 ¥99</html>".encode()}


@dataclass
class World:
    stack: Stack
    tokens: dict[str, str]  # platform code -> platform token

    @property
    def client(self) -> Any:
        return self.stack.client

    def officer(self) -> dict[str, str]:
        return self.stack.auth("officer")

    def platform(self, code: str) -> dict[str, str]:
        return auth_header(self.tokens[code])

    def add_platform(self, code: str, **webhook: Any) -> None:
        now = datetime.now(UTC)
        with self.stack.runtime.session() as session:
            session.add(
                Platform(
                    code=code,
                    name=f"{code} 平台",
                    webhook_enabled=bool(webhook),
                    webhook_url=webhook.get("url"),
                    webhook_secret=webhook.get("secret"),
                    created_at=now,
                    updated_at=now,
                )
            )
            _, self.tokens[code] = create_token(
                session, role="platform", name=f"{code} ops", platform=code
            )

    def evidence(self, name: str = "listing.html") -> str:
        response = submit(self.stack, {name: FILES["listing.html"]})
        assert response.status_code == 201, response.text
        return str(response.json()["evidence_id"])

    def order_body(self, code: str, evidence: list[str], **overrides: Any) -> dict[str, Any]:
        body = {
            "platform": code,
            "listing_urls": [f"https://{code}.example/item/{uuid.uuid4().hex[:6]}"],
            "legal_basis": "《电子商务法》第三十八条",
            "reason": "销售假冒注册商标商品 counterfeit goods",
            "evidence_ids": evidence,
            "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
            "grant_files": False,
        }
        return body | overrides

    def issue(self, code: str, evidence: list[str], **overrides: Any) -> dict[str, Any]:
        response = self.client.post(
            "/v1/takedowns",
            json=self.order_body(code, evidence, **overrides),
            headers=self.officer(),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


def settings_for(backend: Backend, **extra: Any) -> Any:
    fields = {
        "seal_interval": 0.1,
        "overdue_interval": 0.2,
        "webhook_interval": 0.1,
        "webhook_backoff": 0.3,
        "webhook_allow_hosts": "127.0.0.1",
        **extra,
    }
    return backend.settings.model_copy(update=fields)


@pytest.fixture(params=KINDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with (
        open_backend(request, request.param, tmp_path / "data") as backend,
        running_stack(settings_for(backend)) as stack,
    ):
        found = World(stack, {})
        found.add_platform("mall-a")
        found.add_platform("mall-b")
        yield found


def verify_order(world: World, order_id: str, workdir: Path, changes: int) -> list[dict[str, Any]]:
    """Every change of the order is a sealed ``takedown`` entry that evidence-verify accepts."""
    return assert_change_entries_verify(
        world.client,
        f"/v1/takedowns/{order_id}/proofs",
        world.officer(),
        kind="takedown",
        id_field="order_id",
        object_id=order_id,
        changes=changes,
        workdir=workdir,
        timeout=10,
    )


# --- the workflow -------------------------------------------------------------------


def test_issue_ack_complete_every_change_in_the_log_and_verifies(
    world: World, tmp_path: Path
) -> None:
    ev = world.evidence()
    order = world.issue("mall-a", [ev], grant_files=True)
    oid = order["order_id"]
    assert (order["status"], order["allowed_actions"]) == ("issued", ["ack", "dispute"])

    feed = world.client.get("/v1/platform/takedowns", headers=world.platform("mall-a")).json()
    assert [i["order_id"] for i in feed["items"]] == [oid]

    acked = world.client.post(f"/v1/platform/takedowns/{oid}/ack", headers=world.platform("mall-a"))
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    removed = datetime.now(UTC)  # after the order was issued (before it: 422)
    done = world.client.post(
        f"/v1/platform/takedowns/{oid}/complete",
        json={"note": "已下架 removed", "removed_at": removed.isoformat()},
        headers=world.platform("mall-a"),
    )
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["allowed_actions"]) == ("completed", [])

    detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
    history = detail["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "issued"),
        ("issued", "acknowledged"),
        ("acknowledged", "completed"),
    ]
    assert history[0]["actor"].startswith("token-")
    assert history[1]["actor"] == history[2]["actor"] != history[0]["actor"]
    assert history[2]["note"] == "已下架 removed"
    # the issuance entry commits to the order's content, recomputable from the view
    assert detail["content_sha256"] == hashlib.sha256(canonical_json(detail["content"])).hexdigest()

    entries = verify_order(world, oid, tmp_path, 3)
    assert [e["entry_id"] for e in entries] == [h["entry_id"] for h in history]
    issuance = entries[0]["bundle"]["entry"]["body"]
    assert issuance["order_sha256"] == detail["content_sha256"]
    completion = entries[2]["bundle"]["entry"]["body"]
    assert completion["note_sha256"] == hashlib.sha256("已下架 removed".encode()).hexdigest()
    assert completion["from"] == "acknowledged"
    # the log holds exactly these takedown entries, no more
    with world.stack.runtime.engine.connect() as conn:
        kinds = conn.execute(
            select(log_entry.c.entry_id).where(log_entry.c.kind == "takedown")
        ).scalars()
        assert set(kinds) == {h["entry_id"] for h in history}


def test_dispute_and_invalid_transitions_name_the_allowed_ones(
    world: World, tmp_path: Path
) -> None:
    ev = world.evidence()
    oid = world.issue("mall-a", [ev])["order_id"]
    platform = world.platform("mall-a")
    early = world.client.post(
        f"/v1/platform/takedowns/{oid}/complete",
        json={"note": "n", "removed_at": datetime.now(UTC).isoformat()},
        headers=platform,
    )
    assert early.status_code == 409
    assert early.json()["detail"] == (
        "cannot complete an order that is issued; "
        "allowed from issued: ack → acknowledged, dispute → disputed"
    )
    disputed = world.client.post(
        f"/v1/platform/takedowns/{oid}/dispute", json={"reason": "商品为正品"}, headers=platform
    )
    assert disputed.status_code == 200 and disputed.json()["status"] == "disputed"
    again = world.client.post(f"/v1/platform/takedowns/{oid}/ack", headers=platform)
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "cannot ack an order that is disputed; allowed from disputed: "
        "uphold → reopened, withdraw → withdrawn (an officer's ruling)"
    )
    entries = verify_order(world, oid, tmp_path, 2)
    body = entries[1]["bundle"]["entry"]["body"]
    assert body["reason_sha256"] == hashlib.sha256("商品为正品".encode()).hexdigest()
    # refused changes leave no trace: still two events, the order still disputed
    detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
    assert detail["status"] == "disputed" and len(detail["history"]) == 2


def test_bad_orders_are_422_with_the_reason(world: World) -> None:
    ev = world.evidence()
    missing = [f"ev-{'0' * 28}", f"ev-{'1' * 28}"]
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"deadline": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()},
            "deadline",
            "is not in the future",
        ),
        ({"deadline": "2030-01-01T00:00:00"}, "deadline", "must include a time zone"),
        (
            {"evidence_ids": [ev, *missing]},
            "evidence_ids",
            f"unknown evidence {', '.join(missing)}",
        ),
        ({"platform": "no-such-mall"}, "platform", "no platform 'no-such-mall'"),
        ({"case_number": "泉市监案〔2099〕1号"}, "case_number", "no case"),
        ({"listing_urls": ["ftp://x.example/1"]}, "listing_urls", "must be an http"),
        ({"listing_urls": ["https://x.example/a b"]}, "listing_urls", "spaces"),
        ({"evidence_ids": []}, "evidence_ids", "at least 1"),
    ]
    for overrides, field, reason in cases:
        response = world.client.post(
            "/v1/takedowns",
            json=world.order_body("mall-a", [ev], **overrides),
            headers=world.officer(),
        )
        assert response.status_code == 422, (overrides, response.text)
        problem = response.json()
        assert problem["field"] == field, problem
        assert reason in problem["detail"], problem
    listed = world.client.get("/v1/takedowns", headers=world.officer()).json()
    assert listed["items"] == []


# --- isolation ----------------------------------------------------------------------


def test_isolation_matrix_on_every_platform_endpoint(world: World) -> None:
    ev_a, ev_b, uncited = world.evidence(), world.evidence(), world.evidence()
    a = world.issue("mall-a", [ev_a], grant_files=True)["order_id"]
    b = world.issue("mall-b", [ev_b], grant_files=True)["order_id"]
    as_a = world.platform("mall-a")
    missing = f"td-{'0' * 28}"
    name = "listing.html"
    # (what, method, path, body): each must be 404 for platform A
    refused = [
        ("B's order", "GET", f"/v1/platform/takedowns/{b}", None),
        ("B's proofs", "GET", f"/v1/platform/takedowns/{b}/proofs", None),
        ("B's evidence via B's order", "GET", f"/v1/platform/takedowns/{b}/evidence/{ev_b}", None),
        ("B's evidence via A's order", "GET", f"/v1/platform/takedowns/{a}/evidence/{ev_b}", None),
        ("uncited evidence", "GET", f"/v1/platform/takedowns/{a}/evidence/{uncited}", None),
        (
            "B's file via B's order",
            "GET",
            f"/v1/platform/takedowns/{b}/evidence/{ev_b}/files/{name}",
            None,
        ),
        (
            "B's file via A's order",
            "GET",
            f"/v1/platform/takedowns/{a}/evidence/{ev_b}/files/{name}",
            None,
        ),
        (
            "uncited file",
            "GET",
            f"/v1/platform/takedowns/{a}/evidence/{uncited}/files/{name}",
            None,
        ),
        ("ack B's order", "POST", f"/v1/platform/takedowns/{b}/ack", None),
        (
            "complete B's order",
            "POST",
            f"/v1/platform/takedowns/{b}/complete",
            {"note": "x", "removed_at": datetime.now(UTC).isoformat()},
        ),
        ("dispute B's order", "POST", f"/v1/platform/takedowns/{b}/dispute", {"reason": "x"}),
        ("an order that does not exist", "GET", f"/v1/platform/takedowns/{missing}", None),
    ]
    for what, method, path, body in refused:
        response = world.client.request(method, path, json=body, headers=as_a)
        assert response.status_code == 404, (what, response.status_code, response.text)
        detail = response.json()["detail"]
        assert ev_b not in detail or "cites no evidence" in detail, what
    # B's order and a made-up id are told apart by nothing but the id
    theirs = world.client.get(f"/v1/platform/takedowns/{b}", headers=as_a).json()
    nothing = world.client.get(f"/v1/platform/takedowns/{missing}", headers=as_a).json()
    assert theirs["detail"].replace(b, "ID") == nothing["detail"].replace(missing, "ID")
    assert {k: v for k, v in theirs.items() if k != "detail"} == {
        k: v for k, v in nothing.items() if k != "detail"
    }
    # listing: each platform sees only its own, with or without a status filter
    for code, own in (("mall-a", a), ("mall-b", b)):
        for params in ({}, {"status": "issued"}):
            feed = world.client.get(
                "/v1/platform/takedowns", params=params, headers=world.platform(code)
            ).json()
            assert [i["order_id"] for i in feed["items"]] == [own], (code, params)
    # B's order is untouched by A's attempts; B can still act on it
    detail = world.client.get(f"/v1/takedowns/{b}", headers=world.officer()).json()
    assert detail["status"] == "issued" and len(detail["history"]) == 1
    ok = world.client.post(f"/v1/platform/takedowns/{b}/ack", headers=world.platform("mall-b"))
    assert ok.status_code == 200
    # A's own order: the cited evidence and its file (granted), read as a custody entry
    own = world.client.get(f"/v1/platform/takedowns/{a}", headers=as_a).json()
    assert [e["evidence_id"] for e in own["evidence"]] == [ev_a]
    assert own["evidence"][0]["bundle"]["manifest"]["evidence_id"] == ev_a
    got = world.client.get(f"/v1/platform/takedowns/{a}/evidence/{ev_a}/files/{name}", headers=as_a)
    assert got.status_code == 200 and got.content == FILES[name]
    custody = got.headers["X-Custody-Entry"]
    with world.stack.runtime.engine.connect() as conn:
        entry = json.loads(
            conn.execute(
                select(log_entry.c.entry).where(log_entry.c.entry_id == custody)
            ).scalar_one()
        )
    assert entry["kind"] == "custody"
    assert entry["body"]["evidence_id"] == ev_a and entry["body"]["role"] == "platform"
    assert entry["body"]["purpose"] == f"takedown order {a}"


def test_files_only_where_the_order_grants_them(world: World) -> None:
    ev = world.evidence()
    oid = world.issue("mall-a", [ev], grant_files=False)["order_id"]
    path = f"/v1/platform/takedowns/{oid}/evidence/{ev}/files/listing.html"
    response = world.client.get(path, headers=world.platform("mall-a"))
    assert response.status_code == 403
    assert "does not grant access" in response.json()["detail"]
    # the proof bundle of the cited evidence is still there
    cited = world.client.get(
        f"/v1/platform/takedowns/{oid}/evidence/{ev}", headers=world.platform("mall-a")
    )
    assert cited.status_code == 200
    assert cited.json()["bundle"]["entry"]["id"] == ev


def test_feed_loses_no_order_under_concurrent_issuers(world: World) -> None:
    """8 officers issue 80 orders to two platforms while each platform polls its feed."""
    ev = world.evidence()
    issued: dict[str, list[str]] = {"mall-a": [], "mall-b": []}
    seen: dict[str, list[str]] = {"mall-a": [], "mall-b": []}
    stop = threading.Event()

    def poll(code: str) -> None:
        cursor: str | None = None
        while True:
            finished = stop.is_set()
            params = {"limit": 7, **({"since": cursor} if cursor else {})}
            page = world.client.get(
                "/v1/platform/takedowns", params=params, headers=world.platform(code)
            ).json()
            seen[code] += [i["order_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if finished and not page["more"]:
                return

    def issue(i: int) -> None:
        code = ("mall-a", "mall-b")[i % 2]
        issued[code].append(world.issue(code, [ev])["order_id"])

    pollers = [threading.Thread(target=poll, args=(code,)) for code in seen]
    for t in pollers:
        t.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(issue, range(80)))
    stop.set()
    for t in pollers:
        t.join(60)
    for code, ids in seen.items():
        assert len(ids) == len(set(ids)), f"{code}: an order seen twice"
        assert sorted(ids) == sorted(issued[code]), f"{code}: an order lost"


# --- webhooks -----------------------------------------------------------------------


def test_webhook_signed_retried_after_500_and_logged(world: World) -> None:
    secret = "whsec_" + uuid.uuid4().hex
    with receiver([500], path="/hooks/takedown") as (url, got):
        world.add_platform("mall-hook", url=url, secret=secret)
        oid = world.issue("mall-hook", [world.evidence()])["order_id"]

        def delivered() -> bool:
            detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
            return bool(detail["deliveries"]) and detail["deliveries"][0]["state"] == "delivered"

        wait_until(delivered, 15, "the webhook delivery")
    assert len(got) == 2  # one 500, then the retry that got 200
    ids = {r.headers["X-Evidence-Delivery"] for r in got}
    assert len(ids) == 1  # the same delivery id on the retry: receivers can de-duplicate
    for request in got:
        timestamp = webhook_sign.verify(
            secret, request.body, request.headers["X-Evidence-Signature"], now=int(time.time())
        )
        assert abs(timestamp - time.time()) < 60
        assert request.headers["X-Evidence-Event"] == "takedown.issued"
        payload = json.loads(request.body)
        assert payload["order_id"] == oid and payload["delivery_id"] in ids
    with pytest.raises(webhook_sign.SignatureMismatch):
        webhook_sign.verify(
            "whsec_wrong", got[0].body, got[0].headers["X-Evidence-Signature"], now=int(time.time())
        )
    detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
    (delivery,) = detail["deliveries"]
    assert delivery["attempts"] == 2
    assert [(a["number"], a["status_code"]) for a in delivery["log"]] == [(1, 500), (2, 200)]
    assert delivery["log"][0]["error"] == "HTTP 500"
    assert all(a["duration_ms"] >= 0 for a in delivery["log"])


def test_webhook_to_a_private_address_is_refused_unless_allowed(world: World) -> None:
    with receiver([], path="/hooks/takedown") as (url, got):
        # 127.0.0.2 is loopback and not in EVIDENCE_WEBHOOK_ALLOW_HOSTS (127.0.0.1 is)
        world.add_platform("mall-private", url=url.replace("127.0.0.1", "127.0.0.2"), secret="s")
        oid = world.issue("mall-private", [world.evidence()])["order_id"]

        def attempted() -> bool:
            detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
            return bool(detail["deliveries"] and detail["deliveries"][0]["log"])

        wait_until(attempted, 10, "a webhook attempt")
    assert got == []
    detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
    attempt = detail["deliveries"][0]["log"][0]
    assert attempt["status_code"] is None
    assert "non-public address 127.0.0.2" in attempt["error"]


# --- overdue ------------------------------------------------------------------------


def test_overdue_in_process_then_completed(world: World, tmp_path: Path) -> None:
    ev = world.evidence()
    # Far enough ahead that a loaded machine still posts the order before it passes.
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    oid = world.issue("mall-a", [ev], deadline=deadline.isoformat())["order_id"]

    def overdue() -> bool:
        got = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
        return bool(got["status"] == "overdue")

    wait_until(overdue, 30, "the order to become overdue")
    detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
    mark = detail["history"][-1]
    assert (mark["from_status"], mark["actor"]) == ("issued", "system")
    assert datetime.fromisoformat(mark["at"]) >= deadline
    done = world.client.post(
        f"/v1/platform/takedowns/{oid}/complete",
        json={"note": "late", "removed_at": datetime.now(UTC).isoformat()},
        headers=world.platform("mall-a"),
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    verify_order(world, oid, tmp_path, 3)


@pytest.mark.redis
@pytest.mark.slow
def test_overdue_by_a_real_celery_worker_and_beat(tmp_path: Path) -> None:
    """No in-process timers: only ``evidence worker`` + ``evidence beat`` on Redis mark it."""
    data = tmp_path / "data"
    settings = Settings(
        data_dir=data, run_sealer=False, run_supervisor=False, chain="none", seal_interval=0.5
    )
    with redis_server() as redis_url, running_stack(settings) as stack:
        world = World(stack, {})
        world.add_platform("mall-a")
        env = {
            "EVIDENCE_DATA_DIR": str(data),
            "EVIDENCE_CHAIN": "none",
            "EVIDENCE_BROKER_URL": f"{redis_url}/0",
            "EVIDENCE_RESULT_BACKEND": f"{redis_url}/1",
            "EVIDENCE_OVERDUE_INTERVAL": "0.5",
            "EVIDENCE_SEAL_INTERVAL": "0.5",
            "EVIDENCE_RUN_SUPERVISOR": "false",
        }
        worker = evidence_subprocess(["worker"], env, tmp_path / "worker.log")
        beat = evidence_subprocess(["beat"], env, tmp_path / "beat.log")
        try:
            wait_until(
                lambda: b" ready." in (tmp_path / "worker.log").read_bytes(), 60, "the worker"
            )
            ev = world.evidence()
            deadline = datetime.now(UTC) + timedelta(seconds=8)
            oid = world.issue("mall-a", [ev], deadline=deadline.isoformat())["order_id"]

            def overdue() -> bool:
                got = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
                return bool(got["status"] == "overdue")

            wait_until(overdue, 60, "Celery to mark the order overdue")
            detail = world.client.get(f"/v1/takedowns/{oid}", headers=world.officer()).json()
            assert detail["history"][-1]["actor"] == "system"
            assert datetime.fromisoformat(detail["history"][-1]["at"]) >= deadline
            assert "evidence.takedown_overdue" in (tmp_path / "worker.log").read_text()
            # the worker's seal task seals the entries too (the service runs no sealer)
            verify_order(world, oid, tmp_path, 2)
        finally:
            stop_subprocess(beat)
            stop_subprocess(worker)
