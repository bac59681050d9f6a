"""The recording proxy against real servers: the HTTPS fixture site (its own test CA) and a
scripted plain-HTTP origin that misbehaves on purpose.

An HTTP client (httpx) stands in for the browser: it sends absolute-form requests and
CONNECT through the proxy, trusting only the proxy's per-capture CA. Everything else is
real: sockets, TLS both ways, the WARC read back with warcio, ``wacz validate``.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from warcio.archiveiterator import ArchiveIterator  # type: ignore[import-untyped]

from evidence_api.capture.netpolicy import policy_from_setting
from evidence_api.capture.outcome import AddressPolicy, CaptureLimits
from evidence_api.capture.proxy import ProxyRecord, RecordingProxy
from evidence_api.capture.wacz import WaczPage, build_wacz
from tests.support.capture_site import PRICE_TEXT, Site, capture_site

LOOPBACK = policy_from_setting("127.0.0.1")
SELF_CHECK = "http://selfcheck.evidence-anchor.invalid/"
WACZ_CLI = Path(sys.executable).with_name("wacz")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with capture_site(tmp_path / "site") as running:
        yield running


@dataclass
class Run:
    proxy: RecordingProxy
    client: httpx.Client
    port: int
    records: list[ProxyRecord] = field(default_factory=list)

    @property
    def record(self) -> ProxyRecord:
        """What ``stop()`` returned (after the ``recording`` block)."""
        return self.records[0]


@contextmanager
def recording(
    tmp_path: Path,
    *,
    policy: AddressPolicy = LOOPBACK,
    limits: CaptureLimits | None = None,
    upstream_ca: Path | None = None,
    local_pages: dict[str, tuple[str, bytes]] | None = None,
) -> Iterator[Run]:
    """A started proxy, a client going through it, and (after the block) its record."""
    proxy = RecordingProxy(
        policy=policy,
        limits=limits or CaptureLimits(),
        warc_path=tmp_path / "capture.warc.gz",
        upstream_ca=upstream_ca,
        capture_id="cap-test-1",
        local_pages=local_pages or {},
    )
    port = proxy.start()
    context = ssl.create_default_context(cadata=proxy.ca_pem.decode())
    records: list[ProxyRecord] = []
    try:
        with httpx.Client(
            proxy=f"http://127.0.0.1:{port}", verify=context, timeout=60, trust_env=False
        ) as client:
            yield Run(proxy, client, port, records)
    finally:
        records.append(proxy.stop())


def warc_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a WARC as a dict (type, URI, IP, headers, status, body), digests
    checked by warcio while reading."""
    found = []
    with path.open("rb") as stream:
        iterator = ArchiveIterator(stream, check_digests="raise")
        for record in iterator:
            headers = record.rec_headers
            found.append(
                {
                    "type": record.rec_type,
                    "uri": headers.get_header("WARC-Target-URI"),
                    "ip": headers.get_header("WARC-IP-Address"),
                    "id": headers.get_header("WARC-Record-ID"),
                    "concurrent": headers.get_header("WARC-Concurrent-To"),
                    "truncated": headers.get_header("WARC-Truncated"),
                    "date": headers.get_header("WARC-Date"),
                    "status": record.http_headers.get_statuscode()
                    if record.rec_type == "response"
                    else None,
                    "host": record.http_headers.get_header("Host")
                    if record.rec_type == "request"
                    else None,
                    "raw": record.raw_stream.read(),
                    "offset": iterator.get_record_offset(),
                    "warc": headers,
                }
            )
            iterator.read_to_end(record)
            found[-1]["length"] = iterator.get_record_length()
    return found


def responses(path: Path) -> dict[str, dict[str, Any]]:
    return {r["uri"]: r for r in warc_records(path) if r["type"] == "response"}


