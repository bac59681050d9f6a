"""The capture's recording forward proxy: every byte the browser exchanges goes through it.

Why our own proxy and not warcprox or pywb's recorder: the capture must

(a) pin every connection of the browser (main document, redirects, every subresource) to
    an address the proxy resolved and checked itself (:mod:`.netpolicy`), so DNS
    rebinding cannot reach a refused address: the browser never resolves a name;
(b) enforce the byte and resource limits (:class:`~.outcome.CaptureLimits`) as traffic
    flows, cutting a response at the limit instead of after it;
(c) record the exact bytes exchanged with the origin as WARC (:mod:`.warcfile`);
(d) see each HTTPS origin's certificate chain as served.

None of the existing recorders does (a) and (d), so this is a small asyncio + h11 proxy
running its own event loop in a thread. The browser is launched with
``--proxy-server=http://127.0.0.1:<port>`` and ``ignore_https_errors``: for ``https`` it
sends CONNECT, and the proxy answers TLS itself with a certificate minted for that host
from a throwaway per-capture CA (:mod:`.tlsmint`); the proxy is the TLS client that
verifies the real origin against the system trust store plus ``upstream_ca``.

The certificate chain of an origin is read by a second TLS handshake (pyOpenSSL,
``get_peer_cert_chain``, no verification) to the SAME pinned address right after the
first connection to that origin; the verified connection itself uses the standard
library's ``ssl``, which cannot return the chain as served on Python 3.11.

Wire details: HTTP/1.1 on both sides; ``Accept-Encoding`` passes through and bodies are
recorded exactly as received (compressed, chunked: the WARC is never de-chunked); toward
the browser h11 re-frames the same body (hop-by-hop headers dropped, chunked when the
origin sent no length). ``Host`` is set to the target's authority (RFC 9112 §3.2.2). One
upstream connection per browser connection and origin, reused while both sides keep it
alive (a stale reused one is retried once, fresh). 1xx interim responses are not recorded
(the record starts at the final response). WebSocket upgrades are answered 501.
``local_pages`` are answered by the proxy itself (the self-check control page), as are
other paths of their hosts (404); none of them is resolved or recorded.

Answers the proxy gives itself (text/plain, the reason in the body): 400 malformed
request, 403 refused address (:class:`Refusal`), 413 request body over
:data:`MAX_REQUEST_BODY`, 429 ``max_resources`` or ``max_bytes`` reached, 501 upgrade,
502 connect/TLS failure or malformed response, 504 no data for ``navigation_seconds``.
A response cut by ``max_bytes``/``max_response_bytes`` after its head was sent ends with
a reset browser connection, so it can never look complete. Upstream connects time out
after :data:`CONNECT_SECONDS`; reads after ``CaptureLimits.navigation_seconds`` of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import h11
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from evidence_api.capture.netpolicy import check_host, normalize_host
from evidence_api.capture.outcome import AddressPolicy, CaptureError, CaptureLimits
from evidence_api.capture.tlsmint import MintingCA
from evidence_api.capture.warcfile import WarcEntry, WarcFile, record_id

#: Longest request line + header block from the browser, or response head from an origin.
MAX_HEAD = 64 * 1024
#: Largest request body the browser may send (a form post, an XHR).
MAX_REQUEST_BODY = 8 * 1024 * 1024
#: Most browser connections open at once.
MAX_CLIENTS = 256
#: Most refusals/errors kept in the record (the rest are counted only in ``requests``).
MAX_NOTES = 1000
#: Seconds to open a TCP (and TLS) connection to an origin.
CONNECT_SECONDS = 10.0
#: Seconds an idle browser connection is kept.
IDLE_SECONDS = 120.0
#: Most finished exchanges waiting for the WARC writer before new ones wait for it.
MAX_PENDING_WRITES = 16
_CHUNK = 64 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
        b"content-length",
    }
)


@dataclass(frozen=True)
class Refusal:
    url: str
    reason: str


@dataclass
class TlsRecord:
    """The origin's TLS as the proxy saw it."""

    chain_pem: list[str]  #: leaf first, exactly as served (second handshake, same address)
    protocol: str  #: e.g. "TLSv1.3"
    cipher: str
    verified: bool  #: the chain verified against the system store + upstream_ca, name matched
    error: str | None = None  #: why verification failed


