"""Tier 5 (verifier.chain) against an in-memory JSON-RPC chain.

The fake node answers the five questions of docs/proof-format.md §10.4 the way
a correct node holding the anchor would; each test breaks one answer (named
after its defect) and expects the one verdict the specification gives. The ABI
encoding is cross-checked against eth-abi and eth-utils (test-only here: the
verifier has no web3 dependency).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak as eth_keccak

from tests.support.factories import ORIGIN, sealed_evidence
from verifier.bundle import Bundle
from verifier.chain.abi import (
    ANCHORED_TOPIC,
    CHECKPOINT_OF_SELECTOR,
    decode_anchored,
    decode_checkpoint_of,
    encode_checkpoint_of,
    log_id_for,
)
from verifier.chain.anchor import (
    MAX_CONFIRMATIONS,
    MAX_ENDPOINTS,
    MAX_RECEIPT_LOGS,
    make_anchor_check,
    utc_text,
)
from verifier.chain.rpc import MAX_RESPONSE_BYTES, UrllibTransport, endpoint_name, quantity
from verifier.cli import run
from verifier.errors import (
    ChainConfigError,
    EndpointUnavailableError,
    FormatError,
    MalformedAnswerError,
)
from verifier.verify import AnchorVerdict, Status, verify_bundle

CHAIN_ID = 31337
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TX = "0x" + "a1" * 32
BLOCK = 10
BLOCK_HASH = "0x" + "b2" * 32
TIMESTAMP = 1_795_000_000  # date -u -d @1795000000: 2026-11-18T11:06:40Z
GENESIS = "0x" + "c3" * 32
HEAD = 12  # three confirmations: blocks 10, 11 and 12
URL = "http://node-a.test:8545"
URL_B = "http://node-b.test:8545"

SEALED = sealed_evidence()
LOG_ID = log_id_for(ORIGIN)
SIZE = SEALED.log.size
ROOT = SEALED.log.root()


def anchored_bundle(**changes: Any) -> Bundle:
    anchor = {
        "chain_id": CHAIN_ID,
        "contract": CONTRACT,
        "log_id": "0x" + LOG_ID.hex(),
        "tx_hash": TX,
        "block_number": BLOCK,
        "block_hash": BLOCK_HASH,
        "block_timestamp": TIMESTAMP,
        "size": SIZE,
        "root": ROOT.hex(),
        **changes,
    }
    obj = {**SEALED.bundle.model_dump(mode="json"), "status": "anchored", "anchor": anchor}
    return Bundle.model_validate(obj)


BUNDLE = anchored_bundle()


def word(value: int) -> str:
    return value.to_bytes(32, "big").hex()


def anchored_log(
    *, address: str = CONTRACT, log_id: bytes = LOG_ID, size: int = SIZE, root: bytes = ROOT
) -> dict[str, Any]:
    return {
        "address": address.lower(),
        "topics": ["0x" + ANCHORED_TOPIC.hex(), "0x" + log_id.hex()],
        "data": "0x" + word(size) + root.hex() + word(0),
        "removed": False,
    }


# --- the fake chain -------------------------------------------------------------------------


@dataclass
class FakeNode:
    """A node of a chain on which the bundle's checkpoint is anchored."""

    chain_id: int = CHAIN_ID
    head: int = HEAD
    genesis: str = GENESIS
    code: bool = True
    #: (logId, root) -> (size, timestamp, block number), as the contract stores them
    records: dict[tuple[bytes, bytes], tuple[int, int, int]] = field(
        default_factory=lambda: {(LOG_ID, ROOT): (SIZE, TIMESTAMP, BLOCK)}
    )
    receipt: dict[str, Any] | None = field(
        default_factory=lambda: {
            "transactionHash": TX,
            "status": "0x1",
            "to": CONTRACT.lower(),
            "blockHash": BLOCK_HASH,
            "blockNumber": hex(BLOCK),
            "logs": [anchored_log()],
        }
    )
    block: dict[str, Any] | None = field(
        default_factory=lambda: {
            "number": hex(BLOCK),
            "hash": BLOCK_HASH,
            "timestamp": hex(TIMESTAMP),
        }
    )
    #: method -> raw response bytes, or a function of the request returning them
    raw: dict[str, bytes | Callable[[dict[str, Any]], bytes]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def result(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.head)
        if method == "eth_call":
            call, tag = params
            assert tag == hex(self.head)  # asked at the head it was told
            if call["to"].lower() != CONTRACT.lower() or not self.code:
                return "0x"
            data = bytes.fromhex(call["data"][2:])
            assert data[:4] == CHECKPOINT_OF_SELECTOR and len(data) == 68
            log_id, root = data[4:36], data[36:]
            size, ts, number = self.records.get((log_id, root), (0, 0, 0))
            return "0x" + word(size) + word(ts) + word(number)
        if method == "eth_getTransactionReceipt":
            return self.receipt if params == [TX] else None
        if method == "eth_getBlockByNumber":
            assert params[1] is False
            if params[0] == "0x0":
                return {"number": "0x0", "hash": self.genesis, "timestamp": "0x0"}
            return self.block if params[0] == hex(BLOCK) else None
        raise AssertionError(f"unexpected call {method}")

    def answer(self, body: bytes) -> bytes:
        request = json.loads(body)
        assert request["jsonrpc"] == "2.0" and isinstance(request["id"], int)
        method = request["method"]
        self.calls.append(method)
        if method in self.raw:
            raw = self.raw[method]
            return raw(request) if callable(raw) else raw
        reply = {
            "jsonrpc": "2.0",
            "id": request["id"],
            "result": self.result(method, request["params"]),
        }
        return json.dumps(reply).encode()


class FakeTransport:
    """``(url, body) -> bytes`` over a set of fake nodes; unknown hosts are unreachable."""

    def __init__(self, nodes: dict[str, FakeNode]) -> None:
        self.nodes = nodes

    def __call__(self, url: str, body: bytes) -> bytes:
        node = self.nodes.get(url)
        if node is None:
            raise ConnectionRefusedError(111, "Connection refused")
        return node.answer(body)


def check(
    nodes: dict[str, FakeNode] | None = None,
    bundle: Bundle = BUNDLE,
    *,
    urls: list[str] | None = None,
    contract: str = CONTRACT,
    chain_id: int = CHAIN_ID,
    min_confirmations: int = 1,
) -> tuple[Status, str]:
    nodes = {URL: FakeNode()} if nodes is None else nodes
    anchor_check = make_anchor_check(
        urls or list(nodes),
        contract=contract,
        chain_id=chain_id,
        min_confirmations=min_confirmations,
        transport=FakeTransport(nodes),
    )
    verdict = anchor_check(bundle)
    return verdict.status, verdict.detail


def reply(result: Any, request_id: int | None = None) -> Callable[[dict[str, Any]], bytes]:
    """A well-formed JSON-RPC answer carrying ``result`` (for answers the fake would not give)."""

    def build(request: dict[str, Any]) -> bytes:
        rid = request["id"] if request_id is None else request_id
        return json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode()

    return build


# --- known answers and the ABI ----------------------------------------------------------------


def test_selector_and_topic_known_answers() -> None:
    # Recompute: python3 -c "from Crypto.Hash import keccak;
    #   print(keccak.new(digest_bits=256, data=b'checkpointOf(bytes32,bytes32)').hexdigest()[:8])"
    assert CHECKPOINT_OF_SELECTOR.hex() == "3988385a"
    assert eth_keccak(text="checkpointOf(bytes32,bytes32)")[:4] == CHECKPOINT_OF_SELECTOR
    assert eth_keccak(text="Anchored(bytes32,uint64,bytes32,uint64)") == ANCHORED_TOPIC


def test_log_id_is_sha256_of_the_utf8_origin() -> None:
    # printf %s 'evidence.test/log' | sha256sum
    assert log_id_for(ORIGIN) == hashlib.sha256(b"evidence.test/log").digest()
    assert log_id_for("泉州/log") == hashlib.sha256("泉州/log".encode()).digest()


@pytest.mark.parametrize("root", [bytes(32), ROOT, b"\xff" * 32])
def test_calldata_is_the_abi_encoding(root: bytes) -> None:
    expected = CHECKPOINT_OF_SELECTOR + abi_encode(["bytes32", "bytes32"], [LOG_ID, root])
    assert encode_checkpoint_of(LOG_ID, root) == expected


@pytest.mark.parametrize(
    ("log_id", "root"), [(b"\x01" * 31, ROOT), (LOG_ID, ROOT[:31]), (LOG_ID, ROOT + b"\x00")]
)
def test_calldata_refuses_bad_arguments(log_id: bytes, root: bytes) -> None:
    with pytest.raises(ValueError):
        encode_checkpoint_of(log_id, root)


def test_return_words_decode_like_eth_abi() -> None:
    data = abi_encode(["uint64", "uint64", "uint64"], [SIZE, 2**64 - 1, BLOCK])
    record = decode_checkpoint_of(data)
    assert (record.size, record.timestamp, record.block_number) == tuple(
        abi_decode(["uint64", "uint64", "uint64"], data)
    )


@pytest.mark.parametrize(
    "data",
    [
        b"\x00" * 95,
        b"\x00" * 97,
        ROOT + bytes(64),
        bytes(32) + (1 << 64).to_bytes(32, "big") + bytes.fromhex(word(BLOCK)),
        bytes(64) + b"\x80" + bytes(31),
    ],
    ids=["short-95", "long-97", "size-is-a-root", "timestamp-over-uint64", "block-high-bit"],
)
def test_return_words_are_strict(data: bytes) -> None:
    with pytest.raises(MalformedAnswerError):
        decode_checkpoint_of(data)


def test_anchored_event_decodes_and_is_strict() -> None:
    data = abi_encode(["uint64", "bytes32", "uint64"], [SIZE, ROOT, 3])
    event = decode_anchored([ANCHORED_TOPIC, LOG_ID], data)
    assert (event.log_id, event.size, event.root, event.prev_size) == (LOG_ID, SIZE, ROOT, 3)
    for topics, payload in [
        ([ANCHORED_TOPIC], data),
        ([ANCHORED_TOPIC, LOG_ID, LOG_ID], data),
        ([LOG_ID, LOG_ID], data),
        ([ANCHORED_TOPIC, LOG_ID], data + b"\x00"),
    ]:
        with pytest.raises(MalformedAnswerError):
            decode_anchored(topics, payload)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0x0", 0), ("0x1c", 28), ("0x1C", 28), ("0x001", 1), ("0x" + "f" * 64, 2**256 - 1)],
)
def test_quantity_accepts(text: str, value: int) -> None:
    assert quantity(text, "q") == value