def raw_request(port: int, data: bytes) -> bytes:
    """Send ``data`` to the proxy as is; its answer (head, and body by Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with suppress(OSError):
            sock.sendall(data)
        answer = b""
        with suppress(OSError):
            while True:
                head, sep, body = answer.partition(b"\r\n\r\n")
                if sep:
                    length = [
                        int(line.split(b":", 1)[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ]
                    if len(body) >= (length[0] if length else 0):
                        break
                got = sock.recv(4096)
                if not got:
                    break
                answer += got
        return answer


# -- a scripted plain-HTTP origin that misbehaves ----------------------------------------------

Script = Callable[[socket.socket, bytes], None]


def _ok(sock: socket.socket, request: bytes) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")


#: An unusual but valid response head (casing, spacing, a reason phrase of its own): the
#: WARC must hold these bytes, not warcio's re-serialization of them.
CHUNKED_WIRE = (
    b"HTTP/1.1 200 Fine Thanks\r\ncontent-TYPE:   text/plain \r\nX-Odd:a\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
)


def _chunked(sock: socket.socket, request: bytes) -> None:
    sock.sendall(CHUNKED_WIRE)


def _close_delimited(sock: socket.socket, request: bytes) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
    sock.shutdown(socket.SHUT_WR)


def _garbage(sock: socket.socket, request: bytes) -> None:
    sock.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
    sock.shutdown(socket.SHUT_WR)


def _reset(sock: socket.socket, request: bytes) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def _big(size: int) -> Script:
    def send(sock: socket.socket, request: bytes) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode())
        block = b"x" * 65536
        with suppress(OSError):
            for start in range(0, size, len(block)):
                sock.sendall(block[: size - start])

    return send


def _endless(sock: socket.socket, request: bytes) -> None:
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"
    with suppress(OSError):
        for _ in range(100_000):  # ~6.5 GB: ends only when the proxy hangs up
            sock.sendall(chunk)


def _silent(sock: socket.socket, request: bytes) -> None:
    sock.settimeout(30)
    with suppress(OSError):
        sock.recv(1)  # until the proxy gives up and closes


def _huge_head(sock: socket.socket, request: bytes) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 0\r\n\r\n")


SCRIPTS: dict[str, Script] = {
    "/ok": _ok,
    "/chunked": _chunked,
    "/close": _close_delimited,
    "/garbage": _garbage,
    "/reset": _reset,
    "/big": _big(1024 * 1024),
    "/endless": _endless,
    "/silent": _silent,
    "/huge-head": _huge_head,
}


@contextmanager
def scripted_origin() -> Iterator[int]:
    """A loopback HTTP server answering each connection's first request by its path."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    served: list[threading.Thread] = []

    def handle(sock: socket.socket) -> None:
        with sock:
            sock.settimeout(30)
            data = b""
            with suppress(OSError):
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    got = sock.recv(4096)
                    if not got:
                        return
                    data += got
            path = data.split(b" ", 2)[1].decode() if data.count(b" ") >= 2 else ""
            SCRIPTS.get(path, _ok)(sock, data)

    def serve() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=handle, args=(sock,), daemon=True)
            thread.start()
            served.append(thread)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        server.join(10)
        listener.close()


@pytest.fixture
def origin() -> Iterator[str]:
    with scripted_origin() as port:
        yield f"http://127.0.0.1:{port}"


# -- the fixture site through the proxy ---------------------------------------------------------


def test_pages_recorded_pinned_and_tls_chain_as_served(site: Site, tmp_path: Path) -> None:
    paths = ["/listing", "/static/listing.js", "/api/price.json", "/r1"]
    got: dict[str, httpx.Response] = {}
    with recording(tmp_path, upstream_ca=site.ca_file) as run:
        for path in paths:
            got[path] = run.client.get(site.url(path))
        assert run.proxy.limit_hit is None
    record = run.record
    assert [got[p].status_code for p in paths] == [200, 200, 200, 301]
    assert PRICE_TEXT in got["/api/price.json"].text
    assert record.requests == 4
    assert record.limits_hit == [] and record.refused == [] and record.errors == []

    origin = record.origins[f"localhost:{site.port}"]
    assert (origin.host, origin.port, origin.scheme) == ("localhost", site.port, "https")
    assert "127.0.0.1" in origin.addresses
    assert origin.connected == "127.0.0.1"
    assert origin.tls is not None
    pem = serialization.Encoding.PEM
    assert origin.tls.chain_pem == [
        site.ca.leaf.public_bytes(pem).decode(),
        site.ca.intermediate.public_bytes(pem).decode(),
    ]
    assert origin.tls.verified is True and origin.tls.error is None
    assert origin.tls.protocol in ("TLSv1.2", "TLSv1.3")
    assert origin.tls.cipher

    records = warc_records(tmp_path / "capture.warc.gz")
    assert records[0]["type"] == "warcinfo"
    assert b"software: evidence-anchor capture" in records[0]["raw"]
    assert b"capture-id: cap-test-1" in records[0]["raw"]
    assert records[0]["warc"].protocol == "WARC/1.1"
    by_id = {r["id"]: r for r in records}
    found = responses(tmp_path / "capture.warc.gz")
    assert set(found) == {site.url(p) for p in paths}
    total = 0
    for path in paths:
        response = found[site.url(path)]
        assert response["ip"] == "127.0.0.1"
        assert response["status"] == str(got[path].status_code)
        assert response["raw"] == got[path].content  # the body exactly as the origin sent it
        request = by_id[response["concurrent"]]
        assert request["type"] == "request"
        assert request["uri"] == response["uri"]
        assert request["concurrent"] == response["id"]
        assert request["ip"] == "127.0.0.1"
        assert request["host"] == f"localhost:{site.port}"
        assert request["date"] == response["date"]
    # the proxy's own offsets/lengths are the file's
    assert [(e.record_type, e.url, e.offset, e.length) for e in record.warc_records] == [
        (r["type"], r["uri"] or "", r["offset"], r["length"]) for r in records
    ]
    for entry in record.warc_records:
        total += entry.length
    assert total == (tmp_path / "capture.warc.gz").stat().st_size
    # one gzip member per record
    data = (tmp_path / "capture.warc.gz").read_bytes()
    for entry in record.warc_records:
        member = gzip.decompress(data[entry.offset : entry.offset + entry.length])
        assert member.startswith(b"WARC/1.1\r\n") and member.count(b"\r\nWARC-Type: ") == 1