@dataclass
class OriginRecord:
    host: str
    port: int
    scheme: str
    addresses: list[str]  #: every address the host resolved to (all checked)
    connected: str | None = None  #: the address actually used
    tls: TlsRecord | None = None


@dataclass
class ProxyRecord:
    """What the proxy did during one capture (returned by :meth:`RecordingProxy.stop`)."""

    requests: int = 0  #: requests forwarded (or answered 403/429/502) — local pages excluded
    bytes_received: int = 0  #: bytes received from origins, heads included
    limits_hit: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    origins: dict[str, OriginRecord] = field(default_factory=dict)
    #: requests that failed upstream (connect, TLS, timeout, malformed response)
    errors: list[Refusal] = field(default_factory=list)
    #: every WARC record's offset and length, in file order
    warc_records: list[WarcEntry] = field(default_factory=list)


class _RefusedError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _StaleError(Exception):
    """A reused upstream connection was already closed by the origin."""


@dataclass
class _Exchange:
    """Where the final response sits in the spooled wire bytes, and how it ended."""

    date: str
    start: int = 0
    head_end: int = 0
    end: int = 0
    truncated: str | None = None  #: WARC-Truncated: "length", "time", "disconnect", "cut"


class _AbortError(Exception):
    """The browser connection must be dropped (response already started, or broken)."""


@dataclass
class _Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: h11.Connection
    address: str
    reused: bool = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


