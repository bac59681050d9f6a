"""Builders of server-capture evidence for the verifier's and the report's unit tests.

A WACZ written here with :mod:`zipfile` (WACZ 1.1.1's layout: ``datapackage.json`` with a
``sha256:`` hash and byte count per resource, ``datapackage-digest.json`` holding the
SHA-256 of ``datapackage.json``), an environment record in the schema-1 layout of
``evidence_api.capture.environment``, a main document's redirect chain, a TLS chain made
with ``cryptography`` (a test dependency only: the verifier reads it with its own DER
reader), a screenshot made with Pillow, and a sealed bundle and package of all of it.
Nothing here touches the network or the disk, except :func:`write_zip`.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image

from anchoring.entries import evidence_entry, sealed_bundle, sign_checkpoint
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from tests.support.factories import Sealed, manifest_for, signer
from verifier.models import Manifest

CAPTURE_ID = "cap_8f3a2c"
URL = "https://shop.test/item/42"
FINAL_URL = "https://shop.test/item/42?from=redirect"
HOST_ID = "3f1c9a0b5e7d2468"
CHROMIUM = "141.0.7390.54"
STEP_LABEL = "打开商品页"
WARNING = "DNS 解析不一致: the system resolver says 127.0.0.1; the second says 192.0.2.7"
LEAF_CN = "shop.test"
CA_CN = "Evidence Test CA"
SHOT_SIZE = (640, 2400)  #: width, height of the screenshot (px)

WARC = (
    b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: https://shop.test/item/42\r\n"
    b"Content-Length: 42\r\n\r\nHTTP/1.1 200 OK\r\n\r\n<p>\xc2\xa5 1,299.00</p>\r\n\r\n"
)


# -- the WACZ -----------------------------------------------------------------------------------


def resources() -> dict[str, bytes]:
    """The WACZ's resources (path -> bytes), as the capture packs them."""
    return {
        "archive/data.warc.gz": gzip.compress(WARC, mtime=0),
        "indexes/index.cdxj": b'test,shop)/item/42 20261202182633 {"url": "https://shop.test/item/42"}\n',
        "pages/pages.jsonl": (
            b'{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}\n'
            b'{"id": "p1", "url": "https://shop.test/item/42", "ts": "2026-12-02T18:26:33Z"}\n'
        ),
    }