@pytest.mark.parametrize(
    "text",
    [
        "0x",
        "1c",
        "0X1c",
        " 0x1",
        "0x1 ",
        "0x1_0",
        "0x-1",
        "+0x1",
        "0x" + "f" * 65,
        28,
        None,
        "0x1\n",
    ],
)
def test_quantity_refuses(text: object) -> None:
    with pytest.raises(MalformedAnswerError):
        quantity(text, "q")


# --- the verdicts --------------------------------------------------------------------------


def test_verified_reports_block_time_confirmations_and_endpoints() -> None:
    node = FakeNode()
    status, detail = check({URL: node})
    assert status == Status.VERIFIED, detail
    assert f"size {SIZE} recorded in block {BLOCK} at 2026-11-18T11:06:40Z (UTC)" in detail
    assert f"by tx {TX}" in detail
    assert "3 confirmations (need 1)" in detail and "endpoints: http://node-a.test:8545" in detail
    assert node.calls == [
        "eth_chainId",
        "eth_getBlockByNumber",
        "eth_blockNumber",
        "eth_call",
        "eth_getTransactionReceipt",
        "eth_getBlockByNumber",
    ]


def test_two_agreeing_endpoints_verify() -> None:
    status, detail = check({URL: FakeNode(), URL_B: FakeNode(head=HEAD + 5)})
    assert status == Status.VERIFIED, detail
    assert "3 confirmations" in detail  # the fewest any endpoint has
    assert f"endpoints: {URL}, {URL_B}" in detail


