"""Times that clients send: with a zone, and inside a range every component handles.

``0001-01-01T00:00:00+14:00`` is a valid RFC 3339 time whose UTC form lies in
year 0, which Python cannot represent (``OverflowError``); a time near year
9999 overflows as soon as a deadline or a grace period is added to it. Every
client-sent time is therefore checked here, once, and refused with a message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

#: Earliest and latest accepted instants (UTC).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


def check_client_time(value: datetime) -> datetime:
    """``value`` if it carries a zone and lies in [EARLIEST, LATEST]; else ``ValueError``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone (e.g. 2026-11-26T14:00:00+08:00)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError("must lie between 1970-01-01T00:00:00Z and 2999-12-31T23:59:59Z")
    return value


_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")


def rfc3339_only(value: object) -> object:
    """Refuse what pydantic would read as a Unix time (``0.5``, ``1700000000``): a
    client time is an RFC 3339 string, as the OpenAPI document says."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _NUMBER.fullmatch(value.strip()):
        raise ValueError("must be an RFC 3339 date-time string (e.g. 2026-11-26T14:00:00+08:00)")
    return value


#: An RFC 3339 date-time string (not a number read as a Unix time).
Rfc3339 = Annotated[datetime, BeforeValidator(rfc3339_only)]
#: A client-sent time: RFC 3339, zone required, within [EARLIEST, LATEST].
ClientTime = Annotated[datetime, BeforeValidator(rfc3339_only), AfterValidator(check_client_time)]
