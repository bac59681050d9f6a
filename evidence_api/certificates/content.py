"""What a 存证证书 prints (:class:`CertificateInput`): plain data, built by the issuing
process and rendered by :mod:`evidence_api.certificates.render` (in a helper process or
not: :mod:`evidence_api.certificates.pdf`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from verifier.certificate import Statement


@dataclass(frozen=True)
class CertificateInput:
    """What a certificate prints: the statement, and facts for people."""

    statement: Statement
    #: the submitter as people know them (display name, unit), never the pseudonym alone
    submitter: str
    received_at: datetime
    captured_at: str
    source_url: str | None
    platform: str | None
    case_ref: str | None
    #: the signing certificate's subject and SHA-256 fingerprint
    signer: str
    signer_fingerprint: str
    development: bool
    portal_url: str | None = None


def issued_now() -> str:
    """The issue time as a statement records it (UTC, seconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
