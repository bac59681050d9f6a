"""存证证书 end to end: a running service issues each item's certificate in the background
after intake, serves it (checked against its recorded SHA-256) and the CA chain that verifies
it, and the real ``evidence-verify --certificate … --certificate-ca …`` accepts it with the
item's bundle and refuses it with another item's."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from evidence_api.app import create_app
from evidence_api.certificates import issuing
from evidence_api.certificates.models import EvidenceCertificate
from evidence_api.core.config import Settings
from evidence_api.verifier_mount import mount_verifier
from tests.support.api import (
    VERIFY_CLI,
    Backend,
    Stack,
    running_stack,
    submit,
    wait_for_bundle,
)
from tests.support.console import log_in_as
from tests.support.waiting import wait_until
from verifier.bundle import bundle_from_obj
from verifier.certificate import STATEMENT_NAME, check_certificate, load_statement
from verifier.pades import read_attachment, verify_pdf_signature

FILES = {"listing.html": b"<p>\xe5\x95\x86\xe5\x93\x81</p>", "shot.png": b"\x89PNG not really"}


@pytest.fixture
def stack(backend: Backend) -> Iterator[Stack]:
    """The API on each backend (SQLite with the local folder; SQLite and PostgreSQL with S3)."""
    settings = backend.settings.model_copy(
        update={
            "chain": "none",
            "seal_interval": 0.1,
            "certificate_interval": 0.2,
            "certificate_process": True,  # the default, which tests/conftest.py turns off
        }
    )
    with running_stack(settings) as running:
        yield running


def recorded(stack: Stack, evidence_id: str) -> EvidenceCertificate | None:
    with stack.runtime.session() as session:
        return session.execute(
            select(EvidenceCertificate).where(EvidenceCertificate.evidence_id == evidence_id)
        ).scalar_one_or_none()


def verify_cli(
    workdir: Path,
    bundle: dict[str, object],
    pdf: bytes,
    ca: bytes,
    vkey: str,
    files: dict[str, bytes],
) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bundle.json").write_text(json.dumps(bundle), "utf-8")
    (workdir / "cert.pdf").write_bytes(pdf)
    (workdir / "ca.pem").write_bytes(ca)
    args = [
        str(VERIFY_CLI),
        str(workdir / "bundle.json"),
        "--log-key",
        vkey.strip(),
        "--certificate",
        str(workdir / "cert.pdf"),
        "--certificate-ca",
        str(workdir / "ca.pem"),
        "--through",
        "4",
        "--json",
    ]
    for name, data in files.items():
        (workdir / name).write_bytes(data)
        args += ["--file", str(workdir / name)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_the_job_issues_the_certificate_and_evidence_verify_checks_it(
    stack: Stack, tmp_path: Path
) -> None:
    created = submit(stack, FILES)
    assert created.status_code == 201, created.text
    evidence_id = created.json()["evidence_id"]
    # Issued by the background job, without anyone asking for it.
    wait_until(lambda: recorded(stack, evidence_id) is not None, 60, "the certificate job")
    row = recorded(stack, evidence_id)
    assert row is not None and "DEVELOPMENT" in row.signer
    helper = issuing.helper.pid  # rendered and signed in the helper process, not here
    assert helper is not None and helper != os.getpid()

    response = stack.client.get(
        f"/v1/evidence/{evidence_id}/certificate", headers=stack.auth("appraiser")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    pdf = response.content
    assert hashlib.sha256(pdf).digest() == bytes(row.sha256)  # the issued one, not a new one
    assert response.headers["X-Content-SHA256"] == bytes(row.sha256).hex()
    assert len(pdf) == row.size
    statement = load_statement(read_attachment(pdf, STATEMENT_NAME) or b"")
    assert statement.evidence_id == evidence_id

    ca = stack.client.get("/v1/trust/certificate-ca")  # public: no token
    assert ca.status_code == 200
    assert ca.headers["content-type"] == "application/pem-certificate-chain"
    assert ca.content == (stack.settings.data_dir / "certificates" / "dev-ca.pem").read_bytes()
    key_path = stack.settings.data_dir / "certificates" / "signer.key"
    assert key_path.stat().st_mode & 0o777 == 0o600

    bundle = wait_for_bundle(stack.client, evidence_id, stack.auth("officer"), timeout=60)
    assert check_certificate(pdf, bundle_from_obj(bundle), [ca.content]).ok
    vkey = stack.client.get("/v1/log/key").text
    good = verify_cli(tmp_path / "good", bundle, pdf, ca.content, vkey, FILES)
    assert good.returncode == 0, good.stdout + good.stderr
    verdict = json.loads(good.stdout)
    assert verdict["certificate"]["ok"] is True
    assert verdict["certificate"]["facts"]["evidence_id"] == evidence_id

    # Another item's bundle (its files not given: tier 1 is not checked, so only the
    # certificate can fail the outcome): the certificate states other digests.
    other = submit(stack, {"other.txt": b"something else"}).json()["evidence_id"]
    other_bundle = wait_for_bundle(stack.client, other, stack.auth("officer"), timeout=60)
    bad = verify_cli(tmp_path / "bad", other_bundle, pdf, ca.content, vkey, {})
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert json.loads(bad.stdout)["certificate"]["ok"] is False


def test_issued_on_demand_and_refused_when_the_stored_bytes_change(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", chain="none", run_certificates=False)
    with running_stack(settings) as stack:
        evidence_id = submit(stack, FILES).json()["evidence_id"]
        assert recorded(stack, evidence_id) is None  # no job here
        url = f"/v1/evidence/{evidence_id}/certificate"
        assert stack.client.get(url).status_code == 401
        assert stack.client.get(url, headers=stack.auth("platform")).status_code == 403
        missing = stack.client.get(
            "/v1/evidence/ev-" + "0" * 28 + "/certificate", headers=stack.auth("officer")
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        first = stack.client.get(url, headers=stack.auth("officer"))
        assert first.status_code == 200
        again = stack.client.get(url, headers=stack.auth("admin"))
        assert again.content == first.content  # issued once

        # Someone with access to the folder rewrites the stored PDF (same size).
        row = recorded(stack, evidence_id)
        assert row is not None
        path = settings.resolved_storage_dir / "sha256" / row.object_key[7:9] / row.object_key[7:]
        os.chmod(path.parent, 0o700)
        os.chmod(path, 0o600)
        path.write_bytes(first.content[:-1] + b"X")
        refused = stack.client.get(url, headers=stack.auth("officer"))
        assert refused.status_code == 409, refused.text
        assert refused.json()["title"] == "integrity_failure"


def test_the_console_links_the_certificate(stack: Stack) -> None:
    evidence_id = submit(stack, FILES).json()["evidence_id"]
    log_in_as(stack, "officer")
    page = stack.client.get(f"/console/evidence/{evidence_id}")
    assert page.status_code == 200
    link = f'href="/v1/evidence/{evidence_id}/certificate"'
    assert 'id="download-certificate"' in page.text and link in page.text
    assert "存证证书" in page.text
    started = time.monotonic()
    pdf = stack.client.get(f"/v1/evidence/{evidence_id}/certificate")  # the session cookie
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert time.monotonic() - started < 60


def test_the_mounted_portal_signs_its_reports_with_the_same_certificate(stack: Stack) -> None:
    created = submit(stack, FILES)
    bundle = wait_for_bundle(
        stack.client, created.json()["evidence_id"], stack.auth("officer"), timeout=60
    )
    app = create_app(runtime=stack.runtime)
    mount_verifier(app, stack.runtime, "http://127.0.0.1:8000")
    with TestClient(app) as client:
        answer = client.post("/verifier/v1/verify/report", json={"bundle": bundle, "files": []})
        ca = client.get("/v1/trust/certificate-ca").content
    assert answer.status_code == 200, answer.text[:300]
    verdict = verify_pdf_signature(answer.content, [ca])
    assert verdict.ok, verdict.detail
    assert verdict.signer is not None and "DEVELOPMENT certificate signer" in verdict.signer
