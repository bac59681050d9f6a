"""What list and detail pages share: times as officers read them (Beijing time), a list
page's query parameters (filters, ``?limit=``, the cursor) and the link to its next page.

A query parameter the page cannot use is answered 422 naming it (an
:class:`~evidence_api.core.errors.InvalidInputError` with ``field`` set), so the page can
show the reason beside the filter instead of a bare error page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import Request

from evidence_api.core.errors import InvalidInputError

#: Officers in 市场监管 read times in Beijing time (China Standard Time: no daylight saving).
BEIJING = timezone(timedelta(hours=8))
#: Longest cursor a list page accepts (the API's bound).
MAX_CURSOR = 64

T = TypeVar("T")


def utc(moment: datetime) -> datetime:
    """``moment`` with a zone: SQLite hands back naive UTC wall times, PostgreSQL aware ones."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when(moment: datetime | None, *, labelled: bool = False, missing: str = "") -> str:
    """A time as officers read it: Beijing time to the second (``2026-12-03 15:30:00``),
    with `` (UTC+8)`` after it when ``labelled``; ``missing`` for none."""
    if moment is None:
        return missing
    shown = utc(moment).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    return f"{shown} (UTC+8)" if labelled else shown


def iso(moment: datetime | None) -> str:
    """The machine-readable form for ``<time datetime=…>`` (``""`` for none)."""
    return "" if moment is None else utc(moment).astimezone(UTC).isoformat()


def query_text(request: Request, name: str, limit: int = 64) -> str | None:
    """A filter's text (stripped; empty: None); 422 naming it when longer than ``limit``."""
    value = request.query_params.get(name, "").strip()
    if len(value) > limit:
        raise InvalidInputError(f"{name}: at most {limit} characters", field=name)
    return value or None


def query_limit(request: Request, default: int, most: int) -> int:
    """``?limit=`` (rows on one page) as the API bounds it: 1..``most``; 422 otherwise."""
    text = request.query_params.get("limit", "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise InvalidInputError(f"limit: {text[:16]!r} is not 1..{most}", field="limit")
    return int(text)


def next_link(request: Request, cursor: str | None) -> str | None:
    """This page's URL with ``cursor`` replaced (None: no next page)."""
    if cursor is None:
        return None
    return str(request.url.include_query_params(cursor=cursor).replace(scheme="", netloc=""))


def offset_page(rows: Sequence[T], offset: int, size: int, path: str) -> tuple[list[T], str | None]:
    """A page of ``rows`` read whole (a short table): ``size`` of them from ``offset``, and
    ``path?offset=`` the rows after them (None: no more)."""
    more = offset + size < len(rows)
    return list(rows[offset : offset + size]), f"{path}?offset={offset + size}" if more else None


def page_url(request: Request, **changes: str | None) -> str:
    """This page's URL (path and query) with query parameters changed (``None`` drops one)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, v) for k, v in changes.items() if v is not None]
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")