def test_contract_address_compares_case_insensitively() -> None:
    assert check(contract=CONTRACT.lower())[0] == Status.VERIFIED
    assert check(bundle=anchored_bundle(contract=CONTRACT.upper().replace("0X", "0x")))[0] == (
        Status.VERIFIED
    )


@pytest.mark.parametrize(
    ("defect", "kwargs", "bundle", "says"),
    [
        (
            "bundle-chain-id-untrusted",
            {"chain_id": 1},
            BUNDLE,
            "chain id 31337 is not the trusted 1",
        ),
        (
            "bundle-contract-untrusted",
            {"contract": "0x" + "12" * 20},
            BUNDLE,
            f"contract {CONTRACT} is not the trusted",
        ),
        (
            "bundle-log-id-not-of-origin",
            {},
            anchored_bundle(log_id="0x" + "ee" * 32),
            "is not SHA-256 of its origin 'evidence.test/log'",
        ),
    ],
)
def test_untrusted_bundle_fails_before_any_call(
    defect: str, kwargs: dict[str, Any], bundle: Bundle, says: str
) -> None:
    node = FakeNode()
    status, detail = check({URL: node}, bundle, **kwargs)
    assert status == Status.FAILED
    assert says in detail
    assert node.calls == []


def _set(path: str, value: Any) -> Callable[[FakeNode], None]:
    """Set ``receipt.status`` / ``block.hash`` / ``receipt.logs.0.data`` on the fake node."""

    def apply(node: FakeNode) -> None:
        *parents, last = path.split(".")
        target: Any = node
        for part in parents:
            target = (
                target[int(part)]
                if isinstance(target, list)
                else (target[part] if isinstance(target, dict) else getattr(target, part))
            )
        if isinstance(target, dict):
            target[last] = value
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            setattr(target, last, value)

    return apply


