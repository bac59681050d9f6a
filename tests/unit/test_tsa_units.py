"""verifier.tsa without a time-stamping authority (no process, no network): the imprint,
reading trusted certificates, malformed tokens refused with their reason; and which
anchored checkpoints the timestamping job stamps (evidence_api.trust.timestamping on an
in-memory SQLite log). Tokens from a real authority: tests/integration/test_tsa.py."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.pool import StaticPool

from anchoring.schema import anchor_tx, checkpoint_timestamp, log_checkpoint, metadata
from evidence_api.trust.timestamping import (
    MAX_PER_TICK,
    TimestampError,
    due_sizes,
    note_body,
    store_token,
    to_stamp,
)
from verifier.errors import VerifierError
from verifier.tsa import (
    MAX_TOKEN_BYTES,
    check_token,
    decode_response,
    imprint_of,
    load_certificates,
)

BODY = "evidence.example/log\n5\nq2Xk0mGm5Y0mKx3Jv9Qp0T0c7bq6Qx2fYh1Y0b3o0mA=\n"
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)


def certificate(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_imprint_is_sha256_of_the_note_body() -> None:
    assert imprint_of(BODY) == hashlib.sha256(BODY.encode()).digest()
    assert imprint_of("中\n") == hashlib.sha256("中\n".encode()).digest()


def test_load_certificates_reads_pem_blocks_and_der() -> None:
    one, two = certificate("one"), certificate("two")
    pem = b"comment\n" + one.public_bytes(serialization.Encoding.PEM)
    pem += two.public_bytes(serialization.Encoding.PEM)
    assert load_certificates(pem) == [
        one.public_bytes(serialization.Encoding.DER),
        two.public_bytes(serialization.Encoding.DER),
    ]
    der = one.public_bytes(serialization.Encoding.DER)
    assert load_certificates(der) == [der]
    for bad in (b"", b"not a certificate", b"-----BEGIN PUBLIC KEY-----\nAA==\n"):
        with pytest.raises(VerifierError, match="no certificate found"):
            load_certificates(bad)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (b"", "malformed token: not a DER RFC 3161 TimeStampToken"),
        (b"\x30\x03\x02\x01\x00", "malformed token: not a DER RFC 3161 TimeStampToken"),
        (cms.ContentInfo({"content_type": "data", "content": b"x"}).dump(), "not CMS SignedData"),
        (b"\x30" * (MAX_TOKEN_BYTES + 1), f"limit {MAX_TOKEN_BYTES}"),
    ],
)
def test_malformed_tokens_are_refused_with_their_reason(token: bytes, reason: str) -> None:
    trusted = [certificate("ca").public_bytes(serialization.Encoding.DER)]
    verdict = check_token("ntsc", token, BODY, trusted)
    assert not verdict.ok
    assert verdict.tsa == "ntsc"
    assert reason in verdict.detail
    assert verdict.detail.startswith("malformed token:")
    assert verdict.gen_time is None


def test_decode_response_refuses_what_is_not_a_response() -> None:
    with pytest.raises(ValueError, match="parse error"):
        decode_response(b"\x04\x02hi")


@pytest.mark.parametrize(
    ("every", "expected"),
    [(1, [3, 7, 12, 20, 31]), (2, [3, 12, 31]), (3, [3, 20]), (10, [3])],
)
def test_every_nth_anchored_checkpoint_is_due_from_the_first(
    every: int, expected: list[int]
) -> None:
    assert due_sizes([3, 7, 12, 20, 31], every) == expected


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def anchor(engine: Engine, size: int, state: str, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(anchor_tx).values(
                size=size,
                root=bytes(32),
                prev_size=0,
                state=state,
                tx_hash=f"0x{n:064x}",
                submitted_at=NOW,
                updated_at=NOW,
            )
        )
        conn.execute(
            insert(log_checkpoint)
            .prefix_with("OR IGNORE")
            .values(
                size=size,
                root=bytes(32),
                note=f"log\n{size}\nAAAA\n\n— log AAAAAAAA\n",
                created_at=NOW,
            )
        )


def test_to_stamp_takes_confirmed_anchors_not_yet_stamped_newest_first(engine: Engine) -> None:
    sizes = [2, 4, 6, 8, 10, 12, 14]
    for n, size in enumerate(sizes):
        anchor(engine, size, "confirmed", n)
    anchor(engine, 16, "submitted", 100)  # not anchored yet
    anchor(engine, 4, "dropped", 101)  # a dropped attempt of an anchored size: counted once
    with engine.begin() as conn:
        store_token(conn, 14, "ntsc", b"token", NOW)
        store_token(conn, 14, "ntsc", b"again", NOW)  # idempotent
        store_token(conn, 12, "other", b"token", NOW)
    with engine.connect() as conn:
        assert to_stamp(conn, "ntsc", 1) == [12, 10, 8, 6][:MAX_PER_TICK]
        assert to_stamp(conn, "other", 1, limit=10) == [14, 10, 8, 6, 4, 2]
        assert to_stamp(conn, "ntsc", 3, limit=10) == [8, 2]  # the 1st, 4th, 7th (14: done)
        assert note_body(conn, 8) == "log\n8\nAAAA\n"
        with pytest.raises(TimestampError, match="no stored checkpoint of size 99"):
            note_body(conn, 99)
        rows = conn.execute(checkpoint_timestamp.select()).all()
    assert {(r.size, r.tsa, bytes(r.token)) for r in rows} == {
        (14, "ntsc", b"token"),
        (12, "other", b"token"),
    }
