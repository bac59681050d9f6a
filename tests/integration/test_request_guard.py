"""The request guard and the server's connection limits, against a real
``evidence serve`` (uvicorn over real sockets).

Before the guard, one unauthenticated ``[[[[…`` body of 100,000 levels killed
the process (web3's imports raise the recursion limit to 100,000, so the JSON
parser overflowed the C stack); a 400 MB body was read into memory before its
401; a chunked upload ignored ``EVIDENCE_MAX_REQUEST_BYTES``; a client could
try tokens forever, hold headers open forever and open any number of
connections.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from evidence_api.core.config import Settings
from tests.support.api import Server, provision_tokens, serve_subprocess

MiB = 1 << 20
DEEP_ARRAY = b"[" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000
#: One chunk of a chunked body (64 KiB).
CHUNK = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """A server on the managed chain with a 1 MiB upload limit and 5 bad tokens per
    minute and client."""
    root = tmp_path_factory.mktemp("guard")
    data = root / "data"
    tokens = provision_tokens(Settings(data_dir=data))
    env = {
        "EVIDENCE_DATA_DIR": str(data),
        "EVIDENCE_MAX_REQUEST_BYTES": str(MiB),
        "EVIDENCE_AUTH_FAILURE_LIMIT": "5",
        "EVIDENCE_HEADER_TIMEOUT": "2",
        # the managed chain, as `make run` has it: its web3 imports raised the recursion
        # limit to 100,000, which is what let a deep body overflow the C stack
        "EVIDENCE_CHAIN": "anvil",
        "EVIDENCE_ANVIL_PORT": "0",
    }
    with serve_subprocess(env, root / "serve.log") as server:
        yield server, tokens


def json_routes(base_url: str) -> list[tuple[str, str]]:
    """(method, path) of every operation of the OpenAPI document that takes a JSON body,
    path parameters filled with a value of the right shape where one is declared."""
    spec = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    routes = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            filled = re.sub(r"\{[^}]+\}", "x-1", path)
            routes.append((method.upper(), filled))
    return routes


def assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


def alive(server: Server) -> None:
    assert server.process.poll() is None, server.log_path.read_text()[-3000:]
    assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200


def test_deep_json_on_every_json_route_is_a_400_and_the_process_lives(
    guarded: tuple[Server, dict[str, str]],
) -> None:
    server, tokens = guarded
    routes = json_routes(server.base_url)
    assert ("POST", "/v1/stamps") in routes and len(routes) >= 8, routes
    access_token_routes = {"/v1/public/odr/x-1/respond"}  # the consumer's (docs/odr.md)
    assert access_token_routes <= {path for _, path in routes}
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for method, path in routes:
            for body in (DEEP_ARRAY, DEEP_OBJECT):
                # without a token: refused before the body is read
                plain = {"Content-Type": "application/json"}
                assert_problem(client.request(method, path, content=body, headers=plain), 401)
                if path in access_token_routes:
                    # its credential is an access token, not a bearer token: a token of
                    # any role is no credential for it, refused before the body too
                    for token in tokens.values():
                        headers = {**plain, "Authorization": f"Bearer {token}"}
                        response = client.request(method, path, content=body, headers=headers)
                        assert_problem(response, 401)
                    continue
                # with every role: the role the route admits gets the 400, the others 403
                statuses = set()
                for token in tokens.values():
                    headers = {**plain, "Authorization": f"Bearer {token}"}
                    response = client.request(method, path, content=body, headers=headers)
                    problem = assert_problem(response, 400, 403)
                    if response.status_code == 400:
                        assert problem["detail"] == "body: JSON nests deeper than 32 levels"
                    statuses.add(response.status_code)
                assert 400 in statuses, (method, path)
                alive(server)


def test_invalid_utf8_json_is_a_problem(guarded: tuple[Server, dict[str, str]]) -> None:
    server, tokens = guarded
    response = httpx.post(
        f"{server.base_url}/v1/stamps",
        content=b'{"digests": ["\xff"]}',
        headers={
            "Authorization": f"Bearer {tokens['officer']}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    problem = assert_problem(response, 400)
    assert problem["detail"] == "body: is not valid UTF-8 (byte 14)"


def test_unknown_route_and_wrong_method_are_problems(
    guarded: tuple[Server, dict[str, str]],
) -> None:
    server, _ = guarded
    assert_problem(httpx.get(f"{server.base_url}/v1/nowhere", timeout=30), 404)
    assert_problem(httpx.delete(f"{server.base_url}/healthz", timeout=30), 405)


def _chunked(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * piece
        sent += piece


def test_chunked_bodies_are_cut_at_the_limit(
    guarded: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    server, tokens = guarded
    auth = {"Authorization": f"Bearer {tokens['officer']}"}
    upload = httpx.post(
        f"{server.base_url}/v1/evidence",
        content=_chunked(5 * MiB),
        headers={**auth, "Content-Type": "multipart/form-data; boundary=b"},
        timeout=60,
    )
    problem = assert_problem(upload, 413)
    assert problem["detail"] == f"request body exceeds this route's limit of {MiB} bytes"
    stamps = httpx.post(
        f"{server.base_url}/v1/stamps",
        content=_chunked(3 * MiB),
        headers={**auth, "Content-Type": "application/json"},
        timeout=60,
    )
    assert assert_problem(stamps, 413)["detail"] == (
        f"request body exceeds this route's limit of {MiB} bytes"
    )
    spool = Path(server.log_path.parent / "data" / "spool")
    assert sorted(spool.iterdir()) == []


def _open_upload(server: Server, headers: str) -> socket.socket:
    url = urlsplit(server.base_url)
    assert url.hostname is not None and url.port is not None
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall(
        (f"POST /v1/evidence HTTP/1.1\r\nHost: {url.netloc}\r\n{headers}\r\n").encode("ascii")
    )
    return sock


def _push_until_answered(
    sock: socket.socket, budget: int, piece: bytes = b"z" * 65536
) -> tuple[int, bytes]:
    """Send ``piece`` after ``piece`` (whole, in order) until the server answers or
    ``budget`` bytes are sent; returns (bytes sent, the answer's first bytes)."""
    sock.setblocking(False)
    sent, pending = 0, memoryview(piece)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock] if sent < budget else [], [], 0.5)
        if readable:
            sock.setblocking(True)
            return sent, sock.recv(65536)
        if writable:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                n = sock.send(pending)
                sent += n
                pending = pending[n:] or memoryview(piece)
    raise AssertionError(f"no answer after {sent} bytes")