def _record(
    size: int = SIZE, ts: int = TIMESTAMP, block: int = BLOCK
) -> Callable[[FakeNode], None]:
    def apply(node: FakeNode) -> None:
        node.records[(LOG_ID, ROOT)] = (size, ts, block)

    return apply


def _no_record(node: FakeNode) -> None:
    node.records.clear()


OTHER = "0x" + "99" * 32

#: One defect each; every other answer stays right. (defect, change, words in the detail)
MISMATCHES: list[tuple[str, Callable[[FakeNode], None], str]] = [
    (
        "endpoint-serves-another-chain",
        _set("chain_id", 1),
        "serves chain id 1, not the trusted 31337",
    ),
    ("no-contract-code", _set("code", False), "no contract code at"),
    ("root-never-anchored", _no_record, f"records no checkpoint with root {ROOT.hex()}"),
    ("record-size-differs", _record(size=SIZE + 1), f"records size {SIZE + 1} for root"),
    ("record-timestamp-differs", _record(ts=TIMESTAMP + 1), "records block time"),
    ("record-block-differs", _record(block=BLOCK + 1), "records block number 11"),
    ("receipt-missing", _set("receipt", None), "is not on this chain"),
    ("receipt-status-0", _set("receipt.status", "0x0"), "failed (status 0)"),
    ("receipt-to-another-address", _set("receipt.to", "0x" + "12" * 20), "was sent to"),
    ("receipt-to-null", _set("receipt.to", None), "was sent to null"),
    ("receipt-block-hash-differs", _set("receipt.blockHash", OTHER), "is in block 0x9999"),
    ("receipt-block-number-differs", _set("receipt.blockNumber", "0xb"), "is in block 11"),
    ("receipt-without-logs", _set("receipt.logs", []), "emitted no Anchored event"),
    (
        "log-from-another-address",
        _set("receipt.logs.0", anchored_log(address="0x" + "12" * 20)),
        "emitted no Anchored event",
    ),
    (
        "log-of-another-log-id",
        _set("receipt.logs.0", anchored_log(log_id=b"\x01" * 32)),
        "no Anchored",
    ),
    ("log-of-another-size", _set("receipt.logs.0", anchored_log(size=SIZE + 1)), "no Anchored"),
    ("log-of-another-root", _set("receipt.logs.0", anchored_log(root=b"\x02" * 32)), "no Anchored"),
    ("log-removed", _set("receipt.logs.0.removed", True), "no Anchored"),
    ("log-other-event", _set("receipt.logs.0.topics.0", OTHER), "no Anchored"),
    ("block-missing", _set("block", None), f"block {BLOCK} is not on this chain"),
    ("block-reorganised", _set("block.hash", OTHER), "is no longer canonical"),
    ("block-timestamp-differs", _set("block.timestamp", hex(TIMESTAMP - 1)), "has time"),
]


@pytest.mark.parametrize(
    ("change", "says"), [(c, s) for _, c, s in MISMATCHES], ids=[d for d, _, _ in MISMATCHES]
)
def test_each_mismatch_fails_on_its_own(change: Callable[[FakeNode], None], says: str) -> None:
    node = FakeNode()
    change(node)
    status, detail = check({URL: node})
    assert status == Status.FAILED, detail
    assert detail.startswith(f"{URL}: ") and says in detail, detail


