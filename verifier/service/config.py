"""Configuration of the verification service (environment ``VERIFIER_*``).

The service's trust roots — the log keys, the chain id, the contract and the RPC
endpoints — are its own configuration, never taken from a request or from
what the evidence API answers. A bad value refuses the start with one line
naming the variable (:class:`ServiceConfigError`), never a traceback.

========================== ====================================================
``VERIFIER_LOG_KEYS``      trusted log verifier keys (vkey text), whitespace-separated
``VERIFIER_RPC_URLS``      JSON-RPC endpoints for tier 5, whitespace-separated
``VERIFIER_CHAIN_ID``      the trusted chain id
``VERIFIER_CONTRACT``      the trusted EvidenceLog contract address
``VERIFIER_MIN_CONFIRMATIONS`` confirmations tier 5 needs (default 1)
``VERIFIER_LOG_URL``       the evidence API whose public lookup ``/v1/lookup`` asks
``VERIFIER_LOG_TIMEOUT``   seconds for one lookup request upstream (default 10)
``VERIFIER_PORTAL_URL``    public URL of the portal, for the report's QR code
                           (default: the request's base URL + ``/verify``)
``VERIFIER_MAX_PACKAGE_BYTES`` largest package upload (default 2 GiB)
``VERIFIER_SPOOL_DIR``     where uploads are spooled (default: the system temp dir)
``VERIFIER_WITNESSES``     trusted witness verifier keys (type 0x04 vkeys), whitespace-separated:
                           tier 4 checks the checkpoint's cosignatures
``VERIFIER_WITNESS_QUORUM`` how many of them must have cosigned (default: all)
``VERIFIER_TSA_CERTS``     trusted time-stamping authority certificates: PEM/DER file paths,
                           whitespace-separated; tier 4 checks the RFC 3161 timestamps
``VERIFIER_CERTIFICATE_CAS`` trusted CA certificates of 存证证书 (PEM/DER paths, whitespace-
                           separated): ``/v1/verify`` then checks a certificate sent with a bundle
``VERIFIER_REPORT_CERT``   PEM certificate (and chain) that PAdES-signs the reports
``VERIFIER_REPORT_KEY``    its PEM private key (both or neither)
========================== ====================================================
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from verifier.chain.anchor import make_anchor_check
from verifier.chain.rpc import endpoint_name
from verifier.cosignature import MAX_WITNESSES, WitnessKey, WitnessPolicy
from verifier.errors import ChainConfigError, FormatError, VerifierError
from verifier.files import BoundedReadError, read_bounded
from verifier.note import VerifierKey
from verifier.verify import AnchorCheck, TimestampCheck, make_timestamp_check

DEFAULT_MAX_PACKAGE_BYTES = 2 * 2**30
MAX_PACKAGE_BYTES_LIMIT = 2**40
DEFAULT_LOG_TIMEOUT = 10.0
MAX_LOG_KEYS = 16
MAX_URL_CHARS = 2048
MAX_TSA_CERT_FILES = 16
MAX_TRUST_FILE_BYTES = 1024 * 1024
#: The portal's files, shipped inside the package (``package-data``).
PORTAL_DIR = Path(__file__).resolve().parent / "portal"


class ServiceConfigError(FormatError):
    """A ``VERIFIER_*`` setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class ServiceConfig:
    """Trust roots and limits of the service (environment ``VERIFIER_*``)."""

    log_keys: tuple[VerifierKey, ...] = ()
    rpc_urls: tuple[str, ...] = ()
    contract: str | None = None
    chain_id: int | None = None
    min_confirmations: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    log_url: str | None = None
    log_timeout: float = DEFAULT_LOG_TIMEOUT
    portal_url: str | None = None
    max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES
    spool_dir: Path | None = None
    portal_dir: Path = PORTAL_DIR
    witness_keys: tuple[WitnessKey, ...] = ()
    witness_quorum: int | None = None
    #: DER certificates of the trusted time-stamping authorities
    tsa_certs: tuple[bytes, ...] = ()
    #: DER certificates of the CAs that issue 存证证书
    certificate_cas: tuple[bytes, ...] = ()
    #: PEM certificate (with chain) and key that sign the reports; None: unsigned reports
    report_cert: bytes | None = None
    report_key: bytes | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceConfig:
        """Read and check every ``VERIFIER_*`` variable; raises :class:`ServiceConfigError`."""
        env = os.environ if env is None else env
        rpc = tuple(u for u in env.get("VERIFIER_RPC_URLS", "").split() if u)
        contract = env.get("VERIFIER_CONTRACT", "").strip() or None
        chain_id = _int(env, "VERIFIER_CHAIN_ID", None, 1, 2**53 - 1)
        chain = {"VERIFIER_RPC_URLS": rpc, "VERIFIER_CONTRACT": contract,
                 "VERIFIER_CHAIN_ID": chain_id}  # fmt: skip
        missing = [name for name, value in chain.items() if not value]
        if 0 < len(missing) < len(chain):
            raise ServiceConfigError(
                f"{', '.join(missing)} not set: tier 5 needs VERIFIER_RPC_URLS, "
                "VERIFIER_CONTRACT and VERIFIER_CHAIN_ID together (or none of them)"
            )
        spool = env.get("VERIFIER_SPOOL_DIR", "").strip()
        if spool and not Path(spool).is_dir():
            raise ServiceConfigError(f"VERIFIER_SPOOL_DIR {spool[:200]!r} is not a directory")
        config = cls(
            log_keys=_keys(env.get("VERIFIER_LOG_KEYS", "")),
            rpc_urls=rpc,
            contract=contract,
            chain_id=chain_id,
            min_confirmations=_int(env, "VERIFIER_MIN_CONFIRMATIONS", 1, 1, 1_000_000) or 1,
            log_url=_url(env, "VERIFIER_LOG_URL"),
            log_timeout=_seconds(env, "VERIFIER_LOG_TIMEOUT", DEFAULT_LOG_TIMEOUT),
            portal_url=_url(env, "VERIFIER_PORTAL_URL"),
            max_package_bytes=_int(
                env,
                "VERIFIER_MAX_PACKAGE_BYTES",
                DEFAULT_MAX_PACKAGE_BYTES,
                1,
                MAX_PACKAGE_BYTES_LIMIT,
            )
            or DEFAULT_MAX_PACKAGE_BYTES,
            spool_dir=Path(spool) if spool else None,
            witness_keys=_witness_keys(env.get("VERIFIER_WITNESSES", "")),
            witness_quorum=_int(env, "VERIFIER_WITNESS_QUORUM", None, 1, MAX_WITNESSES),
            tsa_certs=_certificates("VERIFIER_TSA_CERTS", env.get("VERIFIER_TSA_CERTS", "")),
            certificate_cas=_certificates(
                "VERIFIER_CERTIFICATE_CAS", env.get("VERIFIER_CERTIFICATE_CAS", "")
            ),
            report_cert=_pem_file(env, "VERIFIER_REPORT_CERT", b"-----BEGIN CERTIFICATE-----"),
            report_key=_pem_file(env, "VERIFIER_REPORT_KEY", b"PRIVATE KEY-----"),
        )
        if (config.report_cert is None) != (config.report_key is None):
            raise ServiceConfigError(
                "VERIFIER_REPORT_CERT and VERIFIER_REPORT_KEY go together (or neither)"
            )
        if config.report_cert is not None and config.report_key is not None:
            _check_signing_pair(config.report_cert, config.report_key)
        try:
            config.witness_policy()
        except FormatError as exc:
            raise ServiceConfigError(f"VERIFIER_WITNESSES/WITNESS_QUORUM: {exc}") from exc
        try:
            config.anchor_check()
        except ChainConfigError as exc:  # names the CLI option: say which variable instead
            raise ServiceConfigError(f"VERIFIER_RPC_URLS/CONTRACT/CHAIN_ID: {exc}") from exc
        return config

    def anchor_check(self) -> AnchorCheck | None:
        """The tier-5 check against the trusted chain, or None when none is configured."""
        if not self.rpc_urls or self.contract is None or self.chain_id is None:
            return None
        return make_anchor_check(
            list(self.rpc_urls),
            contract=self.contract,
            chain_id=self.chain_id,
            min_confirmations=self.min_confirmations,
        )

    def witness_policy(self) -> WitnessPolicy | None:
        """The witnesses tier 4 checks (the service's own, never a request's), or None."""
        if not self.witness_keys:
            if self.witness_quorum is not None:
                raise ServiceConfigError("VERIFIER_WITNESS_QUORUM needs VERIFIER_WITNESSES")
            return None
        return WitnessPolicy.of(self.witness_keys, self.witness_quorum)

    def timestamp_check(self) -> TimestampCheck | None:
        """Tier 4's RFC 3161 token check against the trusted TSA certificates, or None."""
        return make_timestamp_check(self.tsa_certs) if self.tsa_certs else None

    def tsa_subjects(self) -> list[str]:
        """Each trusted TSA certificate's subject and SHA-256 fingerprint, for the portal."""
        return _subjects(self.tsa_certs)

    def certificate_ca_subjects(self) -> list[str]:
        """Each trusted 存证证书 CA's subject and SHA-256 fingerprint."""
        return _subjects(self.certificate_cas)

    def describe(self) -> list[str]:
        """The trust roots, one per line, for the start banner: what an operator compares
        with the log's own (``evidence chain status``, the ``evidence serve`` banner).
        RPC URLs show only scheme, host and port: a path or query often holds an API key."""
        lines = [f"trusted log key  {k.to_text()} (key id {k.key_id.hex()})" for k in self.log_keys]
        if not lines:
            lines.append("trusted log key  none: tiers 3 and 4 fail (set VERIFIER_LOG_KEYS)")
        policy = self.witness_policy()
        if policy is None:
            lines.append("witnesses        none: cosignatures are not checked (VERIFIER_WITNESSES)")
        else:
            lines += [f"witness          {k.to_text()}" for k in policy.keys]
            lines.append(f"witness quorum   {policy.quorum}")
        lines += [f"trusted TSA      {subject}" for subject in self.tsa_subjects()]
        lines += [f"certificate CA   {subject}" for subject in self.certificate_ca_subjects()]
        if self.report_cert is not None:
            lines.append("report signing   on (VERIFIER_REPORT_CERT)")
        if self.chain is None:
            lines.append(
                "trusted chain    none: tier 5 is skipped (set VERIFIER_RPC_URLS, "
                "VERIFIER_CONTRACT and VERIFIER_CHAIN_ID)"
            )
            return lines
        lines += [
            f"chain id         {self.chain_id}",
            f"contract         {self.contract}",
            *(f"RPC URL          {endpoint_name(url)}" for url in self.rpc_urls),
            f"confirmations    {self.min_confirmations}",
        ]
        return lines

    @property
    def chain(self) -> dict[str, object] | None:
        """The trusted chain facts, as the portal shows them (None: tier 5 is off)."""
        if not self.rpc_urls or self.contract is None or self.chain_id is None:
            return None
        return {"chain_id": self.chain_id, "contract": self.contract}


