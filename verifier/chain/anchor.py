"""Tier 5: the on-chain anchor, checked live over JSON-RPC — CONSENSUS-CRITICAL.

Which calls are made, how their answers are parsed and what is compared
decide whether an anchored proof is accepted (docs/proof-format.md §10.4), so
this changes only with the specification.

No web3 here, on purpose: a court must be able to run and audit tier 5 with
the verifier alone (:mod:`verifier.chain.abi`, :mod:`verifier.chain.rpc`).
Every endpoint is asked the same questions and must give the same answers: a
verifier that trusts one RPC provider trusts that provider, not the chain.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from verifier.bundle import Anchor, Bundle
from verifier.chain.abi import (
    ANCHORED_TOPIC,
    Record,
    decode_anchored,
    decode_checkpoint_of,
    encode_checkpoint_of,
    log_id_for,
)
from verifier.chain.rpc import (
    ADDRESS_RE,
    RpcClient,
    Transport,
    UrllibTransport,
    address,
    endpoint_name,
    hash32,
    hex_data,
    quantity,
    shown,
    to_hex,
)
from verifier.errors import (
    ChainCheckError,
    ChainConfigError,
    EndpointUnavailableError,
    MalformedAnswerError,
)
from verifier.verify import AnchorCheck, AnchorVerdict, Status

MAX_ENDPOINTS = 8
MAX_URL_CHARS = 2048
MAX_CONFIRMATIONS = 1_000_000
MAX_CHAIN_ID = 2**53 - 1
#: Logs looked at in one transaction receipt (an anchor transaction emits one).
MAX_RECEIPT_LOGS = 1024


class _MismatchError(ChainCheckError):
    """A well-formed answer that contradicts the bundle."""


class _BehindError(ChainCheckError):
    """The endpoint has not reached the anchor's block yet."""


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
        raise MalformedAnswerError(f"{what} is not an object: {shown(value)}")
    return value


def _check_record(record: Record, want: Expected, head: int) -> None:
    if record.size == 0:
        if head < want.block_number:
            raise _BehindError(f"at block {head}, before the anchor's block {want.block_number}")
        raise _MismatchError(
            f"the contract records no checkpoint with root {want.root.hex()} for this log"
        )
    for label, got, expected in (
        ("size", str(record.size), str(want.size)),
        ("block time", str(record.timestamp), str(want.block_timestamp)),
        ("block number", str(record.block_number), str(want.block_number)),
    ):
        if got != expected:
            raise _MismatchError(
                f"the contract records {label} {got} for root {want.root.hex()}, "
                f"the bundle {expected}"
            )


def _check_receipt(receipt_answer: object, want: Expected, head: int) -> int:
    """Compare the anchor transaction's receipt; returns the event's ``prevSize``."""
    if receipt_answer is None:
        if head < want.block_number:
            raise _BehindError(f"at block {head}, before the anchor's block {want.block_number}")
        raise _MismatchError(f"transaction {to_hex(want.tx_hash)} is not on this chain")
    receipt = _object(receipt_answer, "receipt")
    what = "receipt"
    if hash32(_field(receipt, "transactionHash", what), "receipt transactionHash") != want.tx_hash:
        raise MalformedAnswerError("the receipt is for another transaction")
    status = quantity(_field(receipt, "status", what), "receipt status")
    if status != 1:
        raise _MismatchError(f"transaction {to_hex(want.tx_hash)} failed (status {status})")
    to = _field(receipt, "to", what)
    if to is None or address(to, "receipt to") != want.contract:
        raise _MismatchError(
            f"transaction {to_hex(want.tx_hash)} was sent to {shown(to)}, not the contract"
        )
    block_hash = hash32(_field(receipt, "blockHash", what), "receipt blockHash")
    if block_hash != want.block_hash:
        raise _MismatchError(
            f"transaction {to_hex(want.tx_hash)} is in block {to_hex(block_hash)}, "
            f"the bundle says {to_hex(want.block_hash)}"
        )
    number = quantity(_field(receipt, "blockNumber", what), "receipt blockNumber")
    if number != want.block_number:
        raise _MismatchError(
            f"transaction {to_hex(want.tx_hash)} is in block {number}, "
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
        f"transaction {to_hex(want.tx_hash)} emitted no Anchored event of the contract "
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
            f"block {want.block_number} is now {to_hex(block_hash)}, not the bundle's "
            f"{to_hex(want.block_hash)}: the anchor's block is no longer canonical"
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
    call = {
        "to": to_hex(want.contract),
        "data": to_hex(encode_checkpoint_of(want.log_id, want.root)),
    }
    returned = hex_data(client.call("eth_call", [call, hex(head)]), "eth_call result")
    if not returned:
        if head < want.block_number:
            raise _BehindError(f"at block {head}, before the anchor's block {want.block_number}")
        raise _MismatchError(f"no contract code at {to_hex(want.contract)} (eth_call returned 0x)")
    _check_record(decode_checkpoint_of(returned), want, head)
    receipt = client.call("eth_getTransactionReceipt", [to_hex(want.tx_hash)])
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
        told = ", ".join(f"{r.name} {to_hex(r.genesis or b'')}" for r in answered)
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
        f"{utc_text(want.block_timestamp)} (UTC) by tx {to_hex(want.tx_hash)}"
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
    if not isinstance(contract, str) or not ADDRESS_RE.fullmatch(contract):
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

    def check(bundle: Bundle) -> AnchorVerdict:
        anchor = bundle.anchor
        if anchor is None:
            return AnchorVerdict(Status.NOT_CHECKED, f"{bundle.status}: not yet anchored")
        if anchor.chain_id != chain_id:
            return AnchorVerdict(
                Status.FAILED,
                f"the bundle's chain id {anchor.chain_id} is not the trusted {chain_id}",
            )
        if bytes.fromhex(anchor.contract[2:]) != trusted_contract:
            return AnchorVerdict(
                Status.FAILED,
                f"the bundle's contract {anchor.contract} is not the trusted {contract}",
            )
        log_id = log_id_for(bundle.log_origin)
        if anchor.log_id != to_hex(log_id):
            return AnchorVerdict(
                Status.FAILED,
                f"the bundle's log id {anchor.log_id} is not SHA-256 of its origin "
                f"{bundle.log_origin!r} ({to_hex(log_id)})",
            )
        want = Expected.of(anchor, chain_id, trusted_contract, log_id)
        results = [
            query_endpoint(name, RpcClient(url, send), want)
            for name, url in zip(names, urls, strict=True)
        ]
        return combine(results, want, min_confirmations)

    return check