def test_other_logs_in_the_receipt_are_ignored() -> None:
    node = FakeNode()
    assert node.receipt is not None
    other = {"address": "0x" + "12" * 20, "topics": [], "data": "0x", "removed": False}
    node.receipt["logs"] = [other, anchored_log(log_id=b"\x01" * 32), anchored_log()]
    assert check({URL: node})[0] == Status.VERIFIED


# --- confirmations and syncing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status"), [(BLOCK + 1, Status.NOT_CHECKED), (BLOCK + 2, Status.VERIFIED)]
)
def test_confirmations_at_the_limit(head: int, status: Status) -> None:
    verdict, detail = check({URL: FakeNode(head=head)}, min_confirmations=3)
    assert verdict == status, detail
    if status == Status.NOT_CHECKED:
        assert detail.startswith("not yet final: 2 of 3 confirmations")


def test_the_anchor_block_itself_is_one_confirmation() -> None:
    status, detail = check({URL: FakeNode(head=BLOCK)})
    assert status == Status.VERIFIED and "1 confirmation (need 1)" in detail


def test_endpoint_behind_the_anchor_is_not_checked() -> None:
    node = FakeNode(head=BLOCK - 1)
    node.records.clear()
    status, detail = check({URL: node})
    assert status == Status.NOT_CHECKED
    assert detail == f"{URL} is at block {BLOCK - 1}, before the anchor's block {BLOCK}"


def test_endpoint_behind_with_a_record_is_inconsistent() -> None:
    status, detail = check({URL: FakeNode(head=BLOCK - 1)})
    assert status == Status.FAILED and "inconsistent" in detail


# --- several endpoints -----------------------------------------------------------------------


def test_endpoints_that_disagree_fail_naming_both() -> None:
    other = FakeNode()
    other.records[(LOG_ID, ROOT)] = (SIZE + 1, TIMESTAMP, BLOCK)
    status, detail = check({URL: FakeNode(), URL_B: other})
    assert status == Status.FAILED
    assert detail.startswith(f"endpoints disagree: {URL} confirms the anchor; {URL_B}: ")
    assert f"records size {SIZE + 1}" in detail


def test_another_chain_still_syncing_disagrees_on_genesis() -> None:
    behind = FakeNode(head=0, genesis=OTHER, code=False)
    status, detail = check({URL: FakeNode(), URL_B: behind})
    assert status == Status.FAILED
    assert detail == (
        f"endpoints disagree on the chain's genesis block: {URL} {GENESIS}, {URL_B} {OTHER}"
    )


def test_endpoints_that_disagree_on_prev_size_fail() -> None:
    other = FakeNode()
    assert other.receipt is not None
    log = anchored_log()
    log["data"] = "0x" + word(SIZE) + ROOT.hex() + word(4)
    other.receipt["logs"] = [log]
    status, detail = check({URL: FakeNode(), URL_B: other})
    assert status == Status.FAILED
    assert f"{URL} prevSize 0, {URL_B} prevSize 4" in detail


def test_unreachable_endpoint_is_not_checked() -> None:
    status, detail = check({URL: FakeNode()}, urls=[URL, URL_B])
    assert status == Status.NOT_CHECKED
    assert detail.startswith(f"could not reach {URL_B}: ")
    assert "Connection refused" in detail and f"({URL} confirmed the anchor)" in detail


def test_unreachable_endpoint_and_a_failing_one_fail() -> None:
    status, detail = check({URL: FakeNode(chain_id=5)}, urls=[URL, URL_B])
    assert status == Status.FAILED and "serves chain id 5" in detail


def test_transport_error_type_is_unreachable() -> None:
    def down(url: str, body: bytes) -> bytes:
        raise EndpointUnavailableError("HTTP 503 Service Unavailable")

    anchor_check = make_anchor_check([URL], contract=CONTRACT, chain_id=CHAIN_ID, transport=down)
    verdict = anchor_check(BUNDLE)
    assert (verdict.status, verdict.detail) == (
        Status.NOT_CHECKED,
        f"could not reach {URL}: HTTP 503 Service Unavailable",
    )


