"""The verification service against a real deployment: ``evidence serve`` (SQLite, local
store, in-process sealer and anchorer) anchoring on a real anvil, and the verifier
service asking that API's public lookup over a real socket.

* ``GET /v1/log/lookup`` (evidence API) is public and never hands out a manifest;
* ``GET /v1/lookup`` (verifier) re-verifies tiers 3-5 with its own key and chain:
  a forged answer is reported as a failed tier, a garbage answer is a 502, an
  unreachable log a 503;
* packages, the PDF report, the tier-5 check and the portal, end to end;
* ``evidence verifier serve`` as a real process, configured only by ``VERIFIER_*``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from anchoring.node import anvil_binary
from tests.support.api import (
    EVIDENCE_CLI,
    AnchoringStack,
    anchoring_stack,
    evidence_form,
    free_port,
    stop_subprocess,
    tcp_proxy,
    wait_for_bundle,
)
from verifier.digests import FileDigest, sm3_hex
from verifier.models import Manifest
from verifier.note import VerifierKey
from verifier.service.app import ServiceConfig, create_verifier_app
from verifier.service.config import PORTAL_DIR
from verifier.service.static import CSP

pytestmark = [pytest.mark.chain, pytest.mark.slow]

FILES = {"page.html": "<html>店铺页面 shop page</html>".encode(), "shot.png": b"\x89PNG\r\n..."}
ONLY_STAMPED = b"a digest stamped without its file"
PROBLEM = "application/problem+json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Deployment:
    stack: AnchoringStack
    evidence_id: str
    bundle: dict[str, Any]  # with its manifest, as an officer gets it
    stamp_ids: list[str]

    @property
    def log_url(self) -> str:
        return self.stack.server.base_url

    def config(self, **overrides: Any) -> ServiceConfig:
        """The verifier's trust roots, as an operator publishes them out of band."""
        chain = self.stack.chain
        fields: dict[str, Any] = {
            "log_keys": (VerifierKey.from_text(self.stack.vkey.strip()),),
            "rpc_urls": (chain.rpc_url,),
            "contract": chain.contract,
            "chain_id": chain.chain_id,
            "log_url": self.log_url,
            "log_timeout": 5.0,
        }
        return ServiceConfig(**(fields | overrides))

    def verifier(self, **overrides: Any) -> TestClient:
        return TestClient(create_verifier_app(self.config(**overrides)))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: run `make install`")
    root = tmp_path_factory.mktemp("verifier-stack")
    with anchoring_stack(root, celery=False) as stack, stack.client() as client:
        answer = client.post("/v1/evidence", files=evidence_form(FILES))
        assert answer.status_code == 201, answer.text
        evidence_id = answer.json()["evidence_id"]
        stamped = client.post(
            "/v1/stamps", json={"digests": [sha256(FILES["page.html"]), sha256(ONLY_STAMPED)]}
        )
        assert stamped.status_code == 200, stamped.text
        stamp_ids = [r["entry_id"] for r in stamped.json()["receipts"]]
        bundle = wait_for_bundle(
            client, evidence_id, stack.headers(), status="anchored", timeout=60
        )
        # The stamps were sent after the evidence: wait until they are anchored too.
        deadline = time.monotonic() + 60
        while True:
            found = httpx.get(
                f"{stack.server.base_url}/v1/log/lookup",
                params={"evidence_id": stamp_ids[1]},
                timeout=10,
            )
            if found.json()["matches"][0]["status"] == "anchored":
                break
            assert time.monotonic() < deadline, found.text
            time.sleep(0.2)
        yield Deployment(stack, evidence_id, bundle, stamp_ids)


def digests(files: dict[str, bytes]) -> list[dict[str, object]]:
    return [
        FileDigest(name, len(data), sha256(data), sm3_hex(data)).__dict__
        for name, data in files.items()
    ]


