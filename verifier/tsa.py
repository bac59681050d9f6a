"""RFC 3161 time-stamp tokens on checkpoints (a second clock beside the chain's).

A token in a bundle's ``timestamps`` stamps the bundle's checkpoint: its message imprint
is SHA-256 of the checkpoint's note body (the text up to and including its last line's
newline, no signature lines). A verifier checks, against the TSA certificates it trusts
(``evidence-verify --tsa-cert PEM``): the imprint, the CMS signature, the signer's
certificate chain up to a trusted certificate and its validity at ``genTime``, and the
``timeStamping`` extended key usage.

The token is decoded and its CMS signature and chain verified by ``rfc3161-client``
(OpenSSL's ``PKCS7_verify`` at ``genTime``); the checks that library does not name
separately (which trusted certificate the signer chains to, validity at ``genTime``,
the extended key usage) are done first with ``cryptography``, so each failure has its
own reason. When the trusted certificate is the TSA's own signing certificate (pinned,
not its CA) OpenSSL cannot build a chain; the signature over the signed attributes and
their message digest are then checked with ``cryptography`` on the structure
``asn1crypto`` decoded. ``asn1crypto`` (pyHanko's ASN.1 library) also puts a token's
certificate set in DER order before rfc3161-client reads it: OpenSSL and other
authorities send the chain leaf first, which that strict parser refuses. The libraries
are imported on first use: the rest of the verifier does not need them. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from verifier.errors import VerifierError
from verifier.x509 import pem_certificates

if TYPE_CHECKING:
    from cryptography import x509
    from rfc3161_client import TimeStampResponse

#: Largest token read (a token with its signer's certificate is 1-8 KiB).
MAX_TOKEN_BYTES = 64 << 10
#: Longest chain followed from the signer to a trusted certificate.
MAX_CHAIN = 4
SHA256_OID = "2.16.840.1.101.3.4.2.1"
_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def imprint_of(checkpoint_text: str) -> bytes:
    """The message imprint a token on this checkpoint carries: SHA-256 of its note body."""
    return hashlib.sha256(checkpoint_text.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenCheck:
    """One token's verdict: ``ok``, or why not (``detail``, one line, English); the
    authority's time (``gen_time``, UTC) and signer subject when the token could be read."""

    tsa: str
    ok: bool
    detail: str
    gen_time: datetime | None = None
    signer: str | None = None
    serial: int | None = None


class _RefusedError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class _Facts:
    gen_time: datetime | None = None
    signer: str | None = None
    serial: int | None = None


def check_token(
    tsa: str, token: bytes, checkpoint_text: str, trusted: Sequence[bytes]
) -> TokenCheck:
    """Check the DER ``token`` (a CMS ``TimeStampToken``) named ``tsa`` against the
    checkpoint text and the ``trusted`` certificates (each PEM or DER). Never raises for
    a bad token: the reason is in the verdict."""
    facts = _Facts()
    try:
        detail = _check(token, checkpoint_text, trusted, facts)
    except _RefusedError as refused:
        return TokenCheck(tsa, False, refused.detail, facts.gen_time, facts.signer, facts.serial)
    except ImportError as exc:  # a verifier installed without the RFC 3161 libraries
        return TokenCheck(
            tsa,
            False,
            f"cannot check RFC 3161 tokens here: {exc.name or 'a library'} is not installed "
            "(needs rfc3161-client, cryptography and asn1crypto)",
        )
    return TokenCheck(tsa, True, detail, facts.gen_time, facts.signer, facts.serial)


def load_certificates(data: bytes) -> list[bytes]:
    """The DER certificates in a PEM file (one or more blocks) or a DER file; raises
    :class:`~verifier.errors.VerifierError` with a one-line reason if there are none."""
    ders = pem_certificates(data)
    if not ders and data[:1] == b"\x30" and len(data) <= MAX_TOKEN_BYTES:
        ders = [data]
    if not ders:
        raise VerifierError("no certificate found (expected PEM CERTIFICATE blocks or DER)")
    return ders


# --- the checks, in order; each failure raises _RefusedError with its reason ---------------


