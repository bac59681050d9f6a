"""Witness cosignatures on checkpoints: C2SP ``tlog-cosignature`` (Ed25519, ``cosignature/v1``).

Consensus-critical. A witness that has checked a checkpoint's consistency with
everything it saw of that log adds one more signature line to the checkpoint's
signed note::

    — <witness name> base64(key ID || u64 timestamp, big-endian || Ed25519 signature)

* the key ID is ``SHA-256(<name> || 0x0A || 0x04 || 32-byte public key)[:4]`` (type
  0x04, so the same key never verifies as a plain note signature);
* the signature covers ``"cosignature/v1\\n" || "time " <timestamp> "\\n"`` followed
  by the checkpoint's whole note body (its text up to and including the final newline
  of the last extension line; no signature line);
* the timestamp is the witness's POSIX time in seconds, at most 2^63 - 1.

Verifier keys travel as ``vkey`` text ``<name>+<hex key ID>+<base64(0x04 || key)>``.
A verifier takes its witness policy (keys and quorum) from its user, never from a
bundle: lines by unknown keys are ignored; a line by a trusted witness that does
not verify fails the whole check (a forged cosignature is an attack, not noise).
See https://c2sp.org/tlog-cosignature and docs/proof-format.md.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from verifier.errors import NoteFormatError
from verifier.note import (
    SIG_PREFIX,
    NoteSignature,
    VerifierKey,
    b64decode_strict,
    check_key_name,
    check_note_text,
    parse_note,
    private_key_parts,
    vkey_parts,
)

ALG_COSIGNATURE = 0x04
COSIGNATURE_HEADER = "cosignature/v1"
#: timestamp (8) + Ed25519 signature (64); the key ID's 4 bytes come before them
COSIGNATURE_BYTES = 8 + 64
MAX_TIMESTAMP = 2**63 - 1
#: A witness policy with more keys than this is a mistake.
MAX_WITNESSES = 32


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 cosigner key (signature type 0x04)."""
    data = name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE]) + public_key
    return hashlib.sha256(data).digest()[:4]


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs: header, time line, the note body."""
    check_note_text(checkpoint_text)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteFormatError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True)
class WitnessKey:
    """A witness's named Ed25519 public key, for cosignatures (type 0x04)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteFormatError("Ed25519 public key must be 32 bytes")

    @property
    def key_id(self) -> bytes:
        return cosignature_key_id(self.name, self.public_key)

    def to_text(self) -> str:
        """The ``vkey`` text form (type byte 0x04)."""
        blob = base64.b64encode(bytes([ALG_COSIGNATURE]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def from_text(cls, text: str) -> WitnessKey:
        """Parse a witness ``vkey``; its key ID must match its name and key."""
        name, hex_id, public_key = vkey_parts(
            text, ALG_COSIGNATURE, "witness key", "an Ed25519 cosignature (type 0x04) key"
        )
        key = cls(name, public_key)
        if key.key_id.hex() != hex_id:
            raise NoteFormatError("witness key ID does not match its name and key")
        return key

    @cached_property
    def _ed25519(self) -> VerifierKey:
        # the same Ed25519 check as note signatures (OpenSSL when installed)
        return VerifierKey(self.name, self.public_key)

    def verify(self, cosignature: Cosignature, checkpoint_text: str) -> bool:
        """True if ``cosignature`` is this witness's over ``checkpoint_text``."""
        if (cosignature.name, cosignature.key_id) != (self.name, self.key_id):
            return False
        message = cosigned_message(checkpoint_text, cosignature.timestamp)
        return self._ed25519.verify(message, cosignature.signature)


@dataclass(frozen=True)
class WitnessSigner:
    """A witness's named Ed25519 private key (32-byte seed)."""

    name: str
    seed: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != 32:
            raise NoteFormatError("Ed25519 seed must be 32 bytes")

    @classmethod
    def generate(cls, name: str) -> WitnessSigner:
        return cls(name, secrets.token_bytes(32))

    @cached_property
    def _private(self):  # type: ignore[no-untyped-def]
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PrivateKey,
        )

        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def key(self) -> WitnessKey:
        from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
            Encoding,
            PublicFormat,
        )

        raw = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return WitnessKey(self.name, raw)

    def cosign(self, checkpoint_text: str, timestamp: int) -> Cosignature:
        """This witness's cosignature over ``checkpoint_text`` at ``timestamp``."""
        signature = self._private.sign(cosigned_message(checkpoint_text, timestamp))
        return Cosignature(self.name, self.key().key_id, timestamp, signature)

    def to_text(self) -> str:
        """``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>``. Keep it secret."""
        blob = base64.b64encode(bytes([ALG_COSIGNATURE]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key().key_id.hex()}+{blob}"

    @classmethod
    def from_text(cls, text: str) -> WitnessSigner:
        name, hex_id, seed = private_key_parts(text, ALG_COSIGNATURE, "witness signer key")
        signer = cls(name, seed)
        if signer.key().key_id.hex() != hex_id:
            raise NoteFormatError("witness signer key ID does not match its name and key")
        return signer


@dataclass(frozen=True)
class Cosignature:
    """One cosignature line: who, when (POSIX seconds), and the Ed25519 signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.key_id) != 4 or len(self.signature) != 64:
            raise NoteFormatError("a cosignature has a 4-byte key ID and a 64-byte signature")
        if not 0 <= self.timestamp <= MAX_TIMESTAMP:
            raise NoteFormatError(f"cosignature timestamp {self.timestamp} is outside 0..2^63-1")

    def to_line(self) -> str:
        """The note signature line, ending in a newline."""
        blob = self.key_id + struct.pack(">Q", self.timestamp) + self.signature
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"

    @classmethod
    def from_signature(cls, sig: NoteSignature) -> Cosignature:
        """Read a parsed note signature line as a cosignature (72 bytes after the key ID)."""
        if len(sig.signature) != COSIGNATURE_BYTES:
            raise NoteFormatError(
                f"signature by {sig.name} is {len(sig.signature)} bytes, "
                f"a cosignature is {COSIGNATURE_BYTES}"
            )
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        return cls(sig.name, sig.key_id, timestamp, sig.signature[8:])

    @classmethod
    def from_line(cls, line: str) -> Cosignature:
        """Parse one ``— <name> <base64>`` line (with or without its final newline)."""
        line = line.removesuffix("\n")
        if not line.startswith(SIG_PREFIX):
            raise NoteFormatError("signature line must start with an em dash and a space")
        fields = line[len(SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteFormatError("signature line must be '— <name> <base64>'")
        raw = b64decode_strict(fields[1], "cosignature")
        if len(raw) != 4 + COSIGNATURE_BYTES:
            raise NoteFormatError(f"cosignature is {len(raw)} bytes, want {4 + COSIGNATURE_BYTES}")
        return cls.from_signature(NoteSignature(fields[0], raw[:4], raw[4:]))


def add_cosignatures(note: str, cosignatures: Iterable[Cosignature]) -> str:
    """``note`` (a signed checkpoint) with each cosignature's line appended, skipping
    one whose (name, key ID) already signs it. The result is still a valid signed note."""
    parsed = parse_note(note)
    have = {(s.name, s.key_id) for s in parsed.signatures}
    lines = []
    for cosig in cosignatures:
        if (cosig.name, cosig.key_id) in have:
            continue
        have.add((cosig.name, cosig.key_id))
        lines.append(cosig.to_line())
    out = note + "".join(lines)
    parse_note(out)  # still within the note's limits (signature count, bytes)
    return out


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses a verifier trusts and how many of them must have cosigned."""

    keys: tuple[WitnessKey, ...]
    quorum: int

    def __post_init__(self) -> None:
        if len(self.keys) > MAX_WITNESSES:
            raise NoteFormatError(f"more than {MAX_WITNESSES} witness keys")
        ids = {(k.name, k.key_id) for k in self.keys}
        if len(ids) != len(self.keys):
            raise NoteFormatError("a witness key is given twice")
        if not 1 <= self.quorum <= max(1, len(self.keys)):
            raise NoteFormatError(
                f"witness quorum {self.quorum} must be 1..{len(self.keys)} (the keys given)"
            )

    @classmethod
    def of(cls, keys: Sequence[WitnessKey], quorum: int | None = None) -> WitnessPolicy:
        """``quorum`` defaults to every key given."""
        return cls(tuple(keys), len(keys) if quorum is None else quorum)


@dataclass(frozen=True)
class WitnessVerdict:
    """What the cosignatures on one checkpoint showed against a policy.

    ``forged`` names a trusted witness whose line does not verify (the check fails);
    otherwise ``met`` says whether ``len(cosigned) >= quorum``."""

    quorum: int
    #: trusted witnesses whose cosignature verified, with its timestamp, in note order
    cosigned: tuple[tuple[str, int], ...] = field(default=())
    #: trusted witnesses with no cosignature on this checkpoint
    missing: tuple[str, ...] = field(default=())
    forged: str | None = None

    @property
    def met(self) -> bool:
        return self.forged is None and len(self.cosigned) >= self.quorum


def check_witnesses(note: str | bytes, policy: WitnessPolicy) -> WitnessVerdict:
    """Check the cosignature lines of a signed checkpoint against ``policy``.

    Lines whose (name, key ID) is not a trusted witness's are ignored (among them the
    log's own signature). The first line per trusted witness counts; a line of a
    trusted witness that is malformed or does not verify makes the verdict ``forged``.
    Raises :class:`~verifier.errors.NoteFormatError` if the note itself is malformed.
    """
    parsed = parse_note(note)
    trusted = {(k.name, k.key_id): k for k in policy.keys}
    cosigned: list[tuple[str, int]] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in parsed.signatures:
        key = trusted.get((sig.name, sig.key_id))
        if key is None or (sig.name, sig.key_id) in seen:
            continue
        seen.add((sig.name, sig.key_id))
        try:
            cosig = Cosignature.from_signature(sig)
        except NoteFormatError:
            return WitnessVerdict(policy.quorum, tuple(cosigned), forged=sig.name)
        if not key.verify(cosig, parsed.text):
            return WitnessVerdict(policy.quorum, tuple(cosigned), forged=sig.name)
        cosigned.append((sig.name, cosig.timestamp))
    missing = tuple(k.name for k in policy.keys if (k.name, k.key_id) not in seen)
    return WitnessVerdict(policy.quorum, tuple(cosigned), missing)
