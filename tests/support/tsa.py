"""A real RFC 3161 time-stamping authority for tests: OpenSSL's ``openssl ts -reply``
behind a small HTTP endpoint, with its own throwaway test CA.

:func:`make_authority` writes, into a folder, a test CA (``ca.pem``), a TSA signing
certificate issued by it (``tsa.pem``/``tsa.key``, extended key usage timeStamping,
critical), the ``tsa.cnf`` OpenSSL reads, and a second, unrelated CA (``other-ca.pem``,
for "wrong TSA certificate"). ``expired=True`` makes a TSA certificate whose validity
ended yesterday (OpenSSL still signs with it: the verifier must refuse the token).
:func:`serve` answers each ``POST`` of an ``application/timestamp-query`` by running
``openssl ts -reply -chain`` on it and returns the ``.tsr``; :func:`reply` does the same
without HTTP (without ``-chain`` unless asked). The ``tsa`` pytest fixture (import it
into a test module or conftest) runs one authority for a test.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from evidence_api.core.x509build import key_usage
from verifier.tsa import decode_response

MAX_QUERY_BYTES = 16 << 10

_CNF = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class Authority:
    """One test authority's files (and, once served, its URL)."""

    folder: Path
    #: the test CA that issued the TSA certificate (trust this to accept its tokens)
    ca_pem: Path
    #: the TSA's own signing certificate (trusting it alone also accepts its tokens)
    tsa_pem: Path
    #: an unrelated CA: trusting only it must refuse the tokens
    other_ca_pem: Path
    cnf: Path
    url: str = ""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evidence Anchor tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca(common_name: str, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage("key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _tsa_cert(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime, *, expired: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    if expired:
        not_before, not_after = now - dt.timedelta(days=30), now - dt.timedelta(days=1)
    else:
        not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=365)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Evidence Anchor test TSA"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage("digital_signature", "content_commitment"),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def make_authority(folder: Path, *, expired: bool = False) -> Authority:
    """Write a test CA, a TSA certificate it issued, an unrelated CA and ``tsa.cnf``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca, ca_key = _ca("Evidence Anchor test TSA CA", now)
    tsa, tsa_key = _tsa_cert(ca, ca_key, now, expired=expired)
    other, _ = _ca("Unrelated test CA", now)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "tsa.pem").write_bytes(tsa.public_bytes(pem))
    (folder / "tsa.key").write_bytes(_key_pem(tsa_key))
    (folder / "other-ca.pem").write_bytes(other.public_bytes(pem))
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_CNF.format(dir=folder))
    return Authority(
        folder=folder,
        ca_pem=folder / "ca.pem",
        tsa_pem=folder / "tsa.pem",
        other_ca_pem=folder / "other-ca.pem",
        cnf=folder / "tsa.cnf",
    )


_SERIAL_LOCK = threading.Lock()


def reply(authority: Authority, query: bytes, *, chain: bool = False) -> bytes:
    """``openssl ts -reply`` on one DER query: the DER ``TimeStampResp``. The token
    carries the TSA's certificate when the query asks for it; ``chain`` adds the CA's
    (``-chain``), leaf first as OpenSSL writes it: not DER order, which
    ``rfc3161_client.decode_timestamp_response`` refuses and
    :func:`verifier.tsa.decode_response` reads (the HTTP endpoint answers this way)."""
    with _SERIAL_LOCK, tempfile.TemporaryDirectory(dir=authority.folder) as work:
        tsq, tsr = Path(work) / "q.tsq", Path(work) / "r.tsr"
        tsq.write_bytes(query)
        extra = ["-chain", str(authority.ca_pem)] if chain else []
        subprocess.run(
            [
                "openssl",
                "ts",
                "-reply",
                "-config",
                str(authority.cnf),
                "-queryfile",
                str(tsq),
                "-signer",
                str(authority.tsa_pem),
                "-inkey",
                str(authority.folder / "tsa.key"),
                *extra,
                "-out",
                str(tsr),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return tsr.read_bytes()


class _Handler(BaseHTTPRequestHandler):
    authority: Authority

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self._answer(415, b"expected application/timestamp-query\n", "text/plain")
            return
        if not 0 < length <= MAX_QUERY_BYTES:
            self._answer(413, b"query too large or empty\n", "text/plain")
            return
        query = self.rfile.read(length)
        try:
            body = reply(self.authority, query, chain=True)
        except subprocess.CalledProcessError as exc:
            self._answer(400, exc.stderr[-2000:], "text/plain")
            return
        self._answer(200, body, "application/timestamp-reply")


@contextmanager
def serve(authority: Authority) -> Iterator[Authority]:
    """Serve ``authority`` on a free loopback port; yields it with its ``url``."""
    handler = type("Handler", (_Handler,), {"authority": authority})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="test-tsa", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Authority(
            folder=authority.folder,
            ca_pem=authority.ca_pem,
            tsa_pem=authority.tsa_pem,
            other_ca_pem=authority.other_ca_pem,
            cnf=authority.cnf,
            url=f"http://{host!s}:{port}/tsa",
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[Authority]:
    """A running test authority (valid certificate) for one test."""
    with serve(make_authority(tmp_path / "tsa")) as running:
        yield running


def query(data: bytes, algorithm: HashAlgorithm = HashAlgorithm.SHA256) -> bytes:
    """A DER time-stamp query over ``data`` (nonce, certReq), as the service builds one."""
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(algorithm)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    return request.as_bytes()


def token_over(authority: Authority, text: str) -> bytes:
    """The DER token ``authority`` issues over the UTF-8 ``text`` (a checkpoint's body)."""
    return decode_response(reply(authority, query(text.encode("utf-8")))).time_stamp_token()


def self_signed_ca(path: Path, name: str) -> Path:
    """A self-signed CA certificate (EC P-256, valid from yesterday to tomorrow) written to
    ``path`` as PEM: a certificate a verifier may be told to trust that issued nothing."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
