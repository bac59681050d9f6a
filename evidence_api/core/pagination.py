"""Opaque cursors for paginated listings: a sequence number, base64url-encoded.

Shared by every listing (evidence, takedown orders, the platform feed), so a
cursor always means "continue after this sequence number" and a made-up one
is refused with the same 422.
"""

from __future__ import annotations

import base64
import binascii

from evidence_api.core.errors import InvalidInputError


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str = "cursor") -> int:
    """The sequence number in ``cursor``; 422 naming ``field`` if this API did not issue it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s") or not raw[1:].isdigit() or len(raw) > 21:
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{field} is not one this API issued", field=field) from exc
