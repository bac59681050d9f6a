"""Signed notes, checkpoints and receipts (C2SP signed-note, tlog-checkpoint).

Interoperability is tested against published vectors, never against our own
output alone: the example key and note of golang.org/x/mod/sumdb/note
(note.go and note_test.go), a real sum.golang.org signed tree head (from
transparency-dev/formats log/note_test.go), a verifier key of
transparency-dev/formats whose base64 holds a '+', and RFC 8032 §7.1 test 1.

(`cryptography` is not installed in this venv, so no second Ed25519
implementation checks our signatures; the Go and RFC 8032 vectors stand in.)
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest

from tests.support.factories import ORIGIN, signer
from verifier.checkpoint import (
    MAX_EXTENSIONS,
    Checkpoint,
    open_checkpoint,
    parse_signed_checkpoint,
)
from verifier.errors import (
    FormatError,
    InvalidSignatureError,
    NoteFormatError,
    SignatureError,
    UnknownSignerError,
)
from verifier.merkle import MAX_TREE_SIZE
from verifier.note import (
    MAX_NAME_CHARS,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    SignerKey,
    VerifierKey,
    check_key_name,
    key_id,
    open_note,
    parse_note,
    sign_note,
)
from verifier.receipt import MAX_MERGE_DELAY, Receipt, open_receipt

# --- published vectors ---------------------------------------------------------------

# golang.org/x/mod/sumdb/note: the package example and TestOpen.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + PETER_SIG

# transparency-dev/formats log/note_test.go: a real sum.golang.org tree head.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    "— sum.golang.org "
    "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)

# transparency-dev/formats note_cosigv1_test.go: Ed25519 (0x01) and cosignature (0x04) keys.
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
COSIG_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

# RFC 8032 §7.1, TEST 1 (empty message).
RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_SIG = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
#: The order of the Ed25519 base point.
ED25519_L = 2**252 + 27742317777372353535851937790883648493

ROOT = hashlib.sha256(b"some root").digest()


def other_signer(name: str = ORIGIN) -> SignerKey:
    return SignerKey(name, bytes(range(100, 132)))


def sig_line(note: str) -> str:
    """The (only) signature line of a note."""
    return note[note.rindex("\n\n") + 2 :]


def with_signature_bytes(note: str, transform: bytes) -> str:
    """``note`` with its single signature XORed with ``transform`` (64 bytes)."""
    line = sig_line(note)
    prefix, blob = line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(blob)
    sig = bytes(a ^ b for a, b in zip(raw[4:], transform, strict=True))
    new_line = f"{prefix} {base64.b64encode(raw[:4] + sig).decode()}\n"
    return note[: len(note) - len(line)] + new_line


def bit(position: int, length: int = 64) -> bytes:
    out = bytearray(length)
    out[position // 8] = 1 << (position % 8)
    return bytes(out)


# --- interoperability ----------------------------------------------------------------


def test_go_example_verifier_key_parses_and_round_trips() -> None:
    vk = VerifierKey.from_text(PETER_VKEY)
    assert vk.name == "PeterNeumann"
    assert vk.key_id.hex() == "c74f20a3"
    assert vk.to_text() == PETER_VKEY


def test_go_example_signer_key_round_trips_despite_plus_in_base64() -> None:
    sk = SignerKey.from_text(PETER_SKEY)
    assert sk.to_text() == PETER_SKEY
    assert sk.verifier() == VerifierKey.from_text(PETER_VKEY)


def test_our_signature_reproduces_the_go_example_note() -> None:
    # Ed25519 is deterministic: the same key and text give Go's exact bytes.
    assert sign_note(GO_TEXT, SignerKey.from_text(PETER_SKEY)) == GO_NOTE


def test_go_example_note_opens() -> None:
    peter = VerifierKey.from_text(PETER_VKEY)
    note, vk = open_note(GO_NOTE, [peter])
    assert note.text == GO_TEXT
    assert vk == peter


def test_go_two_signer_note_opens_with_either_key() -> None:
    peter, enoch = VerifierKey.from_text(PETER_VKEY), VerifierKey.from_text(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter])[1] == peter
    assert open_note(note, [enoch])[1] == enoch
    with pytest.raises(UnknownSignerError, match="EnochRoot, PeterNeumann"):
        open_note(note, [])


def test_go_corrupted_signature_is_invalid() -> None:
    # note_test.go: four base64 characters inserted into the signature.
    note = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignatureError):
        open_note(note, [VerifierKey.from_text(PETER_VKEY)])


def test_go_repeated_and_unknown_bad_signatures_are_ignored() -> None:
    # As in Go's TestOpen: a second line by the same verifier, and bad lines by
    # keys nobody trusts, do not spoil a note that a trusted key signed.
    peter = VerifierKey.from_text(PETER_VKEY)
    bad_peter = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    bad_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = GO_TEXT + "\n" + PETER_SIG + bad_peter + ENOCH_SIG + bad_enoch
    assert open_note(note, [peter])[1] == peter


def test_bad_signature_from_a_second_trusted_key_rejects_the_note() -> None:
    peter, enoch = VerifierKey.from_text(PETER_VKEY), VerifierKey.from_text(ENOCH_VKEY)
    bad_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    with pytest.raises(InvalidSignatureError, match="EnochRoot"):
        open_note(GO_TEXT + "\n" + PETER_SIG + bad_enoch, [peter, enoch])


@pytest.mark.parametrize(
    "message",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(),
        GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
    ids=[
        "no-signatures",
        "empty-signature-block",
        "no-final-newline",
        "control-char",
        "invalid-utf8",
        "name-with-space",
        "trailing-text-line",
    ],
)
def test_go_malformed_notes_are_refused(message: str | bytes) -> None:
    with pytest.raises(NoteFormatError):
        open_note(message, [VerifierKey.from_text(PETER_VKEY)])


def mangled(text: str) -> Iterator[str]:
    """Every proper substring, and every one-byte increment, as note_test.go does."""
    raw = text.encode()
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if (i, j) != (0, len(raw)):
                yield raw[i:j].decode()
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] += 1
        yield changed.decode("utf-8", "replace")


def test_every_mangled_go_verifier_key_is_refused() -> None:
    accepted = []
    for text in mangled(PETER_VKEY):
        try:
            VerifierKey.from_text(text)
        except NoteFormatError:
            continue
        accepted.append(text)
    assert accepted == []


def test_every_mangled_go_signer_key_is_refused() -> None:
    accepted = []
    for text in mangled(PETER_SKEY):
        try:
            SignerKey.from_text(text)
        except NoteFormatError:
            continue
        accepted.append(text)
    assert accepted == []


@pytest.mark.parametrize(
    "text",
    [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        COSIG_VKEY,
    ],
    ids=["wrong-key-length", "unknown-algorithm", "cosignature-type-0x04"],
)
def test_non_ed25519_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(NoteFormatError):
        VerifierKey.from_text(text)


def test_published_vkey_with_plus_in_base64_round_trips() -> None:
    vk = VerifierKey.from_text(PLUS_VKEY)
    assert vk.name == "TEST"
    assert "+" in PLUS_VKEY.split("+", 2)[2]
    assert vk.to_text() == PLUS_VKEY


B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def non_canonical(b64: str) -> str:
    """``b64`` with a padding bit set: lenient decoders give the same bytes."""
    data = b64.rstrip("=")
    last = B64_ALPHABET[B64_ALPHABET.index(data[-1]) ^ 1]
    out = data[:-1] + last + b64[len(data) :]
    assert base64.b64decode(out) == base64.b64decode(b64)
    return out


@pytest.mark.parametrize("suffix", ["=", "==", "==="])
def test_key_base64_with_excess_padding_is_refused(suffix: str) -> None:
    with pytest.raises(NoteFormatError):
        VerifierKey.from_text(PETER_VKEY + suffix)
    with pytest.raises(NoteFormatError):
        SignerKey.from_text(PETER_SKEY + suffix)


def test_signature_base64_must_be_canonical() -> None:
    blob = PETER_SIG.split(" ")[2].rstrip("\n")
    note = GO_NOTE.replace(blob, non_canonical(blob))
    with pytest.raises(NoteFormatError, match="canonical"):
        open_note(note, [VerifierKey.from_text(PETER_VKEY)])


def test_checkpoint_root_base64_must_be_canonical() -> None:
    root = base64.b64encode(ROOT).decode()
    with pytest.raises(NoteFormatError, match="canonical"):
        Checkpoint.from_text(f"{ORIGIN}\n1\n{non_canonical(root)}\n")


def test_real_sumdb_tree_head_verifies_but_is_not_our_kind_of_checkpoint() -> None:
    vk = VerifierKey.from_text(SUMDB_VKEY)
    assert open_note(SUMDB_NOTE, [vk])[1] == vk
    checkpoint = parse_signed_checkpoint(SUMDB_NOTE)
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 6476701
    assert checkpoint.root == base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    # The signature is good, but our rule ties the origin to the key's name.
    with pytest.raises(SignatureError, match="origin") as info:
        open_checkpoint(SUMDB_NOTE, [vk])
    assert type(info.value) is SignatureError


def test_rfc8032_test1() -> None:
    sk = SignerKey("rfc8032", bytes.fromhex(RFC8032_SEED))
    vk = sk.verifier()
    assert vk.public_key.hex() == RFC8032_PUBLIC
    assert sk.sign(b"").hex() == RFC8032_SIG
    assert vk.verify(b"", bytes.fromhex(RFC8032_SIG))
    assert not vk.verify(b"\x00", bytes.fromhex(RFC8032_SIG))


def test_non_canonical_signature_scalar_is_refused() -> None:
    # RFC 8032 §5.1.7: S >= L is invalid; accepting S + L makes signatures malleable.
    sig = bytes.fromhex(RFC8032_SIG)
    s = int.from_bytes(sig[32:], "little")
    malleated = sig[:32] + (s + ED25519_L).to_bytes(32, "little")
    vk = SignerKey("rfc8032", bytes.fromhex(RFC8032_SEED)).verifier()
    assert not vk.verify(b"", malleated)


# --- keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", ORIGIN, "PeterNeumann", "证据.example/日志"])
def test_key_id_follows_the_c2sp_rule(name: str) -> None:
    vk = SignerKey(name, bytes(range(32))).verifier()
    want = hashlib.sha256(name.encode("utf-8") + b"\n" + b"\x01" + vk.public_key).digest()[:4]
    assert vk.key_id == want
    assert key_id(name, vk.public_key) == want
    assert vk.to_text().split("+")[1] == want.hex()


def test_generated_vkey_with_plus_in_base64_round_trips() -> None:
    for seed in range(256):
        vk = SignerKey("log", bytes([seed]) * 32).verifier()
        if "+" in vk.to_text().split("+", 2)[2]:
            break
    else:
        pytest.fail("no seed gave a '+' in the key's base64")
    assert VerifierKey.from_text(vk.to_text()) == vk
    assert VerifierKey.from_text(f"  {vk.to_text()}\n") == vk


def test_signer_key_text_round_trips() -> None:
    sk = signer()
    assert SignerKey.from_text(sk.to_text()) == sk


@pytest.mark.parametrize(
    "text",
    [
        "",
        "log",
        "log+1234abcd",
        "other+{id}+{b64}",
        "log+{id}+{short_b64}",
        "log+{id}+{b64}!",
        "log+{short_id}+{b64}",
        "lo g+{id}+{b64}",
    ],
    ids=[
        "empty",
        "name-only",
        "no-key",
        "id-of-another-name",
        "truncated-base64",
        "bad-base64-char",
        "short-key-id",
        "name-with-space",
    ],
)
def test_malformed_verifier_key_is_refused(text: str) -> None:
    vk = SignerKey("log", bytes(32)).verifier()
    b64 = vk.to_text().split("+", 2)[2]
    filled = text.format(
        id=vk.key_id.hex(), short_id=vk.key_id.hex()[:6], b64=b64, short_b64=b64[:-1]
    )
    with pytest.raises(NoteFormatError):
        VerifierKey.from_text(filled)


@pytest.mark.parametrize(
    "name",
    ["", "a+b", "a b", "a\tb", "a\u00a0b", "x" * (MAX_NAME_CHARS + 1)],
    ids=["empty", "plus", "space", "tab", "nbsp", "too-long"],
)
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(NoteFormatError):
        check_key_name(name)


def test_longest_key_name_is_accepted() -> None:
    check_key_name("x" * MAX_NAME_CHARS)


# --- signing and opening -------------------------------------------------------------


def test_sign_then_open_round_trips() -> None:
    sk = signer()
    text = "证据 evidence\nline two\n"
    note, vk = open_note(sign_note(text, sk), [sk.verifier()])
    assert note.text == text
    assert vk == sk.verifier()
    assert note.signatures[0].name == sk.name
    assert note.signatures[0].key_id == sk.verifier().key_id


def test_note_signed_twice_opens_with_either_key() -> None:
    a, b = signer(), other_signer("second.example")
    note = sign_note("text\n", a, b)
    assert open_note(note, [a.verifier()])[1] == a.verifier()
    assert open_note(note, [b.verifier()])[1] == b.verifier()


def test_tampered_text_is_invalid() -> None:
    sk = signer()
    note = sign_note("size 5\n", sk)
    with pytest.raises(InvalidSignatureError):
        open_note(note.replace("size 5", "size 6"), [sk.verifier()])


def test_every_bit_of_the_signature_matters() -> None:
    sk = signer()
    note = sign_note("text\n", sk)
    accepted = []
    for position in range(64 * 8):
        try:
            open_note(with_signature_bytes(note, bit(position)), [sk.verifier()])
        except InvalidSignatureError:
            continue
        accepted.append(position)
    assert accepted == []


def test_truncated_signature_is_invalid() -> None:
    sk = signer()
    note = sign_note("text\n", sk)
    line = sig_line(note)
    prefix, blob = line.rstrip("\n").rsplit(" ", 1)
    short = base64.b64encode(base64.b64decode(blob)[:-1]).decode()
    with pytest.raises(InvalidSignatureError):
        open_note(note.replace(line, f"{prefix} {short}\n"), [sk.verifier()])


def test_key_with_same_name_but_other_key_is_unknown() -> None:
    note = sign_note("text\n", signer())
    with pytest.raises(UnknownSignerError, match=ORIGIN):
        open_note(note, [other_signer().verifier()])


def test_same_key_under_another_name_is_unknown() -> None:
    sk = signer()
    renamed = VerifierKey("another.example/log", sk.verifier().public_key)
    with pytest.raises(UnknownSignerError):
        open_note(sign_note("text\n", sk), [renamed])


def test_note_signed_only_by_unknown_key_names_its_signer() -> None:
    stranger = other_signer("stranger.example")
    with pytest.raises(UnknownSignerError, match=r"signed by: stranger\.example"):
        open_note(sign_note("text\n", stranger), [signer().verifier()])


def test_bad_signature_from_trusted_key_is_invalid_even_after_unknown_lines() -> None:
    sk = signer()
    stranger_note = sign_note("text\n", other_signer("stranger.example"))
    trusted_note = with_signature_bytes(sign_note("text\n", sk), bit(0))
    note = stranger_note + sig_line(trusted_note)
    with pytest.raises(InvalidSignatureError, match=ORIGIN):
        open_note(note, [sk.verifier()])


MALFORMED_NOTES = {
    "empty": "",
    "no-blank-line": "text\n— log AAAAAAAA\n",
    "missing-trailing-newline": "text\n\n— log AAAAAAAA",
    "starts-with-blank-line": "\ntext\n\n— log AAAAAAAA\n",
    "tab-in-text": "te\txt\n\n— log AAAAAAAA\n",
    "carriage-return-in-text": "text\r\n\n— log AAAAAAAA\n",
    "nul-in-text": "te\x00xt\n\n— log AAAAAAAA\n",
    "escape-in-text": "\x1b[31mtext\n\n— log AAAAAAAA\n",
    "blank-line-in-text": "text\n\n\n— log AAAAAAAA\n",
    "hyphen-instead-of-em-dash": "text\n\n- log AAAAAAAA\n",
    "three-fields": "text\n\n— log AAAAAAAA extra\n",
    "bad-base64": "text\n\n— log AAAA!AAA\n",
    "signature-shorter-than-key-id": "text\n\n— log AAAA\n",
    "name-with-plus": "text\n\n— a+b AAAAAAAA\n",
    "trailing-blank-line": "text\n\n— log AAAAAAAA\n\n",
}


@pytest.mark.parametrize("note", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_note_is_refused(note: str) -> None:
    with pytest.raises(NoteFormatError) as info:
        open_note(note, [signer().verifier()])
    assert "\n" not in str(info.value)


def test_at_most_max_signatures() -> None:
    sk = signer()
    note = sign_note("text\n", sk)
    line = sig_line(note)
    head = note[: len(note) - len(line)]
    assert open_note(head + line * MAX_SIGNATURES, [sk.verifier()])[1] == sk.verifier()
    with pytest.raises(NoteFormatError, match=str(MAX_SIGNATURES)):
        open_note(head + line * (MAX_SIGNATURES + 1), [sk.verifier()])


def note_of_size(total: int, sk: SignerKey) -> str:
    """A validly signed note of exactly ``total`` UTF-8 bytes."""
    overhead = len(sign_note("a\n", sk).encode()) - 1
    note = sign_note("a" * (total - overhead) + "\n", sk)
    assert len(note.encode()) == total
    return note


def test_note_of_exactly_max_bytes_is_accepted() -> None:
    sk = signer()
    note = note_of_size(MAX_NOTE_BYTES, sk)
    assert open_note(note.encode(), [sk.verifier()])[1] == sk.verifier()


def test_note_one_byte_over_max_is_refused() -> None:
    sk = signer()
    note = "a" + note_of_size(MAX_NOTE_BYTES, sk)
    with pytest.raises(NoteFormatError, match=f"{MAX_NOTE_BYTES + 1} bytes"):
        parse_note(note)
    with pytest.raises(NoteFormatError, match="exceeds"):
        sign_note(note[: note.rindex("\n\n") + 1], sk)


def test_sign_refuses_malformed_text_and_no_signer() -> None:
    with pytest.raises(NoteFormatError):
        sign_note("no newline", signer())
    with pytest.raises(NoteFormatError):
        sign_note("text\n")


# --- checkpoints ---------------------------------------------------------------------


def test_checkpoint_text_is_the_c2sp_form() -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT)
    assert cp.to_text() == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    assert Checkpoint.from_text(cp.to_text()) == cp


@pytest.mark.parametrize(
    "checkpoint",
    [
        Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()),
        Checkpoint(ORIGIN, 9, ROOT),
        Checkpoint(ORIGIN, MAX_TREE_SIZE, ROOT),
        Checkpoint(ORIGIN, 9, ROOT, ("ext one", "ext two")),
    ],
    ids=["empty-tree", "size9", "max-size", "extensions"],
)
def test_checkpoint_sign_then_open_round_trips(checkpoint: Checkpoint) -> None:
    sk = signer()
    assert open_checkpoint(checkpoint.sign(sk), [sk.verifier()]) == checkpoint


def test_checkpoint_signature_covers_extension_lines() -> None:
    sk = signer()
    note = Checkpoint(ORIGIN, 9, ROOT, ("ext",)).sign(sk)
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(note.replace("ext\n", "exu\n"), [sk.verifier()])


def checkpoint_text(size: str = "42", root: str | None = None) -> str:
    root = base64.b64encode(ROOT).decode() if root is None else root
    return f"{ORIGIN}\n{size}\n{root}\n"


BAD_CHECKPOINTS = {
    "leading-zero": checkpoint_text("042"),
    "zero-with-leading-zero": checkpoint_text("00"),
    "non-decimal": checkpoint_text("4a"),
    "hex-size": checkpoint_text("0x2a"),
    "negative-size": checkpoint_text("-1"),
    "plus-sign": checkpoint_text("+42"),
    "space-in-size": checkpoint_text(" 42"),
    "decimal-point": checkpoint_text("42.0"),
    "non-ascii-digits": checkpoint_text("\u0664\u0662"),
    "empty-size": checkpoint_text(""),
    "size-over-uint64": checkpoint_text(str(MAX_TREE_SIZE + 1)),
    "size-21-digits": checkpoint_text("1" * 21),
    "root-bad-base64": checkpoint_text(root="!!!!"),
    "root-missing-padding": checkpoint_text(root=base64.b64encode(ROOT).decode().rstrip("=")),
    "root-31-bytes": checkpoint_text(root=base64.b64encode(ROOT[:31]).decode()),
    "root-33-bytes": checkpoint_text(root=base64.b64encode(ROOT + b"\x00").decode()),
    "root-hex-not-base64": checkpoint_text(root=ROOT.hex() + "!"),
    "origin-only": f"{ORIGIN}\n",
    "missing-root": f"{ORIGIN}\n42\n",
    "no-final-newline": checkpoint_text()[:-1],
    "too-many-extensions": checkpoint_text() + "ext\n" * (MAX_EXTENSIONS + 1),
}


@pytest.mark.parametrize("text", BAD_CHECKPOINTS.values(), ids=BAD_CHECKPOINTS.keys())
def test_malformed_checkpoint_body_is_refused(text: str) -> None:
    with pytest.raises(NoteFormatError) as info:
        Checkpoint.from_text(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("defect", ["leading-zero", "root-31-bytes", "missing-root"])
def test_signed_but_malformed_checkpoint_is_refused(defect: str) -> None:
    sk = signer()
    note = sign_note(BAD_CHECKPOINTS[defect], sk)
    with pytest.raises(NoteFormatError):
        open_checkpoint(note, [sk.verifier()])


def test_most_extensions_are_accepted() -> None:
    text = checkpoint_text() + "ext\n" * MAX_EXTENSIONS
    assert len(Checkpoint.from_text(text).extensions) == MAX_EXTENSIONS


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "two\nlines"},
        {"size": -1},
        {"size": MAX_TREE_SIZE + 1},
        {"root": ROOT[:31]},
        {"extensions": ("",)},
    ],
    ids=[
        "empty-origin",
        "multiline-origin",
        "negative-size",
        "huge-size",
        "short-root",
        "empty-ext",
    ],
)
def test_invalid_checkpoint_is_refused_when_built(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(NoteFormatError):
        Checkpoint(**fields)  # type: ignore[arg-type]


def test_checkpoint_cannot_be_signed_by_a_key_of_another_name() -> None:
    with pytest.raises(NoteFormatError, match="differs from origin"):
        Checkpoint("other.example/log", 1, ROOT).sign(signer())


def test_checkpoint_whose_origin_is_not_the_signers_name_is_refused() -> None:
    sk = signer()
    note = sign_note(Checkpoint("other.example/log", 1, ROOT).to_text(), sk)
    with pytest.raises(SignatureError, match=r"other\.example/log") as info:
        open_checkpoint(note, [sk.verifier()])
    assert not isinstance(info.value, FormatError)


# --- receipts ------------------------------------------------------------------------


def receipt(**changes: object) -> Receipt:
    fields: dict[str, object] = {
        "origin": ORIGIN,
        "leaf_hash": ROOT,
        "received_at": "2026-11-26T06:00:00.123Z",
        "max_merge_delay": 86400,
        **changes,
    }
    return Receipt(**fields)  # type: ignore[arg-type]


def test_receipt_text_form() -> None:
    assert receipt().to_text() == (
        f"evidence-anchor/receipt/v1\n{ORIGIN}\n{ROOT.hex()}\n2026-11-26T06:00:00.123Z\n86400\n"
    )


def test_receipt_sign_then_open_round_trips() -> None:
    sk = signer()
    assert open_receipt(receipt().sign(sk), [sk.verifier()]) == receipt()


def test_receipt_from_another_origin_is_refused() -> None:
    sk = signer()
    note = sign_note(receipt(origin="other.example/log").to_text(), sk)
    with pytest.raises(SignatureError, match="origin"):
        open_receipt(note, [sk.verifier()])


def test_tampered_receipt_is_invalid() -> None:
    sk = signer()
    note = receipt().sign(sk).replace("86400", "86401")
    with pytest.raises(InvalidSignatureError):
        open_receipt(note, [sk.verifier()])


GOOD_RECEIPT = receipt().to_text()
BAD_RECEIPTS = {
    "wrong-header": GOOD_RECEIPT.replace("receipt/v1", "receipt/v2"),
    "uppercase-leaf-hash": GOOD_RECEIPT.replace(ROOT.hex(), ROOT.hex().upper()),
    "short-leaf-hash": GOOD_RECEIPT.replace(ROOT.hex(), ROOT.hex()[:-2]),
    "local-time": GOOD_RECEIPT.replace(".123Z", ".123+08:00"),
    "zero-delay": GOOD_RECEIPT.replace("\n86400\n", "\n0\n"),
    "delay-over-max": GOOD_RECEIPT.replace("\n86400\n", f"\n{MAX_MERGE_DELAY + 1}\n"),
    "negative-delay": GOOD_RECEIPT.replace("\n86400\n", "\n-1\n"),
    "missing-line": GOOD_RECEIPT.replace("\n86400\n", "\n"),
    "extra-line": GOOD_RECEIPT + "extra\n",
}


@pytest.mark.parametrize("text", BAD_RECEIPTS.values(), ids=BAD_RECEIPTS.keys())
def test_malformed_receipt_is_refused(text: str) -> None:
    with pytest.raises(NoteFormatError):
        Receipt.from_text(text)


def test_longest_merge_delay_is_accepted() -> None:
    text = GOOD_RECEIPT.replace("\n86400\n", f"\n{MAX_MERGE_DELAY}\n")
    assert Receipt.from_text(text).max_merge_delay == MAX_MERGE_DELAY
