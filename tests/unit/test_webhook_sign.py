"""Webhook signatures: a known answer (recompute below), round trips, and every way a
header can be wrong, named after its defect."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence_api.takedowns.webhook_sign import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    MAX_HEADER_CHARS,
    SIGNATURE_HEADER,
    MalformedSignature,
    SignatureMismatch,
    StaleSignature,
    delivery_headers,
    signature,
    signature_header,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"a":1}'
T = 1795680000
# printf '1795680000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
KNOWN = "6d0c7a8d99690dc870fa1af95de8917949d0c8366328d2a828ebb10545a9d9de"


def test_known_answer() -> None:
    assert signature(SECRET, T, BODY) == KNOWN
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={KNOWN}"
    # the same definition with the standard library, independently
    assert hmac.new(b"whsec_test", b'1795680000.{"a":1}', hashlib.sha256).hexdigest() == KNOWN


def test_delivery_headers() -> None:
    headers = delivery_headers(SECRET, T, BODY, delivery_id="dl-1", event="takedown.issued")
    assert headers == {
        SIGNATURE_HEADER: f"t={T},v1={KNOWN}",
        DELIVERY_HEADER: "dl-1",
        EVENT_HEADER: "takedown.issued",
    }


def test_verify_accepts_within_tolerance_at_the_edge() -> None:
    header = signature_header(SECRET, T, BODY)
    assert verify(SECRET, BODY, header, now=T) == T
    assert verify(SECRET, BODY, header, now=T + 300, tolerance=300) == T
    with pytest.raises(StaleSignature, match="301 s from now"):
        verify(SECRET, BODY, header, now=T + 301, tolerance=300)
    with pytest.raises(StaleSignature):
        verify(SECRET, BODY, header, now=T - 301, tolerance=300)


@pytest.mark.parametrize(
    ("defect", "header", "error"),
    [
        ("missing", None, MalformedSignature),
        ("no-timestamp", f"v1={KNOWN}", MalformedSignature),
        ("no-v1", f"t={T}", MalformedSignature),
        ("timestamp-not-digits", f"t=17956x,v1={KNOWN}", MalformedSignature),
        ("part-without-equals", f"t={T},{KNOWN}", MalformedSignature),
        ("too-long", f"t={T},v1={KNOWN}," + "x=1," * MAX_HEADER_CHARS, MalformedSignature),
        ("modified-signature-last-digit", f"t={T},v1={KNOWN[:-1]}f", SignatureMismatch),
        ("other-timestamp", f"t={T + 1},v1={KNOWN}", SignatureMismatch),
        ("uppercase-hex", f"t={T},v1={KNOWN.upper()}", SignatureMismatch),
    ],
)
def test_bad_headers(defect: str, header: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify(SECRET, BODY, header, now=T)


def test_modified_body_or_wrong_secret_is_refused() -> None:
    header = signature_header(SECRET, T, BODY)
    with pytest.raises(SignatureMismatch):
        verify(SECRET, b'{"a":2}', header, now=T)
    with pytest.raises(SignatureMismatch):
        verify("whsec_other", BODY, header, now=T)


def test_one_matching_signature_among_several_passes_rotation() -> None:
    other = signature("whsec_old", T, BODY)
    assert verify(SECRET, BODY, f"t={T},v1={other},v1={KNOWN},v2=future", now=T) == T


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        signature("", T, BODY)


@given(st.binary(max_size=512), st.text(min_size=1, max_size=40), st.integers(0, 10**12 - 1))
def test_round_trip(body: bytes, secret: str, timestamp: int) -> None:
    header = signature_header(secret, timestamp, body)
    assert verify(secret, body, header, now=timestamp) == timestamp
    with pytest.raises(SignatureMismatch):
        verify(secret, body + b"\x00", header, now=timestamp)
