"""The console's audit pages (/console/admin/audits): runs newest first, a run with its
findings, the acknowledgement form (CSRF, a note required, once) that makes ``/readyz``
ready again; administrators only; Chinese first, English on request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evidence_api.audit import service
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
