"""``/v1/captures`` end to end in one process: the API, its embedded capture threads, REAL
Chromium (``run_capture``) on the HTTPS fixture website, and the evidence the capture
becomes (recorded through the same intake as uploads, read back through the evidence API).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from evidence_api.capture import dispatch, service
from evidence_api.capture.models import Capture
from evidence_api.capture.request import CaptureRequest
from evidence_api.core.auth import Principal, create_token
from evidence_api.core.config import Settings
from evidence_api.runtime import NO_TIMERS, build_runtime
from tests.support.api import Stack, running_stack
from tests.support.capture_site import PRICE_TEXT, Site, capture_site

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALLOW = "127.0.0.1,localhost,::1"
#: A capture on the loaded 2-core test machine: Chromium start, self-check, page, files.
CAPTURE_DEADLINE = 240.0


def capture_settings(data: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=data,
        seal_interval=0.1,
        chain="none",
        run_integrity=False,
        **extra,
    )


@pytest.fixture(scope="module")
def stack(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = capture_settings(
        tmp_path_factory.mktemp("captures") / "data",
        capture_allow=ALLOW,
        capture_upstream_ca=site.ca_file,
        capture_total_seconds=180,
    )
    with running_stack(settings) as running:
        yield running


def wait_finished(stack: Stack, capture_id: str) -> dict[str, Any]:
    """Poll the capture until it is done or failed; every answer on the way is checked."""
    deadline = time.monotonic() + CAPTURE_DEADLINE
    seen: list[str] = []
    while time.monotonic() < deadline:
        response = stack.client.get(f"/v1/captures/{capture_id}", headers=stack.auth("officer"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        seen.append(body["status"])
        if body["status"] in ("done", "failed"):
            return body
        assert body["status"] in ("queued", "running"), body
        if body["status"] == "queued":
            assert body["step"] is None
        time.sleep(0.25)
    raise AssertionError(f"capture {capture_id} not finished in {CAPTURE_DEADLINE} s: {seen[-5:]}")


def post_capture(stack: Stack, body: dict[str, Any], role: str = "officer") -> Any:
    return stack.client.post("/v1/captures", json=body, headers=stack.auth(role))


def test_a_page_capture_becomes_an_evidence_item(stack: Stack, site: Site) -> None:
    request = {
        "url": site.url("/listing"),
        "platform": "fixture-mall",
        "entity": "示例旗舰店",
        "notes": "商品价格页",
        "wait_for": {"network_idle": True},
    }
    response = post_capture(stack, request)
    assert response.status_code == 202, response.text
    accepted = response.json()
    capture_id = accepted["capture_id"]
    assert accepted == {
        "capture_id": capture_id,
        "status": "queued",
        "status_url": f"/v1/captures/{capture_id}",
    }
    assert response.headers["Location"] == f"/v1/captures/{capture_id}"

    done = wait_finished(stack, capture_id)
    assert done["status"] == "done", (done["reason"], done["limit"])
    evidence_id = done["evidence_id"]
    assert done["evidence_url"] == f"/v1/evidence/{evidence_id}"
    assert done["reason"] is None and done["limit"] is None and done["step"] is None
    # as submitted, with the defaults it ran with
    assert done["request"] == CaptureRequest.model_validate(request).model_dump(mode="json")
    assert done["request"]["mode"] == "page" and done["request"]["device"] == "desktop"
    assert done["submitter"].startswith("token-") and done["attempts"] == 1
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]

    officer = stack.auth("officer")
    evidence = stack.client.get(done["evidence_url"], headers=officer)
    assert evidence.status_code == 200, evidence.text
    item = evidence.json()
    assert item["source_url"] == site.url("/listing")
    assert (item["platform"], item["entity"]) == ("fixture-mall", "示例旗舰店")
    names = {f["name"] for f in item["files"]}
    assert {"screenshot.png", "dom.html", "archive.wacz", "environment.json"} <= names
    assert all(len(f["sha256"]) == 64 and len(f["sm3"]) == 64 for f in item["files"])

    dom = stack.client.get(
        f"/v1/evidence/{evidence_id}/files/dom.html",
        params={"purpose": "capture test"},
        headers=officer,
    )
    assert dom.status_code == 200
    assert PRICE_TEXT in dom.content.decode("utf-8")

    # the manifest (as the proof bundle carries it): the tool and environment are the
    # server's, never typed
    bundle = stack.client.get(f"/v1/evidence/{evidence_id}/proof", headers=officer).json()
    manifest = bundle["manifest"]
    assert manifest["capture"]["tool"].startswith("evidence-anchor capture ")
    assert "Chromium" in manifest["capture"]["tool"]
    environment = manifest["capture"]["environment"]
    assert environment["recorded_by"] == "server"
    assert environment["capture_id"] == capture_id
    assert manifest["source"]["url"] == site.url("/listing")
    assert manifest["notes"] == "商品价格页"

    listed = stack.client.get(
        "/v1/captures", params={"status": "done", "platform": "fixture-mall"}, headers=officer
    )
    assert listed.status_code == 200
    assert capture_id in [c["capture_id"] for c in listed.json()["items"]]


def test_an_upload_stays_marked_as_officer_supplied(stack: Stack) -> None:
    from tests.support.api import submit  # noqa: PLC0415

    created = submit(stack, {"page.html": b"<p>typed by an officer</p>"})
    assert created.status_code == 201, created.text
    evidence_id = created.json()["evidence_id"]
    bundle = stack.client.get(
        f"/v1/evidence/{evidence_id}/proof", headers=stack.auth("officer")
    ).json()
    assert bundle["manifest"]["capture"]["environment"] == {
        "os": "debian-12",
        "recorded_by": "officer",
    }


def test_a_failed_capture_says_why(stack: Stack, site: Site) -> None:
    """A target that refuses the connection: failed, with the browser's precise reason."""
    with capture_site(Path(stack.settings.data_dir).parent / "gone") as gone:
        url = gone.url("/listing")
    response = post_capture(stack, {"url": url})
    assert response.status_code == 202, response.text
    failed = wait_finished(stack, response.json()["capture_id"])
    assert failed["status"] == "failed", failed
    assert failed["reason"] and failed["evidence_id"] is None and failed["evidence_url"] is None


