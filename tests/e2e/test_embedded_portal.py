"""The verification portal inside ``evidence serve``, as a newcomer meets it after ``make run``.

``evidence serve`` on embedded defaults (nothing configured but a data folder: SQLite, the
generated log key, the managed anvil) mounts the verifier app at ``/verifier``, trusting
exactly this log's key and chain. A submission is anchored; then its trust roots are the
log's (``/verifier/v1/config``), the page is served under the portal's CSP, and in headless
Chromium the file and its proof (downloaded from the API) dropped on the page verify in all
five tiers — tier 5 asked of the mounted verifier, which asks the managed anvil. The public
lookup through the mount re-verifies the entry. ``EVIDENCE_VERIFIER_MOUNT=""`` turns the
mount off; a prefix on the API's own paths is refused in one line.

The portal's relative URLs are also checked under a two-segment prefix (the verifier app
alone, mounted at ``/a/b``), so nothing in the page assumes a particular mount.

Screenshot: ``test-artifacts/embedded-portal-verified.png``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from anchoring.node import anvil_binary
from evidence_api.core.db import make_engine
from tests.support.api import (
    EVIDENCE_CLI,
    auth_header,
    chain_facts,
    create_token_cli,
    evidence_form,
    free_port,
    serve_subprocess,
    wait_for_bundle,
)
from tests.support.browser import (
    PORTAL_TIMEOUT_MS,
    artifact,
    browser,  # noqa: F401 - fixture
    live_server,
    page,  # noqa: F401 - fixture
)
from tests.support.factories import sealed_evidence
from verifier.service.app import create_verifier_app
from verifier.service.config import ServiceConfig
from verifier.service.static import CSP, replay_available

pytestmark = [pytest.mark.browser, pytest.mark.chain, pytest.mark.slow]

TIMEOUT_MS = PORTAL_TIMEOUT_MS
ANCHORED_WITHIN = 30.0
FILES = {
    "商品详情页.html": "<html><body>假冒 品牌 手袋 ¥199</body></html>".encode(),
    "screenshot.png": hashlib.shake_256(b"embedded portal screenshot").digest(150_000),
}
#: Drops files on the portal's drop zone the way a visitor's file manager does.
DROP = """([names, payloads]) => {
  const dt = new DataTransfer();
  names.forEach((name, i) => {
    const bytes = Uint8Array.from(atob(payloads[i]), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], name));
  });
  document.getElementById('results').hidden = true;
  const zone = document.getElementById('drop-zone');
  zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
}"""


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Nothing configured but the data folder (the suite's EVIDENCE_CHAIN=none removed)."""
    if anvil_binary() is None:
        pytest.fail("anvil is not installed: run `make install` (the embedded default uses it)")
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):
            monkeypatch.delenv(name)
    return {"EVIDENCE_DATA_DIR": str(tmp_path / "data")}


def tier_statuses(tab: Any) -> dict[int, str]:
    tab.wait_for_selector("#results:not([hidden]) li.tier[data-tier='5']", timeout=TIMEOUT_MS)
    cards = tab.query_selector_all("li.tier")
    return {int(c.get_attribute("data-tier")): c.get_attribute("data-status") for c in cards}


def drop(tab: Any, files: dict[str, bytes]) -> dict[int, str]:
    """Drop ``files`` on the page; wait for the result; {tier: status}."""
    names = list(files)
    payloads = [base64.b64encode(files[n]).decode("ascii") for n in names]
    tab.evaluate(DROP, [names, payloads])
    return tier_statuses(tab)


