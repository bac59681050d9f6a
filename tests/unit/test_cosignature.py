"""Witness cosignatures (C2SP tlog-cosignature, Ed25519 ``cosignature/v1``): the byte layout,
the key-ID rule, the signed message, and quorum checks, each checked against an independent
computation from the spec rather than against the module's own helpers."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verifier.checkpoint import Checkpoint, open_checkpoint
from verifier.cosignature import (
    Cosignature,
    WitnessKey,
    WitnessPolicy,
    WitnessSigner,
    add_cosignatures,
    check_witnesses,
    cosigned_message,
)
from verifier.errors import NoteFormatError
from verifier.note import SignerKey, VerifierKey

ORIGIN = "example.com/behind-the-sofa"
#: The cosignature line of the C2SP tlog-cosignature example (witness.example.com/w1).
SPEC_LINE = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJ"
    "sX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def log_signer() -> SignerKey:
    return SignerKey(ORIGIN, bytes(range(32)))


def witness(n: int) -> WitnessSigner:
    return WitnessSigner(f"witness.example.com/w{n}", bytes([n]) * 32)


def signed_checkpoint(size: int = 20852163, root: bytes = b"\x11" * 32) -> str:
    return Checkpoint(ORIGIN, size, root).sign(log_signer())


def body(note: str) -> str:
    return note[: note.index("\n\n") + 1]


def test_the_spec_example_line_parses_to_its_time_and_key_id() -> None:
    cosig = Cosignature.from_line(SPEC_LINE)
    assert cosig.name == "witness.example.com/w1"
    assert cosig.key_id.hex() == "8d66cf3f"
    # the example's signed message says "time 1679315147"
    assert cosig.timestamp == 1679315147
    assert cosig.to_line() == SPEC_LINE + "\n"


def test_key_id_uses_signature_type_0x04() -> None:
    key = witness(1).key()
    expected = hashlib.sha256(key.name.encode() + b"\n\x04" + key.public_key).digest()[:4]
    assert key.key_id == expected
    # the same key as a plain note key (type 0x01) has another ID
    assert VerifierKey(key.name, key.public_key).key_id != expected


def test_the_signed_message_is_header_time_and_the_note_body() -> None:
    note = signed_checkpoint()
    cosig = witness(1).cosign(body(note), 1679315147)
    message = b"cosignature/v1\ntime 1679315147\n" + body(note).encode()
    assert cosigned_message(body(note), 1679315147) == message
    # verified by an independent Ed25519 implementation over the bytes the spec gives
    Ed25519PublicKey.from_public_bytes(witness(1).key().public_key).verify(cosig.signature, message)
    raw = base64.b64decode(cosig.to_line().split(" ")[2])
    assert raw[:4] == witness(1).key().key_id
    assert struct.unpack(">Q", raw[4:12])[0] == 1679315147
    assert raw[12:] == cosig.signature


def test_vkeys_round_trip_and_types_are_not_interchangeable() -> None:
    key = witness(2).key()
    text = key.to_text()
    assert WitnessKey.from_text(text) == key
    assert base64.b64decode(text.split("+", 2)[2])[0] == 0x04
    with pytest.raises(NoteFormatError, match="0x04"):
        WitnessKey.from_text(log_signer().verifier().to_text())
    with pytest.raises(NoteFormatError):
        VerifierKey.from_text(text)
    signer = witness(2)
    assert WitnessSigner.from_text(signer.to_text()) == signer


def test_cosignature_lines_keep_the_log_signature_valid() -> None:
    note = signed_checkpoint()
    cosigned = add_cosignatures(
        note, [witness(1).cosign(body(note), 100), witness(2).cosign(body(note), 101)]
    )
    assert cosigned.startswith(note)
    assert cosigned.count("\n— ") == 3
    assert open_checkpoint(cosigned, [log_signer().verifier()]).size == 20852163
    # the same witness twice is written once
    again = add_cosignatures(cosigned, [witness(1).cosign(body(note), 200)])
    assert again == cosigned


def policy(*ns: int, quorum: int | None = None) -> WitnessPolicy:
    return WitnessPolicy.of([witness(n).key() for n in ns], quorum)


def test_quorum_met_short_and_unknown_witnesses_ignored() -> None:
    note = signed_checkpoint()
    cosigned = add_cosignatures(
        note, [witness(1).cosign(body(note), 100), witness(9).cosign(body(note), 100)]
    )
    met = check_witnesses(cosigned, policy(1, 2, quorum=1))
    assert met.met and met.cosigned == (("witness.example.com/w1", 100),)
    assert met.missing == ("witness.example.com/w2",)
    short = check_witnesses(cosigned, policy(1, 2))
    assert not short.met and short.forged is None and short.quorum == 2
    assert not check_witnesses(note, policy(1)).met


def test_a_cosignature_on_another_checkpoint_is_forged() -> None:
    note = signed_checkpoint()
    other = signed_checkpoint(root=b"\x22" * 32)  # a split view: same size, other root
    line = witness(1).cosign(body(other), 100)
    verdict = check_witnesses(add_cosignatures(note, [line]), policy(1))
    assert verdict.forged == "witness.example.com/w1" and not verdict.met


def test_a_flipped_byte_or_a_changed_time_is_forged() -> None:
    note = signed_checkpoint()
    good = witness(1).cosign(body(note), 100)
    flipped = Cosignature(
        good.name, good.key_id, good.timestamp, bytes([good.signature[0] ^ 1]) + good.signature[1:]
    )
    retimed = Cosignature(good.name, good.key_id, 101, good.signature)
    for bad in (flipped, retimed):
        assert check_witnesses(add_cosignatures(note, [bad]), policy(1)).forged


def test_a_trusted_witness_line_of_the_wrong_length_is_forged() -> None:
    note = signed_checkpoint()
    key = witness(1).key()
    short = base64.b64encode(key.key_id + b"\x00" * 64).decode()  # a plain signature's size
    assert check_witnesses(f"{note}— {key.name} {short}\n", policy(1)).forged == key.name


@pytest.mark.parametrize("quorum", [0, 3])
def test_a_quorum_outside_the_keys_given_is_refused(quorum: int) -> None:
    with pytest.raises(NoteFormatError, match="quorum"):
        policy(1, 2, quorum=quorum)


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(NoteFormatError, match="twice"):
        WitnessPolicy.of([witness(1).key(), witness(1).key()])


@pytest.mark.parametrize("timestamp", [-1, 2**63])
def test_timestamps_outside_the_spec_range_are_refused(timestamp: int) -> None:
    with pytest.raises(NoteFormatError, match="timestamp"):
        cosigned_message(body(signed_checkpoint()), timestamp)