def _check(token: bytes, text: str, trusted_raw: Sequence[bytes], facts: _Facts) -> str:
    response, content = _decode(token)
    info = response.tst_info
    facts.gen_time = _utc(info.gen_time)
    facts.serial = int(info.serial_number)
    gen_time = facts.gen_time
    _check_imprint(
        info.message_imprint.hash_algorithm.dotted_string, info.message_imprint.message, text
    )
    trusted = _trusted(trusted_raw)
    embedded = _embedded(response)
    signer = _signer(response, embedded, trusted)
    facts.signer = signer.subject.rfc4514_string()
    _check_eku(signer)
    path = _chain(signer, embedded, trusted)
    for cert in path:
        _check_validity(cert, gen_time)
    if len(path) == 1:  # the signer's own certificate is trusted (pinned)
        _check_pinned_signature(content, signer)
    else:
        _check_cms(response, signer, path[-1], path[1:-1], text)
    return f"time-stamped {gen_time.isoformat()} by {facts.signer}"


def _sort_certificates(content: Any) -> None:
    """Put a SignedData's certificates in DER order (a SET OF): OpenSSL and others send
    them leaf first, which the strict DER parser of rfc3161-client refuses. The set is
    outside what the signature covers; nothing else is re-encoded."""
    from asn1crypto import cms  # type: ignore[import-untyped]  # noqa: PLC0415

    signed = content["content"]
    certificates = signed["certificates"]
    if not certificates:
        return
    ders = [c.dump() for c in certificates]
    if ders != sorted(ders):
        signed["certificates"] = cms.CertificateSet(
            [cms.CertificateChoices.load(der) for der in sorted(ders)]
        )


def decode_response(data: bytes) -> TimeStampResponse:
    """An RFC 3161 ``TimeStampResp`` decoded by rfc3161-client; one it refuses is read
    again with its token's certificate set put in DER order (see
    :func:`_sort_certificates`). Raises ``ValueError``."""
    from asn1crypto import tsp  # noqa: PLC0415
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415

    try:
        return decode_timestamp_response(data)
    except ValueError as first:
        try:
            parsed = tsp.TimeStampResp.load(data, strict=True)
            token = parsed["time_stamp_token"]
            if token["content_type"].native != "signed_data":
                raise
            _sort_certificates(token)
            sorted_data = parsed.dump()
        except (ValueError, TypeError, KeyError):
            raise first from None
        if sorted_data == data:
            raise
        return decode_timestamp_response(sorted_data)


def _decode(token: bytes) -> tuple[Any, Any]:
    if len(token) > MAX_TOKEN_BYTES:
        raise _RefusedError(f"malformed token: {len(token)} bytes, limit {MAX_TOKEN_BYTES}")
    from asn1crypto import cms, tsp  # noqa: PLC0415
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415

    try:
        content = cms.ContentInfo.load(token, strict=True)
        if content["content_type"].native != "signed_data":
            raise ValueError("not CMS SignedData")
        _sort_certificates(content)
        # rfc3161-client decodes responses: the token is wrapped in a granted one.
        wrapped = tsp.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": content}
        ).dump()
        response = decode_timestamp_response(wrapped)
        response.tst_info.gen_time  # noqa: B018 (decoded lazily: fail here, not later)
    except (ValueError, TypeError, KeyError) as exc:
        raise _RefusedError(
            f"malformed token: not a DER RFC 3161 TimeStampToken ({_short(exc)})"
        ) from exc
    return response, content


def _check_imprint(algorithm: str, imprint: bytes, text: str) -> None:
    if algorithm != SHA256_OID:
        raise _RefusedError(
            f"wrong imprint: the token's message imprint uses {algorithm}, not SHA-256"
        )
    if imprint != imprint_of(text):
        raise _RefusedError(
            "wrong imprint: the token's message imprint is not SHA-256 of this checkpoint's "
            "note body (the token is for another checkpoint or other data)"
        )


def _trusted(raw: Sequence[bytes]) -> list[x509.Certificate]:
    from cryptography import x509  # noqa: PLC0415

    out = []
    for item in raw:
        try:
            for der in load_certificates(item):
                out.append(x509.load_der_x509_certificate(der))
        except (VerifierError, ValueError) as exc:
            raise _RefusedError(
                f"untrusted certificate: a trusted TSA certificate is unreadable ({_short(exc)})"
            ) from exc
    if not out:
        raise _RefusedError("untrusted certificate: no trusted TSA certificate given")
    return out


