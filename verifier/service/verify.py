"""What the verification service verifies, and how it shapes the answer.

Two inputs give the same thing, a :class:`VerifyInput`: a JSON request
(a bundle plus the digests of files the client hashed itself, so the files
never leave its machine) or an uploaded evidence package (the files come
from the package and are hashed here). The package's own key and chain
facts are shown, never trusted: the service verifies with its configured
trust roots only.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verifier.bundle import MAX_BUNDLE_BYTES, Bundle, bundle_from_obj
from verifier.canonical import parse_json
from verifier.digests import FileDigest
from verifier.errors import FormatError, VerifierError
from verifier.explain import explain_result
from verifier.verify import Report, TierResult

#: The largest 存证证书 (evidence certificate) PDF a JSON request may carry, and its base64.
MAX_CERTIFICATE_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_CERTIFICATE_B64_CHARS = (MAX_CERTIFICATE_UPLOAD_BYTES + 2) // 3 * 4
#: A JSON request: the bundle (at most 1 MiB), up to 1,000 file digests and optionally a
#: certificate PDF (base64, at most 4 MiB decoded).
MAX_REQUEST_BYTES = MAX_BUNDLE_BYTES + 256 * 1024 + MAX_CERTIFICATE_B64_CHARS
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class FileDigestIn(BaseModel):
    """A file the client hashed itself (SHA-256 and SM3)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=0, le=2**53 - 1)]
    sha256: Hex64
    sm3: Hex64


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle: dict[str, Any] = Field(description="an evidence-proof/v1 bundle")
    files: Annotated[list[FileDigestIn], Field(max_length=1000)] = Field(default_factory=list)
    through: Annotated[int, Field(ge=1, le=5)] = 5
    certificate: (
        Annotated[
            str,
            Field(
                min_length=4,
                max_length=MAX_CERTIFICATE_B64_CHARS,
                pattern=r"^[A-Za-z0-9+/]+=*$",
                description="a 存证证书 (PAdES-signed PDF) to check against the bundle, "
                "standard base64, at most 4 MiB decoded; checked against the service's "
                "trusted certificate CAs (VERIFIER_CERTIFICATE_CAS)",
            ),
        ]
        | None
    ) = None


class AnchorCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle: dict[str, Any] = Field(description="an evidence-proof/v1 bundle")


@dataclass(frozen=True)
class VerifyInput:
    bundle: Bundle
    files: tuple[FileDigest, ...] = ()
    through: int = 5
    #: For an uploaded package: what it says about itself (shown, never trusted).
    package: dict[str, object] | None = field(default=None)
    #: a 存证证书 PDF to check against the bundle
    certificate: bytes | None = None


class InputError(Exception):
    """The request cannot be used (HTTP 422); the message is the one-line reason."""


def _validation_reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "request"
    return f"{loc}: {first['msg']}"


def parse_verify_json(body: bytes) -> VerifyInput:
    try:
        raw = parse_json(body, max_bytes=MAX_REQUEST_BYTES, what="request")
        req = VerifyRequest.model_validate(raw)
        bundle = bundle_from_obj(req.bundle)
    except FormatError as exc:
        raise InputError(str(exc)) from exc
    except ValidationError as exc:
        raise InputError(_validation_reason(exc)) from exc
    files = tuple(FileDigest(f.name, f.size, f.sha256, f.sm3) for f in req.files)
    certificate = None
    if req.certificate is not None:
        try:
            certificate = base64.b64decode(req.certificate, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError("certificate: not valid base64") from exc
    return VerifyInput(bundle, files, req.through, certificate=certificate)


def parse_anchor_json(body: bytes) -> Bundle:
    try:
        raw = parse_json(body, max_bytes=MAX_REQUEST_BYTES, what="request")
        return bundle_from_obj(AnchorCheckRequest.model_validate(raw).bundle)
    except FormatError as exc:
        raise InputError(str(exc)) from exc
    except ValidationError as exc:
        raise InputError(_validation_reason(exc)) from exc


def read_package_input(stream: IO[bytes], through: int) -> VerifyInput:
    """Read (and hash) an uploaded package; a hostile or inconsistent one is refused."""
    # Imported here: the package reader is only needed for uploads.
    from verifier.package import read_package_stream  # noqa: PLC0415

    try:
        package = read_package_stream(stream)
    except VerifierError as exc:  # PackageError and every format error under it
        raise InputError(f"package refused: {exc}") from exc
    chain = package.chain
    info: dict[str, object] = {
        "source": package.source,
        "files": [digest_dict(f) for f in package.files],
        # What the package says about its own trust roots: for the reader to compare
        # with the operator's published ones. Never used to verify.
        "log_key_text": package.log_key_text,
        "chain": None
        if chain is None
        else {"chain_id": chain.chain_id, "contract": chain.contract, "log_id": chain.log_id},
        "trusted": False,
    }
    return VerifyInput(package.bundle, tuple(package.files), through, info)


def digest_dict(f: FileDigest) -> dict[str, object]:
    return {"name": f.name, "size": f.size, "sha256": f.sha256, "sm3": f.sm3}


def facts_of(result: TierResult) -> dict[str, object]:
    """The tier's structured facts (tier 5: confirmations, block time), if it has any."""
    return dict(result.facts)


def tier_dict(result: TierResult) -> dict[str, object]:
    return {
        "tier": result.tier,
        "name": result.name,
        "status": result.status.value,
        "detail": result.detail,
        "facts": facts_of(result),
        **explain_result(result).fields(),
    }


def report_dict(report: Report) -> dict[str, object]:
    """``Report.to_dict()`` with each tier's Chinese name, facts and plain explanations."""
    out = report.to_dict()
    out["tiers"] = [tier_dict(t) for t in report.tiers]
    return out


def log_outcome(tiers: Sequence[TierResult]) -> str:
    """The outcome of tiers 3–5 alone: what a lookup can establish without the files."""
    statuses = {t.status.value for t in tiers if t.tier >= 3}
    if "failed" in statuses:
        return "failed"
    if "not_checked" in statuses:
        return "incomplete"
    return "verified"
