"""Tier 5: the on-chain anchor, checked live over JSON-RPC — CONSENSUS-CRITICAL.

Which calls are made, how their answers are parsed and what is compared
decide whether an anchored proof is accepted (docs/proof-format.md §10.4), so
this changes only with the specification.

No web3 here, on purpose: a court must be able to run and audit tier 5 with
the verifier alone. What it needs is small — a JSON-RPC 2.0 client over
:mod:`urllib` (timeout, response size limit, no redirects, strict hex), the ABI
encoding of one call (``checkpointAt(bytes32,uint64)``) and the decoding of one
event (``Anchored(bytes32,uint64,bytes32,uint64)``), written out by hand below.

The only I/O is the *transport* ``(url, request bytes) -> response bytes``;
tests pass an in-memory chain, the CLI the urllib one. Every endpoint is asked
the same questions and must give the same answers: a verifier that trusts one
RPC provider trusts that provider, not the chain.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import IO, Literal

from Crypto.Hash import keccak

from verifier.bundle import Anchor, Bundle
from verifier.canonical import parse_json
from verifier.errors import FormatError, JSONFormatError, VerifierError
from verifier.verify import AnchorCheck, AnchorVerdict, Status

#: Largest JSON-RPC answer read, in bytes (a block header without transactions is ~1 KiB,
#: a mainnet block's hash list ~100 KiB).
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
#: Seconds for one request: each socket operation, and (checked between reads) the whole answer.
DEFAULT_TIMEOUT = 10.0
MAX_ENDPOINTS = 8
MAX_URL_CHARS = 2048
MAX_CONFIRMATIONS = 1_000_000
MAX_CHAIN_ID = 2**53 - 1
#: Logs looked at in one transaction receipt (an anchor transaction emits one).
MAX_RECEIPT_LOGS = 1024
#: Characters of an endpoint's own error message quoted in a detail.
MAX_QUOTED_CHARS = 200

CHECKPOINT_AT_SIGNATURE = "checkpointAt(bytes32,uint64)"
ANCHORED_SIGNATURE = "Anchored(bytes32,uint64,bytes32,uint64)"


def keccak256(data: bytes) -> bytes:
    """Ethereum's Keccak-256 (the original Keccak padding, not FIPS 202 SHA3-256)."""
    return keccak.new(digest_bits=256, data=data).digest()


#: ``0x82e9b0bb``: the first four bytes of keccak256("checkpointAt(bytes32,uint64)").
CHECKPOINT_AT_SELECTOR = keccak256(CHECKPOINT_AT_SIGNATURE.encode("ascii"))[:4]
#: topic 0 of the ``Anchored`` event: keccak256("Anchored(bytes32,uint64,bytes32,uint64)").
ANCHORED_TOPIC = keccak256(ANCHORED_SIGNATURE.encode("ascii"))

UINT64_MAX = 2**64 - 1
_WORD = 32


def log_id_for(origin: str) -> bytes:
    """The EvidenceLog ``logId`` of a log: SHA-256 of its origin line, UTF-8 encoded.

    The single definition, used by the anchorer and by tier 5. The origin is the
    first line of the log's checkpoint and the name of its key, so anyone can
    recompute the id from a checkpoint alone: ``printf %s "$ORIGIN" | sha256sum``.
    """
    return hashlib.sha256(origin.encode("utf-8")).digest()


# --- errors ------------------------------------------------------------------------------


class ChainCheckError(VerifierError):
    """Root of the tier-5 errors."""


class ChainConfigError(ChainCheckError, FormatError):
    """The tier-5 configuration (endpoints, contract, chain id, depth) cannot be used."""


class EndpointUnavailableError(ChainCheckError):
    """An endpoint did not answer the question: unreachable, timed out, an HTTP error,
    or a JSON-RPC error object. Tier 5 is then not checked, not failed."""


class MalformedAnswerError(ChainCheckError):
    """An endpoint answered with something that is not a valid answer. Tier 5 fails."""


class _MismatchError(ChainCheckError):
    """A well-formed answer that contradicts the bundle."""


class _BehindError(ChainCheckError):
    """The endpoint has not reached the anchor's block yet."""


# --- ABI encoding and decoding -------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """What ``checkpointAt(logId, size)`` returns; all zero when that size was never anchored."""

    root: bytes
    timestamp: int
    block_number: int


@dataclass(frozen=True)
class AnchoredEvent:
    log_id: bytes
    size: int
    root: bytes
    prev_size: int


