"""Issue 13's acceptance on the real stack: server-side captures of the HTTPS fixture website
by a real Celery worker consuming queue ``capture`` on a real Redis, stored on S3 with
Object Lock (SeaweedFS), the log in PostgreSQL, anchored on anvil, verified offline.

The stack: ``evidence serve`` (``EVIDENCE_RUN_CAPTURES=false``: ``POST /v1/captures``
sends the task to the queue), ``evidence worker`` and ``evidence beat`` sealing and
anchoring (tests/support/api.py ``anchoring_stack``), and ``evidence worker --queues
capture`` running Chromium (2 at once). The fixture website (tests/support/capture_site.py)
has its own test CA, trusted by the recording proxy only (``EVIDENCE_CAPTURE_UPSTREAM_CA``);
``localhost`` is the one allow-listed name (``EVIDENCE_CAPTURE_ALLOW=localhost``). A loopback
NTP responder (clock +2.5 s) and a second DNS resolver (the same answer as the system's)
are the environment record's references (their servers come from the environment
helper's integration tests).

* a ``page`` capture of ``/listing`` and a ``steps`` capture through the login-gated
  account: each becomes an evidence item whose package verifies through tier 5 with the
  ``evidence-verify`` console script; the WACZ passes ``wacz validate``; the recorded TLS
  chain is the fixture's (leaf, intermediate); ``environment.json`` has the DNS answers of
  both resolvers, the ``/etc/hosts`` digest and lines, and the clock offset before and
  after; the DOM shows the price;
* a ``video`` capture on the mobile device of the infinite scroll verifies likewise, its
  DOM holding every item the scroll loaded;
* the SSRF matrix: loopback (IPv4, IPv6, a name resolving to it), 10/8 and the metadata
  address are refused at ``POST`` (422), redirects to private addresses fail the capture,
  while the allow-listed ``localhost`` is captured;
* each hostile page ends as evidence_api/capture/browser.py's decision table says
  (``failed`` with the limit named, or ``done`` with the limit or warning recorded), and
  the worker still captures afterwards; a ``beforeunload`` dialog does not stop a
  ``steps`` capture from leaving the page.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.test_capture_environment import (
    SHIFT,
    UdpServer,
    dns_answer,
    ntp_answer,
    udp_server,
)
from tests.support.api import AnchoringStack
from tests.support.capture_site import (
    LOGIN_PASSWORD,
    LOGIN_USER,
    PRICE_TEXT,
    PRODUCT_TITLE,
    Site,
    capture_site,
)
from tests.support.stacks import (
    STACK_MARKS,
    browser_stack,
    skip_without_stack_tools,
    verify_package_through_tier5,
)

pytestmark = STACK_MARKS

WACZ_CLI = Path(sys.executable).parent / "wacz"
PURPOSE = "取证验收 capture acceptance"
#: Generous deadlines: a loaded 2-core machine runs Chromium, anvil, PostgreSQL and S3 here.
CAPTURE_DEADLINE = 300.0
FINISHED = ("done", "failed")


def progress(message: str) -> None:
    print(f"[capture e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class CaptureStack:
    stack: AnchoringStack
    site: Site
    ntp: UdpServer
    resolver: UdpServer
    worker: subprocess.Popen[bytes]
    root: Path

    def client(self) -> httpx.Client:
        return self.stack.client(timeout=120)


@pytest.fixture(scope="module")
def capture_stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[CaptureStack]:
    skip_without_stack_tools(
        None if WACZ_CLI.is_file() else f"{WACZ_CLI} not found (the wacz package)"
    )
    root = tmp_path_factory.mktemp("capture-stack")
    with (
        capture_site(root / "site") as site,
        udp_server(ntp_answer(SHIFT)) as ntp,
        udp_server(dns_answer({"localhost": "127.0.0.1"})) as resolver,
        browser_stack(
            root,
            postgres_url,
            site.ca_file,
            EVIDENCE_CAPTURE_NTP_SERVERS=ntp.address,
            EVIDENCE_CAPTURE_SECOND_RESOLVER=resolver.address,
            EVIDENCE_CAPTURE_CONCURRENCY="2",
        ) as (anchoring, worker),
    ):
        s3 = anchoring.env["EVIDENCE_S3_ENDPOINT"]
        progress(f"stack up: site {site.base}, S3 {s3}, chain {anchoring.node.url}")
        yield CaptureStack(anchoring, site, ntp, resolver, worker, root)


# --- the API -----------------------------------------------------------------------------


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post("/v1/captures", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert response.headers["Location"] == accepted["status_url"]
    capture_id: str = accepted["capture_id"]
    return capture_id


def finished(
    client: httpx.Client, capture_ids: list[str], deadline: float = CAPTURE_DEADLINE
) -> dict[str, dict[str, Any]]:
    """Poll every capture until it is done or failed; fail the test past ``deadline``."""
    states: dict[str, dict[str, Any]] = {}
    ends = time.monotonic() + deadline
    pending = list(capture_ids)
    while pending:
        for capture_id in list(pending):
            response = client.get(f"/v1/captures/{capture_id}")
            assert response.status_code == 200, response.text
            states[capture_id] = response.json()
            if states[capture_id]["status"] in FINISHED:
                pending.remove(capture_id)
        if pending and time.monotonic() > ends:
            stuck = {c: (states[c]["status"], states[c]["step"]) for c in pending}
            raise AssertionError(f"captures not finished after {deadline:.0f} s: {stuck}")
        if pending:
            time.sleep(0.5)
    return states


def capture_done(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    capture_id = submit(client, body)
    state = finished(client, [capture_id])[capture_id]
    assert state["status"] == "done", state
    assert state["evidence_id"] and state["reason"] is None
    return state


def evidence_file(client: httpx.Client, evidence_id: str, name: str) -> bytes:
    response = client.get(f"/v1/evidence/{evidence_id}/files/{name}", params={"purpose": PURPOSE})
    assert response.status_code == 200, response.text
    return response.content


# --- checking a captured evidence item ---------------------------------------------------


def verify_package(cs: CaptureStack, evidence_id: str, folder: Path) -> zipfile.ZipFile:
    """Export the package, check it with ``evidence-verify`` through tier 5; return it."""
    package, _ = verify_package_through_tier5(cs.stack, evidence_id, purpose=PURPOSE, folder=folder)
    return zipfile.ZipFile(io.BytesIO(package))


def check_wacz(package: zipfile.ZipFile, folder: Path) -> None:
    path = folder / "archive.wacz"
    path.write_bytes(package.read("files/archive.wacz"))
    done = subprocess.run(
        [str(WACZ_CLI), "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"wacz validate: {done.stdout}\n{done.stderr}"


def der_chain(pem: bytes) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]


def check_tls_chain(package: zipfile.ZipFile, site: Site) -> None:
    """The chain the capture recorded for the site's origin is the fixture's, as served."""
    pem = package.read(f"files/tls-localhost-{site.port}.pem")
    assert der_chain(pem) == der_chain(site.ca.chain_pem)
    assert [c.subject for c in x509.load_pem_x509_certificates(pem)] == [
        site.ca.leaf.subject,
        site.ca.intermediate.subject,
    ]


def hosts_lines(name: str) -> tuple[str, list[str]]:
    data = Path("/etc/hosts").read_bytes()
    lines = [
        line.strip()
        for line in data.decode().splitlines()
        if name in line.split("#", 1)[0].split()[1:]
    ]
    return hashlib.sha256(data).hexdigest(), lines


def check_environment(package: zipfile.ZipFile, cs: CaptureStack) -> dict[str, Any]:
    """DNS (both resolvers, agreeing), /etc/hosts and the clock, as this test's servers and
    files say; the manifest marks the capture as the server's."""
    record: dict[str, Any] = json.loads(package.read("files/environment.json"))
    system = {str(a[4][0]) for a in socket.getaddrinfo("localhost", None)}
    dns = record["dns"]
    assert set(dns["system"]["a"]) | set(dns["system"]["aaaa"]) == system
    assert dns["second"]["a"] == ["127.0.0.1"]
    assert dns["agree"] == "yes", dns
    digest, lines = hosts_lines("localhost")
    assert record["hosts"]["sha256"] == digest
    assert record["hosts"]["target_lines"] == lines
    for when in ("before", "after"):
        (measured,) = record["clock"][when]
        assert measured["server"] == cs.ntp.address
        assert measured["offset_ms"] == pytest.approx(SHIFT * 1000, abs=500)
    manifest = json.loads(package.read("manifest.json"))
    flat = manifest["capture"]["environment"]
    assert flat["recorded_by"] == "server"
    assert manifest["capture"]["tool"].startswith("evidence-anchor capture ")
    assert "Chromium" in manifest["capture"]["tool"]
    assert manifest["source"]["url"].startswith(cs.site.base)
    return record


