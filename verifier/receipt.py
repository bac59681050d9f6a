"""Submission receipts: the log's signed promise to include a leaf.

Consensus-critical. Like a Certificate Transparency SCT, a receipt is issued
at once when an entry is accepted and promises inclusion within a maximum
merge delay. It is a C2SP signed note, signed by the log key, whose text is::

    evidence-anchor/receipt/v1\\n
    <origin>\\n
    <leaf hash, 64 lowercase hex digits>\\n
    <receive time, RFC 3339 UTC, e.g. 2026-11-26T06:00:00.123Z>\\n
    <maximum merge delay in whole seconds>\\n
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from verifier.errors import NoteFormatError, SignatureError
from verifier.note import (
    NoteSignature,
    SignerKey,
    VerifierKey,
    check_note_text,
    open_note,
    sign_note,
)

RECEIPT_HEADER = "evidence-anchor/receipt/v1"
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_MERGE_DELAY = 7 * 24 * 3600


@dataclass(frozen=True)
class Receipt:
    origin: str
    leaf_hash: bytes
    received_at: str
    max_merge_delay: int

    def __post_init__(self) -> None:
        if len(self.leaf_hash) != 32:
            raise NoteFormatError("receipt leaf hash must be 32 bytes")
        if not _TIME.fullmatch(self.received_at):
            raise NoteFormatError("receipt time must be RFC 3339 UTC ending in Z")
        if not 0 < self.max_merge_delay <= MAX_MERGE_DELAY:
            raise NoteFormatError(f"receipt merge delay must be 1..{MAX_MERGE_DELAY} s")

    def to_text(self) -> str:
        return (
            f"{RECEIPT_HEADER}\n{self.origin}\n{self.leaf_hash.hex()}\n"
            f"{self.received_at}\n{self.max_merge_delay}\n"
        )

    @classmethod
    def from_text(cls, text: str) -> Receipt:
        check_note_text(text)
        lines = text[:-1].split("\n")
        if len(lines) != 5 or lines[0] != RECEIPT_HEADER:
            raise NoteFormatError(f"receipt must be 5 lines starting {RECEIPT_HEADER!r}")
        _, origin, leaf_hex, received_at, delay = lines
        if not _HEX64.fullmatch(leaf_hex):
            raise NoteFormatError("receipt leaf hash must be 64 lowercase hex digits")
        if not re.fullmatch(r"[1-9][0-9]{0,8}", delay):
            raise NoteFormatError("receipt merge delay must be a decimal number of seconds")
        return cls(origin, bytes.fromhex(leaf_hex), received_at, int(delay))

    def sign(self, signer: SignerKey) -> str:
        return sign_note(self.to_text(), signer)


def sign_receipts(
    signer: SignerKey, leaves: Sequence[bytes], received_at: str, max_merge_delay: int
) -> list[str]:
    """One signed receipt per leaf hash, all received at the same time: exactly what
    ``Receipt(signer.name, leaf, received_at, max_merge_delay).sign(signer)`` gives for
    each (a test compares them), with the checks and the note's fixed parts done once
    instead of per leaf (a stamps request signs a thousand)."""
    if not leaves:
        return []
    first = Receipt(signer.name, leaves[0], received_at, max_merge_delay)
    out = [sign_note(first.to_text(), signer)]  # every check of the note, once
    if any(len(leaf) != 32 for leaf in leaves):
        raise NoteFormatError("receipt leaf hash must be 32 bytes")
    head = f"{RECEIPT_HEADER}\n{signer.name}\n"
    tail = f"\n{received_at}\n{max_merge_delay}\n"
    key = signer.verifier()
    for leaf in leaves[1:]:
        text = head + leaf.hex() + tail
        line = NoteSignature(key.name, key.key_id, signer.sign(text.encode("utf-8"))).to_line()
        out.append(f"{text}\n{line}")
    return out


def open_receipt(note: str | bytes, verifiers: Iterable[VerifierKey]) -> Receipt:
    """Verify a signed receipt and return it; its origin must be the signer's name."""
    parsed, vk = open_note(note, verifiers)
    receipt = Receipt.from_text(parsed.text)
    if vk.name != receipt.origin:
        raise SignatureError(f"receipt origin {receipt.origin!r} is not the signer {vk.name!r}")
    return receipt
