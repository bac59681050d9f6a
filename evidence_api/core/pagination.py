"""Keyset pagination: opaque cursors (a sequence number, base64url-encoded), the
query of one page (:func:`keyset`) and the cursor of the next (:func:`cursor_after`).

Shared by every listing (evidence, platforms, entities, cases, case events,
takedown orders, the platform feed), so a cursor always means "continue after
this sequence number" and a made-up one is refused with the same 422.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar, TypeVarTuple

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from evidence_api.core.errors import InvalidInputError

Row = TypeVar("Row")
Columns = TypeVarTuple("Columns")


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


def keyset(
    query: Select[*Columns],
    key: InstrumentedAttribute[int],
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = True,
) -> Select[*Columns]:
    """``query`` ordered by ``key`` (newest first unless ``newest_first`` is false),
    continuing after ``cursor``, with one row more than ``limit``: that row only says
    whether there is a next page (see :func:`cursor_after`)."""
    query = query.order_by(key.desc() if newest_first else key).limit(limit + 1)
    if cursor:
        after = decode_cursor(cursor)
        query = query.where(key < after if newest_first else key > after)
    return query


def cursor_after(rows: Sequence[Row], limit: int, key: Callable[[Row], int]) -> str | None:
    """The cursor continuing after the page's last row (``key`` gives its sequence
    number), or None when ``rows`` (up to ``limit + 1``, from :func:`keyset`) were all."""
    return encode_cursor(key(rows[limit - 1])) if len(rows) > limit else None