def test_wacz_from_a_real_proxy_warc_validates(site: Site, tmp_path: Path) -> None:
    with recording(tmp_path, upstream_ca=site.ca_file) as run:
        for path in ("/listing", "/static/listing.js", "/static/site.css", "/api/price.json"):
            assert run.client.get(site.url(path)).status_code == 200
    out = tmp_path / "archive.wacz"
    pages = [WaczPage(site.url("/listing"), "泉州特产", "2026-12-02T08:30:00Z")]
    build_wacz(
        tmp_path / "capture.warc.gz", pages, out, title="取证", software="evidence-anchor capture"
    )
    checked = subprocess.run(
        [str(WACZ_CLI), "validate", "-f", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Validation succeeded" in checked.stdout
    # and it is not a validator that passes anything: a changed page list fails
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "pages/pages.jsonl":
                data = data.replace("泉州特产".encode(), "篡改".encode())
            target.writestr(info, data)
    checked = subprocess.run(
        [str(WACZ_CLI), "validate", "-f", str(tampered)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode != 0
    assert "Validation failed" in checked.stdout and "hash" in checked.stdout


def test_refused_without_allow_list(site: Site, tmp_path: Path) -> None:
    with recording(tmp_path, policy=AddressPolicy(), upstream_ca=site.ca_file) as run:
        https = run.client.get(site.url("/listing"))
        plain = run.client.get(f"http://127.0.0.1:{site.port}/listing")
        metadata = run.client.get("http://169.254.169.254/latest/meta-data/")
        # httpx drops the brackets of an IPv6 literal in absolute form: sent raw here
        v6 = raw_request(run.port, b"GET http://[::1]:9/ HTTP/1.1\r\nHost: [::1]:9\r\n\r\n")
    record = run.record
    assert https.status_code == 403
    assert https.headers["content-type"].startswith("text/plain")
    assert "refused: localhost resolves to 127.0.0.1" in https.text
    assert "EVIDENCE_CAPTURE_ALLOW" in https.text
    assert plain.status_code == 403 and "127.0.0.0/8" in plain.text
    assert metadata.status_code == 403 and "Link Local" in metadata.text
    assert v6.startswith(b"HTTP/1.1 403 ") and b"refused: ::1, which is in ::1/128" in v6
    assert [r.url for r in record.refused] == [
        site.url("/listing"),
        f"http://127.0.0.1:{site.port}/listing",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
    ]
    assert record.origins == {}  # nothing was connected to
    assert record.bytes_received == 0
    assert [r["type"] for r in warc_records(tmp_path / "capture.warc.gz")] == ["warcinfo"]


def test_host_resolved_once_and_pinned(
    origin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the second answer (a refused address) is never asked for or used."""
    port = int(origin.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            asked.append(host)
            address = "127.0.0.1" if len(asked) == 1 else "10.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with recording(tmp_path) as run:
        for _ in range(3):
            answer = run.client.get(
                f"http://rebind.test:{port}/ok", headers={"Connection": "close"}
            )
            assert (answer.status_code, answer.text) == (200, "hello")
    assert asked == ["rebind.test"]
    record = run.record
    assert record.origins[f"rebind.test:{port}"].connected == "127.0.0.1"
    assert record.origins[f"rebind.test:{port}"].tls is None
    ips = {r["ip"] for r in warc_records(tmp_path / "capture.warc.gz") if r["type"] != "warcinfo"}
    assert ips == {"127.0.0.1"}


def test_untrusted_origin_is_502_with_the_tls_error_recorded(site: Site, tmp_path: Path) -> None:
    with recording(tmp_path) as run:  # no upstream_ca: the test CA is unknown
        answer = run.client.get(site.url("/listing"))
    assert answer.status_code == 502
    assert "certificate verify failed" in answer.text or "unable to get local issuer" in answer.text
    tls = run.record.origins[f"localhost:{site.port}"].tls
    assert tls is not None
    assert tls.verified is False and tls.error is not None and "localhost" in tls.error
    assert len(tls.chain_pem) == 2  # still recorded as served, from the second handshake
    assert run.record.errors and run.record.errors[0].url == site.url("/listing")


def test_wrong_name_is_502_with_the_tls_error_recorded(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "wrong.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", site.port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with recording(tmp_path, upstream_ca=site.ca_file) as run:  # trusted CA, wrong name
        answer = run.client.get(f"https://wrong.test:{site.port}/listing")
    assert answer.status_code == 502
    assert "Hostname mismatch" in answer.text and "wrong.test" in answer.text
    tls = run.record.origins[f"wrong.test:{site.port}"].tls
    assert tls is not None and tls.verified is False
    assert tls.error is not None and "Hostname mismatch" in tls.error
    assert [r["type"] for r in warc_records(tmp_path / "capture.warc.gz")] == ["warcinfo"]


def test_local_pages_are_served_and_not_recorded(tmp_path: Path) -> None:
    pages = {SELF_CHECK: ("text/html; charset=utf-8", "<p>自检</p>".encode())}
    with recording(tmp_path, local_pages=pages) as run:
        answer = run.client.get(SELF_CHECK)
        head = run.client.head(SELF_CHECK)
        other = run.client.get(SELF_CHECK + "favicon.ico")  # same host, not a local page
    assert answer.status_code == 200 and answer.text == "<p>自检</p>"
    assert head.status_code == 200 and head.content == b""
    assert other.status_code == 404  # answered locally: never resolved, not a refusal
    assert run.record.requests == 0 and run.record.origins == {} and run.record.refused == []
    assert [r["type"] for r in warc_records(tmp_path / "capture.warc.gz")] == ["warcinfo"]


def test_concurrent_exchanges_are_each_recorded_whole(site: Site, tmp_path: Path) -> None:
    urls = [site.url(f"/api/price.json?n={i}") for i in range(24)]
    with recording(tmp_path, upstream_ca=site.ca_file) as run, ThreadPoolExecutor(8) as pool:
        got = list(pool.map(run.client.get, urls))
    assert [r.status_code for r in got] == [200] * len(urls)
    records = warc_records(tmp_path / "capture.warc.gz")
    by_id = {r["id"]: r for r in records}
    found = {r["uri"]: r for r in records if r["type"] == "response"}
    assert set(found) == set(urls)
    for url, answer in zip(urls, got, strict=True):
        assert found[url]["raw"] == answer.content
        request = by_id[found[url]["concurrent"]]
        assert request["uri"] == url and request["concurrent"] == found[url]["id"]
    assert run.record.requests == len(urls)


def test_request_bodies_are_forwarded_and_recorded(origin: str, tmp_path: Path) -> None:
    form = "q=铁观音&page=1".encode()
    with recording(tmp_path) as run:
        answer = run.client.post(
            f"{origin}/ok",
            content=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.text == "hello"
    request = next(r for r in warc_records(tmp_path / "capture.warc.gz") if r["type"] == "request")
    assert request["raw"] == form
    assert request["warc"].get_header("WARC-Target-URI") == f"{origin}/ok"


# -- limits ------------------------------------------------------------------------------------


def test_max_resources_answers_429_and_is_named(origin: str, tmp_path: Path) -> None:
    limits = CaptureLimits(max_resources=3)
    with recording(tmp_path, limits=limits) as run:
        statuses = [run.client.get(f"{origin}/ok").status_code for _ in range(3)]
        assert run.proxy.limit_hit is None
        over = run.client.get(f"{origin}/ok")
        assert run.proxy.limit_hit == "max_resources"
    assert statuses == [200, 200, 200]
    assert over.status_code == 429 and "max_resources (3)" in over.text
    assert run.record.limits_hit == ["max_resources"]
    assert run.record.requests == 3
    assert len(responses(tmp_path / "capture.warc.gz")) == 1  # one URL, three exchanges
    kinds = [r["type"] for r in warc_records(tmp_path / "capture.warc.gz")]
    assert kinds.count("response") == 3 and kinds.count("request") == 3


def test_max_bytes_cuts_the_response_and_stops_downloads(origin: str, tmp_path: Path) -> None:
    limits = CaptureLimits(max_bytes=200_000)
    with recording(tmp_path, limits=limits) as run:
        assert run.client.get(f"{origin}/ok").status_code == 200
        with pytest.raises(httpx.TransportError):
            run.client.get(f"{origin}/big")  # 1 MiB: cut near 200 kB, connection dropped
        assert run.proxy.limit_hit == "max_bytes"
        after = run.client.get(f"{origin}/ok")
    assert after.status_code == 429 and "max_bytes" in after.text
    record = run.record
    assert record.limits_hit == ["max_bytes"]
    assert 200_000 < record.bytes_received < 200_000 + 2 * 65536
    big = responses(tmp_path / "capture.warc.gz")[f"{origin}/big"]
    assert big["truncated"] == "length"
    assert 100_000 < len(big["raw"]) < 1024 * 1024


def test_max_response_bytes_cuts_one_response_only(origin: str, tmp_path: Path) -> None:
    limits = CaptureLimits(max_response_bytes=100_000)
    with recording(tmp_path, limits=limits) as run:
        with pytest.raises(httpx.TransportError):
            run.client.get(f"{origin}/endless")
        assert run.proxy.limit_hit == "max_response_bytes"
        assert run.client.get(f"{origin}/ok").text == "hello"
    assert run.record.limits_hit == ["max_response_bytes"]
    endless = responses(tmp_path / "capture.warc.gz")[f"{origin}/endless"]
    assert endless["truncated"] == "length"
    assert run.record.bytes_received < 100_000 + 4 * 65536


# -- hostile origins and a hostile client -------------------------------------------------------


def test_wire_bytes_are_recorded_as_received(origin: str, tmp_path: Path) -> None:
    with recording(tmp_path) as run:
        chunked = run.client.get(f"{origin}/chunked")
        closed = run.client.get(f"{origin}/close")
    assert chunked.text == "hello, world" and closed.text == "until close"
    found = responses(tmp_path / "capture.warc.gz")
    # the chunked framing stays in the record (warcio's raw stream is the block's payload)
    assert found[f"{origin}/chunked"]["raw"] == b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    # and the whole message, head included, is byte for byte what the origin sent
    data = (tmp_path / "capture.warc.gz").read_bytes()
    entry = next(e for e in run.record.warc_records if e.url == f"{origin}/chunked")
    block = gzip.decompress(data[entry.offset : entry.offset + entry.length])
    assert block.endswith(b"\r\n\r\n" + CHUNKED_WIRE + b"\r\n\r\n")
    assert found[f"{origin}/close"]["raw"] == b"until close"
    assert found[f"{origin}/close"]["truncated"] is None


def test_misbehaving_origins_get_502_504_and_the_proxy_goes_on(origin: str, tmp_path: Path) -> None:
    limits = CaptureLimits(navigation_seconds=3.0)  # the proxy's read timeout
    with recording(tmp_path, limits=limits) as run:
        garbage = run.client.get(f"{origin}/garbage")
        reset = run.client.get(f"{origin}/reset")
        silent = run.client.get(f"{origin}/silent")
        huge = run.client.get(f"{origin}/huge-head")
        closed = run.client.get("http://127.0.0.1:1/")  # nothing listens on port 1
        fine = run.client.get(f"{origin}/ok")
    assert garbage.status_code == 502 and "malformed response" in garbage.text
    assert reset.status_code == 502
    assert silent.status_code == 504 and "no data from the origin for 3 s" in silent.text
    assert huge.status_code == 502
    assert closed.status_code == 502 and "cannot connect to 127.0.0.1 port 1" in closed.text
    assert fine.text == "hello"
    assert len(run.record.errors) == 5
    assert set(responses(tmp_path / "capture.warc.gz")) == {f"{origin}/ok"}


def test_malformed_requests_from_the_browser(origin: str, tmp_path: Path) -> None:
    with recording(tmp_path) as run:
        answers = []
        for junk in (
            b"\x16\x03\x01\x00\xff garbage\r\n\r\n",
            b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT nohostport HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://x:99999/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST http://x/ HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc",
            b"GET http://x/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n" + b"X-Long: " + b"a" * 100_000 + b"\r\n\r\n",
        ):
            answers.append(raw_request(run.port, junk))
        upgrade = raw_request(
            run.port,
            f"GET {origin}/ok HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
            "Upgrade: websocket\r\n\r\n".encode(),
        )
        assert run.client.get(f"{origin}/ok").text == "hello"
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 4"), answer[:80]
    assert answers[4].startswith(b"HTTP/1.1 413 ")  # refused before its body was awaited
    assert upgrade.startswith(b"HTTP/1.1 501 ") and b"WebSocket" in upgrade
    assert run.record.requests == 1
