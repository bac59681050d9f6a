"""Public identifiers: a prefix, the time in ms (sortable), and 64 random bits."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    return new_ids(prefix, 1)[0]


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` identifiers as :func:`new_id` makes them, from one read of the system's
    randomness (a thousand stamps a request made a thousand reads)."""
    stamp = f"{prefix}-{time.time_ns() // 1_000_000:012x}"
    noise = secrets.token_hex(8 * count)
    return [stamp + noise[16 * n : 16 * n + 16] for n in range(count)]