def datapackage(listed: Mapping[str, bytes]) -> bytes:
    """``datapackage.json`` listing ``listed`` with their true hashes and sizes."""
    return json.dumps(
        {
            "profile": "data-package",
            "wacz_version": "1.1.1",
            "resources": [
                {
                    "name": path.rsplit("/", 1)[-1],
                    "path": path,
                    "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                }
                for path, data in listed.items()
            ],
        },
        indent=2,
    ).encode()


def digest_record(package: bytes) -> bytes:
    """``datapackage-digest.json`` for the bytes of ``datapackage.json``."""
    return json.dumps(
        {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(package).hexdigest()}
    ).encode()


def wacz_members(listed: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """A consistent WACZ's members: the resources, their datapackage and its digest."""
    listed = resources() if listed is None else listed
    package = datapackage(listed)
    return {
        **listed,
        "datapackage.json": package,
        "datapackage-digest.json": digest_record(package),
    }


def zip_of(members: Mapping[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    """A ZIP of ``members`` (names kept exactly, '..' included), a fixed member time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 12, 2, 18, 26, 33))
            info.compress_type = method
            info.external_attr = 0o600 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def wacz(members: Mapping[str, bytes] | None = None) -> bytes:
    return zip_of(wacz_members() if members is None else members)


# -- the capture's other records ----------------------------------------------------------------


def environment_record() -> dict[str, Any]:
    """An environment.json in the schema-1 layout (evidence_api.capture.environment)."""
    return {
        "schema": 1,
        "recorded_by": "server",
        "capture_id": CAPTURE_ID,
        "url": URL,
        "target_host": "shop.test",
        "started_at": "2026-12-02T18:26:33.120Z",
        "browser_started_at": "2026-12-02T18:26:36.402Z",
        "ended_at": "2026-12-02T18:26:51.877Z",
        "host": {"id": HOST_ID, "id_source": "machine-id", "hostname": "capture-1"},
        "os": {
            "platform": "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
            "pretty_name": "Debian GNU/Linux 12 (bookworm)",
            "kernel": {"system": "Linux", "release": "6.1.0-18-amd64", "machine": "x86_64"},
        },
        "software": {"python": "CPython 3.11.2", "evidence_anchor": "0.1.0"},
        "browser": {
            "chromium": CHROMIUM,
            "playwright": "1.65.2",
            "launch_args": ["--headless", "--no-sandbox"],
            "proxy": "http://127.0.0.1:40123",
        },
        "proxy_env": {
            "variables": {},
            "recording_proxy": "http://127.0.0.1:40123",
            "clean": True,
        },
        "hosts": {
            "path": "/etc/hosts",
            "sha256": "6ddf9e4f" + "0" * 56,
            "bytes": 180,
            "cut": False,
            "target_lines": ["127.0.0.1 shop.test"],
        },
        "hosts_after": {"sha256": "6ddf9e4f" + "0" * 56, "changed": False},
        "resolver": {"lines": ["nameserver 10.0.0.53"]},
        "dns": {
            "target": "shop.test",
            "system": {"status": "answered", "a": ["127.0.0.1"], "aaaa": []},
            "second": {
                "status": "answered",
                "a": ["192.0.2.7"],
                "aaaa": [],
                "server": "192.0.2.53:5353",
            },
            "agree": "no",
        },
        "egress": {"url": "https://echo.test/ip", "ip": "203.0.113.9"},
        "clock": {
            "servers": ["127.0.0.1:123"],
            "before": [{"server": "127.0.0.1:123", "offset_ms": 2500.25, "stratum": 2}],
            "after": [{"server": "127.0.0.1:123", "error": "timed out"}],
        },
        "steps": [
            {
                "index": 1,
                "action": "goto",
                "label": STEP_LABEL,
                "started": "2026-12-02T18:26:37.000Z",
                "ended": "2026-12-02T18:26:39.500Z",
            },
            {
                "index": 2,
                "action": "scroll",
                "label": None,
                "started": "2026-12-02T18:26:39.600Z",
                "ended": "2026-12-02T18:26:40.100Z",
                "detail": '{"scroll_y": 2400, "url": "https://shop.test/item/42?from=redirect"}',
            },
        ],
        "steps_dropped": 0,
        "limits_hit": [
            {
                "name": "max_page_height",
                "detail": "cut at 20000 px",
                "at": "2026-12-02T18:26:50.000Z",
            }
        ],
        "warnings": [WARNING],
        "warnings_dropped": 0,
        "errors": [],
        "runner_keys": ["selfcheck", "device", "tls", "proxy", "main_document"],
        "selfcheck": {
            "url": "http://evidence-selfcheck.invalid/",
            "ok": True,
            "sha256": "9f86d081884c7d65" + "0" * 48,
            "expected_sha256": "9f86d081884c7d65" + "0" * 48,
            "mismatches": {},
        },
        "device": {"name": "desktop", "viewport": [1280, 800]},
        "tls": {
            "shop.test:443": {
                "file": "tls-shop.test-443.pem",
                "protocol": "TLSv1.3",
                "cipher": "TLS_AES_128_GCM_SHA256",
                "verified": True,
                "error": None,
                "certificates": 2,
            }
        },
        "proxy": {
            "requests": 12,
            "bytes_received": 48213,
            "limits_hit": [],
            "refused": [],
            "errors": [],
            "origins": {},
        },
        "main_document": {"url": URL, "final_url": FINAL_URL, "redirects": 2},
    }


def main_document() -> dict[str, Any]:
    """main-document.json as the runner writes it (evidence_api.capture.browser)."""
    chain = [
        {
            "url": "https://shop.test/r/1",
            "method": "GET",
            "status": 302,
            "status_text": "Found",
            "headers": [["location", "/r/2"]],
        },
        {
            "url": "https://shop.test/r/2",
            "method": "GET",
            "status": 301,
            "status_text": "Moved Permanently",
            "headers": [["location", "/item/42?from=redirect"]],
        },
        {
            "url": FINAL_URL,
            "method": "GET",
            "status": 200,
            "status_text": "OK",
            "headers": [["content-type", "text/html; charset=utf-8"]],
        },
    ]
    return {
        "requested_url": URL,
        "final_url": FINAL_URL,
        "page_url_at_end": FINAL_URL,
        "loaded_at": "2026-12-02T18:26:39.400Z",
        "redirects": 2,
        "chain": chain,
        "final_response": chain[-1],
        "note": "headers as Chromium received them from the recording proxy",
    }


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "取证测试"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def tls_chain() -> tuple[bytes, x509.Certificate]:
    """A PEM chain (leaf first, then its CA) and the leaf as cryptography reads it."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_CN))
        .issuer_name(_name(CA_CN))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(LEAF_CN))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(0x1234_5678_9ABC)
        .not_valid_before(start)
        .not_valid_after(datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(LEAF_CN), x509.DNSName("www.shop.test")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca))
    return pem, leaf


def screenshot(size: tuple[int, int] = SHOT_SIZE) -> bytes:
    """A PNG: a white page with a red band at the top (RGB)."""
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste((200, 30, 30), (0, 0, size[0], max(1, size[1] // 10)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def capture_files(**replace: bytes) -> dict[str, bytes]:
    """Every file of a ``steps`` capture (name -> bytes), some replaced."""
    pem, _ = tls_chain()
    files = {
        "screenshot.png": screenshot(),
        "step-01.png": screenshot((64, 48)),
        "dom.html": "<html><p>¥ 1,299.00</p></html>".encode(),
        "archive.wacz": wacz(),
        "traffic.har": b'{"log": {"version": "1.2", "entries": []}}',
        "main-document.json": json.dumps(main_document(), ensure_ascii=False).encode(),
        "environment.json": json.dumps(environment_record(), ensure_ascii=False).encode(),
        "tls-shop.test-443.pem": pem,
    }
    return {**files, **replace}


def capture_manifest(
    files: Mapping[str, bytes], environment: Mapping[str, str] | None = None
) -> Manifest:
    """A manifest of ``files`` whose flat ``capture.environment`` marks a server capture."""
    flat = (
        {
            "schema": "1",
            "recorded_by": "server",
            "capture_id": CAPTURE_ID,
            "host_id": HOST_ID,
            "chromium": CHROMIUM,
        }
        if environment is None
        else dict(environment)
    )
    data = manifest_for(dict(files), evidence_id="ev-cap-0001").model_dump(mode="json")
    data["source"]["url"] = URL
    data["capture"] = {
        "tool": f"evidence-anchor capture 0.1.0 / Chromium {CHROMIUM}",
        "environment": flat,
    }
    return Manifest.model_validate(data)


def seal(manifest: Manifest, files: Mapping[str, bytes]) -> Sealed:
    """A log holding one entry for ``manifest``, sealed and signed."""
    key = signer()
    log = MerkleLog(MemoryNodeStore())
    entry = evidence_entry(manifest, at="2026-12-02T18:26:52.000Z", salt="33" * 16)
    index = log.append([entry.leaf_data()])
    note = sign_checkpoint(log, key)
    bundle = sealed_bundle(log, entry, index, note, log.size, origin=key.name, manifest=manifest)
    return Sealed(log, key, manifest, entry, index, bundle, dict(files))


def sealed_capture(**replace: bytes) -> Sealed:
    files = capture_files(**replace)
    return seal(capture_manifest(files), files)


def package_members(sealed: Sealed) -> dict[str, bytes]:
    """The members of an evidence-package/v1 of ``sealed`` (as the exporter writes them)."""
    names = [f.name for f in sealed.manifest.files]
    return {
        "package.json": json.dumps(
            {
                "format": "evidence-package/v1",
                "evidence_id": sealed.entry.id,
                "exported_at": "2026-12-02T18:27:00Z",
                "files": names,
            }
        ).encode(),
        "manifest.json": sealed.manifest.canonical(),
        "proof.json": sealed.bundle.to_json().encode(),
        "log-key.vkey": (sealed.signer.verifier().to_text() + "\n").encode(),
        **{f"files/{name}": data for name, data in sealed.files.items()},
    }


def write_zip(path: Path, members: Mapping[str, bytes]) -> Path:
    path.write_bytes(zip_of(members, zipfile.ZIP_DEFLATED))
    return path