def _keys(text: str) -> tuple[VerifierKey, ...]:
    keys = []
    for i, word in enumerate(text.split()):
        try:
            keys.append(VerifierKey.from_text(word))
        except VerifierError as exc:
            raise ServiceConfigError(f"VERIFIER_LOG_KEYS: key {i + 1}: {exc}") from exc
    if len(keys) > MAX_LOG_KEYS:
        raise ServiceConfigError(f"VERIFIER_LOG_KEYS: at most {MAX_LOG_KEYS} keys")
    return tuple(keys)


def _subjects(certs: tuple[bytes, ...]) -> list[str]:
    from cryptography import x509  # noqa: PLC0415

    out = []
    for der in certs:
        fingerprint = hashlib.sha256(der).hexdigest()
        try:
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        except ValueError:
            subject = "unreadable certificate"
        out.append(f"{subject} (SHA-256 {fingerprint})")
    return out


def _witness_keys(text: str) -> tuple[WitnessKey, ...]:
    words = text.split()
    if len(words) > MAX_WITNESSES:
        raise ServiceConfigError(f"VERIFIER_WITNESSES: at most {MAX_WITNESSES} keys")
    keys = []
    for i, word in enumerate(words):
        try:
            keys.append(WitnessKey.from_text(word))
        except VerifierError as exc:
            raise ServiceConfigError(f"VERIFIER_WITNESSES: key {i + 1}: {exc}") from exc
    return tuple(keys)


