"""ODR deadlines (filled in by the feature)."""

from __future__ import annotations

from typing import Any


def close_overdue(runtime: Any) -> int:
    """Close the open mediations past their deadline as failed; returns how many."""
    del runtime
    return 0
