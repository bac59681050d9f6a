"""The verification service's witnesses and trusted TSA certificates: its own configuration
(``VERIFIER_WITNESSES``, ``VERIFIER_WITNESS_QUORUM``, ``VERIFIER_TSA_CERTS``,
``VERIFIER_REPORT_CERT``/``KEY``), checked at start with one-line refusals, shown in
``/v1/config`` and used by ``/v1/verify`` for tier 4 (a request cannot bring its own)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.tsa import self_signed_ca
from tests.support.vectors import COURT, NOTARY, build, cosigned
from verifier.note import VerifierKey
from verifier.service.app import ServiceConfig, create_verifier_app
from verifier.service.config import ServiceConfigError

COURT_KEY, NOTARY_KEY = COURT.key().to_text(), NOTARY.key().to_text()


def ca_pem(tmp: Path, name: str = "Test TSA CA") -> Path:
    return self_signed_ca(tmp / "tsa-ca.pem", name)


def test_config_reads_witnesses_quorum_and_tsa_certs(tmp_path: Path) -> None:
    cfg = ServiceConfig.from_env(
        {
            "VERIFIER_WITNESSES": f"{COURT_KEY} {NOTARY_KEY}",
            "VERIFIER_WITNESS_QUORUM": "1",
            "VERIFIER_TSA_CERTS": str(ca_pem(tmp_path)),
        }
    )
    policy = cfg.witness_policy()
    assert policy is not None and policy.quorum == 1 and len(policy.keys) == 2
    assert cfg.timestamp_check() is not None
    assert cfg.tsa_subjects()[0].startswith("CN=Test TSA CA (SHA-256 ")
    described = "\n".join(cfg.describe())
    assert f"witness          {COURT_KEY}" in described and "witness quorum   1" in described
    assert "trusted TSA      CN=Test TSA CA" in described


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"VERIFIER_WITNESSES": "court+00000000+AAAA"}, "VERIFIER_WITNESSES: key 1: "),
        ({"VERIFIER_WITNESS_QUORUM": "1"}, "VERIFIER_WITNESS_QUORUM needs VERIFIER_WITNESSES"),
        (
            {"VERIFIER_WITNESSES": COURT_KEY, "VERIFIER_WITNESS_QUORUM": "2"},
            "witness quorum 2 must be 1..1",
        ),
        ({"VERIFIER_WITNESS_QUORUM": "x"}, "VERIFIER_WITNESS_QUORUM must be an integer"),
        ({"VERIFIER_TSA_CERTS": "/nonexistent.pem"}, "VERIFIER_TSA_CERTS '/nonexistent.pem'"),
        ({"VERIFIER_REPORT_CERT": "/nonexistent.pem"}, "VERIFIER_REPORT_CERT '/nonexistent.pem'"),
    ],
)
def test_bad_trust_settings_refuse_the_start(env: dict[str, str], reason: str) -> None:
    with pytest.raises(ServiceConfigError) as refused:
        ServiceConfig.from_env(env)
    assert reason in str(refused.value) and "\n" not in str(refused.value)


def test_report_cert_without_key_refuses(tmp_path: Path) -> None:
    pem = ca_pem(tmp_path)
    with pytest.raises(ServiceConfigError, match="go together"):
        ServiceConfig.from_env({"VERIFIER_REPORT_CERT": str(pem)})
    junk = tmp_path / "junk.pem"
    junk.write_text("nothing\n", encoding="utf-8")
    with pytest.raises(ServiceConfigError, match="no certificate found"):
        ServiceConfig.from_env({"VERIFIER_TSA_CERTS": str(junk)})
    with pytest.raises(ServiceConfigError, match="no PEM"):
        ServiceConfig.from_env({"VERIFIER_REPORT_CERT": str(pem), "VERIFIER_REPORT_KEY": str(junk)})


def client(**cfg: Any) -> tuple[TestClient, dict[str, Any]]:
    b = build()
    config = ServiceConfig(log_keys=(VerifierKey.from_text(b.vkey),), **cfg)
    bundle = {**b.bundle, "checkpoint": cosigned(b.bundle["checkpoint"], COURT)}
    return TestClient(create_verifier_app(config)), bundle


def test_config_route_shows_the_witnesses_and_tsa(tmp_path: Path) -> None:
    from verifier.tsa import load_certificates  # noqa: PLC0415

    certs = tuple(load_certificates(ca_pem(tmp_path).read_bytes()))
    api, _ = client(witness_keys=(COURT.key(), NOTARY.key()), witness_quorum=1, tsa_certs=certs)
    got = api.get("/v1/config").json()
    assert got["witnesses"] == [COURT_KEY, NOTARY_KEY]
    assert got["witness_quorum"] == 1
    assert got["tsa_certificates"][0].startswith("CN=Test TSA CA")
    assert got["reports_signed"] is False
    bare, _ = client()
    got = bare.get("/v1/config").json()
    assert got["witnesses"] == [] and got["witness_quorum"] is None
    assert got["tsa_certificates"] == []


def test_verify_checks_the_services_witnesses() -> None:
    api, bundle = client(witness_keys=(COURT.key(), NOTARY.key()))
    tier4 = api.post("/v1/verify", json={"bundle": bundle}).json()["tiers"][3]
    assert tier4["status"] == "not_checked"
    assert tier4["detail"].endswith("1 of 2 witnesses cosigned (quorum 2)")
    assert "见证方" in tier4["purpose_zh"]
    api, bundle = client(witness_keys=(COURT.key(), NOTARY.key()), witness_quorum=1)
    answer = api.post("/v1/verify", json={"bundle": bundle}).json()
    assert answer["tiers"][3]["status"] == "verified"
    assert answer["witnesses"]["cosigned"][0]["name"] == "court.example/witness"
    # a forged line by the court fails tier 4
    text, sigs = bundle["checkpoint"].split("\n\n")
    lines = sigs.rstrip("\n").split("\n")
    prefix, blob = lines[1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    lines[1] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    forged = {**bundle, "checkpoint": text + "\n\n" + "\n".join(lines) + "\n"}
    answer = api.post("/v1/verify", json={"bundle": forged}).json()
    assert answer["outcome"] == "failed"
    assert answer["tiers"][3]["detail"] == (
        "cosignature by witness court.example/witness does not verify"
    )


def test_a_request_cannot_bring_its_own_witnesses() -> None:
    api, bundle = client()
    answer = api.post("/v1/verify", json={"bundle": bundle, "witnesses": [COURT_KEY]})
    assert answer.status_code == 422
    answer = api.post("/v1/verify", json={"bundle": bundle})
    assert answer.json()["tiers"][3]["detail"].endswith(
        "1 cosignature not checked (no witness key given)"
    )


def test_with_tsa_certs_a_bad_token_fails_tier_4(tmp_path: Path) -> None:
    from verifier.tsa import load_certificates  # noqa: PLC0415

    certs = tuple(load_certificates(ca_pem(tmp_path).read_bytes()))
    api, bundle = client(tsa_certs=certs)
    token = {"tsa": "tsa.example", "token": base64.b64encode(b"0\x03\x02\x01\x00").decode()}
    answer = api.post("/v1/verify", json={"bundle": {**bundle, "timestamps": [token]}}).json()
    assert answer["tiers"][3]["status"] == "failed"
    assert answer["tiers"][3]["detail"].startswith("timestamp by tsa.example: ")
    answer = api.post("/v1/verify", json={"bundle": bundle}).json()
    assert answer["tiers"][3]["status"] == "not_checked"
    assert json.dumps(answer).count("no timestamp on this checkpoint") == 1


def test_reports_are_signed_when_configured(tmp_path: Path) -> None:
    from evidence_api.certificates.devca import make_development_ca  # noqa: PLC0415
    from verifier.pades import verify_pdf_signature  # noqa: PLC0415

    files = make_development_ca()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    cfg = ServiceConfig.from_env(
        {
            "VERIFIER_REPORT_CERT": str(tmp_path / "signer.pem"),
            "VERIFIER_REPORT_KEY": str(tmp_path / "signer.key"),
        }
    )
    assert cfg.report_cert == files["signer.pem"]
    with pytest.raises(ServiceConfigError, match="is not the key of VERIFIER_REPORT_CERT"):
        ServiceConfig.from_env(
            {
                "VERIFIER_REPORT_CERT": str(tmp_path / "signer.pem"),
                "VERIFIER_REPORT_KEY": str(tmp_path / "dev-ca.key"),
            }
        )
    b = build()
    api = TestClient(
        create_verifier_app(
            ServiceConfig(
                log_keys=(VerifierKey.from_text(b.vkey),),
                report_cert=cfg.report_cert,
                report_key=cfg.report_key,
            )
        )
    )
    assert api.get("/v1/config").json()["reports_signed"] is True
    answer = api.post("/v1/verify/report", json={"bundle": b.bundle})
    assert answer.status_code == 200, answer.text
    verdict = verify_pdf_signature(answer.content, [files["dev-ca.pem"]])
    assert verdict.ok, verdict.detail
    # a broken signing set-up is the service's problem (503), never a 500
    broken = TestClient(
        create_verifier_app(
            ServiceConfig(
                log_keys=(VerifierKey.from_text(b.vkey),),
                report_cert=files["signer.pem"],
                report_key=b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            )
        )
    )
    answer = broken.post("/v1/verify/report", json={"bundle": b.bundle})
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_verify_checks_a_certificate_sent_with_the_bundle(tmp_path: Path) -> None:
    from tests.unit.test_cli_trust import CA, certificate_pdf  # noqa: PLC0415
    from verifier.service.verify import MAX_CERTIFICATE_B64_CHARS  # noqa: PLC0415
    from verifier.tsa import load_certificates  # noqa: PLC0415

    ca = CA(tmp_path, "dev")
    good = base64.b64encode(certificate_pdf(tmp_path, ca).read_bytes()).decode()
    wrong = base64.b64encode(
        certificate_pdf(tmp_path, ca, evidence_id="ev-9999").read_bytes()
    ).decode()
    cas = tuple(load_certificates(ca.ca.read_bytes()))
    api, bundle = client(certificate_cas=cas)
    assert "DEVELOPMENT CA" in api.get("/v1/config").json()["certificate_cas"][0]
    answer = api.post("/v1/verify", json={"bundle": bundle, "certificate": good}).json()
    assert answer["certificate"]["ok"] is True, answer["certificate"]
    answer = api.post("/v1/verify", json={"bundle": bundle, "certificate": wrong}).json()
    assert answer["outcome"] == "failed" and answer["certificate"]["ok"] is False
    assert "ev-9999" in answer["certificate"]["detail"]
    for bad, needle in (
        ("not base64!", "certificate: String should match pattern"),
        ("AAAA" * (MAX_CERTIFICATE_B64_CHARS // 4 + 1), "certificate: String should have at most"),
        ("AAAAA", "certificate: not valid base64"),
    ):
        refused = api.post("/v1/verify", json={"bundle": bundle, "certificate": bad})
        assert refused.status_code in (413, 422), refused.text
        assert needle in refused.json()["detail"] or refused.status_code == 413
    bare, bundle = client()
    refused = bare.post("/v1/verify", json={"bundle": bundle, "certificate": good})
    assert refused.status_code == 422
    assert "trusts no certificate CA" in refused.json()["detail"]
