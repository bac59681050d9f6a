"""PAdES signing and checking (verifier.pades): a signature is accepted only intact, valid,
covering the whole file and chaining to a trusted certificate; each defect is refused with
its own reason, never an exception."""

from __future__ import annotations

import asyncio
import io
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.generic import pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from evidence_api.certificates.devca import make_development_ca
from verifier.errors import FormatError
from verifier.pades import (
    MAX_ATTACHMENT_BYTES,
    MAX_INFLATED_BYTES,
    MAX_PDF_BYTES,
    Attachment,
    PdfSignatureError,
    _decoded,
    inflation_problem,
    read_attachment,
    sign_pdf,
    verify_pdf_signature,
)

MARK = b"certified-text-0123456789"


def plain_pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=True, pageCompression=0)  # the text stays findable
    canvas.drawString(100, 700, MARK.decode())
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ca() -> dict[str, bytes]:
    return make_development_ca()


@pytest.fixture(scope="module")
def signed(ca: dict[str, bytes]) -> bytes:
    return sign_pdf(
        plain_pdf(),
        ca["signer.pem"],
        ca["signer.key"],
        reason="test",
        location="unit",
        attachments=[Attachment("statement.json", b'{"a":1}')],
    )


def test_signed_pdf_verifies_against_its_ca(ca: dict[str, bytes], signed: bytes) -> None:
    verdict = verify_pdf_signature(signed, [ca["dev-ca.pem"]])
    assert verdict.ok, verdict.detail
    assert verdict.signer is not None and "DEVELOPMENT certificate signer" in verdict.signer
    assert verdict.signed_at is not None
    assert abs(datetime.now(UTC) - verdict.signed_at) < timedelta(minutes=10)
    assert read_attachment(signed, "statement.json") == b'{"a":1}'
    assert read_attachment(signed, "other.json") is None


def test_the_signer_certificate_itself_may_be_the_trust_anchor(
    ca: dict[str, bytes], signed: bytes
) -> None:
    leaf = ca["signer.pem"].split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    assert verify_pdf_signature(signed, [leaf]).ok


def test_a_tampered_byte_fails(ca: dict[str, bytes], signed: bytes) -> None:
    at = signed.index(MARK) + 5
    tampered = signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1 :]
    verdict = verify_pdf_signature(tampered, [ca["dev-ca.pem"]])
    assert not verdict.ok
    assert verdict.detail == "the signed bytes were altered (their digest is not the signed one)"


def test_an_incremental_update_after_signing_fails(ca: dict[str, bytes], signed: bytes) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    writer.root["/Lang"] = pdf_string("en")
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    verdict = verify_pdf_signature(out.getvalue(), [ca["dev-ca.pem"]])
    assert not verdict.ok
    assert "does not cover the whole file" in verdict.detail
    # Bytes merely appended are refused the same way (a reader might show them).
    appended = verify_pdf_signature(signed + b"\n% appended\n", [ca["dev-ca.pem"]])
    assert not appended.ok and "does not cover the whole file" in appended.detail


def test_an_untrusted_ca_fails(signed: bytes) -> None:
    other = make_development_ca()
    verdict = verify_pdf_signature(signed, [other["dev-ca.pem"]])
    assert not verdict.ok
    assert verdict.detail.startswith(
        "the signer's certificate does not chain to a trusted certificate"
    )
    assert verdict.signer is not None  # who signed is still reported


def test_an_expired_signing_certificate_fails() -> None:
    old = make_development_ca(now=datetime.now(UTC) - timedelta(days=2000))
    pdf = sign_pdf(plain_pdf(), old["signer.pem"], old["signer.key"], reason="test")
    verdict = verify_pdf_signature(pdf, [old["dev-ca.pem"]])
    assert not verdict.ok and "does not chain to a trusted certificate" in verdict.detail


def test_unsigned_unreadable_and_oversized_pdfs_are_refused(ca: dict[str, bytes]) -> None:
    trusted = [ca["dev-ca.pem"]]
    assert verify_pdf_signature(plain_pdf(), trusted).detail == (
        "the PDF has 0 signatures; exactly one is expected"
    )
    assert verify_pdf_signature(b"not a pdf", trusted).detail.startswith("not a readable PDF")
    # The limit is exact: at it the PDF is parsed (and refused as unreadable), above not read.
    at_limit = verify_pdf_signature(b"%" * MAX_PDF_BYTES, trusted)
    assert at_limit.detail.startswith("not a readable PDF")
    over = verify_pdf_signature(b"%" * (MAX_PDF_BYTES + 1), trusted)
    assert over.detail == f"PDF is {MAX_PDF_BYTES + 1} bytes, limit {MAX_PDF_BYTES}"


