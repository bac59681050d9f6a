"""The verification portal in a real headless Chromium, against the real verification service.

A checkpoint is anchored on a real anvil; the service (``create_verifier_app``, served by
uvicorn) trusts that log key and that chain. In the browser: the shared vectors give the same
results as the Python verifier; a file and its proof chosen on the page verify in every tier
(tier 5 asked of the service, which asks anvil); one changed byte fails tier 1 with its
explanation; English labels on request; the evidence package verifies too; the PDF report
downloads; and no request the page makes carries the file's bytes.

Screenshots: ``test-artifacts/portal-verified.png`` and ``test-artifacts/portal-tampered.png``.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_tier5_anvil import anchor_checkpoint
from tests.support.anvil import Anvil
from tests.support.browser import (
    PORTAL_TIMEOUT_MS,
    artifact,
    browser,  # noqa: F401 - fixture
    card_text,
    choose,
    live_server,
    page,  # noqa: F401 - fixture
    run_vectors_in_page,
)
from tests.support.factories import Sealed, sealed_evidence
from tests.support.vectors import disagreements, load
from verifier.bundle import Bundle
from verifier.service.app import create_verifier_app
from verifier.service.config import ServiceConfig

pytestmark = [pytest.mark.browser, pytest.mark.chain]

#: A "screenshot" of 300 kB: big enough for the progress bar to move, small enough to be quick.
SHOT = hashlib.shake_256(b"portal screenshot").digest(300_000)
PAGE = "<html><body>示例旗舰店 商品页</body></html>".encode()
TIMEOUT_MS = PORTAL_TIMEOUT_MS


@dataclass
class Portal:
    url: str
    sealed: Sealed
    bundle: dict[str, Any]
    dir: Path
    contract: str

    @property
    def proof(self) -> Path:
        return self.dir / "proof.json"

    def evidence(self) -> list[Path]:
        return [self.dir / name for name in self.sealed.files]


@pytest.fixture(scope="module")
def portal(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    folder = tmp_path_factory.mktemp("portal")
    sealed = sealed_evidence({"page.html": PAGE, "shot.png": SHOT})
    contract, record = anchor_checkpoint(anvil.url, sealed)
    bundle = {**sealed.bundle.model_dump(mode="json"), "status": "anchored", "anchor": record}
    Bundle.model_validate(bundle)
    (folder / "proof.json").write_text(json.dumps(bundle, ensure_ascii=False, indent=2), "utf-8")
    for name, data in sealed.files.items():
        (folder / name).write_bytes(data)
    config = ServiceConfig(
        log_keys=(sealed.signer.verifier(),),
        rpc_urls=(anvil.url,),
        contract=contract,
        chain_id=anvil.chain_id,
    )
    with live_server(create_verifier_app(config)) as server:
        yield Portal(server.url, sealed, bundle, folder, contract)


def open_portal(tab: Any, portal: Portal, query: str = "") -> None:
    tab.goto(f"{portal.url}/verify{query}")
    tab.wait_for_selector("body[data-ready='true']", timeout=TIMEOUT_MS)


# --- the shared vectors, in Chromium ----------------------------------------------------------


def test_vectors_agree_in_chromium(
    page: Any,  # noqa: F811
    portal: Portal,
    tmp_path: Path,
) -> None:
    vectors = load()  # the committed testdata/vectors
    open_portal(page, portal)
    js = run_vectors_in_page(page, vectors)
    assert not [r for r in js["bundles"] if r["result"].get("error") == "crash"]
    problems = disagreements(vectors, js)
    assert not problems, "\n".join(problems[:20])
    for vec, got in zip(vectors["canonical"], js["canonical"], strict=True):
        assert got.get("canonical_b64") == vec.get("canonical_b64"), vec["input"]
    for vec, got in zip(vectors["hashes"], js["hashes"], strict=True):
        assert got["sha256_webcrypto"] == got["sha256_js"] == vec["sha256"]
        assert got["sm3"] == vec["sm3"]
    for vec, got in zip(vectors["keys"], js["keys"], strict=True):
        assert got.get("ok", False) == vec["ok"], vec
    packages = {r["name"]: r["result"] for r in js["packages"]}
    for vec in vectors["packages"]:
        want, got = vec["expected"], packages[vec["name"]]
        if want.get("ok"):
            assert got.get("files") == want["files"], vec["name"]
        else:
            assert got.get("error") == want["error"], (vec["name"], want, got)


# --- the page -------------------------------------------------------------------------------------


def test_file_and_proof_verify_in_every_tier_then_one_byte_fails_tier_1(
    page: Any,  # noqa: F811
    portal: Portal,
    tmp_path: Path,
) -> None:
    requests: list[Any] = []

    def record(request: Any) -> None:
        requests.append(request)

    page.on("request", record)
    open_portal(page, portal)
    assert page.inner_text("h1") == "电子证据核验"
    assert portal.sealed.signer.verifier().to_text() in page.inner_text("#trust-keys")

    statuses = choose(page, [*portal.evidence(), portal.proof])
    assert statuses == dict.fromkeys(range(1, 6), "verified"), page.inner_text("#results")
    assert page.get_attribute("#summary", "data-outcome") == "verified"
    assert "核验通过" in page.inner_text("#summary")
    assert re.search(r"\d+ confirmations? \(need 1\)", card_text(page, 5, "detail"))
    assert portal.bundle["anchor"]["tx_hash"] in card_text(page, 5, "detail")
    digests = page.inner_text("#digests")
    assert hashlib.sha256(SHOT).hexdigest() in digests
    page.screenshot(path=str(artifact("portal-verified.png")), full_page=True)

    tampered_dir = tmp_path / "tampered"
    tampered_dir.mkdir()
    changed = bytearray(SHOT)
    changed[len(changed) // 2] ^= 0x01
    (tampered_dir / "shot.png").write_bytes(bytes(changed))
    statuses = choose(page, [portal.dir / "page.html", tampered_dir / "shot.png", portal.proof])
    assert statuses == {1: "failed", 2: "verified", 3: "verified", 4: "verified", 5: "verified"}
    assert page.get_attribute("#summary", "data-outcome") == "failed"
    assert "核验失败" in page.inner_text("#summary")
    assert page.inner_text("li.tier[data-tier='1'] .badge") == "未通过"
    assert "文件的哈希值与清单记录不一致" in card_text(page, 1, "meaning")
    assert "shot.png: size" not in card_text(page, 1, "detail")
    assert "SHA-256" in card_text(page, 1, "detail")
    page.screenshot(path=str(artifact("portal-tampered.png")), full_page=True)

    page.click("#lang-toggle")
    assert page.inner_text("h1") == "Evidence verification"
    assert page.inner_text("li.tier[data-tier='1'] .badge") == "FAILED"
    assert "A file's digest differs from the manifest" in card_text(page, 1, "meaning")
    assert page.inner_text("li.tier[data-tier='2'] .badge") == "verified"
    assert "FAILED" in page.inner_text("#summary")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#lang-toggle") == "中文"

    # The files never left the page: only the portal, its config and tier 5 were asked for,
    # and no request body carries a byte of them.
    paths = {r.url.removeprefix(portal.url).split("?")[0] for r in requests}
    assert paths <= {
        "/verify",
        "/verify/static/app.js",
        "/verify/static/verify.js",
        "/verify/static/package.js",
        "/verify/static/i18n.js",
        "/verify/static/style.css",
        "/verify/static/bytes.js",
        "/verify/static/hashes.js",
        "/verify/static/json.js",
        "/verify/static/merkle.js",
        "/verify/static/note.js",
        "/verify/static/bundle.js",
        "/verify/static/cosignature.js",
        "/verify/static/zip.js",
        "/v1/config",
        "/v1/anchor-check",
        "/favicon.ico",
    }, paths
    posted = [r for r in requests if r.method == "POST"]
    assert [r.url.removeprefix(portal.url) for r in posted] == ["/v1/anchor-check"] * 2
    for r in posted:
        body = r.post_data_buffer or b""
        assert PAGE not in body
        assert bytes(SHOT[:64]) not in body
        assert json.loads(body)["bundle"]["entry"]["id"] == portal.sealed.entry.id


def test_a_package_verifies_and_the_report_downloads(
    page: Any,  # noqa: F811
    portal: Portal,
    tmp_path: Path,
) -> None:
    package = tmp_path / "package.zip"
    manifest = portal.sealed.manifest
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "package.json",
            json.dumps(
                {
                    "format": "evidence-package/v1",
                    "evidence_id": portal.sealed.entry.id,
                    "exported_at": "2026-11-26T06:00:05Z",
                    "files": [f.name for f in manifest.files],
                }
            ),
        )
        zf.writestr("README.txt", "核验说明\nHow to verify\n")
        zf.writestr("manifest.json", manifest.canonical())
        zf.writestr("proof.json", json.dumps(portal.bundle, ensure_ascii=False, indent=2))
        zf.writestr("log-key.vkey", portal.sealed.signer.verifier().to_text() + "\n")
        anchor = portal.bundle["anchor"]
        chain = {k: anchor[k] for k in ("chain_id", "contract", "log_id")}
        zf.writestr("chain.json", json.dumps(chain))
        for name, data in portal.sealed.files.items():
            zf.writestr(f"files/{name}", data, zipfile.ZIP_STORED if name.endswith("png") else 8)
    open_portal(page, portal, "?lang=en")
    assert page.inner_text("h1") == "Evidence verification"
    statuses = choose(page, [package])
    assert statuses == dict.fromkeys(range(1, 6), "verified"), page.inner_text("#results")
    assert "same as a key this service trusts" in page.inner_text("#package-info")

    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click("#report-button")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert download.value.suggested_filename == f"report-{portal.sealed.entry.id}.pdf"


def test_a_hostile_package_is_refused_on_the_page(
    page: Any,  # noqa: F811
    portal: Portal,
    tmp_path: Path,
) -> None:
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w") as zf:
        zf.writestr("../evil.sh", "rm -rf /")
    open_portal(page, portal)
    page.set_input_files("#files", [str(hostile)])
    page.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT_MS)
    text = page.inner_text("#error")
    assert "证据包被拒绝" in text
    assert "climbs out of the package with '..'" in text
    assert page.is_hidden("#results")


def test_a_proof_without_its_files_is_incomplete_not_verified(
    page: Any,  # noqa: F811
    portal: Portal,
) -> None:
    open_portal(page, portal, f"?leaf={portal.bundle['leaf_hash']}")
    statuses = choose(page, [portal.proof])
    assert statuses[1] == "not_checked"
    assert [statuses[t] for t in (2, 3, 4, 5)] == ["verified"] * 4
    assert page.get_attribute("#summary", "data-outcome") == "incomplete"
    assert "与所选证明一致" in page.inner_text("#leaf-check")