# --- the tests ---------------------------------------------------------------------------


def test_page_capture_of_the_listing_verifies_through_tier_5(
    capture_stack: CaptureStack, tmp_path: Path
) -> None:
    cs = capture_stack
    with cs.client() as client:
        state = capture_done(client, {"url": cs.site.url("/listing"), "mode": "page"})
    evidence_id = state["evidence_id"]
    progress(f"page capture {state['capture_id']} -> {evidence_id}")
    package = verify_package(cs, evidence_id, tmp_path)
    names = {n.removeprefix("files/") for n in package.namelist() if n.startswith("files/")}
    assert {
        "screenshot.png",
        "dom.html",
        "page.mhtml",
        "archive.wacz",
        "traffic.har",
        "main-document.json",
        "environment.json",
        f"tls-localhost-{cs.site.port}.pem",
    } <= names
    dom = package.read("files/dom.html").decode()
    assert PRICE_TEXT in dom and PRODUCT_TITLE in dom
    check_wacz(package, tmp_path)
    check_tls_chain(package, cs.site)
    check_environment(package, cs)
    assert cs.ntp.received >= 2 and cs.resolver.received >= 1


def test_steps_capture_of_the_login_gated_account_verifies_through_tier_5(
    capture_stack: CaptureStack, tmp_path: Path
) -> None:
    cs = capture_stack
    steps = [
        {"action": "fill", "selector": "#user", "text": LOGIN_USER, "label": "用户名"},
        {"action": "fill", "selector": "#password", "text": LOGIN_PASSWORD, "label": "密码"},
        {"action": "click", "selector": "#login", "label": "登录"},
        {"action": "wait", "selector": "#price", "label": "查看价格"},
    ]
    with cs.client() as client:
        state = capture_done(
            client, {"url": cs.site.url("/login"), "mode": "steps", "steps": steps}
        )
    package = verify_package(cs, state["evidence_id"], tmp_path)
    names = set(package.namelist())
    assert {f"files/step-{i:02d}.png" for i in range(1, 5)} <= names
    assert "files/recording.webm" in names
    dom = package.read("files/dom.html").decode()
    assert PRICE_TEXT in dom and "请先登录" not in dom  # the logged-in account
    check_wacz(package, tmp_path)
    check_tls_chain(package, cs.site)
    record = check_environment(package, cs)
    labelled = [s for s in record["steps"] if s["label"] is not None]
    assert [s["label"] for s in labelled] == [s["label"] for s in steps]
    assert [s["action"] for s in labelled] == [s["action"] for s in steps]
    assert all(s["started"] <= s["ended"] for s in record["steps"])