def package_zip(
    bundle: dict[str, Any], files: dict[str, bytes], vkey: str, chain: dict[str, Any] | None
) -> bytes:
    """An evidence-package/v1 ZIP (coord/ISSUE5.md) of a real proof and its files."""
    manifest = Manifest.model_validate(bundle["manifest"])
    members = {
        "package.json": json.dumps(
            {
                "format": "evidence-package/v1",
                "evidence_id": bundle["entry"]["id"],
                "exported_at": "2026-11-26T08:00:00Z",
                "files": list(files),
            }
        ).encode(),
        "README.txt": "核验方法 / How to verify\n".encode(),
        "manifest.json": manifest.canonical(),
        "proof.json": json.dumps(bundle).encode(),
        "log-key.vkey": (vkey.strip() + "\n").encode(),
        **({"chain.json": json.dumps(chain).encode()} if chain else {}),
        **{f"files/{name}": data for name, data in files.items()},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def statuses(report: dict[str, Any]) -> dict[int, str]:
    return {t["tier"]: t["status"] for t in report["tiers"]}


# --- the evidence API's public lookup ---------------------------------------------------------


def test_the_public_lookup_needs_no_token_and_hands_out_no_manifest(deployed: Deployment) -> None:
    url = f"{deployed.log_url}/v1/log/lookup"
    by_id = httpx.get(url, params={"evidence_id": deployed.evidence_id}, timeout=10)
    assert by_id.status_code == 200, by_id.text
    [match] = by_id.json()["matches"]
    assert match["entry"]["id"] == deployed.evidence_id
    assert match["manifest"] is None
    assert match["status"] == "anchored"
    assert "officer" not in by_id.text and "shop.example.com" not in by_id.text

    by_file = httpx.get(url, params={"sha256": sha256(FILES["page.html"]).upper()}, timeout=10)
    assert by_file.status_code == 200, by_file.text
    found = [(m["entry"]["kind"], m["entry"]["id"]) for m in by_file.json()["matches"]]
    assert found == [("evidence", deployed.evidence_id), ("stamp", deployed.stamp_ids[0])]
    assert all(m["manifest"] is None for m in by_file.json()["matches"])

    only_stamp = httpx.get(url, params={"sha256": sha256(ONLY_STAMPED)}, timeout=10).json()
    assert [m["entry"]["id"] for m in only_stamp["matches"]] == [deployed.stamp_ids[1]]

    by_leaf = httpx.get(url, params={"leaf_hash": deployed.bundle["leaf_hash"]}, timeout=10)
    assert by_leaf.status_code == 200, by_leaf.text
    assert [m["entry"]["id"] for m in by_leaf.json()["matches"]] == [deployed.evidence_id]
    assert by_leaf.json()["matches"][0]["manifest"] is None


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"sha256": "0" * 64}, 404, "no public entry"),
        ({"evidence_id": "ev-" + "0" * 28}, 404, "no public entry"),
        ({}, 422, "exactly one"),
        ({"evidence_id": "ev-1"}, 422, "evidence_id"),
        ({"sha256": "xyz"}, 422, "sha256"),
        ({"sha256": "0" * 64, "evidence_id": "ev-" + "0" * 28}, 422, "exactly one"),
        ({"leaf_hash": "0" * 64}, 404, "no public entry"),
        ({"leaf_hash": "0" * 63}, 422, "leaf_hash"),
    ],
)
def test_the_public_lookup_refuses_precisely(
    deployed: Deployment, params: dict[str, str], status: int, needle: str
) -> None:
    answer = httpx.get(f"{deployed.log_url}/v1/log/lookup", params=params, timeout=10)
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM
    assert needle in answer.json()["detail"]


def test_custody_entries_are_not_looked_up(deployed: Deployment) -> None:
    with deployed.stack.client() as client:
        got = client.get(
            f"/v1/evidence/{deployed.evidence_id}/files/page.html", params={"purpose": "test"}
        )
        custody = got.headers["x-custody-entry"]
    answer = httpx.get(
        f"{deployed.log_url}/v1/log/lookup", params={"evidence_id": custody}, timeout=10
    )
    assert answer.status_code in (404, 422)