def test_json_rpc_error_object_is_not_checked_and_quoted_briefly() -> None:
    node = FakeNode()
    message = "header not found " + "x" * 500
    node.raw["eth_call"] = lambda r: json.dumps(
        {"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32000, "message": message}}
    ).encode()
    status, detail = check({URL: node})
    assert status == Status.NOT_CHECKED
    assert "eth_call answered error -32000: header not found" in detail
    assert len(detail) < 400


# --- malformed answers: a clean failure, never a traceback --------------------------------------


def _raw(data: bytes) -> Callable[[dict[str, Any]], bytes]:
    return lambda request: data


def _envelope(**members: Any) -> Callable[[dict[str, Any]], bytes]:
    def build(request: dict[str, Any]) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": request["id"], **members}).encode()

    return build


MALFORMED: list[
    tuple[
        str, str | None, Callable[[dict[str, Any]], bytes] | None, Callable[[FakeNode], None] | None
    ]
] = [
    ("not-json", "eth_chainId", _raw(b"<html>502 Bad Gateway</html>"), None),
    ("not-utf8", "eth_chainId", _raw(b'{"x": "\xff"}'), None),
    ("json-array", "eth_chainId", _raw(b"[]"), None),
    (
        "duplicate-keys",
        "eth_chainId",
        _raw(b'{"jsonrpc":"2.0","id":1,"result":"0x1","result":"0x2"}'),
        None,
    ),
    ("nan", "eth_chainId", _raw(b'{"jsonrpc":"2.0","id":1,"result":NaN}'), None),
    ("wrong-version", "eth_chainId", _raw(b'{"jsonrpc":"1.0","id":1,"result":"0x7a69"}'), None),
    ("wrong-id", "eth_chainId", reply("0x7a69", request_id=99), None),
    ("id-true", "eth_chainId", _raw(b'{"jsonrpc":"2.0","id":true,"result":"0x7a69"}'), None),
    (
        "result-and-error",
        "eth_chainId",
        _envelope(result="0x1", error={"code": 1, "message": "m"}),
        None,
    ),
    ("neither-result-nor-error", "eth_chainId", _envelope(), None),
    ("error-not-object", "eth_chainId", _envelope(error="boom"), None),
    ("error-code-not-int", "eth_chainId", _envelope(error={"code": "1", "message": "m"}), None),
    ("chain-id-number", "eth_chainId", reply(31337), None),
    ("chain-id-empty-hex", "eth_chainId", reply("0x"), None),
    ("chain-id-too-long", "eth_chainId", reply("0x" + "1" * 65), None),
    ("head-null", "eth_blockNumber", reply(None), None),
    ("genesis-not-object", "eth_getBlockByNumber", reply("0x0"), None),
    ("call-odd-hex", "eth_call", reply("0x" + "0" * 191), None),
    ("call-95-bytes", "eth_call", reply("0x" + "00" * 95), None),
    ("call-not-hex", "eth_call", reply("0x" + "zz" * 96), None),
    ("call-uint64-overflow", "eth_call", reply("0x" + ROOT.hex() + "01" * 32 + word(BLOCK)), None),
    ("receipt-not-object", "eth_getTransactionReceipt", reply([1, 2]), None),
    ("receipt-for-another-tx", None, None, _set("receipt.transactionHash", OTHER)),
    ("receipt-without-status", None, None, _set("receipt", {"transactionHash": TX})),
    ("receipt-status-bool", None, None, _set("receipt.status", True)),
    ("receipt-logs-not-list", None, None, _set("receipt.logs", {"0": 1})),
    ("log-five-topics", None, None, _set("receipt.logs.0.topics", [OTHER] * 5)),
    ("log-short-topic", None, None, _set("receipt.logs.0.topics.1", "0x1234")),
    ("log-removed-not-bool", None, None, _set("receipt.logs.0.removed", "no")),
    ("log-data-short", None, None, _set("receipt.logs.0.data", "0x" + word(SIZE) + ROOT.hex())),
    ("block-hash-short", None, None, _set("block.hash", "0x1234")),
    ("block-of-another-number", None, None, _set("block.number", "0x5")),
    ("oversized", "eth_chainId", _raw(b" " * (MAX_RESPONSE_BYTES + 1)), None),
]


@pytest.mark.parametrize(
    ("method", "raw", "change"),
    [(m, r, c) for _, m, r, c in MALFORMED],
    ids=[name for name, _, _, _ in MALFORMED],
)
def test_malformed_answer_fails_cleanly(
    method: str | None,
    raw: Callable[[dict[str, Any]], bytes] | None,
    change: Callable[[FakeNode], None] | None,
) -> None:
    node = FakeNode()
    if method is not None and raw is not None:
        node.raw[method] = raw
    if change is not None:
        change(node)
    status, detail = check({URL: node})
    assert status == Status.FAILED, detail
    assert detail.startswith(f"{URL}: ")
    assert "\n" not in detail and len(detail) < 500


def test_every_malformed_case_is_distinct() -> None:
    names = [name for name, _, _, _ in MALFORMED]
    assert len(names) == len(set(names))


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urls", "kwargs", "says"),
    [
        ([], {}, "at least one --rpc"),
        ([f"http://n{i}.test" for i in range(MAX_ENDPOINTS + 1)], {}, f"at most {MAX_ENDPOINTS}"),
        (["file:///etc/passwd"], {}, "http:// or https://"),
        (["ftp://node.test/"], {}, "http:// or https://"),
        (["http://"], {}, "http:// or https://"),
        (["http://node.test:99999"], {}, "--rpc"),
        (["http://node.test/\n"], {}, "--rpc"),
        (["http://node.test/" + "a" * 2048], {}, "at most 2048"),
        ([URL], {"contract": "0x1234"}, "--contract"),
        ([URL], {"contract": "5FbDB2315678afecb367f032d93F642f64180aa3aa"}, "--contract"),
        ([URL], {"chain_id": 0}, "--chain-id"),
        ([URL], {"chain_id": 2**53}, "--chain-id"),
        ([URL], {"chain_id": True}, "--chain-id"),
        ([URL], {"min_confirmations": 0}, "--min-confirmations"),
        ([URL], {"min_confirmations": MAX_CONFIRMATIONS + 1}, "--min-confirmations"),
    ],
)
def test_unusable_configuration(urls: list[str], kwargs: dict[str, Any], says: str) -> None:
    options: dict[str, Any] = {"contract": CONTRACT, "chain_id": CHAIN_ID, **kwargs}
    with pytest.raises(ChainConfigError, match=says) as info:
        make_anchor_check(urls, transport=FakeTransport({}), **options)
    assert isinstance(info.value, FormatError)  # the CLI's exit 3