def test_video_capture_of_the_infinite_scroll_on_a_phone_verifies_through_tier_5(
    capture_stack: CaptureStack, tmp_path: Path
) -> None:
    """Mode ``video`` scrolls the page to the bottom and back while recording: the infinite
    scroll loads every page of items on the way, and the DOM taken after shows them all."""
    cs = capture_stack
    with cs.client() as client:
        state = capture_done(
            client, {"url": cs.site.url("/scroll"), "mode": "video", "device": "mobile"}
        )
    package = verify_package(cs, state["evidence_id"], tmp_path)
    assert package.getinfo("files/recording.webm").file_size > 0
    assert package.read("files/recording.webm")[:4] == b"\x1a\x45\xdf\xa3"  # EBML (WebM)
    dom = package.read("files/dom.html").decode()
    assert "商品 100" in dom and "已全部加载" in dom
    check_wacz(package, tmp_path)
    record = check_environment(package, cs)
    assert record["limits_hit"] == []


def loopback_name() -> str:
    """A host name other than the allow-listed ``localhost`` that resolves to loopback:
    from /etc/hosts (e.g. Debian's ip6-localhost) or this machine's own name."""
    candidates: list[str] = []
    for line in Path("/etc/hosts").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and (fields[0].startswith("127.") or fields[0] == "::1"):
            candidates += [n for n in fields[1:] if n.lower() != "localhost"]
    candidates.append(socket.gethostname())
    for name in candidates:
        try:
            answers = {str(a[4][0]) for a in socket.getaddrinfo(name, None)}
        except OSError:
            continue
        if answers and all(a.startswith("127.") or a == "::1" for a in answers):
            return name
    raise AssertionError(f"no name but localhost resolves to loopback here: {candidates}")


def test_ssrf_matrix_is_refused_unless_allow_listed(capture_stack: CaptureStack) -> None:
    cs = capture_stack
    port = cs.site.port
    refused_at_post = {
        "loopback": f"https://127.0.0.1:{port}/listing",
        "10/8": "http://10.0.0.1/",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "::1": f"https://[::1]:{port}/listing",
        "name resolving to loopback": f"https://{loopback_name()}:{port}/listing",
    }
    with cs.client() as client:
        for what, url in refused_at_post.items():
            response = client.post("/v1/captures", json={"url": url})
            assert response.status_code == 422, (what, response.text)
            assert "refused" in response.text and "EVIDENCE_CAPTURE_ALLOW" in response.text, what
        # A goto step to a refused address is refused up front as well.
        response = client.post(
            "/v1/captures",
            json={
                "url": cs.site.url("/listing"),
                "mode": "steps",
                "steps": [{"action": "goto", "url": "http://10.0.0.1/"}],
            },
        )
        assert response.status_code == 422, response.text
        # Redirects to private addresses: accepted (the URL is the allow-listed site), then
        # the proxy refuses the hop and the capture fails naming the address.
        redirects = {
            "10.0.0.1": cs.site.url("/to-private"),
            "169.254.169.254": cs.site.url("/to-metadata"),
            "::1": cs.site.url("/to-loopback6"),
            "127.0.0.1": cs.site.url(f"/redirect?to=https%3A%2F%2F127.0.0.1%3A{port}%2Flisting"),
        }
        ids = {submit(client, {"url": url}): address for address, url in redirects.items()}
        states = finished(client, list(ids))
    for capture_id, address in ids.items():
        state = states[capture_id]
        assert state["status"] == "failed", state
        assert state["evidence_id"] is None
        assert "refused" in state["reason"] and address in state["reason"], state


