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
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

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
    }
