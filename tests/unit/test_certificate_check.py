"""存证证书 checks (verifier.certificate): a certificate verifies against the bundle of its
own evidence only; the statement it embeds is what is compared, and every disagreement is
named."""

from __future__ import annotations

import json

import pytest

from anchoring.entries import make_entry, pending_bundle
from evidence_api.certificates.devca import make_development_ca
from evidence_api.certificates.render import render_certificate
from tests.support.factories import Sealed, certificate_input, sealed_evidence
from verifier.bundle import Bundle
from verifier.certificate import (
    MAX_CERTIFICATE_BYTES,
    STATEMENT_NAME,
    Statement,
    check_certificate,
    load_statement,
    statement_for,
)
from verifier.errors import FormatError
from verifier.pades import Attachment, sign_pdf

ISSUED = "2026-12-03T10:00:00Z"


@pytest.fixture(scope="module")
def ca() -> dict[str, bytes]:
    return make_development_ca()


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return sealed_evidence({"页面.html": b"<p>listing</p>", "shot.png": b"\x89PNG fake"})


def statement_of(sealed: Sealed) -> Statement:
    return statement_for(
        sealed.manifest,
        leaf_hash=sealed.bundle.leaf_hash,
        log_origin=sealed.bundle.log_origin,
        issued_at=ISSUED,
    )


def certificate(
    ca: dict[str, bytes], statement: Statement | None, *, raw: bytes | None = None
) -> bytes:
    """A signed certificate PDF (rendered as the service does) stating ``statement``, or
    embedding ``raw`` bytes as the statement."""
    shown = statement or statement_of(sealed_evidence())
    data = certificate_input(shown)
    body = raw if raw is not None else (statement.to_bytes() if statement else None)
    attachments = [Attachment(STATEMENT_NAME, body)] if body is not None else []
    return sign_pdf(
        render_certificate(data),
        ca["signer.pem"],
        ca["signer.key"],
        reason="test",
        attachments=attachments,
    )


@pytest.fixture(scope="module")
def pdf(ca: dict[str, bytes], sealed: Sealed) -> bytes:
    return certificate(ca, statement_of(sealed))


def test_the_certificate_matches_its_own_bundle(
    ca: dict[str, bytes], sealed: Sealed, pdf: bytes
) -> None:
    check = check_certificate(pdf, sealed.bundle, [ca["dev-ca.pem"]])
    assert check.ok, check.detail
    assert check.facts["evidence_id"] == sealed.entry.id
    assert check.facts["leaf_hash"] == sealed.bundle.leaf_hash
    assert check.facts["manifest_sha256"] == sealed.entry.body["manifest_sha256"]
    assert check.facts["manifest_sm3"] == sealed.entry.body["manifest_sm3"]
    assert check.facts["issued_at"] == ISSUED
    assert check.facts["files"] == 2
    assert "DEVELOPMENT" in str(check.facts["signer"])


def test_another_evidence_bundle_is_a_mismatch(ca: dict[str, bytes], pdf: bytes) -> None:
    other = sealed_evidence({"other.txt": b"other"})
    check = check_certificate(pdf, other.bundle, [ca["dev-ca.pem"]])
    assert not check.ok
    assert check.detail.startswith("the certificate states leaf hash"), check.detail
    assert "more)" in check.detail  # the manifest digests and files differ too


def test_a_different_log_origin_is_a_mismatch(
    ca: dict[str, bytes], sealed: Sealed, pdf: bytes
) -> None:
    moved = Bundle.model_validate({**sealed.bundle.model_dump(), "log_origin": "other.example/log"})
    check = check_certificate(pdf, moved, [ca["dev-ca.pem"]])
    assert not check.ok and "log origin" in check.detail


def test_files_must_be_the_manifests(ca: dict[str, bytes], sealed: Sealed) -> None:
    stated = statement_of(sealed)
    renamed = stated.model_copy(
        update={"files": [f.model_copy(update={"size": f.size + 1}) for f in stated.files]}
    )
    check = check_certificate(certificate(ca, renamed), sealed.bundle, [ca["dev-ca.pem"]])
    assert check.detail == (
        "the certificate states the files (names, sizes, SHA-256, SM3) differ from the manifest's"
    )
    # Without a manifest in the bundle, the files are not compared (the digests still are).
    bare = Bundle.model_validate({**sealed.bundle.model_dump(), "manifest": None})
    assert check_certificate(certificate(ca, renamed), bare, [ca["dev-ca.pem"]]).ok


def test_a_stamp_bundle_is_not_evidence(ca: dict[str, bytes], pdf: bytes) -> None:
    stamp = make_entry("stamp", "st-0001", {"sha256": "ab" * 32}, at="2026-12-03T10:00:00Z")
    bundle = pending_bundle(stamp, "receipt\n\n— x AAAA\n", origin="evidence.local/log")
    check = check_certificate(pdf, bundle, [ca["dev-ca.pem"]])
    assert (
        check.detail == "the certificate states the bundle's entry is a 'stamp' entry, not evidence"
    )


def test_a_signature_failure_comes_first(sealed: Sealed, pdf: bytes) -> None:
    check = check_certificate(pdf, sealed.bundle, [make_development_ca()["dev-ca.pem"]])
    assert not check.ok and check.detail.startswith("signature: the signer's certificate")


def test_missing_or_malformed_statements(ca: dict[str, bytes], sealed: Sealed) -> None:
    trusted = [ca["dev-ca.pem"]]
    none = check_certificate(certificate(ca, None), sealed.bundle, trusted)
    assert none.detail == f"statement: the PDF carries no {STATEMENT_NAME} statement"
    bad = check_certificate(certificate(ca, None, raw=b"{not json"), sealed.bundle, trusted)
    assert not bad.ok and bad.detail.startswith("statement: ")
    future = statement_of(sealed).model_dump(mode="json") | {"format": "evidence-certificate/v2"}
    raw = json.dumps(future).encode()
    v2 = check_certificate(certificate(ca, None, raw=raw), sealed.bundle, trusted)
    assert v2.detail == "statement: the certificate statement is not evidence-certificate/v1"


def test_the_size_limit_is_exact(sealed: Sealed) -> None:
    over = check_certificate(b"%" * (MAX_CERTIFICATE_BYTES + 1), sealed.bundle, [b""])
    assert over.detail == (
        f"certificate PDF is {MAX_CERTIFICATE_BYTES + 1} bytes, limit {MAX_CERTIFICATE_BYTES}"
    )
    at = check_certificate(b"%" * MAX_CERTIFICATE_BYTES, sealed.bundle, [b""])
    assert at.detail.startswith("signature: ")


def test_the_statement_is_canonical_json_and_round_trips(sealed: Sealed) -> None:
    stated = statement_of(sealed)
    data = stated.to_bytes()
    assert data.startswith(b'{"evidence_id":"ev-0001","files":[{"name":')  # sorted keys
    assert load_statement(data) == stated
    with pytest.raises(FormatError, match="invalid certificate statement: leaf_hash"):
        load_statement(data.replace(stated.leaf_hash.encode(), b"XY" * 32))
