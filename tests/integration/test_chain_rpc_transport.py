"""verifier.chain.rpc.UrllibTransport against a real HTTP server on a loopback port (a thread
of this process): it posts JSON, refuses an answer over its size limit, treats HTTP errors
and redirects as an unavailable endpoint, and gives up on a server that trickles bytes. Moved
from tests/unit/test_chain_check.py: the unit tier starts no server."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.test_chain_check import BODY
from verifier.chain.rpc import UrllibTransport
from verifier.errors import EndpointUnavailableError, MalformedAnswerError


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        request = json.loads(self.rfile.read(length))
        mode = type(self).mode
        if mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:9/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "error":
            self.send_error(500)
            return
        if mode == "slow":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:  # the client gave up, as it should
                pass
            return
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x7a69"}).encode()
        if mode == "huge":
            body = body + b" " * 200_000
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"mode": "ok"})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_urllib_transport_posts_json(server: tuple[str, type[_Handler]]) -> None:
    url, _ = server
    answer = json.loads(UrllibTransport(timeout=5)(url, BODY))
    assert answer == {"jsonrpc": "2.0", "id": 1, "result": "0x7a69"}


def test_urllib_transport_limits_the_answer(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    handler.mode = "huge"
    with pytest.raises(MalformedAnswerError, match="larger than 100000 bytes"):
        UrllibTransport(timeout=5, max_bytes=100_000)(url, BODY)


@pytest.mark.parametrize(("mode", "says"), [("error", "HTTP 500"), ("redirect", "HTTP 307")])
def test_urllib_transport_http_errors_and_redirects_are_unavailable(
    server: tuple[str, type[_Handler]], mode: str, says: str
) -> None:
    url, handler = server
    handler.mode = mode
    with pytest.raises(EndpointUnavailableError, match=says):
        UrllibTransport(timeout=5)(url, BODY)


def test_urllib_transport_gives_up_on_a_trickle(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    handler.mode = "slow"
    started = time.monotonic()
    with pytest.raises(EndpointUnavailableError):
        UrllibTransport(timeout=0.5)(url, BODY)
    assert time.monotonic() - started < 2.5
