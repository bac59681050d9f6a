"""Checkpoints (signed tree heads) in the C2SP ``tlog-checkpoint`` format.

Consensus-critical. A checkpoint's text is::

    <origin>\\n
    <tree size, decimal, no leading zeros>\\n
    <base64 of the 32-byte root hash>\\n
    [<extension line>\\n ...]

signed as a C2SP signed note by the log's Ed25519 key, whose name is the
origin. See https://c2sp.org/tlog-checkpoint.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

from verifier.errors import NoteFormatError, SignatureError
from verifier.merkle import HASH_SIZE, MAX_TREE_SIZE
from verifier.note import (
    SignerKey,
    VerifierKey,
    b64decode_strict,
    check_note_text,
    open_note,
    parse_note,
    sign_note,
)

MAX_EXTENSIONS = 16
MAX_ORIGIN_CHARS = 256


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.origin or len(self.origin) > MAX_ORIGIN_CHARS or "\n" in self.origin:
            raise NoteFormatError(f"checkpoint origin must be one line of 1..{MAX_ORIGIN_CHARS}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteFormatError(f"checkpoint size {self.size} is outside 0..2^64-1")
        if len(self.root) != HASH_SIZE:
            raise NoteFormatError(f"checkpoint root is {len(self.root)} bytes, want 32")
        if len(self.extensions) > MAX_EXTENSIONS:
            raise NoteFormatError(f"checkpoint has more than {MAX_EXTENSIONS} extension lines")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise NoteFormatError("checkpoint extension lines must be non-empty single lines")

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        lines.extend(self.extensions)
        text = "\n".join(lines) + "\n"
        check_note_text(text)
        return text

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        check_note_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteFormatError("checkpoint needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not size_text.isascii() or not size_text.isdigit():
            raise NoteFormatError(f"checkpoint size {size_text!r} is not a decimal number")
        if len(size_text) > 1 and size_text.startswith("0"):
            raise NoteFormatError("checkpoint size has leading zeros")
        if len(size_text) > 20:
            raise NoteFormatError("checkpoint size is too large")
        root = b64decode_strict(root_text, "checkpoint root")
        return cls(origin, int(size_text), root, tuple(extensions))

    def sign(self, signer: SignerKey) -> str:
        """The signed note for this checkpoint."""
        if signer.name != self.origin:
            raise NoteFormatError(
                f"log key name {signer.name!r} differs from origin {self.origin!r}"
            )
        return sign_note(self.to_text(), signer)


def parse_signed_checkpoint(note: str | bytes) -> Checkpoint:
    """Parse a signed checkpoint's body without checking any signature."""
    return Checkpoint.from_text(parse_note(note).text)


def open_checkpoint(note: str | bytes, verifiers: Iterable[VerifierKey]) -> Checkpoint:
    """Verify a signed checkpoint against trusted log keys and return its contents.

    The verifying key's name must equal the checkpoint's origin, so a key
    trusted for one log cannot vouch for another log's tree heads.
    """
    parsed, vk = open_note(note, verifiers)
    checkpoint = Checkpoint.from_text(parsed.text)
    if vk.name != checkpoint.origin:
        raise SignatureError(
            f"checkpoint origin {checkpoint.origin!r} is not the signer's name {vk.name!r}"
        )
    return checkpoint