#: page -> (status, limit named on failure / limit or warning recorded when done)
HOSTILE: dict[str, tuple[str, str]] = {
    "/loop": ("failed", "max_redirects"),
    "/busy": ("failed", "step_seconds"),
    "/huge-page": ("done", "limit:max_response_bytes"),
    "/never-idle": ("done", "limit:network_idle"),
    "/alert": ("done", "warning:对话框 dialog (alert)"),
    "/confirm": ("done", "warning:对话框 dialog (confirm)"),
    "/download": ("done", "warning:下载 download refused"),
    "/basic-auth": ("done", "warning:登录认证 basic authentication"),
    "/beforeunload": ("done", ""),
}


def test_hostile_pages_end_as_documented_and_never_hang_the_worker(
    capture_stack: CaptureStack,
) -> None:
    cs = capture_stack
    with cs.client() as client:
        ids = {submit(client, {"url": cs.site.url(page)}): page for page in HOSTILE}
        # A 200 MB document and a download: failed (whatever ended them is named).
        others = {
            submit(client, {"url": cs.site.url("/huge-html")}): "/huge-html",
            submit(client, {"url": cs.site.url("/attachment")}): "/attachment",
        }
        states = finished(client, [*ids, *others], deadline=900)
        seen: dict[str, dict[str, Any]] = {}
        for capture_id, page in {**ids, **others}.items():
            state = states[capture_id]
            seen[page] = {k: state[k] for k in ("status", "limit", "reason", "evidence_id")}
            if state["status"] == "done":
                record = json.loads(evidence_file(client, state["evidence_id"], "environment.json"))
                seen[page] |= {"limits_hit": record["limits_hit"], "warnings": record["warnings"]}
        progress(f"hostile outcomes: {json.dumps(seen, ensure_ascii=False)}")
        for page, (status, expected) in HOSTILE.items():
            got = seen[page]
            assert got["status"] == status, (page, got)
            if status == "failed":
                assert got["limit"] == expected and got["evidence_id"] is None, (page, got)
            elif expected.startswith("limit:"):
                names = [hit["name"] for hit in got["limits_hit"]]
                assert expected.removeprefix("limit:") in names, (page, got)
            elif expected.startswith("warning:"):
                prefix = expected.removeprefix("warning:")
                assert any(w.startswith(prefix) for w in got["warnings"]), (page, got)
        # The 200 MB document is cut: failed, naming the limit that ended it.
        huge = seen["/huge-html"]
        assert huge["status"] == "failed" and huge["evidence_id"] is None, huge
        assert huge["limit"] in ("max_response_bytes", "max_bytes", "navigation_seconds"), huge
        # A navigation that downloads: failed, saying so.
        attachment = seen["/attachment"]
        assert attachment["status"] == "failed" and attachment["evidence_id"] is None
        assert "download" in attachment["reason"].lower(), attachment
        # The worker is alive and still captures.
        assert cs.worker.poll() is None
        after = capture_done(client, {"url": cs.site.url("/listing")})
        assert after["evidence_id"]


def test_a_beforeunload_dialog_does_not_stop_a_steps_capture(capture_stack: CaptureStack) -> None:
    """The decision table: dialogs end ``done``, recorded as warnings. A page that asks
    before it is left must not keep the officer's process from going on to the next page."""
    cs = capture_stack
    steps = [
        {"action": "click", "selector": "#touch", "label": "点击页面"},
        {"action": "click", "selector": "#away", "label": "离开"},
        {"action": "wait", "selector": "#price:not(:empty)", "label": "查看价格"},
    ]
    with cs.client() as client:
        capture_id = submit(
            client, {"url": cs.site.url("/beforeunload"), "mode": "steps", "steps": steps}
        )
        state = finished(client, [capture_id])[capture_id]
        assert state["status"] == "done", f"{state['status']}: {state['reason']} ({state['limit']})"
        record = json.loads(evidence_file(client, state["evidence_id"], "environment.json"))
        dom = evidence_file(client, state["evidence_id"], "dom.html").decode()
    assert any(w.startswith("对话框 dialog (beforeunload)") for w in record["warnings"]), record
    assert PRICE_TEXT in dom
