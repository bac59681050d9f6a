"""The officer's evidence pages (issue 15): list with search, detail (files, previews,
timeline, custody), upload (the API with the session cookie and CSRF header) and
capture progress — on the real stack, logged in through the real login form."""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from evidence_api.capture.models import Capture
from evidence_api.core.config import Settings
from evidence_api.core.ids import new_id
from evidence_api.core.models import ApiToken
from tests.support.api import Stack, metadata, running_stack, wait_for_bundle
from tests.support.browser import browser, live_server  # noqa: F401 - fixture
from tests.support.console import browser_login, login, make_user
from tests.support.console_browser import (
    PHONE,
    assert_accessible,
    horizontal_overflow,
    viewport,
    widest,
)

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e5270de40000000049454e44ae426082"
)
PAGE = b"<!doctype html><html><body><h1>listing</h1><script>parent.x=1</script></body></html>"


def console_client(stack: Stack, role: str, **user: Any) -> tuple[TestClient, str]:
    """A second client on the stack's app, logged in as a new user of ``role``."""
    client = TestClient(stack.client.app)  # the app stack.client started; no second lifespan
    username, password = make_user(stack.runtime, role, **user)
    return client, login(client, username, password)


@pytest.fixture
def officer(stack: Stack) -> Iterator[tuple[TestClient, str]]:
    client, csrf = console_client(stack, "officer", display_name="王警官", unit="网监科")
    yield client, csrf
    client.close()


#: Media types the test files are sent with (others: application/octet-stream).
TYPES = {".png": "image/png", ".html": "text/html"}


def submitted(stack: Stack, files: dict[str, bytes], **meta: Any) -> dict[str, Any]:
    """``POST /v1/evidence`` as the officer's token; each file with its media type."""
    parts: list[tuple[str, tuple[str | None, bytes | str, str]]] = [
        ("metadata", (None, json.dumps(metadata(**meta)), "application/json"))
    ]
    for name, data in files.items():
        kind = TYPES.get(Path(name).suffix, "application/octet-stream")
        parts.append(("files", (name, data, kind)))
    answer = stack.client.post("/v1/evidence", files=parts, headers=stack.auth("officer"))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def rows(page: str) -> list[str]:
    """The evidence ids the list page shows, in order."""
    return re.findall(r'data-testid="evidence-row" data-evidence="(ev-[0-9a-f]{28})"', page)


