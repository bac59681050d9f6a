"""The 存证证书 PDF prints what its statement says (title, evidence id, submitter, every file's
SHA-256 and SM3, the manifest digests, leaf hash, log origin, the QR target), says so when the
development CA signs it, escapes evidence text, and is the same bytes for the same input."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime

from pypdf import PdfReader

from evidence_api.certificates.content import CertificateInput
from evidence_api.certificates.render import (
    DEVELOPMENT_NOTE,
    certificate_number,
    render_certificate,
)
from tests.support.factories import sealed_evidence
from verifier.certificate import statement_for

SEALED = sealed_evidence({"<b>页面<i>.html": b"<p>listing</p>", "shot.png": b"\x89PNG fake"})
STATEMENT = statement_for(
    SEALED.manifest,
    leaf_hash=SEALED.bundle.leaf_hash,
    log_origin=SEALED.bundle.log_origin,
    issued_at="2026-12-03T10:00:00Z",
)
INPUT = CertificateInput(
    statement=STATEMENT,
    submitter="张三（泉州市市场监督管理局） [token-7]",
    received_at=datetime(2026, 12, 3, 9, 59, 58, tzinfo=UTC),
    captured_at="2026-12-03T09:58:00Z",
    source_url="https://shop.example.com/item/42?a=1&b=<2>",
    platform="example-mall",
    case_ref="泉市监案〔2026〕1号",
    signer="CN=Evidence Anchor DEVELOPMENT certificate signer",
    signer_fingerprint="ab" * 32,
    development=True,
    portal_url=f"http://127.0.0.1:8000/verifier/verify?leaf={SEALED.bundle.leaf_hash}",
)


def text_of(pdf: bytes) -> tuple[str, dict[str, str]]:
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    return "".join(text.split()), {k: str(v) for k, v in (reader.metadata or {}).items()}


def test_the_certificate_prints_its_statement() -> None:
    pdf = render_certificate(INPUT)
    text, meta = text_of(pdf)
    for expected in (
        "电子数据存证证书",
        "ElectronicEvidenceCertificate",
        certificate_number(STATEMENT),
        STATEMENT.evidence_id,
        "张三（泉州市市场监督管理局）[token-7]",
        "<b>页面<i>.html",  # evidence text printed as it is, not read as markup
        "https://shop.example.com/item/42?a=1&b=<2>",
        "泉市监案〔2026〕1号",
        STATEMENT.manifest.sha256,
        STATEMENT.manifest.sm3,
        STATEMENT.leaf_hash,
        STATEMENT.log_origin,
        "evidence-certificate.json",
        "ab" * 32,
        "2026-12-0318:00:00(UTC+08:00)",  # the issue time in Beijing time
    ):
        assert expected in text, expected
    for f in STATEMENT.files:  # digests may wrap inside their cell: compare without spaces
        assert f.sha256 in text and f.sm3 in text, f.name
    assert "".join(DEVELOPMENT_NOTE.split()) in text
    assert meta["/CreationDate"] == "D:20261203100000+00'00'"
    assert meta["/Title"] == f"电子数据存证证书 {certificate_number(STATEMENT)}"
    assert certificate_number(STATEMENT) == f"EC-20261203-{STATEMENT.leaf_hash[:8].upper()}"


def test_a_configured_certificate_prints_no_development_note() -> None:
    text, _ = text_of(render_certificate(replace(INPUT, development=False, portal_url=None)))
    assert "开发用证书" not in text and "development" not in text
    assert "Scantoverify" not in text  # no portal: no QR code


def test_rendering_is_deterministic() -> None:
    assert render_certificate(INPUT) == render_certificate(INPUT)
