"""A platform user's pages: its own orders (accept, complete, dispute, granted files)
and webhook secret rotation."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
