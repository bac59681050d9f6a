"""RFC 3161 tokens from a real authority (``openssl ts -reply`` behind HTTP, its own test
CA: tests/support/tsa.py) checked by :func:`verifier.tsa.check_token`: a valid token
verifies (trusting the CA, or the TSA's own certificate); a wrong imprint, a token for
another checkpoint, an untrusted (unrelated) CA, an expired TSA certificate, a broken
signature and a malformed token each fail with their own reason."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

from tests.support.tsa import Authority, make_authority, reply, serve
from verifier.tsa import check_token, imprint_of, load_certificates

CHECKPOINT = "evidence.example/log\n5\nq2Xk0mGm5Y0mKx3Jv9Qp0T0c7bq6Qx2fYh1Y0b3o0mA=\n"
OTHER = "evidence.example/log\n6\nzZ3sG0f5wVq2sK8Zr2Z0uH9o0n3c1fQm2bX7f5Y0bq4=\n"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    with serve(make_authority(tmp_path_factory.mktemp("tsa"))) as running:
        yield running


def query(data: bytes, algorithm: HashAlgorithm = HashAlgorithm.SHA256) -> bytes:
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(algorithm)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    return request.as_bytes()


def token_from(authority: Authority, tsq: bytes) -> bytes:
    return decode_timestamp_response(reply(authority, tsq)).time_stamp_token()


def trust(*pems: Path) -> list[bytes]:
    return [der for pem in pems for der in load_certificates(pem.read_bytes())]


def test_valid_token_over_http_verifies(authority: Authority) -> None:
    tsq = query(CHECKPOINT.encode())
    answer = httpx.post(
        authority.url,
        content=tsq,
        headers={"Content-Type": "application/timestamp-query"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    response = decode_timestamp_response(answer.content)
    assert response.tst_info.message_imprint.message == imprint_of(CHECKPOINT)
    token = response.time_stamp_token()

    verdict = check_token("test-tsa", token, CHECKPOINT, trust(authority.ca_pem))
    assert verdict.ok, verdict.detail
    assert verdict.tsa == "test-tsa"
    assert verdict.gen_time is not None
    assert abs(verdict.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert verdict.signer is not None and "Evidence Anchor test TSA" in verdict.signer
    assert verdict.serial == response.tst_info.serial_number
    # the TSA's own certificate as the trust anchor (pinned) verifies too
    pinned = check_token("test-tsa", token, CHECKPOINT, trust(authority.tsa_pem))
    assert pinned.ok, pinned.detail
    assert pinned.gen_time == verdict.gen_time


def test_wrong_imprint_fails(authority: Authority) -> None:
    # the whole signed note (with its signature line) instead of its body
    signed = CHECKPOINT + "\n— evidence.example/log AAAAAAAA\n"
    token = token_from(authority, query(signed.encode()))
    verdict = check_token("t", token, CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert verdict.detail.startswith("wrong imprint:")
    assert "not SHA-256 of this checkpoint's note body" in verdict.detail
    assert verdict.gen_time is not None  # read, though refused


def test_imprint_of_another_hash_fails(authority: Authority) -> None:
    token = token_from(authority, query(CHECKPOINT.encode(), HashAlgorithm.SHA512))
    verdict = check_token("t", token, CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert verdict.detail == (
        "wrong imprint: the token's message imprint uses 2.16.840.1.101.3.4.2.3, not SHA-256"
    )


def test_token_for_another_checkpoint_fails(authority: Authority) -> None:
    token = token_from(authority, query(OTHER.encode()))
    assert check_token("t", token, OTHER, trust(authority.ca_pem)).ok
    verdict = check_token("t", token, CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert "the token is for another checkpoint" in verdict.detail


def test_wrong_tsa_certificate_fails(authority: Authority) -> None:
    token = token_from(authority, query(CHECKPOINT.encode()))
    verdict = check_token("t", token, CHECKPOINT, trust(authority.other_ca_pem))
    assert not verdict.ok
    assert verdict.detail.startswith("untrusted certificate: signer ")
    assert "does not chain to a trusted TSA certificate" in verdict.detail


def test_expired_tsa_certificate_fails(tmp_path: Path) -> None:
    expired = make_authority(tmp_path / "expired", expired=True)
    token = token_from(expired, query(CHECKPOINT.encode()))
    for trusted in (expired.ca_pem, expired.tsa_pem):
        verdict = check_token("t", token, CHECKPOINT, trust(trusted))
        assert not verdict.ok
        assert verdict.detail.startswith("expired certificate: ")
        assert "before the token's genTime" in verdict.detail


def test_broken_signature_fails(authority: Authority) -> None:
    token = bytearray(token_from(authority, query(CHECKPOINT.encode())))
    token[-10] ^= 0x01  # inside the signature value, the token's last field
    for trusted in (authority.ca_pem, authority.tsa_pem):
        verdict = check_token("t", bytes(token), CHECKPOINT, trust(trusted))
        assert not verdict.ok
        assert verdict.detail.startswith("bad signature:"), verdict.detail


def test_altered_token_content_fails(authority: Authority) -> None:
    """A changed byte in the signed TSTInfo (its genTime) breaks the signature."""
    response = decode_timestamp_response(reply(authority, query(CHECKPOINT.encode())))
    token = response.time_stamp_token()
    # flip the last digit of the genTime: still parseable, no longer what was signed
    gen = response.tst_info.gen_time.strftime("%Y%m%d%H%M%S").encode()
    at = token.find(gen)
    assert at > 0
    altered = bytearray(token)
    altered[at + len(gen) - 1] = ord("0") if altered[at + len(gen) - 1] != ord("0") else ord("1")
    verdict = check_token("t", bytes(altered), CHECKPOINT, trust(authority.ca_pem))
    assert not verdict.ok
    assert verdict.detail.startswith("bad signature:"), verdict.detail


def test_malformed_token_fails(authority: Authority) -> None:
    token = token_from(authority, query(CHECKPOINT.encode()))
    for bad in (token[:-40], b"\x30\x03\x02\x01\x00", hashlib.sha256(b"x").digest()):
        verdict = check_token("t", bad, CHECKPOINT, trust(authority.ca_pem))
        assert not verdict.ok
        assert verdict.detail.startswith("malformed token:"), verdict.detail