def _read_file(name: str, path: str) -> bytes:
    try:
        return read_bounded(path, MAX_TRUST_FILE_BYTES)
    except BoundedReadError as exc:
        raise ServiceConfigError(f"{name} {path[:200]!r}: {exc}") from exc


def _certificates(name: str, text: str) -> tuple[bytes, ...]:
    from verifier.tsa import load_certificates  # noqa: PLC0415

    paths = text.split()
    if len(paths) > MAX_TSA_CERT_FILES:
        raise ServiceConfigError(f"{name}: at most {MAX_TSA_CERT_FILES} files")
    out: list[bytes] = []
    for path in paths:
        try:
            out += load_certificates(_read_file(name, path))
        except ServiceConfigError:
            raise
        except VerifierError as exc:
            raise ServiceConfigError(f"{name} {path[:200]!r}: {exc}") from exc
    return tuple(out)


def _pem_file(env: Mapping[str, str], name: str, marker: bytes) -> bytes | None:
    path = env.get(name, "").strip()
    if not path:
        return None
    data = _read_file(name, path)
    if marker not in data:
        raise ServiceConfigError(f"{name} {path[:200]!r}: no PEM {marker.decode().strip('-')}")
    return data


def _check_signing_pair(cert_pem: bytes, key_pem: bytes) -> None:
    """The report key must be the first certificate's: else every report's signature fails."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ServiceConfigError(f"VERIFIER_REPORT_CERT/KEY: unreadable: {exc}"[:300]) from exc
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise ServiceConfigError("VERIFIER_REPORT_KEY is not the key of VERIFIER_REPORT_CERT")


def _int(env: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ServiceConfigError(f"{name} must be an integer in {low}..{high}, got {raw[:40]!r}")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:  # also refuses nan and inf
        raise ServiceConfigError(f"{name} must be seconds in (0, 300], got {raw[:40]!r}")
    return value


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        parts = urllib.parse.urlsplit(raw)
        _ = parts.port  # a bad port raises here
    except ValueError as exc:
        raise ServiceConfigError(f"{name} {raw[:80]!r}: {exc}") from exc
    if (
        len(raw) > MAX_URL_CHARS
        or not raw.isprintable()
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        raise ServiceConfigError(
            f"{name} {raw[:80]!r}: must be an http:// or https:// URL without query or fragment"
        )
    return raw.rstrip("/")
