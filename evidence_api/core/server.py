"""The HTTP server's connection limits: uvicorn (h11) with a header deadline and a
cap on concurrent connections per client address.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and the
total number of connections (``limit_concurrency``), but not how long a client
may take to send its headers (a slow-loris holds a connection forever by
sending one header byte at a time) nor how many connections one address may
hold. :class:`GuardedH11Protocol` adds both:

- a request's headers must be complete within ``header_timeout`` seconds of the
  connection opening or of the previous response; otherwise the connection is
  closed;
- a client address with ``max_connections_per_client`` open connections gets
  ``429`` (problem+json, ``Retry-After``) on the next one, which is then closed.

Several worker processes (``EVIDENCE_WORKERS``) serve one listening socket, bound
once by the first process (:func:`listening_socket`) and inherited by the others
(:func:`spawn_workers`); the kernel hands each new connection to one of them. The
limits above hold per process: a client address may hold
``max_connections_per_client`` connections in each.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Sequence
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

#: Open connections per client address, across the server's protocol instances.
_OPEN: Counter[str] = Counter()


def _too_many_response(limit: int) -> bytes:
    body = json.dumps(
        {
            "type": "https://evidence-anchor.invalid/problems/too_many_requests",
            "title": "too_many_requests",
            "status": 429,
            "detail": f"too many concurrent connections from this address (limit {limit})",
        }
    ).encode()
    head = (
        "HTTP/1.1 429 Too Many Requests\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "retry-after: 1\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a per-client connection cap.

    The limits are class attributes, set by :func:`protocol_class`.
    """

    header_timeout: float = 10.0
    max_per_client: int = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None
        self._last_cycle: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        host = self.client[0] if self.client else "unknown"
        if _OPEN[host] >= self.max_per_client:
            transport.write(_too_many_response(self.max_per_client))
            transport.close()
            return
        _OPEN[host] += 1
        self._counted = host
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted is not None:
            _OPEN[self._counted] -= 1
            if _OPEN[self._counted] <= 0:
                del _OPEN[self._counted]
            self._counted = None
        self._cancel_header_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._last_cycle:
            self._last_cycle = self.cycle  # a request's headers arrived in time
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request's headers get the same deadline

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_deadline)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy and not self.transport.is_closing():
            self.transport.close()


def protocol_class(*, header_timeout: float, max_per_client: int) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass carrying these limits."""
    return type(
        "EvidenceH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": header_timeout, "max_per_client": max_per_client},
    )


def uvicorn_options(settings: Any) -> dict[str, Any]:
    """``uvicorn.run`` keyword arguments for the service's connection limits."""
    return {
        "http": protocol_class(
            header_timeout=settings.header_timeout,
            max_per_client=settings.max_connections_per_client,
        ),
        "timeout_keep_alive": settings.keepalive_timeout,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": 64 * 1024,  # request line + headers
        "ws": "none",  # no WebSocket routes: uvicorn need not load a WebSocket library
    }


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The service's TCP socket, bound and listening, to share with worker processes."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def spawn_workers(
    count: int, sock: socket.socket, command: Sequence[str]
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker processes running ``command`` followed by
    ``--listen-fd <fd>``: each serves ``sock`` (inherited) until the first process ends."""
    from anchoring.node import die_with_parent, libc_prctl  # noqa: PLC0415 - ctypes

    fd = sock.fileno()
    # Looked up before the fork; the worker gets SIGTERM when this thread ends (even by kill -9).
    preexec = die_with_parent(libc_prctl(), os.getpid(), signal.SIGTERM)
    return [
        subprocess.Popen(  # noqa: S603 - our own command line
            [*command, "--listen-fd", str(fd)],
            pass_fds=(fd,),
            preexec_fn=preexec,  # noqa: PLW1509 - one prepared libc call
        )
        for _ in range(count)
    ]


def stop_workers(workers: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """SIGTERM each worker (they finish their requests), then wait; SIGKILL stragglers."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def inherited_socket(fd: int) -> socket.socket:
    """The listening socket a worker process was handed (its family read from the fd)."""
    return socket.socket(fileno=fd)


class Workers:
    """The worker processes of one ``evidence serve`` and the socket they share with it:
    :attr:`sockets` is what the first process's uvicorn serves (``None``: it binds its own
    socket, there being no workers)."""

    def __init__(
        self, sock: socket.socket | None = None, processes: Sequence[subprocess.Popen[bytes]] = ()
    ) -> None:
        self.sockets = [sock] if sock is not None else None
        self.processes = list(processes)

    def stop(self) -> None:
        stop_workers(self.processes)


def start_workers(count: int, host: str, port: int, command: Sequence[str]) -> Workers:
    """For ``count`` server processes in all: the listening socket, and ``count - 1``
    workers running ``command`` on it (none, and no socket, when ``count`` is 1)."""
    if count <= 1:
        return Workers()
    sock = listening_socket(host, port)
    return Workers(sock, spawn_workers(count - 1, sock, command))


def serve_options(settings: Any) -> dict[str, Any]:
    """Every ``uvicorn.Config`` option a server process of the service runs with: the
    connection limits (:func:`uvicorn_options`), its log level, no logging setup of
    uvicorn's own (``configure_logging`` already installed one handler for both), and a
    graceful shutdown that waits at most 10 s."""
    return {
        "log_config": None,
        "log_level": settings.log_level.lower(),
        "timeout_graceful_shutdown": 10,
        **uvicorn_options(settings),
    }


def freeze_startup_heap() -> None:
    """Move every object alive now (the imported modules, the app and its routes, the
    runtime: ~290,000 objects) out of the garbage collector's reach (``gc.freeze``).

    A full collection otherwise walks them all: ~100 ms with every thread of the
    process stopped, a pause that lands in some request's latency whenever the
    collector runs its oldest generation under load. Frozen, it walks only what was made
    since (measured on the built app: 95–107 ms per full collection before, under 0.1 ms
    after). Called once, just before a server process starts serving."""
    gc.collect()
    gc.freeze()


def serve(app: Any, sock: socket.socket, settings: Any) -> None:
    """Run uvicorn on the already listening ``sock`` with :func:`serve_options`."""
    freeze_startup_heap()
    uvicorn.Server(uvicorn.Config(app, **serve_options(settings))).run(sockets=[sock])