def test_list_search_and_detail_timeline(
    stack: Stack, officer: tuple[TestClient, str], tmp_path: Path
) -> None:
    """The list shows what was submitted and each filter narrows it; the detail page
    shows the files with both digests, and the timeline once sealed and anchored."""
    client, _ = officer
    a = submitted(
        stack,
        {"listing.png": PNG},
        source_url="https://shop.example.com/item/1001",
        platform="mall-a",
        entity="甲店",
    )
    b = submitted(
        stack,
        {"notes.txt": b"other evidence"},
        source_url="https://other.example.net/p/77",
        platform="mall-b",
        case_ref="泉市监案〔2026〕9号",
    )
    page = client.get("/console/evidence")
    assert page.status_code == 200, page.text
    assert rows(page.text) == [b["evidence_id"], a["evidence_id"]]  # newest first
    assert "证据列表" in page.text

    def shown(**params: str) -> list[str]:
        answer = client.get("/console/evidence", params=params)
        assert answer.status_code == 200, answer.text
        return rows(answer.text)

    png_sha = hashlib.sha256(PNG).hexdigest()
    assert shown(sha256=png_sha) == [a["evidence_id"]]
    assert shown(sha256=png_sha.upper()) == [a["evidence_id"]]
    assert shown(sha256=a["manifest"]["sha256"]) == [a["evidence_id"]]
    assert shown(url="other.example.net") == [b["evidence_id"]]
    assert shown(url="item/1001") == [a["evidence_id"]]
    assert shown(platform="mall-a") == [a["evidence_id"]]
    assert shown(entity="甲店") == [a["evidence_id"]]
    assert shown(case="泉市监案〔2026〕9号") == [b["evidence_id"]]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert shown(since=later) == []
    assert shown(until=earlier) == []
    assert shown(since=earlier, until=later) == [b["evidence_id"], a["evidence_id"]]
    # a datetime-local value (no zone) is Beijing time
    beijing = (datetime.now(UTC) + timedelta(hours=8, minutes=30)).strftime("%Y-%m-%dT%H:%M")
    assert shown(since=beijing) == []
    assert len(shown(until=beijing)) == 2
    # the API the page mirrors has the same new filters
    api = stack.client.get(
        "/v1/evidence", params={"sha256": png_sha}, headers=stack.auth("officer")
    )
    assert [i["evidence_id"] for i in api.json()["items"]] == [a["evidence_id"]]
    api = stack.client.get("/v1/evidence", params={"url": "/p/77"}, headers=stack.auth("officer"))
    assert [i["evidence_id"] for i in api.json()["items"]] == [b["evidence_id"]]

    # a bad value: 422, the reason next to its field, the value kept
    bad = client.get("/console/evidence", params={"sha256": "abc"})
    assert bad.status_code == 422
    assert 'id="e-sha256"' in bad.text and "64 hex digits" in bad.text
    bad = client.get("/console/evidence", params={"since": "yesterday"})
    assert bad.status_code == 422 and 'id="e-since"' in bad.text

    # pagination: a cursor link when there is more (25 a page)
    for n in range(26):
        submitted(stack, {f"f{n}.txt": f"bulk {n}".encode()}, platform="bulk")
    first = client.get("/console/evidence", params={"platform": "bulk"})
    assert len(rows(first.text)) == 25
    found = re.search(r'<a href="(/console/evidence\?[^"]+)" rel="next">', first.text)
    assert found, "no next-page link"
    second = client.get(html.unescape(found.group(1)))
    assert len(rows(second.text)) == 1 and rows(second.text)[0] not in rows(first.text)
    assert 'rel="next"' not in second.text
    assert client.get("/console/evidence", params={"cursor": "x" * 65}).status_code == 422

    # the detail: files with both digests, the manifest, the timeline once sealed
    bundle = wait_for_bundle(stack.client, a["evidence_id"], stack.auth("officer"), timeout=30)
    detail = client.get(f"/console/evidence/{a['evidence_id']}")
    assert detail.status_code == 200, detail.text
    text = detail.text
    file = a["files"][0]
    assert "listing.png" in text and file["sha256"] in text and file["sm3"] in text
    assert "image/png" in text and "https://shop.example.com/item/1001" in text
    assert a["manifest"]["sha256"] in text and a["leaf_hash"] in text
    # the submitter by name (the bearer token's holder), not as token-<id>
    assert '<dd id="evidence-submitter">test officer</dd>' in text
    assert 'class="badge status-sealed"' in text
    assert re.search(r'<li class="done" data-step="sealed">', text)
    assert re.search(r'<li class="waiting" data-step="anchored">', text)
    index = bundle["inclusion"]["index"]
    assert f"日志位置 #{index}" in text
    size = re.search(r"检查点大小 (\d+)", text)  # the newest checkpoint: this one or later
    assert size and int(size.group(1)) >= bundle["inclusion"]["tree_size"] > index
    assert f"/console/takedowns/new?evidence={a['evidence_id']}" in text
    assert f"/console/cases?evidence={a['evidence_id']}" in text
    assert f"/v1/evidence/{a['evidence_id']}/proof" in text
    assert f"/v1/evidence/{a['evidence_id']}/package" in text
    assert "verify?leaf=" + a["leaf_hash"] in text
    # the list shows it sealed (a status badge with its text, not a colour only)
    listed = client.get("/console/evidence", params={"sha256": png_sha}).text
    assert 'class="badge status-sealed">已封存<' in listed
    # English on request
    english = client.get(f"/console/evidence/{a['evidence_id']}", params={"lang": "en"})
    assert "Proof timeline" in english.text and "Custody history" in english.text
    # an unknown id: the 404 page
    missing = client.get("/console/evidence/ev-" + "0" * 28)
    assert missing.status_code == 404 and "<html" in missing.text


