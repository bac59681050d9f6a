"""A webhook receiver for the delivery tests: a real HTTP server on loopback that records
every POST (its headers and body) and answers with the status codes a test scripts, so
retries, signatures and ordering are checked at the receiving end."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One delivery as it arrived."""

    headers: dict[str, str]
    body: bytes


@contextmanager
def receiver(
    answers: Sequence[int] = (), path: str = "/hooks"
) -> Iterator[tuple[str, list[Received]]]:
    """Serve on 127.0.0.1 (a free port) until exit; yields the URL to deliver to (ending in
    ``path``) and the list the deliveries are appended to, in arrival order. The n-th POST
    is answered ``answers[n-1]``, every one past them 200."""
    got: list[Received] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                got.append(Received(dict(self.headers.items()), body))
                n = len(got)
            self.send_response(answers[n - 1] if n <= len(answers) else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}", got
    finally:
        server.shutdown()
        server.server_close()