def test_a_second_signature_is_refused(ca: dict[str, bytes], signed: bytes) -> None:
    signer = signers.SimpleSigner(
        signing_cert=next(load_certs_from_pemder_data(ca["signer.pem"])),
        signing_key=load_private_key_from_pemder_data(ca["signer.key"], passphrase=None),
        cert_registry=SimpleCertificateStore(),  # type: ignore[no-untyped-call]
    )
    out = io.BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Second"), signer).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(signed)), output=out
    )
    twice = out.getvalue()
    verdict = verify_pdf_signature(twice, [ca["dev-ca.pem"]])
    assert verdict.detail == "the PDF has 2 signatures; exactly one is expected"


def test_trusted_certificates_are_required_and_must_parse(signed: bytes) -> None:
    assert verify_pdf_signature(signed, []).detail == "no trusted certificate given"
    bad = verify_pdf_signature(signed, [b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
    assert not bad.ok and bad.detail.startswith("trusted certificate:")


def test_an_unusable_key_or_certificate_cannot_sign(ca: dict[str, bytes]) -> None:
    with pytest.raises(PdfSignatureError, match="unusable signing key"):
        sign_pdf(plain_pdf(), ca["signer.pem"], b"not a key", reason="x")
    with pytest.raises(PdfSignatureError):
        sign_pdf(plain_pdf(), b"", ca["signer.key"], reason="x")


def test_checking_inside_a_running_event_loop(ca: dict[str, bytes], signed: bytes) -> None:
    """pyHanko's synchronous API runs its own loop: from an ``async def`` it runs aside."""

    async def check() -> bool:
        return verify_pdf_signature(signed, [ca["dev-ca.pem"]]).ok

    assert asyncio.run(check())


def test_attachments_inflate_only_to_the_limit() -> None:
    bomb = zlib.compress(bytes(64 * 1024 * 1024), 9)  # 64 MiB of zeros in ~64 KB
    with pytest.raises(FormatError, match="over"):
        _decoded("s.json", bomb, "/FlateDecode", None)
    exact = zlib.compress(b"x" * MAX_ATTACHMENT_BYTES)
    assert len(_decoded("s.json", exact, "/FlateDecode", None)) == MAX_ATTACHMENT_BYTES
    with pytest.raises(FormatError, match="unsupported filter"):
        _decoded("s.json", b"", "/LZWDecode", None)
    with pytest.raises(FormatError, match="not valid deflate"):
        _decoded("s.json", b"garbage", "/FlateDecode", None)


def zeros_zlib(mib: int) -> bytes:
    """A zlib stream of ``mib`` MiB of zeros, built in milliseconds: one fully flushed
    1 MiB block repeated (each block's back-references stay inside it); no final block."""
    comp = zlib.compressobj(9)
    first = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mib - 1)


def test_a_flate_bomb_is_refused_before_the_pdf_library_inflates_it(
    ca: dict[str, bytes],
) -> None:
    bomb = zeros_zlib(MAX_INFLATED_BYTES // (1 << 20) + 1)  # ~260 KB claiming 257 MiB
    pdf = (
        b"%PDF-1.7\n1 0 obj\n<</Type/XRef/Length "
        + str(len(bomb)).encode()
        + b"/Filter/FlateDecode>>stream\n"
        + bomb
        + b"\nendstream\nendobj\nstartxref\n9\n%%EOF\n"
    )
    refusal = f"the PDF's compressed streams inflate to more than {MAX_INFLATED_BYTES} bytes"
    assert verify_pdf_signature(pdf, [ca["dev-ca.pem"]]).detail == refusal
    with pytest.raises(FormatError, match="inflate to more than"):
        read_attachment(pdf, "statement.json")
    # The budget is exact: what inflates to the budget passes, a byte more does not.
    small = b"stream\n" + zlib.compress(bytes(1000)) + b"\nendstream\n"
    assert inflation_problem(small, budget=1000) is None
    assert inflation_problem(small, budget=999) is not None
    # Streams that are not zlib data cost nothing and are left to the parser.
    assert inflation_problem(b"stream\nnot zlib\nendstream\n" * 1000) is None