# --- the verifier's lookup ----------------------------------------------------------------


def test_lookup_by_id_reverifies_tiers_3_to_5(deployed: Deployment) -> None:
    answer = deployed.verifier().get("/v1/lookup", params={"evidence_id": deployed.evidence_id})
    assert answer.status_code == 200, answer.text
    [match] = answer.json()["matches"]
    assert match["matched_by"] == "entry_id"
    assert match["log_outcome"] == "verified"
    tiers = statuses(match["report"])
    assert (tiers[3], tiers[4], tiers[5]) == ("verified", "verified", "verified")
    assert tiers[2] == "not_checked"  # no manifest in a public answer
    tier5 = match["report"]["tiers"][4]
    assert tier5["facts"]["confirmations"] >= 1
    assert tier5["name_zh"] == "区块链锚定"


def test_lookup_by_the_leaf_hash_of_the_report_qr_code(deployed: Deployment) -> None:
    answer = deployed.verifier().get(
        "/v1/lookup", params={"leaf_hash": deployed.bundle["leaf_hash"]}
    )
    assert answer.status_code == 200, answer.text
    [match] = answer.json()["matches"]
    assert (match["matched_by"], match["log_outcome"]) == ("leaf_hash", "verified")
    assert match["bundle"]["entry"]["id"] == deployed.evidence_id


def test_lookup_by_file_digest_finds_evidence_and_stamps(deployed: Deployment) -> None:
    client = deployed.verifier()
    answer = client.get("/v1/lookup", params={"sha256": sha256(FILES["page.html"])})
    assert answer.status_code == 200, answer.text
    matches = answer.json()["matches"]
    assert [m["matched_by"] for m in matches] == ["file_digest_unproven", "stamp_digest"]
    for match in matches:
        tiers = statuses(match["report"])
        assert (tiers[3], tiers[4]) == ("verified", "verified"), match["report"]
    assert client.get("/v1/lookup", params={"sha256": "0" * 64}).status_code == 404


def test_without_the_trusted_key_nothing_upstream_says_is_signed(deployed: Deployment) -> None:
    answer = deployed.verifier(log_keys=()).get(
        "/v1/lookup", params={"evidence_id": deployed.evidence_id}
    )
    [match] = answer.json()["matches"]
    assert statuses(match["report"])[4] == "not_checked"
    assert match["log_outcome"] == "incomplete"


def test_an_unreachable_log_is_503_and_recovers(deployed: Deployment) -> None:
    port = int(deployed.log_url.rsplit(":", 1)[1])
    with tcp_proxy("127.0.0.1", port) as proxy:
        client = deployed.verifier(log_url=f"http://127.0.0.1:{proxy.port}")
        params = {"evidence_id": deployed.evidence_id}
        assert client.get("/v1/lookup", params=params).status_code == 200
        proxy.cut()
        down = client.get("/v1/lookup", params=params)
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        assert down.headers["content-type"] == PROBLEM
        assert "cannot reach the log" in down.json()["detail"]
        proxy.restore()
        assert client.get("/v1/lookup", params=params).status_code == 200


class FakeLog:
    """A log that answers the real log's lookup, altered by ``tamper``; or raw bytes."""

    def __init__(self, real: str) -> None:
        self.real = real
        self.tamper: Any = None
        self.raw: tuple[int, str, bytes] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if fake.raw is not None:
                    status, ctype, body = fake.raw
                else:
                    upstream = httpx.get(fake.real + self.path, timeout=10)
                    answer = upstream.json()
                    if fake.tamper is not None:
                        fake.tamper(answer)
                    status, ctype, body = 200, "application/json", json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_log(deployed: Deployment) -> Iterator[FakeLog]:
    fake = FakeLog(deployed.log_url)
    yield fake
    fake.close()


