"""The read-only verification service answers tiered results and refuses bad input with 4xx."""

from __future__ import annotations

import hashlib
import json

from fastapi.testclient import TestClient

from tests.support.factories import sealed_evidence
from verifier.digests import FileDigest, sm3_hex
from verifier.service import MAX_REQUEST_BYTES, ServiceConfig, create_verifier_app


def _client(trusted: bool = True) -> tuple[TestClient, dict[str, object], list[dict[str, object]]]:
    sealed = sealed_evidence()
    cfg = ServiceConfig(log_keys=(sealed.signer.verifier(),) if trusted else ())
    bundle = json.loads(sealed.bundle.to_json())
    files: list[dict[str, object]] = [
        FileDigest(name, len(data), hashlib.sha256(data).hexdigest(), sm3_hex(data)).__dict__
        for name, data in sealed.files.items()
    ]
    return TestClient(create_verifier_app(cfg)), bundle, files


def test_a_sealed_bundle_with_its_files_verifies_through_tier_4() -> None:
    client, bundle, files = _client()
    answer = client.post("/v1/verify", json={"bundle": bundle, "files": files, "through": 4})
    assert answer.status_code == 200
    body = answer.json()
    assert body["outcome"] == "verified"
    assert [t["status"] for t in body["tiers"]] == ["verified"] * 4 + ["skipped"]


def test_a_changed_file_digest_fails_tier_1() -> None:
    client, bundle, files = _client()
    files[0]["sha256"] = "0" * 64
    body = client.post("/v1/verify", json={"bundle": bundle, "files": files}).json()
    assert body["outcome"] == "failed"
    assert body["tiers"][0]["status"] == "failed"


def test_without_a_trusted_key_tier_4_is_not_checked() -> None:
    client, bundle, files = _client(trusted=False)
    body = client.post("/v1/verify", json={"bundle": bundle, "files": files}).json()
    assert body["tiers"][3]["status"] == "not_checked"
    assert body["outcome"] == "incomplete"


def test_bad_input_gets_a_precise_4xx() -> None:
    client, bundle, _ = _client()
    cases = {
        "truncated": (b'{"bundle": {', 422, "not valid JSON"),
        "unknown-version": (
            json.dumps({"bundle": {**bundle, "format": "evidence-proof/v9"}}).encode(),
            422,
            "unknown bundle format",
        ),
        "extra-field": (json.dumps({"bundle": bundle, "x": 1}).encode(), 422, "x"),
        "bad-digest": (
            json.dumps(
                {
                    "bundle": bundle,
                    "files": [{"name": "a", "size": 1, "sha256": "zz", "sm3": "0" * 64}],
                }
            ).encode(),
            422,
            "files.0.sha256",
        ),
    }
    for name, (body, status, needle) in cases.items():
        answer = client.post(
            "/v1/verify", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == status, name
        assert needle in answer.json()["detail"], (name, answer.json())
    huge = client.post(
        "/v1/verify",
        content=b" " * (MAX_REQUEST_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
