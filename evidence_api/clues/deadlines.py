"""Overdue clue transfers and assistance requests, flagged by the beat schedule."""

from __future__ import annotations

from typing import Any


def flag_overdue(runtime: Any) -> int:
    """Flag every transfer and request past its deadline; the number flagged."""
    return 0
