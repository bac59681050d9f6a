"""The certificate that signs 存证证书: from settings, or a development CA.

Production configures ``certificate_cert_file`` (the signing certificate first, then its
chain, PEM) and ``certificate_key_file`` (its private key, PEM). Embedded mode without them
generates, once, under ``<data_dir>/certificates``:

- ``dev-ca.pem`` / ``dev-ca.key``: a self-signed CA named "Evidence Anchor DEVELOPMENT
  CA" (ECDSA P-256, ten years), whose certificate is what verifiers are handed
  (``GET /v1/trust/certificate-ca``);
- ``signer.pem`` / ``signer.key``: the signing certificate it issues ("Evidence Anchor
  DEVELOPMENT certificate signer", digitalSignature + nonRepudiation, five years),
  ``signer.pem`` holding it and then the CA.

Keys are written 0600 (the folder 0700), never replaced once there, and a certificate
signed by them says it is a development certificate without legal effect. Production
without a configured certificate issues nothing (one log line at start), rather than sign
court documents with a key nobody vouches for.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evidence_api.core.config import Settings
from evidence_api.core.x509build import key_usage
from verifier.files import BoundedReadError, read_bounded

log = logging.getLogger(__name__)

DEV_CA_NAME = "Evidence Anchor DEVELOPMENT CA"
DEV_SIGNER_NAME = "Evidence Anchor DEVELOPMENT certificate signer"
DEV_ORG = "Evidence Anchor (development only - no legal effect)"
FOLDER = "certificates"
MAX_PEM_BYTES = 256 * 1024


class CertificateConfigError(Exception):
    """The configured signing certificate or key cannot be used."""


@dataclass(frozen=True)
class SigningMaterial:
    """What signs certificates: the certificate and its chain (PEM, signer first), its key
    (PEM), the chain a verifier trusts (PEM), and whether it is the development CA."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes
    development: bool
    #: the signing certificate's subject (RFC 4514) and SHA-256 fingerprint (hex)
    subject: str
    fingerprint: str


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORG),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_development_ca(
    now: datetime | None = None,
    ca_name: str = DEV_CA_NAME,
    signer_name: str = DEV_SIGNER_NAME,
) -> dict[str, bytes]:
    """A new CA and signing certificate: ``{"dev-ca.pem", "dev-ca.key", "signer.pem",
    "signer.key"}`` (PEM). Pure: writes nothing (tests make their own CAs with it)."""
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage("key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(signer_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage("digital_signature", "content_commitment"),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return {
        "dev-ca.pem": _cert_pem(ca_cert),
        "dev-ca.key": _key_pem(ca_key),
        "signer.pem": _cert_pem(cert) + _cert_pem(ca_cert),
        "signer.key": _key_pem(key),
    }


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` whole (a temp file renamed over it), mode 0600 from the start."""
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)


def development_folder(settings: Settings) -> Path:
    return settings.data_dir / FOLDER


def ensure_development_ca(folder: Path) -> None:
    """Generate the development CA into ``folder`` unless it is there (under a lock:
    processes sharing the data folder make it once)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "signer.pem").is_file():
            return
        files = make_development_ca()
        for name in ("dev-ca.key", "dev-ca.pem", "signer.key", "signer.pem"):  # signer.pem last
            _write_private(folder / name, files[name])
        log.warning(
            "generated a DEVELOPMENT certificate authority for 存证证书 in %s: certificates "
            "it signs have no legal effect; configure EVIDENCE_CERTIFICATE_CERT_FILE and "
            "EVIDENCE_CERTIFICATE_KEY_FILE for real ones",
            folder,
        )


def _read(path: Path, what: str) -> bytes:
    try:
        return read_bounded(path, MAX_PEM_BYTES)
    except BoundedReadError as exc:
        raise CertificateConfigError(f"{what} {path}: {exc}") from exc


def _certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateConfigError(f"{what}: no PEM certificate ({exc})") from exc
    return certs


def _check_signer(leaf: x509.Certificate, key_pem: bytes, where: str) -> None:
    """Refuse at once what every verifier would refuse later: a key that is not the
    certificate's, or a certificate without the nonRepudiation (contentCommitment) key
    usage that verifiers of signed documents require (pyHanko does by default)."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateConfigError(f"certificate key for {where}: {exc}") from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != (
        leaf.public_key().public_bytes(serialization.Encoding.DER, public)
    ):
        raise CertificateConfigError(
            f"the certificate key does not belong to {where}'s first certificate"
        )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return  # no key usage extension: every usage is allowed
    if not usage.content_commitment:
        raise CertificateConfigError(
            f"{where}: the signing certificate needs the nonRepudiation (contentCommitment) "
            "key usage"
        )


def material(settings: Settings) -> SigningMaterial | None:
    """The signing certificate, key and trusted chain, or None where none may be used
    (production without a configured certificate). Raises :class:`CertificateConfigError`
    for configured files that cannot be read."""
    cert_file, key_file = settings.certificate_cert_file, settings.certificate_key_file
    if (cert_file is None) != (key_file is None):
        raise CertificateConfigError(
            "set both EVIDENCE_CERTIFICATE_CERT_FILE and EVIDENCE_CERTIFICATE_KEY_FILE"
        )
    development = cert_file is None
    if cert_file is None or key_file is None:
        if settings.mode == "production":
            return None
        folder = development_folder(settings)
        ensure_development_ca(folder)
        cert_file, key_file = folder / "signer.pem", folder / "signer.key"
    cert_pem = _read(cert_file, "certificate file")
    key_pem = _read(key_file, "certificate key file")
    certs = _certificates(cert_pem, str(cert_file))
    # A chain after the signer: those verify it; a lone (self-signed) signer: itself.
    chain = certs[1:] or certs[:1]
    leaf = certs[0]
    _check_signer(leaf, key_pem, str(cert_file))
    return SigningMaterial(
        cert_pem=cert_pem,
        key_pem=key_pem,
        ca_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
        development=development,
        subject=leaf.subject.rfc4514_string(),
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )
