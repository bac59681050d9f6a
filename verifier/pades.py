"""PAdES signatures on the PDFs we issue (存证证书, 核验报告), with pyHanko.

Profile (docs/certificates.md): PAdES B-B (``/SubFilter /ETSI.CAdES.detached``), SHA-256,
one signature in a new incremental update that also holds any attachment (a machine-readable
statement, an embedded file), the signer's certificate and its chain in the CMS. Checking is
strict, because a court reads what the signature covers: exactly one signature, intact,
valid, covering the whole file (no incremental update after it: whatever was appended would
be shown by a PDF reader but not signed), by a certificate that chains to one the caller
trusts, at the time of checking. Nothing is fetched (no OCSP, no CRL): offline, like the
rest of :mod:`verifier`.

pyHanko is optional for the verifier core: it is imported only when a PDF is signed or
checked, and its absence is a :class:`PdfSignatureError` with the package to install.
pyHanko's synchronous calls run their own event loop; where the calling thread already
runs one (an ``async def`` route), they run on a thread of their own.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, NamedTuple, TypeVar

from verifier.errors import FormatError

#: The most bytes of a PDF checked, and of one attachment read from it.
MAX_PDF_BYTES = 16 * 1024 * 1024
MAX_ATTACHMENT_BYTES = 256 * 1024
#: Signature container room (bytes of DER) reserved in the PDF: the CMS with a chain of
#: a few certificates fits in well under 16 KiB.
SIGNATURE_ROOM = 16 * 1024
FIELD_NAME = "EvidenceAnchorSignature"
#: The most bytes all of a PDF's Flate streams may inflate to, together: the PDF library
#: inflates the cross-reference and object streams it reads without a bound of its own.
MAX_INFLATED_BYTES = 256 * 1024 * 1024
_STREAM = re.compile(rb"(?<!end)stream\r?\n")

T = TypeVar("T")


class PdfSignatureError(FormatError):
    """A PDF cannot be signed (unusable certificate or key) or pyHanko is missing."""


@dataclass(frozen=True)
class Attachment:
    """A file embedded in the PDF (its ``/EmbeddedFiles`` name tree) in the signed update."""

    name: str
    data: bytes
    media_type: str = "application/json"
    description: str = ""


class SignatureVerdict(NamedTuple):
    """``ok``, or why not (``detail``: one line, English); the signer's subject (RFC 4514)
    and the signing time it states (``/M``, UTC) when the signature could be read."""

    ok: bool
    detail: str
    signer: str | None
    signed_at: datetime | None


def _lib() -> SimpleNamespace:
    """pyHanko's pieces used here, imported on first use; absent: :class:`PdfSignatureError`
    (the verifier core installs without them: caught ImportError marks them optional)."""
    try:
        from cryptography import x509  # noqa: PLC0415
        from pyhanko.keys import (  # noqa: PLC0415
            load_certs_from_pemder_data,
            load_private_key_from_pemder_data,
        )
        from pyhanko.pdf_utils import embed  # noqa: PLC0415
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: PLC0415
        from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: PLC0415
        from pyhanko.sign import fields, signers  # noqa: PLC0415
        from pyhanko.sign.validation import validate_pdf_signature  # noqa: PLC0415
        from pyhanko.sign.validation.status import SignatureCoverageLevel  # noqa: PLC0415
        from pyhanko_certvalidator import ValidationContext  # noqa: PLC0415
        from pyhanko_certvalidator.registry import SimpleCertificateStore  # noqa: PLC0415
    except ImportError as exc:
        raise PdfSignatureError(
            "signing or checking a PDF signature needs pyHanko: "
            "pip install 'pyhanko>=0.25' 'pyhanko-certvalidator>=0.26'"
        ) from exc
    # pyHanko logs each refusal with a traceback; the verdict carries the reason. Without
    # handlers of the application's own, Python's last-resort handler would print them.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
    return SimpleNamespace(
        x509=x509,
        load_certs_from_pemder_data=load_certs_from_pemder_data,
        load_private_key_from_pemder_data=load_private_key_from_pemder_data,
        embed=embed,
        IncrementalPdfFileWriter=IncrementalPdfFileWriter,
        PdfFileReader=PdfFileReader,
        fields=fields,
        signers=signers,
        validate_pdf_signature=validate_pdf_signature,
        SignatureCoverageLevel=SignatureCoverageLevel,
        ValidationContext=ValidationContext,
        SimpleCertificateStore=SimpleCertificateStore,
    )


def _off_loop(call: Callable[[], T]) -> T:
    """``call()`` here, or on a thread of its own if this thread runs an event loop
    (pyHanko's synchronous API calls ``asyncio.run``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="pades")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _load_certificates(data: bytes) -> list[Any]:
    """asn1crypto certificates from PEM (one or more blocks) or DER bytes."""
    try:
        return list(_lib().load_certs_from_pemder_data(data))
    except (ValueError, TypeError) as exc:
        raise PdfSignatureError(f"not a PEM or DER certificate: {exc}"[:300]) from exc


def sign_pdf(
    pdf: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    *,
    reason: str,
    location: str = "",
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """``pdf`` signed (PAdES B-B, one signature covering the whole file) with the
    certificate (and its chain, PEM) ``cert_pem`` and the private key ``key_pem``;
    ``attachments`` are embedded in the same, signed, incremental update.

    Raises :class:`PdfSignatureError` for an unusable certificate or key."""
    lib = _lib()
    signers, embed = lib.signers, lib.embed

    certs = _load_certificates(cert_pem)
    if not certs:
        raise PdfSignatureError("the signing certificate file holds no certificate")
    try:
        key = lib.load_private_key_from_pemder_data(key_pem, passphrase=None)
    except (ValueError, TypeError) as exc:
        raise PdfSignatureError(f"unusable signing key: {exc}"[:300]) from exc
    signer = signers.SimpleSigner(
        signing_cert=certs[0],
        signing_key=key,
        cert_registry=lib.SimpleCertificateStore.from_certs(certs[1:]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=lib.fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location or None,
    )

    def run() -> bytes:
        writer = lib.IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        for item in attachments:
            stream = embed.EmbeddedFileObject.from_file_data(
                writer, item.data, mime_type=item.media_type
            )
            spec = embed.FileSpec(
                file_spec_string=item.name,
                file_name=item.name,
                embedded_data=stream,
                description=item.description or None,
            )
            embed.embed_file(writer, spec)
        out = io.BytesIO()
        signers.PdfSigner(meta, signer).sign_pdf(writer, output=out, bytes_reserved=SIGNATURE_ROOM)
        return out.getvalue()

    try:
        return _off_loop(run)
    except (ValueError, TypeError, KeyError) as exc:
        raise PdfSignatureError(f"cannot sign the PDF: {exc}"[:300]) from exc


def _subject(cert: Any) -> str:
    return str(_lib().x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string())


def _trust_problem(status: Any) -> str:
    indication = getattr(status, "trust_problem_indic", None)
    name = getattr(indication, "name", None) or "untrusted"
    return name.lower().replace("_", " ")


def verify_pdf_signature(pdf: bytes, trusted: Sequence[bytes]) -> SignatureVerdict:
    """Check the PDF's one signature: intact (the signed bytes hash to the signed digest),
    valid (the CMS signature verifies), covering the whole file, by a certificate that
    chains to one of ``trusted`` (PEM or DER; each a trust anchor) now. Never raises for a
    bad PDF or certificate: the reason is in the verdict."""
    if len(pdf) > MAX_PDF_BYTES:
        return SignatureVerdict(
            False, f"PDF is {len(pdf)} bytes, limit {MAX_PDF_BYTES}", None, None
        )
    if (bomb := inflation_problem(pdf)) is not None:
        return SignatureVerdict(False, bomb, None, None)
    try:
        lib = _lib()
    except PdfSignatureError as exc:
        return SignatureVerdict(False, str(exc), None, None)
    roots: list[Any] = []
    for item in trusted:
        try:
            roots.extend(_load_certificates(item))
        except PdfSignatureError as exc:
            return SignatureVerdict(False, f"trusted certificate: {exc}", None, None)
    if not roots:
        return SignatureVerdict(False, "no trusted certificate given", None, None)
    return _off_loop(lambda: _verify(lib, pdf, roots))


def _verify(lib: SimpleNamespace, pdf: bytes, roots: list[Any]) -> SignatureVerdict:
    try:
        reader = lib.PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = list(reader.embedded_regular_signatures)
    except Exception as exc:  # a hostile PDF may break the parser anywhere
        return SignatureVerdict(False, f"not a readable PDF: {_one_line(exc)}", None, None)
    if len(signatures) != 1:
        return SignatureVerdict(
            False, f"the PDF has {len(signatures)} signatures; exactly one is expected", None, None
        )
    context = lib.ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        status = lib.validate_pdf_signature(
            signatures[0], signer_validation_context=context, skip_diff=True
        )
    except Exception as exc:  # malformed CMS, unsupported algorithm, broken revision data
        return SignatureVerdict(False, f"unreadable signature: {_one_line(exc)}", None, None)
    try:
        signer: str | None = _subject(status.signing_cert)
    except Exception:  # a certificate cryptography refuses still has a verdict
        signer = None
    signed_at = status.signer_reported_dt
    if signed_at is not None:
        signed_at = signed_at.astimezone(UTC)
    if not status.intact:
        detail = "the signed bytes were altered (their digest is not the signed one)"
    elif not status.valid:
        detail = "the signature does not verify with the signer's certificate"
    elif status.coverage != lib.SignatureCoverageLevel.ENTIRE_FILE:
        detail = "the signature does not cover the whole file: something was added after signing"
    elif not status.trusted:
        detail = (
            "the signer's certificate does not chain to a trusted certificate "
            f"({_trust_problem(status)})"
        )
    else:
        return SignatureVerdict(True, f"signed by {signer}", signer, signed_at)
    return SignatureVerdict(False, detail, signer, signed_at)


def inflation_problem(pdf: bytes, budget: int = MAX_INFLATED_BYTES) -> str | None:
    """Why the PDF is refused before parsing (its zlib streams inflate to more than
    ``budget`` bytes together), or None. The data after each ``stream`` keyword, up to the
    next ``endstream``, is tried as zlib a megabyte at a time, so a few kilobytes claiming
    gigabytes cost at most the budget; each byte of the file is tried once."""
    total = 0
    view = memoryview(pdf)
    at = 0
    while (match := _STREAM.search(pdf, at)) is not None:
        start = match.end()
        end = pdf.find(b"endstream", start)
        end = len(pdf) if end < 0 else end
        at = end
        inflater = zlib.decompressobj()
        data: bytes | memoryview = view[start:end]
        try:
            while data and not inflater.eof:
                total += len(inflater.decompress(data, 1 << 20))
                data = inflater.unconsumed_tail
                if total > budget:
                    return f"the PDF's compressed streams inflate to more than {budget} bytes"
        except zlib.error:
            continue  # not zlib data: nothing a parser would inflate
    return None


def read_attachment(pdf: bytes, name: str) -> bytes | None:
    """The embedded file ``name`` (from the document's flat ``/EmbeddedFiles`` name tree),
    or None if it has none of that name. Raises :class:`FormatError` for a PDF that cannot
    be read, a name given twice, or an attachment over :data:`MAX_ATTACHMENT_BYTES`.

    Read from the file's last revision: call it after :func:`verify_pdf_signature` said the
    signature covers the whole file, so that revision is the signed one."""
    if len(pdf) > MAX_PDF_BYTES:
        raise FormatError(f"PDF is {len(pdf)} bytes, limit {MAX_PDF_BYTES}")
    if (bomb := inflation_problem(pdf)) is not None:
        raise FormatError(bomb)
    lib = _lib()
    try:
        reader = lib.PdfFileReader(io.BytesIO(pdf), strict=False)
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        pairs = [(str(names[i]), names[i + 1]) for i in range(0, len(names) - 1, 2)]
    except KeyError:
        return None
    except Exception as exc:  # a hostile PDF may break the parser anywhere
        raise FormatError(f"not a readable PDF: {_one_line(exc)}") from exc
    found = [spec for key, spec in pairs if key == name]
    if len(found) > 1:
        raise FormatError(f"the PDF attaches {name!r} {len(found)} times")
    if not found:
        return None
    try:
        stream = found[0].get_object()["/EF"]["/F"].get_object()
        encoded = bytes(stream.encoded_data)
        flate = stream.get("/Filter")
        params = stream.get("/DecodeParms")
    except Exception as exc:
        raise FormatError(f"attachment {name!r} cannot be read: {_one_line(exc)}") from exc
    return _decoded(name, encoded, None if flate is None else str(flate), params)


def _decoded(name: str, encoded: bytes, flate: str | None, params: object) -> bytes:
    """The attachment's bytes, inflated at most to the limit (a few KB of deflate can
    claim gigabytes: never let the PDF library inflate it unbounded)."""
    if flate is None and params is None:
        data = encoded
    elif flate == "/FlateDecode" and params is None:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(encoded, MAX_ATTACHMENT_BYTES + 1)
        except zlib.error as exc:
            raise FormatError(f"attachment {name!r} is not valid deflate data") from exc
    else:
        raise FormatError(f"attachment {name!r} uses an unsupported filter ({flate})")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise FormatError(f"attachment {name!r} is over {MAX_ATTACHMENT_BYTES} bytes")
    return data


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