def test_configuration_at_its_limits_is_accepted() -> None:
    urls = [f"https://n{i}.test" for i in range(MAX_ENDPOINTS)]
    make_anchor_check(
        urls, contract=CONTRACT, chain_id=2**53 - 1, min_confirmations=MAX_CONFIRMATIONS
    )


def test_duplicate_urls_are_asked_once() -> None:
    node = FakeNode()
    status, detail = check({URL: node}, urls=[URL, URL])
    assert status == Status.VERIFIED and detail.endswith(f"endpoints: {URL}")
    assert node.calls.count("eth_chainId") == 1


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
        ("https://user:secret@rpc.example.org/v3/0123abcd", "https://rpc.example.org/…"),
        ("https://rpc.example.org?apikey=1", "https://rpc.example.org/…"),
        ("http://[::1]:8545", "http://[::1]:8545"),
    ],
)
def test_endpoint_names_hide_credentials(url: str, name: str) -> None:
    assert endpoint_name(url) == name


def test_endpoints_on_one_host_are_numbered() -> None:
    urls = ["https://rpc.example.org/v3/key1", "https://rpc.example.org/v3/key2"]
    nodes = {u: FakeNode() for u in urls}
    status, detail = check(nodes)
    assert status == Status.VERIFIED
    assert "https://rpc.example.org/… (#1), https://rpc.example.org/… (#2)" in detail
    assert "key1" not in detail


def test_block_time_beyond_year_9999_is_shown_raw() -> None:
    assert utc_text(0) == "1970-01-01T00:00:00Z"
    assert utc_text(2**53 - 1) == f"unix time {2**53 - 1}"


# --- verify_bundle and the CLI ----------------------------------------------------------------


def test_tier_5_is_not_asked_when_skipped() -> None:
    def never(bundle: Bundle) -> AnchorVerdict:
        raise AssertionError("tier 5 was asked although skipped")

    report = verify_bundle(BUNDLE, anchor_check=never, through=4)
    assert report.tiers[4].status == Status.SKIPPED