def test_a_forged_proof_from_the_log_is_reported_failed_not_trusted(
    deployed: Deployment, fake_log: FakeLog
) -> None:
    def flip_first_proof_hash(answer: dict[str, Any]) -> None:
        hashes = answer["matches"][0]["inclusion"]["hashes"]
        hashes[0] = ("0" if hashes[0][0] != "0" else "1") + hashes[0][1:]

    fake_log.tamper = flip_first_proof_hash
    client = deployed.verifier(log_url=fake_log.url)
    answer = client.get("/v1/lookup", params={"evidence_id": deployed.evidence_id})
    assert answer.status_code == 200, answer.text
    [match] = answer.json()["matches"]
    assert match["log_outcome"] == "failed"
    assert match["report"]["outcome"] == "failed"
    tier3 = match["report"]["tiers"][2]
    assert tier3["status"] == "failed"
    assert "mismatch" in tier3["detail"]


def test_an_answer_for_another_entry_or_garbage_is_502(
    deployed: Deployment, fake_log: FakeLog
) -> None:
    client = deployed.verifier(log_url=fake_log.url)

    def swap_in_a_stamp(answer: dict[str, Any]) -> None:
        other = httpx.get(
            f"{deployed.log_url}/v1/log/lookup",
            params={"evidence_id": deployed.stamp_ids[1]},
            timeout=10,
        ).json()
        answer["matches"] = other["matches"]

    fake_log.tamper = swap_in_a_stamp
    swapped = client.get("/v1/lookup", params={"evidence_id": deployed.evidence_id})
    assert swapped.status_code == 502
    assert "is entry" in swapped.json()["detail"]
    fake_log.tamper = None
    for raw, needle in (
        ((200, "text/html", b"<html>hello</html>"), "not JSON"),
        ((200, "application/json", b'{"matches": [{"format": 1}]}'), "match 0"),
        ((200, "application/json", b'{"matches": '), "not valid JSON"),
        ((500, "application/json", b"{}"), "HTTP 500"),
    ):
        fake_log.raw = raw
        answer = client.get("/v1/lookup", params={"evidence_id": deployed.evidence_id})
        assert answer.status_code == 502, (raw, answer.text)
        assert needle in answer.json()["detail"]
    fake_log.raw = (503, "application/problem+json", b"{}")
    assert client.get("/v1/lookup", params={"sha256": "0" * 64}).status_code == 503


# --- packages, PDF, tier 5, portal ---------------------------------------------------------


def _chain(deployed: Deployment) -> dict[str, Any]:
    anchor = deployed.bundle["anchor"]
    return {k: anchor[k] for k in ("chain_id", "contract", "log_id")}


