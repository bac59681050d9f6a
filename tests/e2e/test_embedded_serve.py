"""The embedded default, as a user meets it: ``evidence serve`` with nothing
configured but a data folder, a token from ``evidence admin create-token`` on
the same folder, a submission over HTTP, and the sealed bundle checked by the
offline verifier the way a court's appraiser would run it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.support.api import (
    assert_verifies,
    auth_header,
    create_token_cli,
    evidence_form,
    free_port,
    serve_subprocess,
    wait_for_bundle,
)


def test_embedded_serve_takes_evidence_and_its_bundle_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):  # nothing configured but the data folder
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    # and the managed anvil's port: the default 8545 is fixed, and tests run side by side
    env = {"EVIDENCE_DATA_DIR": str(data), "EVIDENCE_ANVIL_PORT": str(free_port())}
    files = {
        "商品详情页.html": "<html><body>假冒 品牌 手袋 ¥199</body></html>".encode(),
        "screenshot.png": os.urandom(150_000),
    }
    with serve_subprocess(env, tmp_path / "serve.log") as server:
        made = create_token_cli(env, "officer", "officer Chen")  # while the service runs
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()

        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            deadline = time.monotonic() + 30  # the first integrity pass runs after start
            while (ready := client.get("/readyz").json())["status"] != "ready":
                assert time.monotonic() < deadline, ready
                time.sleep(0.05)
            assert ready["checks"]["integrity"] == "ok", ready
            assert {"database", "storage", "chain"} <= set(ready["checks"]), ready
            response = client.post(
                "/v1/evidence",
                files=evidence_form(files),
                headers={**auth_header(token), "Idempotency-Key": "e2e-1"},
            )
            acknowledged = time.monotonic()
            assert response.status_code == 201, response.text
            created = response.json()
            assert {f["name"]: f["sha256"] for f in created["files"]} == {
                name: hashlib.sha256(data).hexdigest() for name, data in files.items()
            }
            bundle = wait_for_bundle(
                client,
                created["evidence_id"],
                auth_header(token),
                timeout=2.0,
                started=acknowledged,
            )
            vkey = client.get("/v1/log/key").text
            assert_verifies(bundle, files, vkey, tmp_path / "verify")

            downloaded = client.get(
                f"/v1/evidence/{created['evidence_id']}/files/screenshot.png",
                params={"purpose": "e2e check"},
                headers=auth_header(token),
            )
            assert downloaded.content == files["screenshot.png"]
            # its 存证证书, signed by the development CA the embedded default generates
            certificate = client.get(
                f"/v1/evidence/{created['evidence_id']}/certificate", headers=auth_header(token)
            )
            assert certificate.status_code == 200, certificate.text
            assert certificate.content.startswith(b"%PDF-")

    # Everything lives in the one data folder: database, objects, the dev key and CA.
    assert (data / "evidence.db").is_file()
    assert (data / "log-dev.key").is_file()
    assert any((data / "certificates").iterdir())
    objects = {p.name: p.read_bytes() for p in (data / "objects" / "sha256").glob("*/*")}
    file_digests = {hashlib.sha256(d).hexdigest() for d in files.values()}
    assert file_digests <= set(objects)
    assert hashlib.sha256(certificate.content).hexdigest() in objects
    # besides the two files: the manifest, and the 存证证书 (a second PDF when the
    # background job and the request above issued it at the same moment: one row stands)
    others = [body for name, body in objects.items() if name not in file_digests]
    (manifest,) = [body for body in others if not body.startswith(b"%PDF-")]
    assert json.loads(manifest)["evidence_id"] == created["evidence_id"]
    assert 1 <= len(others) - 1 <= 2
