"""The EvidenceLog contract's ABI, the two parts tier 5 uses — CONSENSUS-CRITICAL.

Written out by hand (no web3): the ``logId`` of a log, the encoding of one
call (``checkpointOf(bytes32,bytes32)``: the anchor of a log with a given
root) and the decoding of its result and of one event
(``Anchored(bytes32,uint64,bytes32,uint64)``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from Crypto.Hash import keccak

from verifier.errors import MalformedAnswerError

CHECKPOINT_OF_SIGNATURE = "checkpointOf(bytes32,bytes32)"
ANCHORED_SIGNATURE = "Anchored(bytes32,uint64,bytes32,uint64)"


def keccak256(data: bytes) -> bytes:
    """Ethereum's Keccak-256 (the original Keccak padding, not FIPS 202 SHA3-256)."""
    return keccak.new(digest_bits=256, data=data).digest()


#: ``0x3988385a``: the first four bytes of keccak256("checkpointOf(bytes32,bytes32)").
CHECKPOINT_OF_SELECTOR = keccak256(CHECKPOINT_OF_SIGNATURE.encode("ascii"))[:4]
#: topic 0 of the ``Anchored`` event: keccak256("Anchored(bytes32,uint64,bytes32,uint64)").
ANCHORED_TOPIC = keccak256(ANCHORED_SIGNATURE.encode("ascii"))

UINT64_MAX = 2**64 - 1
#: Bytes in an ABI word.
WORD = 32


def log_id_for(origin: str) -> bytes:
    """The EvidenceLog ``logId`` of a log: SHA-256 of its origin line, UTF-8 encoded.

    The single definition, used by the anchorer and by tier 5. The origin is the
    first line of the log's checkpoint and the name of its key, so anyone can
    recompute the id from a checkpoint alone: ``printf %s "$ORIGIN" | sha256sum``.
    """
    return hashlib.sha256(origin.encode("utf-8")).digest()


@dataclass(frozen=True)
class Record:
    """What ``checkpointOf(logId, root)`` returns; all zero when no anchor of the log has that
    root."""

    size: int
    timestamp: int
    block_number: int


@dataclass(frozen=True)
class AnchoredEvent:
    log_id: bytes
    size: int
    root: bytes
    prev_size: int


def encode_checkpoint_of(log_id: bytes, root: bytes) -> bytes:
    """Calldata: selector ‖ logId (32 bytes) ‖ root (32 bytes)."""
    if len(log_id) != WORD:
        raise ValueError(f"log id is {len(log_id)} bytes, want 32")
    if len(root) != WORD:
        raise ValueError(f"root is {len(root)} bytes, want 32")
    return CHECKPOINT_OF_SELECTOR + log_id + root


def _uint64(word: bytes, what: str) -> int:
    """A uint64 ABI word: 24 zero bytes, then 8 bytes big-endian (anything else is malformed)."""
    if word[:24] != bytes(24):
        raise MalformedAnswerError(f"{what} is not a uint64 word")
    return int.from_bytes(word, "big")


def _words(data: bytes, count: int, what: str) -> list[bytes]:
    if len(data) != count * WORD:
        raise MalformedAnswerError(f"{what} is {len(data)} bytes, want {count * WORD}")
    return [data[i : i + WORD] for i in range(0, len(data), WORD)]


def decode_checkpoint_of(data: bytes) -> Record:
    """Decode ``(uint64 size, uint64 timestamp, uint64 blockNumber)``: exactly 96 bytes."""
    size, timestamp, block = _words(data, 3, "checkpointOf result")
    return Record(
        _uint64(size, "checkpointOf size"),
        _uint64(timestamp, "checkpointOf timestamp"),
        _uint64(block, "checkpointOf block"),
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
