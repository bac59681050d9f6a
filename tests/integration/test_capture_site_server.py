"""The capture fixture website's server itself, over real TLS on loopback: the hostile
pages stay bounded on its side, so a capture test that hits them cannot exhaust it.

* ``/huge`` streams 200 MB without the server holding it, and a client that hangs up
  mid-body leaves the server serving the next request;
* stalled requests (``/api/longpoll``) are bounded: beyond ``MAX_STALLS`` the server
  answers 503 at once, and a client that hangs up frees its stall;
* ``/img/never.png`` sends its headers and part of its body, then nothing;
* stopping the site ends open stalls promptly.
"""

from __future__ import annotations

import resource
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.support.capture_site import HUGE_BYTES, MAX_STALLS, PRICE_TEXT, Site, capture_site
from tests.support.waiting import wait_until

MiB = 1 << 20


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with capture_site(tmp_path / "site") as running:
        yield running


@contextmanager
def connection(site: Site, timeout: float = 60.0) -> Iterator[ssl.SSLSocket]:
    context = ssl.create_default_context(cafile=str(site.ca_file))
    raw = socket.create_connection(("127.0.0.1", site.port), timeout=timeout)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        yield tls


def send_get(sock: ssl.SSLSocket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())


def read_head(sock: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and whatever body bytes came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before the headers: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def get(site: Site, path: str) -> tuple[int, bytes]:
    with connection(site) as sock:
        send_get(sock, path)
        status, headers, body = read_head(sock)
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, body


def refused_at_once(site: Site) -> bool:
    """A long-poll answered 503 within 2 s (False: held, so the bound is not reached yet)."""
    with connection(site, timeout=2.0) as sock:
        send_get(sock, "/api/longpoll")
        try:
            return read_head(sock)[0] == 503
        except TimeoutError:
            return False


def answers_within(sock: ssl.SSLSocket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return bool(sock.recv(1))
    except TimeoutError:
        return False


def test_huge_is_streamed_and_a_client_hanging_up_midway_is_survived(site: Site) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with connection(site) as sock:
        send_get(sock, "/huge")
        status, headers, body = read_head(sock)
        assert status == 200 and int(headers["content-length"]) == HUGE_BYTES
        received = len(body)
        while received < HUGE_BYTES:
            chunk = sock.recv(1 << 20)
            assert chunk, f"the body ended at {received} of {HUGE_BYTES} bytes"
            received += len(chunk)
    assert received == HUGE_BYTES
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 64 * MiB, f"the process grew {grown / MiB:.0f} MiB serving 200 MB"
    for _ in range(3):  # hang up after a few MiB, three times
        with connection(site) as sock:
            send_get(sock, "/huge")
            read_head(sock)
            for _ in range(4):
                sock.recv(1 << 20)
    status, body = get(site, "/api/price.json")
    assert status == 200 and PRICE_TEXT in body.decode()


def test_stalls_are_bounded_and_freed_when_the_client_hangs_up(site: Site) -> None:
    with ExitStack() as clients:
        stalled = []
        for _ in range(MAX_STALLS):
            sock = clients.enter_context(connection(site))
            send_get(sock, "/api/longpoll")
            stalled.append(sock)
        # Every one is held (no answer), once all of them have reached the server.
        wait_until(lambda: refused_at_once(site), 60, "the stall bound to be reached", poll=0.2)
        assert not any(answers_within(sock, 0.2) for sock in stalled[:3])
        status, _ = get(site, "/api/longpoll")
        assert status == 503
    # All hung up: their stalls are freed, and a new long-poll is held again.

    def held_again() -> bool:
        with connection(site) as sock:
            send_get(sock, "/api/longpoll")
            return not answers_within(sock, 1.0)

    wait_until(held_again, 60, "a long-poll held again after the clients hung up", poll=0.5)
    status, body = get(site, "/listing")
    assert status == 200 and b"<h1" in body


def test_never_png_sends_part_of_its_body_then_nothing(site: Site) -> None:
    with connection(site) as sock:
        send_get(sock, "/img/never.png")
        status, headers, body = read_head(sock)
        assert status == 200 and int(headers["content-length"]) == MiB
        sock.settimeout(10)
        while len(body) < 1024:
            body += sock.recv(4096)
        assert len(body) == 1024
        assert not answers_within(sock, 1.5)


def test_stopping_the_site_ends_open_stalls(tmp_path: Path) -> None:
    with ExitStack() as clients:
        with capture_site(tmp_path / "site") as running:
            socks = []
            for _ in range(3):
                sock = clients.enter_context(connection(running))
                send_get(sock, "/api/longpoll")
                socks.append(sock)
            assert not answers_within(socks[0], 0.5)
            started = time.monotonic()
        stopped_in = time.monotonic() - started
        assert stopped_in < 30
        # each held connection is closed by the server within its poll step
        for sock in socks:
            sock.settimeout(30)
            assert sock.recv(1) == b""