def encode_checkpoint_at(log_id: bytes, size: int) -> bytes:
    """Calldata: selector ‖ logId (32 bytes) ‖ size as a 32-byte big-endian word."""
    if len(log_id) != _WORD:
        raise ValueError(f"log id is {len(log_id)} bytes, want 32")
    if not 0 <= size <= UINT64_MAX:
        raise ValueError(f"size {size} is not a uint64")
    return CHECKPOINT_AT_SELECTOR + log_id + size.to_bytes(_WORD, "big")


def _uint64(word: bytes, what: str) -> int:
    """A uint64 ABI word: 24 zero bytes, then 8 bytes big-endian (anything else is malformed)."""
    if word[:24] != bytes(24):
        raise MalformedAnswerError(f"{what} is not a uint64 word")
    return int.from_bytes(word, "big")


def _words(data: bytes, count: int, what: str) -> list[bytes]:
    if len(data) != count * _WORD:
        raise MalformedAnswerError(f"{what} is {len(data)} bytes, want {count * _WORD}")
    return [data[i : i + _WORD] for i in range(0, len(data), _WORD)]


def decode_checkpoint_at(data: bytes) -> Record:
    """Decode ``(bytes32 root, uint64 timestamp, uint64 blockNumber)``: exactly 96 bytes."""
    root, timestamp, block = _words(data, 3, "checkpointAt result")
    return Record(
        root, _uint64(timestamp, "checkpointAt timestamp"), _uint64(block, "checkpointAt block")
    )


def decode_anchored(topics: Sequence[bytes], data: bytes) -> AnchoredEvent:
    """Decode an ``Anchored`` log: topics ``[ANCHORED_TOPIC, logId]``, data
    ``size ‖ root ‖ prevSize`` (three words)."""
    if len(topics) != 2 or topics[0] != ANCHORED_TOPIC:
        raise MalformedAnswerError("Anchored log must have exactly two topics")
    size, root, prev = _words(data, 3, "Anchored data")
    return AnchoredEvent(
        topics[1], _uint64(size, "Anchored size"), root, _uint64(prev, "Anchored prevSize")
    )


# --- strict hex ----------------------------------------------------------------------------

_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, bytes) else value.hex()
    return text if len(text) <= 80 else text[:77] + "..."


def quantity(value: object, what: str) -> int:
    """``0x`` and 1–64 hex digits (either case); no sign, space, underscore or empty ``0x``."""
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not a hex quantity: {_show(value)}")
    return int(value[2:], 16)


def hex_data(value: object, what: str) -> bytes:
    """``0x`` and an even number of hex digits (either case)."""
    if not isinstance(value, str) or not _DATA.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not hex data: {_show(value)}")
    return bytes.fromhex(value[2:])