def test_ids_are_validated_and_unknown_ones_are_404(stack: Stack) -> None:
    officer = stack.auth("officer")
    unknown = stack.client.get("/v1/captures/cap-" + "0" * 28, headers=officer)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no capture cap-" + "0" * 28
    assert stack.client.get("/v1/captures/ev-123", headers=officer).status_code == 422
    naive = stack.client.get(
        "/v1/captures", params={"since": "2026-01-01T00:00:00"}, headers=officer
    )
    assert naive.status_code == 422
    assert (
        stack.client.get("/v1/captures", params={"status": "x"}, headers=officer).status_code == 422
    )


def test_bad_requests_are_refused_before_anything_is_recorded(stack: Stack) -> None:
    before = capture_count(stack)
    for body, field in [
        ({"url": "https://u:p@localhost/"}, "url"),
        ({"url": "https://localhost/", "mode": "steps"}, "body"),
        ({"url": "https://localhost/", "case_id": "NO-SUCH-CASE"}, "case_id"),
        ({"url": "file:///etc/passwd"}, "url"),
    ]:
        response = post_capture(stack, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, response.json()
    assert capture_count(stack) == before


def test_roles(stack: Stack, site: Site) -> None:
    body = {"url": site.url("/listing")}
    for role in ("appraiser", "platform"):
        for method, path in (
            ("POST", "/v1/captures"),
            ("GET", "/v1/captures"),
            ("GET", "/v1/captures/cap-" + "0" * 28),
        ):
            response = stack.client.request(
                method, path, headers=stack.auth(role), json=body if method == "POST" else None
            )
            assert response.status_code == 403, (role, method, path, response.text)
    assert stack.client.post("/v1/captures", json=body).status_code == 401
    assert stack.client.get("/v1/captures").status_code == 401


def capture_count(stack: Stack) -> int:
    with stack.runtime.session() as session:
        return session.execute(select(func.count()).select_from(Capture)).scalar_one()


@pytest.fixture
def strict_stack(tmp_path: Path) -> Iterator[Stack]:
    """No allow-list: the defaults a real deployment has."""
    with running_stack(capture_settings(tmp_path / "data")) as running:
        yield running


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://127.0.0.1:8443/", "127.0.0.1"),
        ("http://localhost/", "localhost resolves to"),
        ("http://[::1]/", "::1"),
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ],
    ids=["loopback", "name-to-loopback", "ipv6-loopback", "private", "metadata"],
)
def test_private_targets_are_refused_at_post(strict_stack: Stack, url: str, address: str) -> None:
    response = post_capture(strict_stack, {"url": url})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "url"
    assert address in problem["detail"] and "EVIDENCE_CAPTURE_ALLOW" in problem["detail"]
    assert capture_count(strict_stack) == 0


def test_a_restart_resumes_what_the_last_process_left(site: Site, tmp_path: Path) -> None:
    """Embedded mode: a capture left ``queued`` and one left ``running`` by a process that
    is gone are both run by the next start (the second on its second attempt)."""
    settings = capture_settings(
        tmp_path / "data",
        capture_allow=ALLOW,
        capture_upstream_ca=site.ca_file,
        capture_total_seconds=180,
    )
    before = build_runtime(settings, **NO_TIMERS)  # the last process: no capture threads
    try:
        with before.session() as session:
            token, _ = create_token(session, role="officer", name="restart officer")
            officer = Principal(token.id, token.name, token.role, None)
        work = dispatch.captures_of(before)
        body = CaptureRequest(url=site.url("/listing"))
        left_queued = service.submit(work, officer, body).accepted.capture_id
        left_running = service.submit(work, officer, body).accepted.capture_id
        with before.session() as session:  # claimed by a process that has since died
            session.execute(
                update(Capture)
                .where(Capture.id == left_running)
                .values(
                    status="running",
                    owner=f"{socket.gethostname()[:100]}:{dead_pid()}:gone",
                    attempts=1,
                    started_at=datetime.now(UTC),
                    heartbeat_at=datetime.now(UTC),
                )
            )
    finally:
        before.close()

    with running_stack(settings) as stack:
        results = {i: wait_finished(stack, i) for i in (left_queued, left_running)}
    assert results[left_queued]["status"] == "done", results[left_queued]["reason"]
    assert results[left_queued]["attempts"] == 1
    assert results[left_running]["status"] == "done", results[left_running]["reason"]
    assert results[left_running]["attempts"] == 2


def dead_pid() -> int:
    """A pid no process has (above the kernel's maximum)."""
    pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1000
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    return pid
