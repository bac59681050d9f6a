"""JSON-RPC 2.0 over HTTP(S) for tier 5 — CONSENSUS-CRITICAL in how answers are read.

A client over :mod:`urllib` (timeout, response size limit, no redirects) whose
answers are checked strictly (strict hex, one id, exactly one of result and
error). The only I/O is the *transport* ``(url, request bytes) -> response
bytes``; tests pass an in-memory chain. :func:`endpoint_name` is the one way an
RPC URL is shown in messages and reports.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.message import Message
from typing import IO

from verifier.canonical import parse_json
from verifier.errors import (
    ChainCheckError,
    EndpointUnavailableError,
    JSONFormatError,
    MalformedAnswerError,
)

#: Largest JSON-RPC answer read, in bytes (a block header without transactions is ~1 KiB,
#: a mainnet block's hash list ~100 KiB).
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
#: Seconds for one request: each socket operation, and (checked between reads) the whole answer.
DEFAULT_TIMEOUT = 10.0
#: Characters of an endpoint's own error message quoted in a detail.
MAX_QUOTED_CHARS = 200

# --- strict hex ----------------------------------------------------------------------------

QUANTITY_RE = re.compile(r"0x[0-9a-fA-F]{1,64}")
DATA_RE = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
HASH_RE = re.compile(r"0x[0-9a-fA-F]{64}")
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


def shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, bytes) else value.hex()
    return text if len(text) <= 80 else text[:77] + "..."


def quantity(value: object, what: str) -> int:
    """``0x`` and 1–64 hex digits (either case); no sign, space, underscore or empty ``0x``."""
    if not isinstance(value, str) or not QUANTITY_RE.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not a hex quantity: {shown(value)}")
    return int(value[2:], 16)


def hex_data(value: object, what: str) -> bytes:
    """``0x`` and an even number of hex digits (either case)."""
    if not isinstance(value, str) or not DATA_RE.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not hex data: {shown(value)}")
    return bytes.fromhex(value[2:])


def hash32(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not HASH_RE.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not a 32-byte hex hash: {shown(value)}")
    return bytes.fromhex(value[2:])


def address(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not ADDRESS_RE.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not a 20-byte hex address: {shown(value)}")
    return bytes.fromhex(value[2:])


def to_hex(raw: bytes) -> str:
    return "0x" + raw.hex()


#: ``(url, request body) -> response body``. Raises :class:`EndpointUnavailableError` (or
#: :class:`OSError`) when the endpoint cannot be reached.
Transport = Callable[[str, bytes], bytes]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error, never followed (a JSON-RPC endpoint, or the log the
    verification service asks, has one address): urllib then raises the 3xx as an
    :class:`urllib.error.HTTPError`."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class UrllibTransport:
    """HTTP(S) POST with the standard library: bounded in time and size, no redirects.

    Proxies from the environment (``https_proxy``, ``no_proxy``) are honoured:
    courts and appraisers often sit behind one.
    """

    def __init__(
        self, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = MAX_RESPONSE_BYTES
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            NoRedirect(),
        ):
            self._opener.add_handler(handler)

    def __call__(self, url: str, body: bytes) -> bytes:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise EndpointUnavailableError("only http and https endpoints are supported")
        # Scheme checked just above; the opener has no file/ftp/data handlers anyway.
        request = urllib.request.Request(  # noqa: S310
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "evidence-verify",
            },
        )
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                chunks: list[bytes] = []
                received = 0
                while received <= self.max_bytes:
                    chunk = response.read1(64 * 1024)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    received += len(chunk)
                    if time.monotonic() > deadline:
                        raise EndpointUnavailableError(f"no full answer within {self.timeout} s")
        except urllib.error.HTTPError as exc:
            exc.close()
            raise EndpointUnavailableError(f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise EndpointUnavailableError(str(exc.reason)) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise EndpointUnavailableError(str(exc) or type(exc).__name__) from exc
        if received > self.max_bytes:
            raise MalformedAnswerError(f"answer is larger than {self.max_bytes} bytes")
        return b"".join(chunks)


class RpcClient:
    """JSON-RPC 2.0 over a transport, one request at a time, answers checked strictly."""

    def __init__(self, url: str, transport: Transport) -> None:
        self.url = url
        self._transport = transport
        self._next_id = 1

    def call(self, method: str, params: list[object]) -> object:
        request_id = self._next_id
        self._next_id += 1
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            raw = self._transport(self.url, json.dumps(body).encode("ascii"))
        except ChainCheckError:
            raise
        except OSError as exc:
            raise EndpointUnavailableError(f"{method}: {exc}") from exc
        try:
            answer = parse_json(raw, max_bytes=MAX_RESPONSE_BYTES, what=f"answer to {method}")
        except JSONFormatError as exc:
            raise MalformedAnswerError(str(exc)) from exc
        if not isinstance(answer, dict):
            raise MalformedAnswerError(f"answer to {method} is not a JSON-RPC response object")
        if answer.get("jsonrpc") != "2.0":
            raise MalformedAnswerError(f"answer to {method} is not JSON-RPC 2.0")
        answer_id = answer.get("id")
        if type(answer_id) is not int or answer_id != request_id:
            raise MalformedAnswerError(
                f"answer to {method} has id {shown(answer_id)}, want {request_id}"
            )
        if ("result" in answer) == ("error" in answer):
            raise MalformedAnswerError(f"answer to {method} needs exactly one of result, error")
        if "error" in answer:
            error = answer["error"]
            if not isinstance(error, dict):
                raise MalformedAnswerError(f"answer to {method}: error is not an object")
            code, message = error.get("code"), error.get("message")
            if type(code) is not int or not isinstance(message, str):
                raise MalformedAnswerError(f"answer to {method}: error lacks code or message")
            raise EndpointUnavailableError(
                f"{method} answered error {code}: {message[:MAX_QUOTED_CHARS]}"
            )
        result: object = answer["result"]
        return result


def endpoint_name(url: str) -> str:
    """``scheme://host:port``, plus ``/…`` when the URL has a path or query: those often
    hold an API key, which must not end up in a report."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    hidden = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{port}{hidden}"