def hash32(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not a 32-byte hex hash: {_show(value)}")
    return bytes.fromhex(value[2:])


def address(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise MalformedAnswerError(f"{what} is not a 20-byte hex address: {_show(value)}")
    return bytes.fromhex(value[2:])


def _0x(raw: bytes) -> str:
    return "0x" + raw.hex()


# --- JSON-RPC ------------------------------------------------------------------------------

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
                f"answer to {method} has id {_show(answer_id)}, want {request_id}"
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


# --- one endpoint --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The trusted configuration and the bundle's anchor record, as bytes and integers."""

    chain_id: int
    contract: bytes
    log_id: bytes
    size: int
    root: bytes
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    block_timestamp: int

    @classmethod
    def of(cls, anchor: Anchor, chain_id: int, contract: bytes, log_id: bytes) -> Expected:
        return cls(
            chain_id=chain_id,
            contract=contract,
            log_id=log_id,
            size=anchor.size,
            root=bytes.fromhex(anchor.root),
            tx_hash=bytes.fromhex(anchor.tx_hash[2:]),
            block_number=anchor.block_number,
            block_hash=bytes.fromhex(anchor.block_hash[2:]),
            block_timestamp=anchor.block_timestamp,
        )


EndpointState = Literal["confirmed", "failed", "unavailable", "behind"]


@dataclass(frozen=True)
class EndpointResult:
    name: str
    state: EndpointState
    reason: str = ""
    confirmations: int = 0
    #: ``prevSize`` of the Anchored event: the one fact not already compared with the bundle.
    prev_size: int | None = None
    #: hash of block 0: endpoints of one chain share it, whatever block each has reached.
    genesis: bytes | None = None


def _field(obj: dict[str, object], key: str, what: str) -> object:
    if key not in obj:
        raise MalformedAnswerError(f"{what} lacks {key!r}")
    return obj[key]


def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise MalformedAnswerError(f"{what} is not an object: {_show(value)}")
    return value


def _check_record(record: Record, want: Expected, head: int) -> None:
    if record.root == bytes(_WORD):
        if head < want.block_number:
            raise _BehindError(f"at block {head}, before the anchor's block {want.block_number}")
        raise _MismatchError(f"the contract records no checkpoint of size {want.size} for this log")
    for label, got, expected in (
        ("root", record.root.hex(), want.root.hex()),
        ("block time", str(record.timestamp), str(want.block_timestamp)),
        ("block number", str(record.block_number), str(want.block_number)),
    ):
        if got != expected:
            raise _MismatchError(
                f"the contract records {label} {got} for size {want.size}, the bundle {expected}"
            )


def _check_receipt(receipt_answer: object, want: Expected, head: int) -> int:
    """Compare the anchor transaction's receipt; returns the event's ``prevSize``."""
    if receipt_answer is None:
        if head < want.block_number:
            raise _BehindError(f"at block {head}, before the anchor's block {want.block_number}")
        raise _MismatchError(f"transaction {_0x(want.tx_hash)} is not on this chain")
    receipt = _object(receipt_answer, "receipt")
    what = "receipt"
    if hash32(_field(receipt, "transactionHash", what), "receipt transactionHash") != want.tx_hash:
        raise MalformedAnswerError("the receipt is for another transaction")
    status = quantity(_field(receipt, "status", what), "receipt status")
    if status != 1:
        raise _MismatchError(f"transaction {_0x(want.tx_hash)} failed (status {status})")
    to = _field(receipt, "to", what)
    if to is None or address(to, "receipt to") != want.contract:
        raise _MismatchError(
            f"transaction {_0x(want.tx_hash)} was sent to {_show(to)}, not the contract"
        )
    block_hash = hash32(_field(receipt, "blockHash", what), "receipt blockHash")
    if block_hash != want.block_hash:
        raise _MismatchError(
            f"transaction {_0x(want.tx_hash)} is in block {_0x(block_hash)}, "
            f"the bundle says {_0x(want.block_hash)}"
        )
    number = quantity(_field(receipt, "blockNumber", what), "receipt blockNumber")
    if number != want.block_number:
        raise _MismatchError(
            f"transaction {_0x(want.tx_hash)} is in block {number}, "
            f"the bundle says {want.block_number}"
        )
    logs = _field(receipt, "logs", what)
    if not isinstance(logs, list) or len(logs) > MAX_RECEIPT_LOGS:
        raise MalformedAnswerError(f"receipt logs is not a list of at most {MAX_RECEIPT_LOGS}")
    for position, item in enumerate(logs):
        entry = _object(item, f"receipt log {position}")
        where = f"receipt log {position}"
        topics_raw = _field(entry, "topics", where)
        if not isinstance(topics_raw, list) or len(topics_raw) > 4:
            raise MalformedAnswerError(f"{where} topics is not a list of at most 4")
        topics = [hash32(t, f"{where} topic") for t in topics_raw]
        emitter = address(_field(entry, "address", where), f"{where} address")
        data = hex_data(_field(entry, "data", where), f"{where} data")
        removed = entry.get("removed", False)
        if not isinstance(removed, bool):
            raise MalformedAnswerError(f"{where} removed is not a boolean")
        if removed:
            continue  # a log of a block that was reorganised away
        if emitter != want.contract or not topics or topics[0] != ANCHORED_TOPIC:
            continue
        event = decode_anchored(topics, data)
        if (event.log_id, event.size, event.root) == (want.log_id, want.size, want.root):
            return event.prev_size
    raise _MismatchError(
        f"transaction {_0x(want.tx_hash)} emitted no Anchored event of the contract "
        f"for this log, size {want.size} and root {want.root.hex()}"
    )


def _check_block(block_answer: object, want: Expected) -> None:
    if block_answer is None:
        raise _MismatchError(f"block {want.block_number} is not on this chain")
    block = _object(block_answer, "block")
    if quantity(_field(block, "number", "block"), "block number") != want.block_number:
        raise MalformedAnswerError("eth_getBlockByNumber answered with another block")
    block_hash = hash32(_field(block, "hash", "block"), "block hash")
    if block_hash != want.block_hash:
        raise _MismatchError(
            f"block {want.block_number} is now {_0x(block_hash)}, not the bundle's "
            f"{_0x(want.block_hash)}: the anchor's block is no longer canonical"
        )
    timestamp = quantity(_field(block, "timestamp", "block"), "block timestamp")
    if timestamp != want.block_timestamp:
        raise _MismatchError(
            f"block {want.block_number} has time {timestamp}, the bundle {want.block_timestamp}"
        )


def chain_identity(client: RpcClient, want: Expected) -> bytes:
    """``eth_chainId`` must be the trusted id; returns the genesis block's hash."""
    chain_id = quantity(client.call("eth_chainId", []), "eth_chainId")
    if chain_id != want.chain_id:
        raise _MismatchError(f"serves chain id {chain_id}, not the trusted {want.chain_id}")
    genesis = _object(client.call("eth_getBlockByNumber", ["0x0", False]), "block 0")
    if quantity(_field(genesis, "number", "block 0"), "block 0 number") != 0:
        raise MalformedAnswerError("eth_getBlockByNumber answered with another block than 0")
    return hash32(_field(genesis, "hash", "block 0"), "block 0 hash")


def check_anchor(client: RpcClient, want: Expected) -> tuple[int, int]:
    """The contract's record, the transaction's receipt and event, the block, the depth.

    Returns (confirmations, prevSize); raises on the first problem.
    """
    head = quantity(client.call("eth_blockNumber", []), "eth_blockNumber")
    call = {"to": _0x(want.contract), "data": _0x(encode_checkpoint_at(want.log_id, want.size))}
    returned = hex_data(client.call("eth_call", [call, hex(head)]), "eth_call result")
    if not returned:
        if head < want.block_number:
            raise _BehindError(f"at block {head}, before the anchor's block {want.block_number}")
        raise _MismatchError(f"no contract code at {_0x(want.contract)} (eth_call returned 0x)")
    _check_record(decode_checkpoint_at(returned), want, head)
    receipt = client.call("eth_getTransactionReceipt", [_0x(want.tx_hash)])
    prev_size = _check_receipt(receipt, want, head)
    _check_block(client.call("eth_getBlockByNumber", [hex(want.block_number), False]), want)
    if head < want.block_number:
        raise MalformedAnswerError(
            f"inconsistent: head {head} is before block {want.block_number}, which it shows"
        )
    return head - want.block_number + 1, prev_size


def query_endpoint(name: str, client: RpcClient, want: Expected) -> EndpointResult:
    """Ask one endpoint the questions of §10.4, in order; the first problem decides."""
    genesis: bytes | None = None
    try:
        genesis = chain_identity(client, want)
        confirmations, prev_size = check_anchor(client, want)
    except EndpointUnavailableError as exc:
        return EndpointResult(name, "unavailable", str(exc), genesis=genesis)
    except _BehindError as exc:
        return EndpointResult(name, "behind", str(exc), genesis=genesis)
    except (_MismatchError, MalformedAnswerError) as exc:
        return EndpointResult(name, "failed", str(exc))
    return EndpointResult(
        name, "confirmed", confirmations=confirmations, prev_size=prev_size, genesis=genesis
    )


# --- all endpoints -------------------------------------------------------------------------


def utc_text(timestamp: int) -> str:
    """``2026-11-26T06:00:01Z``; Unix seconds beyond year 9999 are shown as they are."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"unix time {timestamp}"


def combine(
    results: Sequence[EndpointResult], want: Expected, min_confirmations: int
) -> AnchorVerdict:
    """One verdict from every endpoint's answer (the outcome rules of §10.4).

    The verdict's ``facts`` always name the endpoints asked; when every endpoint
    confirmed the anchor they also give the block and the least confirmation count
    (the report prints them; no fact is shown from a chain the endpoints dispute).
    """
    asked = {"endpoints": ", ".join(r.name for r in results)}
    confirmed = [r for r in results if r.state == "confirmed"]
    failed = [r for r in results if r.state == "failed"]
    names = ", ".join(r.name for r in confirmed)
    if failed:
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in failed)
        if confirmed:
            verb = "confirms" if len(confirmed) == 1 else "confirm"
            return AnchorVerdict(
                Status.FAILED, f"endpoints disagree: {names} {verb} the anchor; {reasons}", asked
            )
        return AnchorVerdict(Status.FAILED, reasons, asked)
    answered = [r for r in results if r.genesis is not None]
    if len({r.genesis for r in answered}) > 1:
        told = ", ".join(f"{r.name} {_0x(r.genesis or b'')}" for r in answered)
        return AnchorVerdict(
            Status.FAILED, f"endpoints disagree on the chain's genesis block: {told}", asked
        )
    if len({r.prev_size for r in confirmed}) > 1:
        told = ", ".join(f"{r.name} prevSize {r.prev_size}" for r in confirmed)
        return AnchorVerdict(
            Status.FAILED, f"endpoints disagree on the Anchored event: {told}", asked
        )
    problems = [
        f"could not reach {r.name}: {r.reason}"
        if r.state == "unavailable"
        else f"{r.name} is {r.reason}"
        for r in results
        if r.state in ("unavailable", "behind")
    ]
    if problems:
        also = f" ({names} confirmed the anchor)" if confirmed else ""
        return AnchorVerdict(Status.NOT_CHECKED, "; ".join(problems) + also, asked)
    least = min(r.confirmations for r in confirmed)
    facts: dict[str, str | int] = {
        "confirmations": least,
        "min_confirmations": min_confirmations,
        "block_number": want.block_number,
        "block_timestamp": want.block_timestamp,
        "block_time": utc_text(want.block_timestamp),
        **asked,
    }
    told = (
        f"size {want.size} recorded in block {want.block_number} at "
        f"{utc_text(want.block_timestamp)} (UTC) by tx {_0x(want.tx_hash)}"
    )
    if least < min_confirmations:
        return AnchorVerdict(
            Status.NOT_CHECKED,
            f"not yet final: {least} of {min_confirmations} confirmations; {told}; "
            f"endpoints: {names}",
            facts,
        )
    return AnchorVerdict(
        Status.VERIFIED,
        f"{told}; {least} confirmation{'' if least == 1 else 's'} "
        f"(need {min_confirmations}); endpoints: {names}",
        facts,
    )


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


def _check_url(url: str) -> str:
    if not url or len(url) > MAX_URL_CHARS or not url.isprintable() or " " in url:
        raise ChainConfigError(f"--rpc {url[:80]!r}: not a URL of at most {MAX_URL_CHARS} chars")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ChainConfigError(f"--rpc {url[:80]!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChainConfigError(f"--rpc {url[:80]!r}: must be an http:// or https:// URL")
    return url


def make_anchor_check(
    rpc_urls: Sequence[str],
    *,
    contract: str,
    chain_id: int,
    min_confirmations: int = 1,
    transport: Transport | None = None,
) -> AnchorCheck:
    """A tier-5 check against the trusted ``contract`` on the trusted ``chain_id``.

    Every endpoint in ``rpc_urls`` is asked and must agree. Raises
    :class:`ChainConfigError` (unusable input, exit 3) for a bad configuration.
    """
    urls = list(dict.fromkeys(_check_url(u) for u in rpc_urls))
    if not urls:
        raise ChainConfigError("tier 5 needs at least one --rpc endpoint")
    if len(urls) > MAX_ENDPOINTS:
        raise ChainConfigError(f"at most {MAX_ENDPOINTS} --rpc endpoints, got {len(urls)}")
    if not isinstance(contract, str) or not _ADDRESS.fullmatch(contract):
        raise ChainConfigError(f"--contract {str(contract)[:80]!r} is not a 0x-prefixed address")
    if type(chain_id) is not int or not 1 <= chain_id <= MAX_CHAIN_ID:
        raise ChainConfigError(f"--chain-id must be an integer in 1..{MAX_CHAIN_ID}")
    if type(min_confirmations) is not int or not 1 <= min_confirmations <= MAX_CONFIRMATIONS:
        raise ChainConfigError(f"--min-confirmations must be in 1..{MAX_CONFIRMATIONS}")
    trusted_contract = bytes.fromhex(contract[2:])
    send = transport or UrllibTransport()
    names = [endpoint_name(u) for u in urls]
    if len(set(names)) < len(names):  # same host, different paths: number them
        names = [f"{n} (#{i})" for i, n in enumerate(names, start=1)]

    def check(bundle: Bundle) -> tuple[Status, str]:
        anchor = bundle.anchor
        if anchor is None:
            return Status.NOT_CHECKED, f"{bundle.status}: not yet anchored"
        if anchor.chain_id != chain_id:
            return (
                Status.FAILED,
                f"the bundle's chain id {anchor.chain_id} is not the trusted {chain_id}",
            )
        if bytes.fromhex(anchor.contract[2:]) != trusted_contract:
            return (
                Status.FAILED,
                f"the bundle's contract {anchor.contract} is not the trusted {contract}",
            )
        log_id = log_id_for(bundle.log_origin)
        if anchor.log_id != _0x(log_id):
            return (
                Status.FAILED,
                f"the bundle's log id {anchor.log_id} is not SHA-256 of its origin "
                f"{bundle.log_origin!r} ({_0x(log_id)})",
            )
        want = Expected.of(anchor, chain_id, trusted_contract, log_id)
        results = [
            query_endpoint(name, RpcClient(url, send), want)
            for name, url in zip(names, urls, strict=True)
        ]
        return combine(results, want, min_confirmations)

    return check
