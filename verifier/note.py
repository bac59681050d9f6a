"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note).

Consensus-critical: checkpoints and receipts are signed notes; changing the
grammar or the key-ID rule here would orphan every signature we issued.

A signed note is UTF-8 text ending in a newline, a blank line, then one or
more signature lines ``— <key name> <base64(key ID || signature)>``. For
Ed25519 (signature type 0x01) the key ID is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key) and the signature covers the text
including its final newline. Verifier keys travel in the ``vkey`` text form
``<name>+<hex key ID>+<base64(0x01 || public key)>``; signer keys in Go's
``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`` form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from verifier.errors import (
    InvalidSignatureError,
    NoteFormatError,
    UnknownSignerError,
)

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # control characters other than newline
#: Go's note.Open refuses more signatures than this; so do we.
MAX_SIGNATURES = 100
#: Notes are small (a checkpoint is ~200 bytes); anything bigger is hostile.
MAX_NOTE_BYTES = 64 * 1024
MAX_NAME_CHARS = 256


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 with padding, in its one canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteFormatError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteFormatError(f"{what} is not canonical base64")
    return raw


def check_key_name(name: str) -> None:
    """Key names are non-empty UTF-8 with no whitespace and no ``+``."""
    if not name or len(name) > MAX_NAME_CHARS:
        raise NoteFormatError(f"key name must be 1..{MAX_NAME_CHARS} characters")
    if "+" in name or any(ch.isspace() or ord(ch) < 0x20 for ch in name):
        raise NoteFormatError(f"key name {name!r} contains whitespace or '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP key ID of an Ed25519 key."""
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key that verifies note signatures."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteFormatError("Ed25519 public key must be 32 bytes")

    @cached_property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def to_text(self) -> str:
        """The ``vkey`` text form."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def from_text(cls, text: str) -> VerifierKey:
        """Parse a ``vkey``; the embedded key ID must match the name and key."""
        name, hex_id, public_key = vkey_parts(
            text, ALG_ED25519, "verifier key", "an Ed25519 (type 0x01) key"
        )
        vk = cls(name, public_key)
        if vk.key_id.hex() != hex_id:
            raise NoteFormatError("verifier key ID does not match its name and key")
        return vk

    @cached_property
    def _check(self) -> Callable[[bytes, bytes], bool]:
        """OpenSSL's Ed25519 verification (``cryptography``) when installed, else
        pycryptodome's; both implement RFC 8032 §5.1.7. OpenSSL is ~20x faster
        than the pycryptodome 3.x the chain libraries pin."""
        try:
            from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
            from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
                Ed25519PublicKey,
            )
        except ImportError:  # pragma: no cover - cryptography is a dependency
            from Crypto.Signature import eddsa  # noqa: PLC0415

            def slow(message: bytes, signature: bytes) -> bool:
                try:
                    key = eddsa.import_public_key(self.public_key)
                    eddsa.new(key, "rfc8032").verify(message, signature)
                except ValueError:
                    return False
                return True

            return slow
        try:
            public = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            return lambda message, signature: False

        def fast(message: bytes, signature: bytes) -> bool:
            try:
                public.verify(signature, message)
            except InvalidSignature:
                return False
            return True

        return fast

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature over ``message``."""
        if len(signature) != 64:
            return False
        return self._check(message, signature)


@dataclass(frozen=True)
class SignerKey:
    """A named Ed25519 private key (32-byte seed) that signs notes."""

    name: str
    seed: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != 32:
            raise NoteFormatError("Ed25519 seed must be 32 bytes")

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        return cls(name, secrets.token_bytes(32))

    @cached_property
    def _signer(self) -> Callable[[bytes], bytes]:
        """OpenSSL's Ed25519 (``cryptography``) when installed, else pycryptodome's.

        Ed25519 signatures are deterministic (RFC 8032), so both give the same
        bytes; OpenSSL is about four times faster, which matters for receipts.
        """
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
                Ed25519PrivateKey,
            )
        except ImportError:  # pragma: no cover - cryptography is a service dependency
            from Crypto.Signature import eddsa  # noqa: PLC0415

            scheme = eddsa.new(eddsa.import_private_key(self.seed), "rfc8032")
            return lambda message: bytes(scheme.sign(message))
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign

    @cached_property
    def _verifier(self) -> VerifierKey:
        # pycryptodome is imported here, not at module level: loading it costs the
        # command-line verifier ~65 ms at every start, and only key derivation needs it.
        from Crypto.Signature import eddsa  # noqa: PLC0415

        key = eddsa.import_private_key(self.seed)
        return VerifierKey(self.name, bytes(key.public_key().export_key(format="raw")))

    def verifier(self) -> VerifierKey:
        return self._verifier

    def sign(self, message: bytes) -> bytes:
        return self._signer(message)

    def to_text(self) -> str:
        """Go's ``PRIVATE+KEY+name+id+base64`` form. Keep it secret."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_id.hex()}+{blob}"

    @classmethod
    def from_text(cls, text: str) -> SignerKey:
        name, hex_id, seed = private_key_parts(text, ALG_ED25519, "signer key")
        sk = cls(name, seed)
        if sk.verifier().key_id.hex() != hex_id:
            raise NoteFormatError("signer key ID does not match its name and key")
        return sk


def vkey_parts(text: str, alg: int, what: str, kind: str) -> tuple[str, str, bytes]:
    """Name, lower-case hex key ID and 32-byte public key of a ``vkey`` text
    ``<name>+<hex id>+<base64(alg || key)>`` (the caller checks the ID against the key);
    ``what`` and ``kind`` name the key in refusals."""
    parts = text.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3:
        raise NoteFormatError(f"{what} must be <name>+<hex key id>+<base64 key>")
    name, hex_id, blob = parts
    check_key_name(name)
    if len(hex_id) != 8:
        raise NoteFormatError(f"{what} ID must be 8 hex digits")
    raw = b64decode_strict(blob, what)
    if len(raw) != 33 or raw[0] != alg:
        raise NoteFormatError(f"{what} is not {kind}")
    return name, hex_id.lower(), raw[1:]


def private_key_parts(text: str, alg: int, what: str) -> tuple[str, str, bytes]:
    """Name, lower-case hex key ID and 32-byte seed of Go's
    ``PRIVATE+KEY+<name>+<hex id>+<base64(alg || seed)>`` text for signature type ``alg``
    (the caller checks the ID against the key it derives)."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteFormatError(f"{what} must be PRIVATE+KEY+<name>+<hex id>+<base64>")
    raw = b64decode_strict(parts[4], what)
    if len(raw) != 33 or raw[0] != alg:
        raise NoteFormatError(f"{what} is not an Ed25519 key of type 0x{alg:02x}")
    return parts[2], parts[3].lower(), raw[1:]


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def to_line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{SIG_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """A parsed, not yet verified, signed note."""

    text: str
    signatures: tuple[NoteSignature, ...]


def check_note_text(text: str) -> None:
    """Note text: non-empty, ends in a newline, no blank line, no control characters."""
    if not text.endswith("\n"):
        raise NoteFormatError("note text must end with a newline")
    if "\n\n" in text or text.startswith("\n"):
        raise NoteFormatError("note text must not contain a blank line")
    if _CONTROL.search(text):
        raise NoteFormatError("note text contains a control character")


def sign_note(text: str, *signers: SignerKey) -> str:
    """Sign ``text`` with each signer and return the full signed note."""
    check_note_text(text)
    if not signers:
        raise NoteFormatError("a signed note needs at least one signer")
    message = text.encode("utf-8")
    lines = []
    for signer in signers:
        vk = signer.verifier()
        lines.append(NoteSignature(vk.name, vk.key_id, signer.sign(message)).to_line())
    note = text + "\n" + "".join(lines)
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteFormatError(f"signed note exceeds {MAX_NOTE_BYTES} bytes")
    return note


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into its text and signature lines; checks syntax only."""
    raw = note.encode("utf-8") if isinstance(note, str) else note
    if len(raw) > MAX_NOTE_BYTES:
        raise NoteFormatError(f"signed note is {len(raw)} bytes, limit {MAX_NOTE_BYTES}")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteFormatError("signed note is not valid UTF-8") from exc
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("signed note has no blank line before its signatures")
    text, sig_block = decoded[: split + 1], decoded[split + 2 :]
    check_note_text(text)
    if not sig_block.endswith("\n"):
        raise NoteFormatError("signature block must end with a newline")
    sig_lines = sig_block[:-1].split("\n")
    if len(sig_lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"signed note has more than {MAX_SIGNATURES} signatures")
    sigs = []
    for line in sig_lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteFormatError("signature line must start with an em dash and a space")
        fields = line[len(SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteFormatError("signature line must be '— <name> <base64>'")
        name, blob = fields
        check_key_name(name)
        raw_sig = b64decode_strict(blob, "signature")
        if len(raw_sig) < 5:
            raise NoteFormatError("signature is too short to hold a key ID")
        sigs.append(NoteSignature(name, raw_sig[:4], raw_sig[4:]))
    return Note(text, tuple(sigs))


def open_note(note: str | bytes, verifiers: Iterable[VerifierKey]) -> tuple[Note, VerifierKey]:
    """Parse ``note`` and verify it against the trusted ``verifiers``.

    Returns the note and the first trusted key that verified it. As in Go's
    ``note.Open``, every line from a trusted (name, key ID) is checked — the
    first line per key counts — and one bad signature from a trusted key
    rejects the whole note. Lines from unknown keys are ignored.
    """
    parsed = parse_note(note)
    trusted = {(vk.name, vk.key_id): vk for vk in verifiers}
    message = parsed.text.encode("utf-8")
    seen: set[tuple[str, bytes]] = set()
    first: VerifierKey | None = None
    for sig in parsed.signatures:
        vk = trusted.get((sig.name, sig.key_id))
        if vk is None or (sig.name, sig.key_id) in seen:
            continue
        seen.add((sig.name, sig.key_id))
        if not vk.verify(message, sig.signature):
            raise InvalidSignatureError(
                f"signature by {sig.name} (key {sig.key_id.hex()}) does not verify"
            )
        first = first or vk
    if first is not None:
        return parsed, first
    names = ", ".join(sorted({s.name for s in parsed.signatures}))
    raise UnknownSignerError(f"note is not signed by a trusted key (signed by: {names})")
