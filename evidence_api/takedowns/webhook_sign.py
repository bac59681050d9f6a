"""Webhook signatures (pure; no I/O): HMAC-SHA256 over ``"<timestamp>.<body>"``.

Every delivery carries::

    X-Evidence-Signature: t=1795680000,v1=6d0c7a8d…9d9de   (64 hex digits)
    X-Evidence-Delivery: dl-0192d5f3a1b24c3f9e8d7a6b5c4d
    X-Evidence-Event: takedown.issued

``v1`` is ``hex(HMAC-SHA256(secret, f"{t}." + body))`` with the platform's
webhook secret (UTF-8) as the key and the exact request body bytes. The
timestamp is signed with the body, so a captured delivery cannot be replayed
later than the receiver's tolerance; the delivery id is stable across retries,
so a receiver that remembers ids processes each delivery once (deliveries are
at least once). Receivers compare in constant time (:func:`verify`).
docs/platform-api.md specifies this for integrators.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Evidence-Signature"
DELIVERY_HEADER = "X-Evidence-Delivery"
EVENT_HEADER = "X-Evidence-Event"
SCHEME = "v1"
#: How far a signature's timestamp may be from the receiver's clock, by default.
DEFAULT_TOLERANCE_S = 300
#: A header longer than this is refused unread (several v1 values are allowed, for rotation).
MAX_HEADER_CHARS = 1024


class SignatureError(Exception):
    """The signature header is missing, malformed, stale, or matches no secret."""


class MalformedSignature(SignatureError):  # noqa: N818 - a kind of SignatureError
    pass


class StaleSignature(SignatureError):  # noqa: N818
    pass


class SignatureMismatch(SignatureError):  # noqa: N818
    pass


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``hex(HMAC-SHA256(secret, b"<timestamp>." + body))``."""
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Evidence-Signature`` value: ``t=<unix seconds>,v1=<hex>``."""
    return f"t={int(timestamp)},{SCHEME}={signature(secret, timestamp, body)}"


def delivery_headers(
    secret: str, timestamp: int, body: bytes, *, delivery_id: str, event: str
) -> dict[str, str]:
    """Every header a delivery carries besides ``Content-Type``."""
    return {
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
    }


def parse_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])`` of a header; :class:`MalformedSignature` otherwise.

    Unknown schemes are ignored (a later ``v2`` can be sent beside ``v1``).
    """
    if len(header) > MAX_HEADER_CHARS:
        raise MalformedSignature(f"signature header longer than {MAX_HEADER_CHARS} characters")
    timestamp: int | None = None
    found: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature(f"signature header part {part.strip()!r} is not key=value")
        if key == "t":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise MalformedSignature("t must be unix seconds (digits)")
            timestamp = int(value)
        elif key == SCHEME:
            found.append(value)
    if timestamp is None:
        raise MalformedSignature("signature header has no t=<timestamp>")
    if not found:
        raise MalformedSignature(f"signature header has no {SCHEME}=<hex>")
    return timestamp, found


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a delivery: returns its timestamp, or raises a :class:`SignatureError`.

    ``now`` is the receiver's clock in unix seconds (passed in: no I/O here);
    a timestamp more than ``tolerance`` seconds away from it is refused as
    stale, whatever the signature. Comparison is constant-time.
    """
    if header is None:
        raise MalformedSignature(f"no {SIGNATURE_HEADER} header")
    timestamp, candidates = parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise StaleSignature(
            f"signature timestamp {timestamp} is {abs(now - timestamp)} s from now "
            f"(tolerance {tolerance} s)"
        )
    expected = signature(secret, timestamp, body)
    # Every candidate is compared (no early exit), each in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureMismatch("no signature matches the body and the secret")
    return timestamp
