"""The recording proxy's browser-side TLS: a throwaway CA per capture, leaf certificates
minted per host on demand.

The browser talks TLS only to the recording proxy (it runs with ``ignore_https_errors``);
the proxy is the TLS client that verifies the real origin. The certificates minted here
therefore prove nothing and are never stored as evidence; they exist so the browser can
speak HTTPS to the proxy. The CA key lives in memory for one capture and is then dropped.
ECDSA P-256: minting a leaf costs well under a millisecond.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from evidence_api.core.x509build import key_usage

#: Most hosts one capture mints certificates for (each is a cached SSLContext).
MAX_HOSTS = 1024
_VALIDITY = dt.timedelta(days=2)
_BACKDATE = dt.timedelta(hours=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evidence Anchor capture proxy"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


class MintingCA:
    """One capture's throwaway CA and the per-host server contexts minted from it."""

    def __init__(self, label: str = "") -> None:
        now = dt.datetime.now(dt.UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"Evidence Anchor capture CA {label}".strip())
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                key_usage("digital_signature", "key_cert_sign", "crl_sign"),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate (PEM), for a client that wants to trust the proxy."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def leaf_pem(self, host: str) -> tuple[bytes, bytes]:
        """(certificate chain PEM: leaf then CA, private key PEM) for ``host``."""
        now = dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        san: x509.GeneralName
        try:
            san = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        chain = leaf.public_bytes(pem) + self.ca_pem
        key_pem = key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return chain, key_pem

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting a certificate for ``host`` (minted once, cached).

        HTTP/1.1 only (ALPN), so the browser never tries HTTP/2 with the proxy.
        Raises ValueError past :data:`MAX_HOSTS` hosts.
        """
        with self._lock:
            found = self._contexts.get(host)
            if found is not None:
                return found
            if len(self._contexts) >= MAX_HOSTS:
                raise ValueError(f"more than {MAX_HOSTS} TLS hosts in one capture")
            chain, key = self.leaf_pem(host)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_alpn_protocols(["http/1.1"])
            # ssl can load a certificate and key only from files: a private temp dir,
            # removed at once (the key is throwaway and lives for one capture anyway).
            with tempfile.TemporaryDirectory(prefix="capture-tls-") as folder:
                chain_file = Path(folder) / "chain.pem"
                key_file = Path(folder) / "key.pem"
                chain_file.write_bytes(chain)
                key_file.touch(mode=0o600)
                key_file.write_bytes(key)
                context.load_cert_chain(chain_file, key_file)
            self._contexts[host] = context
            return context