def test_unauthenticated_giant_bodies_are_refused_unread(
    guarded: tuple[Server, dict[str, str]],
) -> None:
    """A 400 MB JSON body and 50 concurrent chunked 2 GiB uploads, all without a token:
    each gets its 401 after a few MiB at most, the server stays under 200 MiB RSS and
    nothing reaches the disk."""
    server, _ = guarded
    process = psutil.Process(server.process.pid)
    json_head = "Content-Type: application/json\r\nContent-Length: 400000000\r\n"
    sock = _open_upload(server, json_head)
    sent, answer = _push_until_answered(sock, 400_000_000)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert sent < 64 * MiB
    chunked = "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n"
    socks = [_open_upload(server, chunked) for _ in range(50)]
    peak = 0
    try:
        for s in socks:
            _, answer = _push_until_answered(s, 4 * MiB, CHUNK)
            assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
            peak = max(peak, process.memory_info().rss)
    finally:
        for s in socks:
            s.close()
    print(f"server RSS peak {peak / MiB:.0f} MiB; 400 MB body refused after {sent} bytes")
    assert peak < 200 * MiB, f"server RSS {peak / MiB:.0f} MiB"
    assert sorted((server.log_path.parent / "data" / "spool").iterdir()) == []
    alive(server)


def test_repeated_bad_tokens_get_429_with_retry_after(
    guarded: tuple[Server, dict[str, str]],
) -> None:
    server, tokens = guarded
    bad = {"Authorization": "Bearer ea_" + "A" * 43}
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        statuses = [client.get("/v1/evidence", headers=bad).status_code for _ in range(5)]
        assert statuses == [401] * 5
        refused = client.get("/v1/evidence", headers=bad)
        problem = assert_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        assert problem["title"] == "too_many_requests"
        # the same client with a good token is refused too while it waits: it cannot
        # keep guessing by mixing in a token it holds
        good = client.get("/v1/evidence", headers={"Authorization": f"Bearer {tokens['officer']}"})
        assert good.status_code == 429


def test_headers_must_arrive_within_the_header_timeout(
    guarded: tuple[Server, dict[str, str]],
) -> None:
    server, _ = guarded
    url = urlsplit(server.base_url)
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = time.monotonic()
        try:
            closed = sock.recv(1024)
        except ConnectionResetError:
            closed = b""
        waited = time.monotonic() - started
    assert closed == b""
    assert 1.5 <= waited < 25, waited


def test_connections_per_client_are_capped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    provision_tokens(Settings(data_dir=data))
    env = {"EVIDENCE_DATA_DIR": str(data), "EVIDENCE_MAX_CONNECTIONS_PER_CLIENT": "4"}
    with serve_subprocess(env, tmp_path / "serve.log") as server:
        url = urlsplit(server.base_url)
        assert url.hostname is not None and url.port is not None
        held = [socket.create_connection((url.hostname, url.port), timeout=30) for _ in range(4)]
        try:
            with socket.create_connection((url.hostname, url.port), timeout=30) as extra:
                answer = b""
                while b"\r\n\r\n" not in answer:
                    chunk = extra.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 429"), answer
            assert b"retry-after: 1" in answer.lower()
        finally:
            for s in held:
                s.close()
        # once they are closed, the client is served again
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "client not served after closing its connections"
            time.sleep(0.2)