def test_embedded_serve_serves_the_portal_trusting_its_own_log_and_chain(
    embedded_env: dict[str, str],
    tmp_path: Path,
    page: Any,  # noqa: F811
) -> None:
    data = Path(embedded_env["EVIDENCE_DATA_DIR"])
    with serve_subprocess(embedded_env, tmp_path / "serve.log") as server:
        made = create_token_cli(embedded_env, "officer", "officer Chen")
        assert made.returncode == 0, made.stderr
        headers = auth_header(made.stdout.strip())
        base = server.base_url
        with httpx.Client(base_url=base, timeout=30) as client:
            created = client.post("/v1/evidence", files=evidence_form(FILES), headers=headers)
            assert created.status_code == 201, created.text
            evidence_id = created.json()["evidence_id"]
            bundle = wait_for_bundle(
                client, evidence_id, headers, status="anchored", timeout=ANCHORED_WITHIN
            )
            proof = client.get(f"/v1/evidence/{evidence_id}/proof", headers=headers)
            assert proof.json()["status"] == "anchored", proof.text
            vkey = client.get("/v1/log/key").text.strip()
            engine = make_engine(f"sqlite:///{data / 'evidence.db'}")
            try:
                bound = chain_facts(engine, "")
            finally:
                engine.dispose()

            # The mounted verifier's trust roots are exactly this log's key and chain, its
            # (here: no) witnesses and authorities, and the 存证证书 CA, which signs reports.
            config = client.get("/verifier/v1/config")
            assert config.status_code == 200, config.text
            (ca,) = config.json()["certificate_cas"]
            assert "Evidence Anchor DEVELOPMENT CA" in ca
            assert config.json() | {"max_package_bytes": 0} == {
                "witnesses": [],
                "witness_quorum": None,
                "tsa_certificates": [],
                "certificate_cas": [ca],
                "reports_signed": True,
                "log_keys": [vkey],
                "chain": {"chain_id": bound.chain_id, "contract": bound.contract},
                "min_confirmations": 1,
                "lang_default": "zh",
                "max_package_bytes": 0,
                "lookup": True,
                # ReplayWeb.page's files, installed by `make install` (docs/capture.md §9)
                "replay": replay_available(),
            }
            assert bundle["anchor"]["contract"].lower() == bound.contract.lower()

            portal = client.get("/verifier/verify")
            assert portal.status_code == 200
            assert portal.headers["content-type"].startswith("text/html")
            assert portal.headers["content-security-policy"] == CSP
            assert 'src="verify/static/app.js"' in portal.text
            script = client.get("/verifier/verify/static/app.js")
            assert script.headers["content-type"] == "text/javascript; charset=utf-8"
            assert script.headers["content-security-policy"] == CSP
            assert client.get("/verify").status_code == 404  # only under the mount

            # The public lookup through the mount asks this API and re-verifies its answer.
            found = client.get("/verifier/v1/lookup", params={"evidence_id": evidence_id})
            assert found.status_code == 200, found.text
            (match,) = found.json()["matches"]
            tiers = {t["tier"]: t["status"] for t in match["report"]["tiers"]}
            assert [tiers[n] for n in (3, 4, 5)] == ["verified"] * 3, match["report"]

        requests: list[Any] = []

        def record(request: Any) -> None:
            requests.append(request)

        page.on("request", record)
        page.goto(f"{base}/verifier/verify")
        page.wait_for_selector("body[data-ready='true']", timeout=TIMEOUT_MS)
        assert page.is_hidden("#trust-warning")
        assert vkey in page.inner_text("#trust-keys")
        assert bound.contract in page.inner_text("#trust-chain")

        statuses = drop(page, {**FILES, "proof.json": proof.content})
        assert statuses == dict.fromkeys(range(1, 6), "verified"), page.inner_text("#results")
        assert page.get_attribute("#summary", "data-outcome") == "verified"
        assert bundle["anchor"]["tx_hash"] in page.inner_text("li.tier[data-tier='5'] .detail")
        page.screenshot(path=str(artifact("embedded-portal-verified.png")), full_page=True)

        with page.expect_download(timeout=TIMEOUT_MS) as download:
            page.click("#report-button")
        assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")

        # Everything the page asked for was under the mount; the files were never sent.
        paths = {r.url.removeprefix(base).split("?")[0] for r in requests}
        outside = {p for p in paths if not p.startswith("/verifier/")} - {"/favicon.ico"}
        assert not outside, paths
        assert {"/verifier/v1/config", "/verifier/v1/anchor-check"} <= paths
        posted = [r for r in requests if r.method == "POST"]
        assert [r.url.removeprefix(base).split("?")[0] for r in posted] == [
            "/verifier/v1/anchor-check",
            "/verifier/v1/verify/report",
        ]
        for r in posted:
            body = r.post_data_buffer or b""
            assert FILES["screenshot.png"][:64] not in body
            assert FILES["商品详情页.html"] not in body