def _embedded(response: Any) -> list[x509.Certificate]:
    from cryptography import x509  # noqa: PLC0415

    try:
        return [x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
    except ValueError as exc:
        raise _RefusedError(
            f"malformed token: a certificate in it is unreadable ({_short(exc)})"
        ) from exc


def _signer(
    response: Any, embedded: list[x509.Certificate], trusted: list[x509.Certificate]
) -> x509.Certificate:
    infos = list(response.signed_data.signer_infos)
    if len(infos) != 1:
        raise _RefusedError(f"malformed token: {len(infos)} signers, expected exactly one")
    info = infos[0]
    for cert in [*embedded, *trusted]:
        if cert.issuer == info.issuer and cert.serial_number == info.serial_number:
            return cert
    raise _RefusedError(
        "untrusted certificate: the token names a signer (issuer "
        f"{info.issuer.rfc4514_string()}, serial {info.serial_number:x}) whose certificate "
        "is neither in the token nor trusted"
    )


def _check_eku(cert: x509.Certificate) -> None:
    from cryptography import x509  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: PLC0415

    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or not eku.critical or ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        raise _RefusedError(
            f"untrusted certificate: signer {cert.subject.rfc4514_string()} is not a "
            "time-stamping certificate (needs extended key usage timeStamping, critical)"
        )


def _links(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _chain(
    signer: x509.Certificate, embedded: list[x509.Certificate], trusted: list[x509.Certificate]
) -> list[x509.Certificate]:
    """The path from the signer to a trusted certificate (inclusive)."""
    if signer in trusted:
        return [signer]
    path = [signer]
    while len(path) <= MAX_CHAIN:
        last = path[-1]
        anchor = next((t for t in trusted if _links(last, t)), None)
        if anchor is not None:
            return [*path, anchor]
        step = next((c for c in embedded if c not in path and _links(last, c)), None)
        if step is None:
            break
        path.append(step)
    raise _RefusedError(
        f"untrusted certificate: signer {signer.subject.rfc4514_string()} (issued by "
        f"{signer.issuer.rfc4514_string()}) does not chain to a trusted TSA certificate"
    )


def _check_validity(cert: x509.Certificate, gen_time: datetime) -> None:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if gen_time > end:
        raise _RefusedError(
            f"expired certificate: {cert.subject.rfc4514_string()} expired "
            f"{end.isoformat()}, before the token's genTime {gen_time.isoformat()}"
        )
    if gen_time < start:
        raise _RefusedError(
            f"expired certificate: {cert.subject.rfc4514_string()} was not yet valid at the "
            f"token's genTime {gen_time.isoformat()} (valid from {start.isoformat()})"
        )


def _check_cms(
    response: Any,
    signer: x509.Certificate,
    root: x509.Certificate,
    intermediates: list[x509.Certificate],
    text: str,
) -> None:
    from rfc3161_client import VerificationError, VerifierBuilder  # noqa: PLC0415

    builder = VerifierBuilder(tsa_certificate=signer, roots=[root], intermediates=intermediates)
    try:
        builder.build().verify_message(response, text.encode("utf-8"))
    except VerificationError as exc:
        raise _RefusedError(
            f"bad signature: the token's CMS signature does not verify ({_short(exc)})"
        ) from exc


def _check_pinned_signature(content: Any, signer: x509.Certificate) -> None:
    """The CMS signature with the signer's certificate itself as the trust anchor."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: PLC0415

    try:
        signed = content["content"]
        info = signed["signer_infos"][0]
        digest_name = info["digest_algorithm"]["algorithm"].native
        attrs = info["signed_attrs"]
        econtent = signed["encap_content_info"]["content"].contents
        digests = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
        signed_bytes = attrs.untag().dump(force=True)
        signature = info["signature"].native
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise _RefusedError(
            f"malformed token: unreadable signer information ({_short(exc)})"
        ) from exc
    if digest_name not in _DIGESTS or len(digests) != 1:
        raise _RefusedError(
            f"malformed token: digest {digest_name!r} or its message-digest attribute"
        )
    if digests[0] != _DIGESTS[digest_name](econtent).digest():
        raise _RefusedError("bad signature: the signed message digest is not the token's content")
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[
        digest_name
    ]
    key = signer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed_bytes)
        else:
            raise _RefusedError(f"bad signature: unsupported signer key {type(key).__name__}")
    except InvalidSignature as exc:
        raise _RefusedError("bad signature: the token's CMS signature does not verify") from exc


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