def _probe_chain(address: str, port: int, host: str, timeout: float) -> TlsRecord:
    """Handshake once more with the pinned address and read the chain as served."""
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((address, port), timeout=timeout)
    try:
        sock.setblocking(False)
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_verify(SSL.VERIFY_NONE)
        conn = SSL.Connection(context, sock)
        if not _is_ip(host):
            conn.set_tlsext_host_name(host.encode("idna"))
        conn.set_connect_state()
        while True:
            try:
                conn.do_handshake()
                break
            except SSL.WantReadError:
                ready = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]
            except SSL.WantWriteError:
                ready = select.select([], [sock], [], max(0.0, deadline - time.monotonic()))[1]
            if not ready:
                raise TimeoutError(f"TLS handshake with {address}:{port} timed out")
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        pems = [cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in chain]
        return TlsRecord(
            chain_pem=pems,
            protocol=conn.get_protocol_version_name(),
            cipher=conn.get_cipher_name() or "",
            verified=False,
        )
    finally:
        sock.close()


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _authority(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"


def _origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError:
        port = default
    return parts.scheme, normalize_host(parts.hostname or ""), port


def _text_response(
    conn: h11.Connection, status: int, text: str, *, head_only: bool = False
) -> bytes:
    """A complete text/plain answer (no body to a HEAD request: h11 enforces it)."""
    body = (text + "\n").encode("utf-8")
    start = h11.Response(
        status_code=status,
        headers=[
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ],
    )
    parts = [conn.send(start)]
    if not head_only:
        parts.append(conn.send(h11.Data(data=body)))
    parts.append(conn.send(h11.EndOfMessage()))
    return b"".join(part or b"" for part in parts)


class RecordingProxy:
    """One capture's recording proxy (see the module docstring). Not reusable."""

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        limits: CaptureLimits,
        warc_path: Path,
        upstream_ca: Path | None = None,
        capture_id: str = "",
        local_pages: Mapping[str, tuple[str, bytes]] = {},
    ) -> None:
        self._policy = policy
        self._limits = limits
        self._warc_path = warc_path
        self._capture_id = capture_id
        self._local_pages = dict(local_pages)
        self._local_origins = {_origin_of(url) for url in self._local_pages}
        self._ca = MintingCA(capture_id)
        self._upstream_ssl = ssl.create_default_context()
        if upstream_ca is not None:
            self._upstream_ssl.load_verify_locations(cafile=str(upstream_ca))
        self._upstream_ssl.set_alpn_protocols(["http/1.1"])
        self._read_seconds = max(1.0, limits.navigation_seconds)
        self._record = ProxyRecord()
        self._resolved: dict[str, asyncio.Future[list[str]]] = {}
        self._probed: set[str] = set()
        self._clients: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._warc: WarcFile | None = None
        self._writes: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        self._warc_failure: str | None = None
        self._stopped = False

    # -- public surface ------------------------------------------------------------------

    @property
    def ca_pem(self) -> bytes:
        """The throwaway CA the browser-side certificates are minted from (PEM)."""
        return self._ca.ca_pem

    @property
    def limit_hit(self) -> str | None:
        """The first limit hit so far ("max_bytes", "max_response_bytes", "max_resources")."""
        hit = self._record.limits_hit
        return hit[0] if hit else None

    def start(self) -> int:
        """Open the WARC, listen on 127.0.0.1 and return the port; the loop runs in a thread."""
        if self._thread is not None:
            raise RuntimeError("RecordingProxy.start() called twice")
        self._warc = WarcFile(self._warc_path, capture_id=self._capture_id)
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture-warc")
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready: asyncio.Future[int] = loop.create_future()

        async def listen() -> None:
            try:
                self._server = await asyncio.start_server(
                    self._accept, "127.0.0.1", 0, limit=MAX_HEAD, backlog=128
                )
                ready.set_result(self._server.sockets[0].getsockname()[1])
            except Exception as error:
                ready.set_exception(error)

        started = threading.Event()
        port: list[int] = []
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            listening = loop.create_task(listen())

            def done(future: asyncio.Future[int]) -> None:
                if future.exception() is not None:
                    failure.append(future.exception())  # type: ignore[arg-type]
                else:
                    port.append(future.result())
                started.set()

            ready.add_done_callback(done)
            loop.run_forever()
            listening.cancel()
            loop.close()

        self._thread = threading.Thread(target=run, name="capture-proxy", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("the recording proxy did not start listening within 30 s")
        if failure:
            raise failure[0]
        return port[0]

    def stop(self) -> ProxyRecord:
        """Close every connection, finish and close the WARC; return what happened."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and not self._stopped:
            self._stopped = True
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
        if self._writes is not None:
            self._writes.shutdown(wait=True)
        if self._warc is not None:
            self._warc.close()
            self._record.warc_records = list(self._warc.entries)
        if self._warc_failure is not None:
            raise CaptureError(f"the WARC could not be written: {self._warc_failure}")
        return self._record

    # -- bookkeeping -----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=10)

    def _hit(self, limit: str) -> None:
        if limit not in self._record.limits_hit:
            self._record.limits_hit.append(limit)

    def _note(self, into: list[Refusal], url: str, reason: str) -> None:
        if len(into) < MAX_NOTES:
            into.append(Refusal(url[:2048], reason))

    # -- the browser side --------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._clients) >= MAX_CLIENTS or self._stopped:
            writer.transport.abort()
            return
        self._clients.add(task)
        upstreams: dict[tuple[str, str, int], _Upstream] = {}
        try:
            clean = False
            try:
                await self._serve_client(reader, writer, upstreams)
                clean = True
            except (
                _AbortError,
                OSError,
                TimeoutError,
                h11.ProtocolError,
                ssl.SSLError,
                ValueError,
            ):
                pass  # hostile or broken traffic: this connection ends, the proxy goes on
            finally:
                for upstream in upstreams.values():
                    upstream.close()
            # a cut response must look cut (a reset); a finished exchange is flushed first
            if clean:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), CONNECT_SECONDS)
        except asyncio.CancelledError:
            pass  # stop()
        finally:
            writer.transport.abort()
            self._clients.discard(task)

    async def _next(
        self, conn: h11.Connection, reader: asyncio.StreamReader, seconds: float
    ) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await asyncio.wait_for(reader.read(_CHUNK), seconds)
            conn.receive_data(data)

    async def _serve_client(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstreams: dict[tuple[str, str, int], _Upstream],
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        tunnel: tuple[str, int] | None = None
        while True:
            try:
                event = await self._next(conn, reader, IDLE_SECONDS)
            except h11.RemoteProtocolError as error:
                with contextlib.suppress(h11.LocalProtocolError):
                    writer.write(
                        _text_response(conn, error.error_status_hint, f"bad request: {error}")
                    )
                    await writer.drain()
                return
            if isinstance(event, h11.ConnectionClosed) or not isinstance(event, h11.Request):
                return
            method = event.method.decode("ascii", "replace")
            target = event.target.decode("ascii", "replace")
            if method == "CONNECT":
                if tunnel is not None:
                    writer.write(_text_response(conn, 400, "CONNECT inside a tunnel"))
                    await writer.drain()
                    return
                tunnel = self._connect_target(target)
                if tunnel is None:
                    writer.write(_text_response(conn, 400, f"bad CONNECT target {target[:200]!r}"))
                    await writer.drain()
                    return
                await self._next(conn, reader, IDLE_SECONDS)  # the CONNECT's (empty) end
                writer.write(conn.send(h11.Response(status_code=200, headers=[])) or b"")
                await writer.drain()
                context = self._ca.server_context(tunnel[0])
                await asyncio.wait_for(writer.start_tls(context), CONNECT_SECONDS)
                conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
                continue
            url = self._request_url(target, tunnel, event)
            declared = [int(v) for n, v in event.headers if n == b"content-length"]  # h11-checked
            too_large = f"request body over {MAX_REQUEST_BODY} bytes"
            if url is None or (declared and declared[0] > MAX_REQUEST_BODY):
                # answered before the body is read; the connection then closes
                status, text = (400, "not a proxy request") if url is None else (413, too_large)
                writer.write(_text_response(conn, status, text))
                await writer.drain()
                return
            body = await self._request_body(conn, reader)
            if body is None:  # chunked, and over the limit
                writer.write(_text_response(conn, 413, too_large))
                await writer.drain()
                return
            await self._answer(conn, writer, method, url, event, body, upstreams)
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
            else:
                return

    @staticmethod
    def _connect_target(target: str) -> tuple[str, int] | None:
        host, sep, port_text = target.rpartition(":")
        if not sep or not port_text.isdigit():
            return None
        port = int(port_text)
        host = normalize_host(host)
        if not host or not 0 < port < 65536 or len(host) > 253:
            return None
        return host, port

    @staticmethod
    def _request_url(target: str, tunnel: tuple[str, int] | None, event: h11.Request) -> str | None:
        if tunnel is not None:
            if not target.startswith("/"):
                return None
            return f"https://{_authority(tunnel[0], tunnel[1], 'https')}{target}"
        parts = urlsplit(target)
        try:
            parts.port  # noqa: B018 - raises ValueError on a port out of range
        except ValueError:
            return None
        if parts.scheme != "http" or not parts.hostname:
            return None
        return target

    async def _request_body(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> bytes | None:
        body = bytearray()
        while True:
            event = await self._next(conn, reader, self._read_seconds)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_REQUEST_BODY:
                    return None
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:
                raise _AbortError("request ended early")

    async def _send(self, writer: asyncio.StreamWriter, data: bytes | None) -> None:
        if data:
            writer.write(data)
            await writer.drain()

    async def _answer(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        method: str,
        url: str,
        request: h11.Request,
        body: bytes,
        upstreams: dict[tuple[str, str, int], _Upstream],
    ) -> None:
        local = self._local_pages.get(url)
        if local is not None:
            content_type, content = local
            head = h11.Response(
                status_code=200,
                headers=[
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(content)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            )
            await self._send(writer, conn.send(head))
            if method != "HEAD":
                await self._send(writer, conn.send(h11.Data(data=content)))
            await self._send(writer, conn.send(h11.EndOfMessage()))
            return
        if _origin_of(url) in self._local_origins:
            # another path of a local host (e.g. its favicon): never resolved or recorded
            answer = _text_response(conn, 404, "not found", head_only=method == "HEAD")
            await self._send(writer, answer)
            return
        try:
            self._admit(url, request)
            await self._forward(conn, writer, method, url, request, body, upstreams)
        except _RefusedError as refused:
            answer = _text_response(
                conn, refused.status, refused.reason, head_only=method == "HEAD"
            )
            await self._send(writer, answer)

    def _admit(self, url: str, request: h11.Request) -> None:
        """Count the request against the limits, or refuse it (429/501)."""
        if any(name == b"upgrade" for name, _ in request.headers):
            self._note(self._record.refused, url, "WebSocket / protocol upgrade not recorded")
            raise _RefusedError(
                501, "protocol upgrades (WebSocket) are not recorded by the capture"
            )
        if "max_bytes" in self._record.limits_hit:
            raise _RefusedError(429, "capture limit max_bytes reached; no further downloads")
        if self._record.requests >= self._limits.max_resources:
            self._hit("max_resources")
            raise _RefusedError(
                429, f"capture limit max_resources ({self._limits.max_resources}) reached"
            )
        self._record.requests += 1

    # -- the origin side ---------------------------------------------------------------------

    async def _addresses(self, host: str, port: int, url: str) -> list[str]:
        """The host's checked addresses, resolved once per capture; _RefusedError(403) when not."""
        future = self._resolved.get(host)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(None, check_host, host, port, self._policy)
            self._resolved[host] = future
        try:
            return await asyncio.wait_for(asyncio.shield(future), CONNECT_SECONDS * 3)
        except CaptureError as error:
            self._note(self._record.refused, url, error.reason)
            raise _RefusedError(403, error.reason) from None
        except TimeoutError:
            reason = f"refused: resolving {host} timed out"
            self._note(self._record.refused, url, reason)
            raise _RefusedError(403, reason) from None

    async def _open(self, scheme: str, host: str, port: int, url: str) -> _Upstream:
        addresses = await self._addresses(host, port, url)
        key = f"{host}:{port}"
        origin = self._record.origins.get(key)
        if origin is None:
            origin = OriginRecord(host, port, scheme, list(addresses))
            self._record.origins[key] = origin
        errors: list[str] = []
        for address in [origin.connected] if origin.connected else addresses:
            assert address is not None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        address,
                        port,
                        ssl=self._upstream_ssl if scheme == "https" else None,
                        server_hostname=host if scheme == "https" else None,
                        limit=MAX_HEAD,
                    ),
                    CONNECT_SECONDS,
                )
            except ssl.SSLError as error:
                # the address answered but TLS failed (untrusted chain, wrong name, no
                # common protocol): the origin is this address; its chain is still read
                origin.connected = address
                why = getattr(error, "verify_message", None) or error.reason or str(error)
                reason = f"TLS with {host} ({address}) failed: {why}"
                await self._record_tls(origin, None, reason)
                self._note(self._record.errors, url, reason)
                raise _RefusedError(502, reason) from None
            except (OSError, TimeoutError) as error:
                errors.append(f"{address}: {error or type(error).__name__}")
                continue
            origin.connected = address
            if scheme == "https":
                await self._record_tls(origin, writer, None)
            conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
            return _Upstream(reader, writer, conn, address)
        reason = f"cannot connect to {host} port {port}: {'; '.join(errors)[:500]}"
        self._note(self._record.errors, url, reason)
        raise _RefusedError(502, reason)

    async def _record_tls(
        self, origin: OriginRecord, writer: asyncio.StreamWriter | None, error: str | None
    ) -> None:
        key = f"{origin.host}:{origin.port}"
        if key in self._probed or origin.connected is None:
            return
        self._probed.add(key)
        loop = asyncio.get_running_loop()
        try:
            record = await asyncio.wait_for(
                loop.run_in_executor(
                    None, _probe_chain, origin.connected, origin.port, origin.host, CONNECT_SECONDS
                ),
                CONNECT_SECONDS * 2,
            )
        except (OSError, SSL.Error, TimeoutError) as failure:
            record = TlsRecord([], "", "", False, f"reading the chain failed: {failure}")
        if writer is not None:
            ssl_object = writer.get_extra_info("ssl_object")
            if ssl_object is not None:
                record.protocol = ssl_object.version() or record.protocol
                cipher = ssl_object.cipher()
                record.cipher = cipher[0] if cipher else record.cipher
            record.verified = error is None and record.error is None
        if error is not None:
            record.verified, record.error = False, error
        origin.tls = record

    async def _forward(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        method: str,
        url: str,
        request: h11.Request,
        body: bytes,
        upstreams: dict[tuple[str, str, int], _Upstream],
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme
        host = normalize_host(parts.hostname or "")
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        key = (scheme, host, port)
        # RFC 9112 §3.2.2: a proxy replaces Host with the target's authority, so the Host
        # recorded is the one of the origin actually connected to
        headers = [(b"Host", _authority(host, port, scheme).encode())]
        headers += [
            (name, value)
            for name, value in request.headers.raw_items()
            if name.lower() not in _HOP_BY_HOP and name.lower() != b"host"
        ]
        if body or method in ("POST", "PUT", "PATCH"):
            headers.append((b"Content-Length", str(len(body)).encode()))
        reused = upstreams.pop(key, None)
        for candidate in ([reused] if reused else []) + [None]:
            upstream = candidate or await self._open(scheme, host, port, url)
            sent = b"".join(
                (
                    upstream.conn.send(
                        h11.Request(method=method.encode(), target=path.encode(), headers=headers)
                    )
                    or b"",
                    upstream.conn.send(h11.Data(data=body)) or b"" if body else b"",
                    upstream.conn.send(h11.EndOfMessage()) or b"",
                )
            )
            exchange = _Exchange(self._warc_date())
            spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY)  # noqa: SIM115 - handed on
            try:
                upstream.writer.write(sent)
                await upstream.writer.drain()
                clean = await self._relay(conn, writer, upstream, url, spool, exchange)
            except _StaleError:
                upstream.close()
                continue  # a kept-alive connection the origin had closed: once more, fresh
            except BaseException:
                upstream.close()
                raise
            finally:
                self._queue_exchange(url, upstream.address, sent, spool, exchange)
            await self._writes_drained()
            if (
                clean
                and upstream.conn.our_state is h11.DONE
                and upstream.conn.their_state is h11.DONE
            ):
                upstream.conn.start_next_cycle()
                upstream.reused = True
                upstreams[key] = upstream
            else:
                upstream.close()
            return

    async def _relay(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        upstream: _Upstream,
        url: str,
        spool: IO[bytes],
        exchange: _Exchange,
    ) -> bool:
        """Pass the origin's response to the browser while spooling its wire bytes.

        Returns True when it ended cleanly; raises _RefusedError before the response head was
        sent, _AbortError after it (the browser connection is then dropped), _StaleError when a
        reused connection turned out closed before any byte came back."""
        fed = body = 0
        started = False

        def fail(reason: str, status: int, truncated: str) -> Exception:
            exchange.truncated = truncated
            self._note(self._record.errors, url, reason)
            return _AbortError(reason) if started else _RefusedError(status, reason)

        while True:
            try:
                event = upstream.conn.next_event()
            except h11.RemoteProtocolError as error:
                if not fed and upstream.reused:
                    raise _StaleError from None
                raise fail(
                    f"{url[:200]}: malformed response from the origin: {error}", 502, "cut"
                ) from None
            if event is h11.NEED_DATA:
                fed += await self._receive(upstream, url, spool, exchange, fed, fail)
                continue
            pending = len(upstream.conn.trailing_data[0])
            exchange.end = fed - pending
            if isinstance(event, h11.InformationalResponse):
                exchange.start = fed - pending
                continue
            if isinstance(event, h11.Response):
                exchange.head_end = fed - pending
                # h11 re-frames the body for the browser: Content-Length passes unless
                # Transfer-Encoding (which wins, RFC 9112 §6.3) came with it
                chunked = any(name == b"transfer-encoding" for name, _ in event.headers)
                headers = [
                    (name, value)
                    for name, value in event.headers.raw_items()
                    if name.lower() not in _HOP_BY_HOP
                    or (name.lower() == b"content-length" and not chunked)
                ]
                response = h11.Response(
                    status_code=event.status_code, headers=headers, reason=event.reason
                )
                await self._send(writer, conn.send(response))
                started = True
                exchange.truncated = "cut"
                continue
            if isinstance(event, h11.Data):
                body += len(event.data)
                if body > self._limits.max_response_bytes:
                    self._hit("max_response_bytes")
                    raise fail(
                        f"{url[:200]}: cut at capture limit max_response_bytes", 502, "length"
                    )
                try:
                    await self._send(writer, conn.send(h11.Data(data=event.data)))
                except OSError:
                    exchange.truncated = "disconnect"
                    raise _AbortError("the browser went away") from None
                continue
            if isinstance(event, h11.EndOfMessage):
                exchange.truncated = None
                await self._send(writer, conn.send(h11.EndOfMessage()))
                return True
            raise fail(f"{url[:200]}: the origin closed the connection", 502, "cut")

    async def _receive(
        self,
        upstream: _Upstream,
        url: str,
        spool: IO[bytes],
        exchange: _Exchange,
        fed: int,
        fail: Callable[[str, int, str], Exception],
    ) -> int:
        """Read the next bytes from the origin into the spool and h11; count them."""
        try:
            data = await asyncio.wait_for(upstream.reader.read(_CHUNK), self._read_seconds)
        except TimeoutError:
            reason = f"{url[:200]}: no data from the origin for {self._read_seconds:g} s"
            raise fail(reason, 504, "time") from None
        except OSError as error:
            if not fed and upstream.reused:
                raise _StaleError from None
            reason = f"{url[:200]}: the origin reset the connection ({error})"
            raise fail(reason, 502, "cut") from None
        if not data and not fed and upstream.reused:
            raise _StaleError
        spool.seek(0, 2)
        spool.write(data)
        self._record.bytes_received += len(data)
        with contextlib.suppress(RuntimeError):  # data after EOF: ignored
            upstream.conn.receive_data(data)
        if self._record.bytes_received > self._limits.max_bytes:
            self._hit("max_bytes")
            exchange.end = fed + len(data)
            raise fail(f"{url[:200]}: cut at capture limit max_bytes", 429, "length")
        return len(data)

    def _warc_date(self) -> str:
        import datetime as dt  # noqa: PLC0415

        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _queue_exchange(
        self, url: str, address: str, sent: bytes, spool: IO[bytes], exchange: _Exchange
    ) -> None:
        """Hand the exchange to the WARC writer thread (gzip is slow: not on the loop), which
        closes the spool; records keep the order exchanges ended in."""
        if self._warc is None or self._writes is None or exchange.head_end <= exchange.start:
            spool.close()
            return

        def write() -> None:
            try:
                self._write_exchange(url, address, sent, spool, exchange)
            except Exception as error:
                if self._warc_failure is None:
                    self._warc_failure = f"{url[:200]}: {type(error).__name__}: {error}"
            finally:
                spool.close()

        self._pending.append(self._writes.submit(write))

    async def _writes_drained(self) -> None:
        """Backpressure: wait while more than MAX_PENDING_WRITES exchanges await the writer."""
        while len(self._pending) > MAX_PENDING_WRITES:
            await asyncio.wrap_future(self._pending.popleft())
        while self._pending and self._pending[0].done():
            self._pending.popleft()

    def _write_exchange(
        self, url: str, address: str, sent: bytes, spool: IO[bytes], exchange: _Exchange
    ) -> None:
        """Append the response and the request records (in the writer thread)."""
        warc = self._warc
        assert warc is not None
        response_id, request_id = record_id(), record_id()
        common = {"WARC-Date": exchange.date, "WARC-IP-Address": address}
        response_headers = {
            **common,
            "WARC-Record-ID": response_id,
            "WARC-Concurrent-To": request_id,
        }
        if exchange.truncated is not None:
            response_headers["WARC-Truncated"] = (
                "unspecified" if exchange.truncated == "cut" else exchange.truncated
            )
        warc.write_message(
            "response",
            url,
            spool,
            exchange.start,
            exchange.head_end - exchange.start,
            max(exchange.end, exchange.head_end),
            headers=response_headers,
        )
        with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as request_spool:
            request_spool.write(sent)
            warc.write_message(
                "request",
                url,
                request_spool,
                0,
                sent.find(b"\r\n\r\n") + 4,
                len(sent),
                headers={**common, "WARC-Record-ID": request_id, "WARC-Concurrent-To": response_id},
            )