def test_an_empty_verifier_mount_serves_no_portal(tmp_path: Path) -> None:
    env = {
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_CHAIN": "none",
        "EVIDENCE_VERIFIER_MOUNT": "",
    }
    with serve_subprocess(env, tmp_path / "serve.log") as server:
        for path in ("/verifier/verify", "/verifier/v1/config", "/verifier/verify/static/app.js"):
            assert httpx.get(server.base_url + path, timeout=10).status_code == 404, path
        assert httpx.get(server.base_url + "/v1/log/key", timeout=10).status_code == 200
    assert "verification portal" not in (tmp_path / "serve.log").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("mount", "reason"),
    [
        ("/v1", "overlaps the API's own /v1/"),
        ("verifier", "must be empty or a path such as /verifier"),
        ("/verifier/", "must be empty or a path such as /verifier"),
        ("/../x", "must be empty or a path such as /verifier"),
    ],
)
def test_a_bad_verifier_mount_is_refused_in_one_line(
    tmp_path: Path, mount: str, reason: str
) -> None:
    env = {
        **os.environ,
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_CHAIN": "none",
        "EVIDENCE_VERIFIER_MOUNT": mount,
        "EVIDENCE_PORT": str(free_port()),
    }
    done = subprocess.run(
        [str(EVIDENCE_CLI), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: EVIDENCE_VERIFIER_MOUNT"), lines
    assert reason in lines[0]


# --- the portal under any prefix --------------------------------------------------------------


@pytest.fixture(scope="module")
def nested() -> Iterator[tuple[str, Any]]:
    """The verifier app alone, mounted two segments deep, trusting a freshly sealed log."""
    sealed = sealed_evidence({"page.html": FILES["商品详情页.html"]})
    host = FastAPI()
    host.mount("/a/b", create_verifier_app(ServiceConfig(log_keys=(sealed.signer.verifier(),))))
    with live_server(host) as server:
        yield server.url, sealed


def test_the_portal_works_under_a_nested_prefix(
    nested: tuple[str, Any],
    page: Any,  # noqa: F811
) -> None:
    base, sealed = nested
    requests: list[Any] = []

    def record(request: Any) -> None:
        requests.append(request)

    page.on("request", record)
    page.goto(f"{base}/a/b/verify?lang=en")
    page.wait_for_selector("body[data-ready='true']", timeout=TIMEOUT_MS)
    assert page.inner_text("h1") == "Evidence verification"
    assert sealed.signer.verifier().to_text() in page.inner_text("#trust-keys")
    proof = json.dumps(sealed.bundle.model_dump(mode="json")).encode()
    statuses = drop(page, {"page.html": FILES["商品详情页.html"], "proof.json": proof})
    # A sealed, not anchored proof: tier 5 is not checked, 1-4 verified in the page.
    assert statuses == {1: "verified", 2: "verified", 3: "verified", 4: "verified",
                        5: "not_checked"}  # fmt: skip
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click("#report-button")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
    paths = {r.url.removeprefix(base).split("?")[0] for r in requests}
    assert {p for p in paths if not p.startswith("/a/b/")} <= {"/favicon.ico"}, paths
    assert {"/a/b/verify/static/style.css", "/a/b/v1/config", "/a/b/v1/verify/report"} <= paths
