"""What the appraisal report prints: :class:`ReportInput`, checked when it is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from verifier.bundle import Bundle
from verifier.digests import FileDigest
from verifier.report.font import ReportError
from verifier.verify import Report

#: Longest portal URL put in the QR code (a version-25 code at level M holds ~1,800 bytes;
#: a longer URL makes a code too dense to scan from paper).
MAX_PORTAL_URL_CHARS = 1024
MAX_TRUSTED_KEYS = 16
MAX_ENDPOINTS = 16


@dataclass(frozen=True)
class ReportInput:
    """Everything the report prints; see :func:`render_pdf`."""

    report: Report
    bundle: Bundle
    #: the files actually hashed (may be empty: then tier 1 was not checked)
    files: Sequence[FileDigest]
    #: aware; printed in UTC and in Beijing time, and used as the PDF's dates
    generated_at: datetime
    #: the QR code's target, e.g. ``https://host/verify?leaf=<leaf_hash>``; None: no QR code
    portal_url: str | None
    #: the verifier key texts the check trusted
    trusted_keys: Sequence[str]
    #: names (not URLs with secrets) of the tier-5 endpoints used
    rpc_endpoints: Sequence[str]
    lang: Literal["zh", "en"] = "zh"

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None or self.generated_at.utcoffset() is None:
            raise ReportError("generated_at must be an aware datetime (UTC)")
        if self.lang not in ("zh", "en"):
            raise ReportError(f"lang must be 'zh' or 'en', not {str(self.lang)[:20]!r}")
        url = self.portal_url
        if url is not None and (
            not url.startswith(("https://", "http://"))
            or len(url) > MAX_PORTAL_URL_CHARS
            or not url.isprintable()
            or " " in url
        ):
            raise ReportError(
                f"portal URL must be an http(s) URL of at most {MAX_PORTAL_URL_CHARS} characters"
            )
        if len(self.trusted_keys) > MAX_TRUSTED_KEYS:
            raise ReportError(
                f"at most {MAX_TRUSTED_KEYS} trusted keys, got {len(self.trusted_keys)}"
            )
        if len(self.rpc_endpoints) > MAX_ENDPOINTS:
            raise ReportError(f"at most {MAX_ENDPOINTS} endpoints, got {len(self.rpc_endpoints)}")
