"""存证证书 (evidence certificates): a PAdES-signed PDF stating one evidence item's
digests. A verifier checks its signature against the certificates it trusts
(``evidence-verify --certificate cert.pdf --certificate-ca ca.pem``) and that the digests
it states are the bundle's (docs/certificates.md).

Consensus-critical: the statement's format (``evidence-certificate/v1``) changes only
with a new version. The PDF's printed text is for people; what is checked is the
statement, a JSON file embedded in the PDF under :data:`STATEMENT_NAME`, in the same
signed revision as the signature (so the signature covers it):

.. code-block:: json

    {"evidence_id": "ev-…", "files": [{"name": "…", "sha256": "…", "size": 1, "sm3": "…"}],
     "format": "evidence-certificate/v1", "issued_at": "2026-12-03T10:00:00Z",
     "leaf_hash": "…", "log_origin": "…", "manifest": {"sha256": "…", "sm3": "…"}}

written as RFC 8785 canonical JSON (UTF-8), every digest 64 lowercase hex digits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verifier.bundle import Bundle
from verifier.canonical import canonical_json, parse_json
from verifier.digests import sm3_hex
from verifier.errors import FormatError
from verifier.models import MAX_MANIFEST_FILES, Hex32, Identifier, Manifest, Timestamp

#: The most bytes of a certificate PDF a verifier reads.
MAX_CERTIFICATE_BYTES = 16 * 1024 * 1024
#: The statement's name among the PDF's embedded files, its format, and its size limit.
STATEMENT_NAME = "evidence-certificate.json"
STATEMENT_FORMAT = "evidence-certificate/v1"
MAX_STATEMENT_BYTES = 256 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class StatedDigests(_Strict):
    sha256: Hex32
    sm3: Hex32


class StatedFile(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=0, le=2**53 - 1)]
    sha256: Hex32
    sm3: Hex32


class Statement(_Strict):
    """What a 存证证书 states, machine-readably (``evidence-certificate/v1``)."""

    format: Literal["evidence-certificate/v1"]
    evidence_id: Identifier
    #: the log entry's RFC 9162 leaf hash
    leaf_hash: Hex32
    #: SHA-256 and SM3 of the manifest's canonical bytes (the entry's body)
    manifest: StatedDigests
    #: the log's origin line (its checkpoints' first line)
    log_origin: Annotated[str, Field(min_length=1, max_length=256)]
    #: when the certificate was issued (UTC, RFC 3339 with ``Z``)
    issued_at: Timestamp
    files: Annotated[list[StatedFile], Field(min_length=1, max_length=MAX_MANIFEST_FILES)]

    def to_bytes(self) -> bytes:
        """The RFC 8785 canonical bytes embedded in the PDF."""
        return canonical_json(self.model_dump(mode="json"))


def statement_for(
    manifest: Manifest, *, leaf_hash: str, log_origin: str, issued_at: str
) -> Statement:
    """The statement of an evidence item, from its (logged) manifest."""
    data = manifest.canonical()
    return Statement(
        format="evidence-certificate/v1",
        evidence_id=manifest.evidence_id,
        leaf_hash=leaf_hash,
        manifest=StatedDigests(sha256=hashlib.sha256(data).hexdigest(), sm3=sm3_hex(data)),
        log_origin=log_origin,
        issued_at=issued_at,
        files=[
            StatedFile(name=f.name, size=f.size, sha256=f.sha256, sm3=f.sm3) for f in manifest.files
        ],
    )


def load_statement(data: bytes) -> Statement:
    """Parse a statement (bounded, strict JSON); raises :class:`FormatError`."""
    obj = parse_json(data, max_bytes=MAX_STATEMENT_BYTES, what="certificate statement")
    if not isinstance(obj, dict) or obj.get("format") != STATEMENT_FORMAT:
        raise FormatError(f"the certificate statement is not {STATEMENT_FORMAT}")
    try:
        return Statement.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "statement"
        raise FormatError(f"invalid certificate statement: {where}: {err['msg']}") from exc


@dataclass(frozen=True)
class CertificateCheck:
    """``ok``, or why not (``detail``: one line, English); ``facts`` for reports (signer,
    signing time, evidence id, the digests compared)."""

    ok: bool
    detail: str
    facts: Mapping[str, str | int] = field(default_factory=lambda: MappingProxyType({}))


def _differences(statement: Statement, bundle: Bundle) -> list[str]:
    """What the statement says that the bundle does not (empty: they agree)."""
    entry = bundle.entry
    if entry.kind != "evidence":
        return [f"the bundle's entry is a {entry.kind!r} entry, not evidence"]
    found = []
    if statement.evidence_id != entry.id:
        found.append(f"evidence id {statement.evidence_id} (bundle: {entry.id})")
    if statement.leaf_hash != bundle.leaf_hash:
        found.append(f"leaf hash {statement.leaf_hash} (bundle: {bundle.leaf_hash})")
    if statement.manifest.sha256 != entry.body["manifest_sha256"]:
        found.append(
            f"manifest SHA-256 {statement.manifest.sha256} "
            f"(bundle: {entry.body['manifest_sha256']})"
        )
    if statement.manifest.sm3 != entry.body["manifest_sm3"]:
        found.append(
            f"manifest SM3 {statement.manifest.sm3} (bundle: {entry.body['manifest_sm3']})"
        )
    if statement.log_origin != bundle.log_origin:
        found.append(f"log origin {statement.log_origin!r} (bundle: {bundle.log_origin!r})")
    if bundle.manifest is not None:
        stated = [(f.name, f.size, f.sha256, f.sm3) for f in statement.files]
        listed = [(f.name, f.size, f.sha256, f.sm3) for f in bundle.manifest.files]
        if stated != listed:
            found.append("the files (names, sizes, SHA-256, SM3) differ from the manifest's")
    return found


def check_certificate(pdf: bytes, bundle: Bundle, trusted: Sequence[bytes]) -> CertificateCheck:
    """Check a 存证证书 PDF: its PAdES signature (intact, covering the whole file, by a
    certificate chaining to one of ``trusted``, PEM or DER) and that the digests it states
    are the bundle's entry's. Never raises for a bad PDF: the reason is in the verdict."""
    if len(pdf) > MAX_CERTIFICATE_BYTES:
        return CertificateCheck(
            False, f"certificate PDF is {len(pdf)} bytes, limit {MAX_CERTIFICATE_BYTES}"
        )
    from verifier.pades import read_attachment, verify_pdf_signature  # noqa: PLC0415

    verdict = verify_pdf_signature(pdf, trusted)
    facts: dict[str, str | int] = {}
    if verdict.signer is not None:
        facts["signer"] = verdict.signer
    if verdict.signed_at is not None:
        facts["signed_at"] = verdict.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not verdict.ok:
        return CertificateCheck(False, f"signature: {verdict.detail}", MappingProxyType(facts))
    try:
        data = read_attachment(pdf, STATEMENT_NAME)
        if data is None:
            raise FormatError(f"the PDF carries no {STATEMENT_NAME} statement")
        statement = load_statement(data)
    except FormatError as exc:
        return CertificateCheck(False, f"statement: {exc}", MappingProxyType(facts))
    facts |= {
        "evidence_id": statement.evidence_id,
        "leaf_hash": statement.leaf_hash,
        "manifest_sha256": statement.manifest.sha256,
        "manifest_sm3": statement.manifest.sm3,
        "log_origin": statement.log_origin,
        "issued_at": statement.issued_at,
        "files": len(statement.files),
    }
    differences = _differences(statement, bundle)
    if differences:
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        return CertificateCheck(
            False,
            f"the certificate states {differences[0]}{more}",
            MappingProxyType(facts),
        )
    files = "its files, " if bundle.manifest is not None else ""
    return CertificateCheck(
        True,
        f"signed by {verdict.signer}; states this entry's evidence id, leaf hash, "
        f"{files}manifest SHA-256 and SM3 and log origin",
        MappingProxyType(facts),
    )
