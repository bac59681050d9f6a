"""存证证书 (evidence certificates): a PAdES-signed PDF stating one evidence item's
digests. A verifier checks its signature against the certificates it trusts
(``evidence-verify --certificate cert.pdf --certificate-ca ca.pem``) and that the digests
it states are the bundle's (docs/certificates.md). (Contract stub: filled in by the
certificate work.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from verifier.bundle import Bundle

#: The most bytes of a certificate PDF a verifier reads.
MAX_CERTIFICATE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class CertificateCheck:
    """``ok``, or why not (``detail``: one line, English); ``facts`` for reports (signer,
    signing time, evidence id, the digests compared)."""

    ok: bool
    detail: str
    facts: Mapping[str, str | int] = field(default_factory=lambda: MappingProxyType({}))


def check_certificate(pdf: bytes, bundle: Bundle, trusted: Sequence[bytes]) -> CertificateCheck:
    """Check a 存证证书 PDF: its PAdES signature (intact, covering the whole file, by a
    certificate chaining to one of ``trusted``, PEM or DER) and that the digests it states
    are the bundle's entry's. Never raises for a bad PDF: the reason is in the verdict."""
    raise NotImplementedError
