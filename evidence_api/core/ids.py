"""Public identifiers: a prefix, the time in ms (sortable), and 64 random bits."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"