@pytest.mark.chain
def test_detail_timeline_anchored(tmp_path: Path) -> None:
    """On the embedded anvil: the timeline shows the anchor's tx and block, and the
    confirmations the chain reports."""
    settings = Settings(
        data_dir=tmp_path / "data", chain="anvil", seal_interval=0.1, anchor_interval=0.2
    )
    with running_stack(settings) as stack:
        client, _ = console_client(stack, "officer")
        evidence_id = submitted(stack, {"listing.png": PNG})["evidence_id"]
        pending = client.get(f"/console/evidence/{evidence_id}").text
        assert re.search(r'class="badge status-(pending|sealed)"', pending)
        bundle = wait_for_bundle(
            stack.client, evidence_id, stack.auth("officer"), status="anchored", timeout=60
        )
        text = client.get(f"/console/evidence/{evidence_id}").text
        assert 'class="badge status-anchored"' in text
        assert bundle["anchor"]["tx_hash"] in text
        assert f"区块 {bundle['anchor']['block_number']}" in text
        assert f"链 ID {bundle['anchor']['chain_id']}" in text
        assert re.search(r'<li class="done" data-step="anchored">', text)
        found = re.search(r"已确认 (\d+) 个区块（要求 1 个）", text)
        assert found and int(found.group(1)) >= 1, "no confirmations shown"
        assert re.search(r'<li class="done" data-step="confirmations">', text)
        listed = client.get("/console/evidence").text
        assert 'class="badge status-anchored">已上链<' in listed
        client.close()


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Stack]:
    """SQLite, no chain (sealing only), no capture sweep during the test."""
    settings = Settings(
        data_dir=tmp_path / "data", seal_interval=0.1, chain="none", capture_sweep_interval=3600
    )
    with running_stack(settings) as running:
        yield running


def test_previews_are_sandboxed_and_recorded_as_custody(plain: Stack) -> None:
    client, _ = console_client(plain, "officer", display_name="李调查", unit="执法一队")
    created = submitted(plain, {"page.html": PAGE, "shot.png": PNG})
    evidence_id = created["evidence_id"]
    detail = client.get(f"/console/evidence/{evidence_id}")
    assert detail.status_code == 200
    assert "尚无调取记录" in detail.text  # nobody has read it yet
    assert "<iframe" not in detail.text and "<img" not in detail.text  # previews on request

    # a preview needs a stated purpose
    bad = client.get(f"/console/evidence/{evidence_id}", params={"preview": "page.html"})
    assert bad.status_code == 422 and 'id="e-purpose"' in bad.text
    bad = client.get(
        f"/console/evidence/{evidence_id}", params={"preview": "nope.html", "purpose": "核查"}
    )
    assert bad.status_code == 422 and 'id="e-preview"' in bad.text

    page = client.get(
        f"/console/evidence/{evidence_id}", params={"preview": "page.html", "purpose": "核查网页"}
    )
    assert page.status_code == 200
    frame = re.search(r'<iframe class="preview" src="([^"]+)" sandbox=""', page.text)
    assert frame, "no sandboxed frame"
    src = html.unescape(frame.group(1))
    assert src.startswith(f"/console/evidence/{evidence_id}/files/page.html/preview?purpose=")
    served = client.get(src)
    assert served.status_code == 200
    assert served.content == PAGE
    assert served.headers["content-type"].startswith("text/html")
    csp = served.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp
    assert "script-src" not in csp  # default-src 'none' covers scripts
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline;")

    image = client.get(
        f"/console/evidence/{evidence_id}", params={"preview": "shot.png", "purpose": "核查截图"}
    )
    img = re.search(r'<img class="preview" src="([^"]+)" alt="[^"]+"', image.text)
    assert img, "no image preview"
    assert client.get(html.unescape(img.group(1))).content == PNG

    # the API's own download of the HTML file is an attachment, never rendered here
    download = plain.client.get(
        f"/v1/evidence/{evidence_id}/files/page.html",
        params={"purpose": "check"},
        headers=plain.auth("officer"),
    )
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"].startswith("sandbox;")

    # the detail page's download form and proof link work with the session cookie
    form = re.search(r'formaction="(/v1/evidence/[^"]+/package)"', detail.text)
    assert form, "no package button"
    package = client.get(form.group(1), params={"purpose": "移送法院"})
    assert package.status_code == 200, package.text
    assert package.headers["content-type"] == "application/zip"
    proof = client.get(f"/v1/evidence/{evidence_id}/proof")
    assert proof.status_code == 200 and proof.json()["entry"]["id"] == evidence_id

    # each read is a custody entry, shown with the reader's name and purpose
    history = client.get(f"/console/evidence/{evidence_id}").text
    assert history.count('data-testid="custody-row"') == 4
    assert "移送法院" in history and "导出证据包" in history
    assert "李调查（执法一队）" in history
    assert "控制台预览 console preview: 核查网页" in history
    assert "test officer" in history  # the bearer token's holder
    # other evidence's custody is not shown here
    other = submitted(plain, {"x.txt": b"x"})
    assert "custody-row" not in client.get(f"/console/evidence/{other['evidence_id']}").text

    # a file type that is not previewed (an octet stream): no preview button, and refused
    assert 'value="x.txt"' not in client.get(f"/console/evidence/{other['evidence_id']}").text
    refused = client.get(
        f"/console/evidence/{other['evidence_id']}/files/x.txt/preview", params={"purpose": "p"}
    )
    assert refused.status_code == 422 and "not previewed" in refused.text
    client.close()