def test_an_uploaded_package_verifies_every_tier(deployed: Deployment) -> None:
    data = package_zip(deployed.bundle, FILES, deployed.stack.vkey, _chain(deployed))
    answer = deployed.verifier().post(
        "/v1/verify", content=data, headers={"content-type": "application/zip"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "verified", body
    assert set(statuses(body).values()) == {"verified"}
    assert body["package"]["chain"] == _chain(deployed)
    assert [f["sm3"] for f in body["package"]["files"]] == [sm3_hex(d) for d in FILES.values()]


def test_a_package_exported_by_the_evidence_api_verifies_every_tier(
    deployed: Deployment,
) -> None:
    with deployed.stack.client() as client:
        exported = client.get(
            f"/v1/evidence/{deployed.evidence_id}/package", params={"purpose": "鉴定 appraisal"}
        )
    assert exported.status_code == 200, exported.text[:300]
    answer = deployed.verifier().post(
        "/v1/verify", content=exported.content, headers={"content-type": "application/zip"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "verified", body
    assert body["evidence_id"] == deployed.evidence_id
    assert body["package"]["log_key_text"] == deployed.stack.vkey.strip()


def test_a_package_with_a_changed_file_is_refused(deployed: Deployment) -> None:
    changed = {**FILES, "page.html": FILES["page.html"].replace(b"shop", b"shoq")}
    data = package_zip(deployed.bundle, changed, deployed.stack.vkey, None)
    answer = deployed.verifier().post(
        "/v1/verify", content=data, headers={"content-type": "application/zip"}
    )
    assert answer.status_code == 422
    assert "files/page.html" in answer.json()["detail"]


def test_a_package_above_the_cap_is_413(deployed: Deployment) -> None:
    data = package_zip(deployed.bundle, FILES, deployed.stack.vkey, None)
    client = deployed.verifier(max_package_bytes=len(data) // 2)
    answer = client.post("/v1/verify", content=data, headers={"content-type": "application/zip"})
    assert answer.status_code == 413


def test_anchor_check_against_the_chain(deployed: Deployment) -> None:
    client = deployed.verifier()
    answer = client.post("/v1/anchor-check", json={"bundle": deployed.bundle})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["tier"], body["status"]) == (5, "verified"), body
    assert body["facts"]["confirmations"] >= 1
    assert body["explanation_zh"]
    forged = json.loads(json.dumps(deployed.bundle))
    forged["anchor"]["tx_hash"] = "0x" + "ab" * 32
    failed = client.post("/v1/anchor-check", json={"bundle": forged}).json()
    assert failed["status"] == "failed", failed
    offline = deployed.verifier(rpc_urls=(), contract=None, chain_id=None)
    body = offline.post("/v1/anchor-check", json={"bundle": deployed.bundle}).json()
    assert body["status"] == "not_checked"


def test_the_report_endpoint_returns_a_pdf(deployed: Deployment) -> None:
    client = deployed.verifier(portal_url="https://verify.example.gov.cn/verify")
    answer = client.post(
        "/v1/verify/report",
        json={"bundle": deployed.bundle, "files": digests(FILES)},
    )
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    data = package_zip(deployed.bundle, FILES, deployed.stack.vkey, None)
    english = client.post(
        "/v1/verify/report?lang=en", content=data, headers={"content-type": "application/zip"}
    )
    assert english.status_code == 200
    assert english.content.startswith(b"%PDF-")
    assert english.content != answer.content
    bad = client.post("/v1/verify/report?lang=fr", json={"bundle": deployed.bundle})
    assert bad.status_code == 422


def test_the_portal_is_served_from_the_package(deployed: Deployment) -> None:
    if not (PORTAL_DIR / "index.html").is_file():
        pytest.fail(f"no portal at {PORTAL_DIR}")
    client = deployed.verifier()
    page = client.get("/verify")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["content-type"].startswith("text/html")
    scripts = sorted(p.name for p in PORTAL_DIR.glob("*.js"))
    assert scripts
    for name in scripts:
        script = client.get(f"/verify/static/{name}")
        assert script.status_code == 200, name
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    for path in ("../service.py", "..%2fservice.py", "%2e%2e/service.py"):
        assert client.get(f"/verify/static/{path}").status_code == 404


# --- `evidence verifier serve`, a real process ------------------------------------------------


def test_verifier_serve_is_configured_by_the_environment(
    deployed: Deployment, tmp_path: Path
) -> None:
    port = free_port()
    chain = deployed.stack.chain
    env = {
        **os.environ,
        "VERIFIER_LOG_KEYS": deployed.stack.vkey.strip(),
        "VERIFIER_RPC_URLS": chain.rpc_url,
        "VERIFIER_CONTRACT": chain.contract,
        "VERIFIER_CHAIN_ID": str(chain.chain_id),
        "VERIFIER_LOG_URL": deployed.log_url,
    }
    log = tmp_path / "verifier.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(EVIDENCE_CLI), "verifier", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        config = httpx.get(f"{base}/v1/config", timeout=5).json()
        assert config["chain"] == {"chain_id": chain.chain_id, "contract": chain.contract}
        assert config["lookup"] is True
        found = httpx.get(
            f"{base}/v1/lookup", params={"evidence_id": deployed.evidence_id}, timeout=30
        )
        assert found.status_code == 200, found.text
        assert found.json()["matches"][0]["log_outcome"] == "verified"
    finally:
        stop_subprocess(process)