def test_verify_bundle_reports_the_check() -> None:
    node = FakeNode()
    anchor_check = make_anchor_check(
        [URL], contract=CONTRACT, chain_id=CHAIN_ID, transport=FakeTransport({URL: node})
    )
    report = verify_bundle(BUNDLE, log_keys=[SEALED.signer.verifier()], anchor_check=anchor_check)
    assert report.tiers[4].status == Status.VERIFIED
    assert report.tiers[3].status == Status.VERIFIED


@pytest.fixture
def bundle_file(tmp_path: Any) -> str:
    path = tmp_path / "bundle.json"
    path.write_text(BUNDLE.to_json(), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rpc", URL], "--rpc needs --contract and --chain-id"),
        (["--rpc", URL, "--contract", CONTRACT], "--rpc needs --chain-id"),
        (["--rpc", URL, "--chain-id", "1"], "--rpc needs --contract"),
        (["--rpc", "file:///etc/passwd", "--contract", CONTRACT, "--chain-id", "1"], "http://"),
        (["--rpc", URL, "--contract", "0x12", "--chain-id", "1"], "--contract"),
        (["--rpc", URL, "--contract", CONTRACT, "--chain-id", "0"], "--chain-id"),
        (["--rpc", URL, "--contract", CONTRACT, "--chain-id", "-5"], "--chain-id"),
        (["--rpc", URL, "--contract", CONTRACT, "--chain-id", "١"], "--chain-id"),
        (
            ["--rpc", URL, "--contract", CONTRACT, "--chain-id", "1", "--min-confirmations", "0"],
            "--min-confirmations",
        ),
    ],
)
def test_cli_unusable_tier_5_options_exit_3(
    bundle_file: str, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code: int | str | None
    try:
        code = run([bundle_file, *args])
    except SystemExit as exc:  # argparse's own checks exit from inside parse_args
        code = exc.code
    assert code == 3
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("evidence-verify: unusable input: ") and says in err, err


def test_cli_contract_without_rpc_stays_offline(
    bundle_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([bundle_file, "--contract", CONTRACT, "--chain-id", "1"]) == 2
    assert "chain not checked (offline)" in capsys.readouterr().out


# --- the urllib transport -----------------------------------------------------------------------
# (against a real HTTP server: tests/integration/test_chain_rpc_transport.py)

BODY = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'


def test_urllib_transport_refuses_other_schemes() -> None:
    with pytest.raises(EndpointUnavailableError, match="http and https"):
        UrllibTransport()("file:///etc/passwd", BODY)


# --- limits, at the limit and one past it ---------------------------------------------------------


def _padded_chain_id(size: int) -> Callable[[dict[str, Any]], bytes]:
    def build(request: dict[str, Any]) -> bytes:
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": hex(CHAIN_ID)})
        return body.encode() + b" " * (size - len(body))

    return build


@pytest.mark.parametrize(
    ("size", "status"),
    [(MAX_RESPONSE_BYTES, Status.VERIFIED), (MAX_RESPONSE_BYTES + 1, Status.FAILED)],
    ids=["at-limit", "one-past"],
)
def test_answer_size_limit(size: int, status: Status) -> None:
    node = FakeNode()
    node.raw["eth_chainId"] = _padded_chain_id(size)
    assert check({URL: node})[0] == status


@pytest.mark.parametrize(
    ("count", "status"),
    [(MAX_RECEIPT_LOGS, Status.VERIFIED), (MAX_RECEIPT_LOGS + 1, Status.FAILED)],
    ids=["at-limit", "one-past"],
)
def test_receipt_log_count_limit(count: int, status: Status) -> None:
    node = FakeNode()
    assert node.receipt is not None
    filler = {"address": "0x" + "12" * 20, "topics": [], "data": "0x", "removed": False}
    node.receipt["logs"] = [filler] * (count - 1) + [anchored_log()]
    assert check({URL: node})[0] == status


@pytest.mark.parametrize(("length", "accepted"), [(2048, True), (2049, False)])
def test_url_length_limit(length: int, accepted: bool) -> None:
    url = "http://node.test/" + "a" * (length - len("http://node.test/"))
    assert len(url) == length
    if accepted:
        make_anchor_check([url], contract=CONTRACT, chain_id=CHAIN_ID)
    else:
        with pytest.raises(ChainConfigError):
            make_anchor_check([url], contract=CONTRACT, chain_id=CHAIN_ID)
