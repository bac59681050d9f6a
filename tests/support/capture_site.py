"""The capture tests' fixture website: a real HTTPS server with its own test CA.

``capture_site()`` generates a throwaway CA and a server certificate for ``localhost`` and
``127.0.0.1`` (with an intermediate, so a "full chain as served" has two certificates),
and serves :data:`PAGES` over HTTPS from a thread on a free loopback port. Only the
capture's recording proxy trusts the CA (``EVIDENCE_CAPTURE_UPSTREAM_CA``); the system
and the test browser do not.

Pages are functions of the request; each returns (status, headers, body) or streams.
The hostile pages (endless redirects, a 200 MB response, endless JavaScript, dialogs,
downloads, basic-auth, never idle) live here too, so every capture test hits one server.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: The listing's price as the page's JavaScript renders it (tests look for this text).
PRICE_TEXT = "¥ 1,299.00"
PRODUCT_TITLE = "泉州特产 安溪铁观音 500g 礼盒装"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


Handler = Callable[["SiteRequest"], Response]


@dataclass(frozen=True)
class SiteRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


def _html(body: str, status: int = 200, **headers: str) -> Response:
    return Response(status, {"Content-Type": "text/html; charset=utf-8", **headers}, body.encode())


LISTING = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{PRODUCT_TITLE}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css"></head>
<body><h1 id="title">{PRODUCT_TITLE}</h1>
<div id="price" class="price">加载中…</div>
<script src="/static/listing.js"></script></body></html>"""

LISTING_JS = """
fetch('/api/price.json').then(r => r.json()).then(p => {
  document.getElementById('price').textContent = p.price;
});
""".strip()

PAGES: dict[str, Handler] = {
    "/listing": lambda r: _html(LISTING),
    "/static/listing.js": lambda r: Response(
        200, {"Content-Type": "application/javascript"}, LISTING_JS.encode()
    ),
    "/static/site.css": lambda r: Response(
        200, {"Content-Type": "text/css"}, b"body{font-family:sans-serif}.price{color:#c00}"
    ),
    "/api/price.json": lambda r: Response(
        200,
        {"Content-Type": "application/json; charset=utf-8"},
        ('{"price": "' + PRICE_TEXT + '"}').encode(),
    ),
    # A redirect chain: /r1 -> /r2 -> /listing (301 then 302).
    "/r1": lambda r: Response(301, {"Location": "/r2"}, b""),
    "/r2": lambda r: Response(302, {"Location": "/listing"}, b""),
}


@dataclass(frozen=True)
class TestCA:
    """The fixture's certificates: root CA, intermediate, and the server's leaf."""

    ca_pem: bytes
    chain_pem: bytes  #: leaf then intermediate, as the server sends it
    key_pem: bytes
    leaf: x509.Certificate
    intermediate: x509.Certificate
    root: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evidence Anchor test fixture"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_test_ca() -> TestCA:
    """A root, an intermediate and a leaf for localhost / 127.0.0.1 / ::1 (ECDSA P-256)."""
    import ipaddress  # noqa: PLC0415

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=7)
    root_key = ec.generate_private_key(ec.SECP256R1())
    mid_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())

    def cert(
        subject: str,
        issuer: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        *,
        ca: bool,
        sans: list[x509.GeneralName] | None = None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    root = cert(
        "Evidence Anchor Test Root CA",
        _name("Evidence Anchor Test Root CA"),
        root_key,
        root_key,
        ca=True,
    )
    mid = cert("Evidence Anchor Test Intermediate", root.subject, mid_key, root_key, ca=True)
    leaf = cert(
        "localhost",
        mid.subject,
        leaf_key,
        mid_key,
        ca=False,
        sans=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
    )
    pem = serialization.Encoding.PEM
    return TestCA(
        ca_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + mid.public_bytes(pem),
        key_pem=leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        leaf=leaf,
        intermediate=mid,
        root=root,
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages: dict[str, Handler] = PAGES

    def log_message(self, format: str, *args: object) -> None:
        return

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length else b""
        handler = self.pages.get(path)
        if handler is None:
            response = _html("<h1>404 页面不存在</h1>", 404)
        else:
            request = SiteRequest(self.command, path, query, dict(self.headers.items()), body)
            response = handler(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if "Content-Length" not in response.headers:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_HEAD = _serve  # noqa: N815 - http.server names them


@dataclass(frozen=True)
class Site:
    """A running fixture site."""

    base: str  #: https://localhost:<port>
    port: int
    ca: TestCA
    ca_file: Path  #: the root CA as PEM (EVIDENCE_CAPTURE_UPSTREAM_CA)

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def capture_site(folder: Path, *, host: str = "127.0.0.1") -> Iterator[Site]:
    """Serve the fixture website over HTTPS on a free port of ``host``; stopped on exit."""
    ca = make_test_ca()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chain.pem").write_bytes(ca.chain_pem)
    (folder / "key.pem").write_bytes(ca.key_pem)
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "chain.pem", folder / "key.pem")
    server = http.server.ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="capture-site", daemon=True)
    thread.start()
    try:
        yield Site(f"https://localhost:{port}", port, ca, ca_file)
    finally:
        server.shutdown()
        server.server_close()