def test_upload_page_and_api_with_the_session_cookie(plain: Stack) -> None:
    client, csrf = console_client(plain, "officer")
    page = client.get("/console/upload")
    assert page.status_code == 200
    assert '<progress id="upload-progress"' in page.text
    assert '<input id="f-files" name="files" type="file" multiple required>' in page.text
    assert "<noscript>" in page.text and "此页面需要启用 JavaScript" in page.text
    assert '<script src="/console/static/evidence.js" defer></script>' in page.text
    assert "<script>" not in page.text and "style=" not in page.text
    assert client.get("/console/static/evidence.js").status_code == 200

    parts = [
        ("metadata", (None, json.dumps(metadata(source_url="https://u.example/1")), "text/plain")),
        ("files", ("a.txt", b"cookie upload", "text/plain")),
    ]
    # the cookie without the CSRF header: refused, nothing recorded
    refused = client.post("/v1/evidence", files=parts)
    assert refused.status_code == 403, refused.text
    listed = plain.client.get("/v1/evidence", headers=plain.auth("officer")).json()
    assert listed["items"] == []
    wrong = client.post("/v1/evidence", files=parts, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    # with it: accepted, and the list page shows it
    accepted = client.post("/v1/evidence", files=parts, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text
    evidence_id = accepted.json()["evidence_id"]
    assert rows(client.get("/console/evidence").text) == [evidence_id]
    # a bad metadata value answers the field the page shows the reason next to
    bad = [
        ("metadata", (None, json.dumps(metadata(source_url="ftp://x")), "text/plain")),
        ("files", ("a.txt", b"x", "text/plain")),
    ]
    answer = client.post("/v1/evidence", files=bad, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 422
    assert answer.json()["field"] == "metadata.source_url"
    assert 'id="f-source_url"' in page.text  # the field the script maps it to
    client.close()


def test_roles(plain: Stack) -> None:
    """Appraisers read (list, detail) but neither upload nor capture; a platform user
    opens none of these pages; no session: to the login form."""
    evidence_id = submitted(plain, {"a.txt": b"a"})["evidence_id"]
    capture_id = insert_capture(plain, "queued")
    pages = [
        "/console/evidence",
        f"/console/evidence/{evidence_id}",
        "/console/upload",
        "/console/captures/new",
        f"/console/captures/{capture_id}",
        f"/console/captures/{capture_id}/status",
    ]
    appraiser, _ = console_client(plain, "appraiser")
    got = {url: appraiser.get(url).status_code for url in pages}
    assert got == {
        pages[0]: 200,
        pages[1]: 200,
        pages[2]: 403,
        pages[3]: 403,
        pages[4]: 403,
        pages[5]: 403,
    }
    detail = appraiser.get(pages[1]).text
    assert "/console/takedowns/new" not in detail  # no officer actions for an appraiser
    platform, _ = console_client(plain, "platform")
    for url in pages:
        assert platform.get(url).status_code == 403, url
    preview = f"/console/evidence/{evidence_id}/files/a.txt/preview?purpose=x"
    assert platform.get(preview).status_code == 403
    anonymous = TestClient(plain.client.app)
    for url in pages:
        answer = anonymous.get(url, follow_redirects=False)
        assert answer.status_code == 303, url
        assert answer.headers["location"].startswith("/console/login?next=")
    officer, _ = console_client(plain, "officer")
    assert all(officer.get(url).status_code == 200 for url in pages)
    for client in (appraiser, platform, officer):
        client.close()


def insert_capture(stack: Stack, status: str, **fields: Any) -> str:
    """A capture row as the capture service would leave it in ``status``."""
    capture_id = new_id("cap")
    request = {"url": "https://shop.example.com/item/9", "mode": "page"}
    now = datetime.now(UTC)
    with stack.runtime.session() as session:
        token = session.execute(select(ApiToken.id).limit(1)).scalar_one()
        session.add(
            Capture(
                id=capture_id,
                status=status,
                request=json.dumps(request),
                url=request["url"],
                mode="page",
                submitter_token_id=token,
                fingerprint=secrets.token_hex(32),
                created_at=now,
                attempts=1 if status != "queued" else 0,
                started_at=now if status != "queued" else None,
                finished_at=now if status in ("done", "failed") else None,
                **fields,
            )
        )
    return capture_id


def test_capture_pages_and_status_fragment(plain: Stack) -> None:
    client, csrf = console_client(plain, "officer")
    form = client.get("/console/captures/new")
    assert form.status_code == 200
    assert 'id="capture-form"' in form.text and 'id="f-url"' in form.text
    assert 'id="f-steps"' in form.text and 'value="steps"' in form.text

    running = insert_capture(plain, "running", step="2/5 click #search")
    page = client.get(f"/console/captures/{running}")
    assert page.status_code == 200
    assert f'hx-get="/console/captures/{running}/status"' in page.text
    assert 'hx-trigger="every 2s"' in page.text
    fragment = client.get(f"/console/captures/{running}/status")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text  # the fragment alone
    assert 'data-status="running"' in fragment.text and "2/5 click #search" in fragment.text
    assert 'hx-trigger="every 2s"' in fragment.text  # still polling

    evidence_id = submitted(plain, {"shot.png": PNG})["evidence_id"]
    done = insert_capture(plain, "done", evidence_id=evidence_id)
    fragment = client.get(f"/console/captures/{done}/status")
    assert 'data-status="done"' in fragment.text
    assert f'href="/console/evidence/{evidence_id}"' in fragment.text
    assert "hx-trigger" not in fragment.text  # finished: polling stops

    failed = insert_capture(plain, "failed", reason="页面加载超时", limit_name="total_seconds")
    fragment = client.get(f"/console/captures/{failed}/status")
    assert "页面加载超时" in fragment.text and "total_seconds" in fragment.text
    assert "hx-trigger" not in fragment.text

    unknown = client.get("/console/captures/cap-" + "0" * 28)
    assert unknown.status_code == 404

    # the form's script posts to the API: without the CSRF header refused, with it a
    # bad URL answers the field the page shows the reason next to (nothing is captured)
    body = {"url": "ftp://example.com/", "mode": "page"}
    assert client.post("/v1/captures", json=body).status_code == 403
    answer = client.post("/v1/captures", json=body, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "url"
    client.close()


@pytest.mark.browser
def test_previews_in_a_browser(
    plain: Stack,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    """In Chromium: the image preview loads; the HTML preview shows the captured page in
    its sandboxed frame, whose script never runs (nothing reaches the console page)."""
    evidence_id = submitted(plain, {"page.html": PAGE, "shot.png": PNG})["evidence_id"]
    username, password = make_user(plain.runtime, "officer")
    with live_server(plain.client.app) as server:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            browser_login(page, server.url, username, password)
            page.goto(f"{server.url}/console/evidence/{evidence_id}")
            page.fill("#f-purpose", "核查网页")
            with page.expect_navigation():
                page.click("button[name='preview'][value='page.html']")
            frame_element = page.wait_for_selector("iframe.preview", timeout=30_000)
            assert frame_element.get_attribute("sandbox") == ""
            frame = frame_element.content_frame()
            assert frame is not None
            frame.wait_for_selector("h1", timeout=30_000)
            assert frame.inner_text("h1") == "listing"
            assert page.evaluate("() => window.x === undefined")  # its script did not run
            page.fill("#f-purpose", "核查截图")
            with page.expect_navigation():
                page.click("button[name='preview'][value='shot.png']")
            page.wait_for_function(
                "() => { const i = document.querySelector('img.preview');"
                " return i && i.complete && i.naturalWidth === 1; }",
                timeout=30_000,
            )
            assert_accessible(page, "evidence-detail-preview")
            with viewport(page, PHONE):
                assert horizontal_overflow(page) == 0, widest(page)
            # the other pages of this module pass axe and fit a phone too
            running = insert_capture(plain, "running", step="1/3 goto")
            for path in (
                "/console/evidence",
                "/console/evidence?sha256=abc",
                "/console/upload",
                "/console/captures/new",
                f"/console/captures/{running}",
            ):
                page.goto(f"{server.url}{path}")
                assert_accessible(page, "evidence" + path.replace("/", "-"))
                with viewport(page, PHONE):
                    assert horizontal_overflow(page) == 0, (path, widest(page))
            assert errors == []
        finally:
            context.close()
