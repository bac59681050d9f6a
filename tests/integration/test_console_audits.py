"""The console's audit pages (/console/admin/audits): runs newest first, a run with its
findings, the acknowledgement form (CSRF, a note required, once) that makes ``/readyz``
ready again; administrators only; Chinese first, English on request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from evidence_api.audit import service
from evidence_api.audit.models import AuditFinding, AuditRun
from evidence_api.audit.service import acknowledge
from evidence_api.core.config import Settings
from tests.support.api import Stack, running_stack
from tests.support.audit_runs import finished, make_run
from tests.support.console import Person, field_error


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("console-audits") / "data"
    settings = Settings(data_dir=data, chain="none", run_integrity=False)
    with running_stack(settings) as running:
        yield running


def audit_check(stack: Stack) -> tuple[int, str]:
    answer = stack.client.get("/readyz")
    return answer.status_code, answer.json()["checks"]["audit"]


def test_runs_run_and_acknowledgement(stack: Stack) -> None:
    clean = make_run(stack, "clean")
    failed = make_run(stack, "failed")
    admin = Person(stack, "admin", "王管理")

    listing = admin.get("/console/admin/audits")
    assert listing.status_code == 200
    page = listing.text
    assert "全面审计" in page and "待确认" in page and "未发现问题" in page
    assert page.index(f'data-run-id="{failed}"') < page.index(f'data-run-id="{clean}"')
    assert "Full audits" in admin.get("/console/admin/audits?lang=en").text
    admin.get("/console/admin/audits?lang=zh")

    detail = admin.get(f"/console/admin/audits/{failed}")
    assert detail.status_code == 200
    assert "entry:x" in detail.text and "日志条目" in detail.text and 'id="ack-form"' in detail.text
    assert audit_check(stack)[0] == 503

    url = f"/console/admin/audits/{failed}/acknowledge"
    assert admin.post(url, {"note": "看过"}, csrf=False).status_code == 403
    empty = admin.post(url, {"note": "  "})
    assert empty.status_code == 422 and "note" in field_error(empty.text, "note")
    assert audit_check(stack)[0] == 503
    done = admin.post(url, {"note": "已从备份恢复，重新审计无问题"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/admin/audits/{failed}?done=acknowledged"
    after = admin.get(done.headers["location"]).text
    assert "已确认。" in after and "已从备份恢复" in after and 'id="ack-form"' not in after
    assert audit_check(stack) == (200, "ok")
    again = admin.post(url, {"note": "再次"})
    assert again.status_code == 409
    assert 'id="audit-error"' in again.text and "was acknowledged by" in again.text
    not_failed = admin.post(f"/console/admin/audits/{clean}/acknowledge", {"note": "x"})
    assert not_failed.status_code == 409


def test_only_administrators_and_bad_ids(stack: Stack) -> None:
    officer = Person(stack, "officer", "李警官")
    assert officer.get("/console/admin/audits").status_code == 403
    stack.client.cookies.clear()
    anonymous = stack.client.get("/console/admin/audits", follow_redirects=False)
    assert anonymous.status_code == 303 and "/console/login" in anonymous.headers["location"]
    admin = Person(stack, "admin", "赵管理")
    assert admin.get("/console/admin/audits/999999").status_code == 404
    assert admin.get("/console/admin/audits/abc").status_code == 422
    assert admin.get("/console/admin/audits?cursor=zzz").status_code == 422
    assert admin.post("/console/admin/audits/999999/acknowledge", {"note": "x"}).status_code == 404


def test_an_audit_started_from_the_console_or_the_api_runs_in_the_background(
    stack: Stack,
) -> None:
    admin = Person(stack, "admin", "周管理")
    started = admin.post("/console/admin/audits/start", {})
    assert started.status_code == 303
    run_id = int(started.headers["location"].rsplit("/", 1)[1])
    assert finished(stack, run_id) == "clean"
    assert "未发现问题" in admin.get(f"/console/admin/audits/{run_id}").text
    assert admin.post("/console/admin/audits/start", {}, csrf=False).status_code == 403

    api = stack.client.post("/v1/integrity/audits", headers=stack.auth("admin"))
    assert api.status_code == 202 and api.json()["status"] == "running"
    assert finished(stack, api.json()["id"]) == "clean"
    with service._BACKGROUND:  # this process is running one: a second is refused
        busy = stack.client.post("/v1/integrity/audits", headers=stack.auth("admin"))
        assert busy.status_code == 409 and busy.json()["title"] == "audit_running"
        page = admin.post("/console/admin/audits/start", {})
        assert page.status_code == 409 and "already running" in page.text


def test_api_pages_runs_and_findings_and_refuses_bad_input(stack: Stack) -> None:
    first, second = make_run(stack, "failed"), make_run(stack, "failed")
    with stack.runtime.session() as session:
        now = datetime.now(UTC)
        session.add_all(
            AuditFinding(
                run_id=second, kind="node", location=f"node:1/{i}", detail="d", found_at=now
            )
            for i in range(3)
        )
    admin = stack.auth("admin")
    page = stack.client.get("/v1/integrity/audits", params={"limit": 1}, headers=admin).json()
    assert [r["id"] for r in page["items"]] == [second] and page["next_cursor"]
    more = stack.client.get(
        "/v1/integrity/audits", params={"limit": 1, "cursor": page["next_cursor"]}, headers=admin
    ).json()
    assert [r["id"] for r in more["items"]] == [first]

    locations: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        run = stack.client.get(f"/v1/integrity/audits/{second}", params=params, headers=admin)
        assert run.status_code == 200, run.text
        locations += [f["location"] for f in run.json()["items"]]
        cursor = run.json()["next_cursor"]
        if cursor is None:
            break
    assert locations == ["entry:x", "node:1/0", "node:1/1", "node:1/2"]
    assert run.json()["status"] == "failed" and run.json()["findings"] == 1

    for url, params in (
        ("/v1/integrity/audits", {"limit": 0}),
        ("/v1/integrity/audits", {"cursor": "not-ours"}),
        (f"/v1/integrity/audits/{second}", {"cursor": "x" * 65}),
        ("/v1/integrity/audits/0", {}),
    ):
        bad = stack.client.get(url, params=params, headers=admin)
        assert bad.status_code == 422, (url, bad.text)
        assert bad.headers["content-type"] == "application/problem+json"
    missing = stack.client.get("/v1/integrity/audits/424242", headers=admin)
    assert missing.status_code == 404 and missing.json()["title"] == "audit_run_not_found"
    ack = f"/v1/integrity/audits/{first}/acknowledge"
    for body in ({}, {"note": ""}, {"note": "x" * 4001}, {"note": "ok", "extra": 1}):
        refused = stack.client.post(ack, json=body, headers=admin)
        assert refused.status_code == 422, (body, refused.text)
    for run_id in (first, second):
        done = stack.client.post(
            f"/v1/integrity/audits/{run_id}/acknowledge", json={"note": "已处理"}, headers=admin
        )
        assert done.status_code == 200 and done.json()["acknowledged_by"], done.text
    twice = stack.client.post(ack, json={"note": "again"}, headers=admin)
    assert twice.status_code == 409 and twice.json()["title"] == "audit_not_acknowledgeable"
    events = stack.client.get(
        "/v1/audit", params={"kind": "audit_acknowledged"}, headers=admin
    ).json()
    assert {e["subject"] for e in events["items"]} >= {f"audit-{first}", f"audit-{second}"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_status_renders_in_both_languages(stack: Stack, lang: str) -> None:
    admin = Person(stack, "admin", "孙管理")
    words = {
        "zh": {"running": "进行中", "interrupted": "已中断", "failed": "发现不一致"},
        "en": {"running": "Running", "interrupted": "Interrupted", "failed": "Discrepancies found"},
    }[lang]
    for status, label in words.items():
        run_id = make_run(stack, status)
        page = admin.get(f"/console/admin/audits/{run_id}?lang={lang}")
        assert page.status_code == 200 and label in page.text
        assert ("evidence audit --resume" in page.text) == (status == "interrupted")
    listing = admin.get(f"/console/admin/audits?lang={lang}")
    assert listing.status_code == 200 and all(label in listing.text for label in words.values())
    with stack.runtime.session() as session:
        for run in session.query(AuditRun).filter_by(status="failed", acknowledged_at=None):
            acknowledge(session, run.id, "test", "cleanup")
