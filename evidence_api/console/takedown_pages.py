"""Takedown orders for officers: issue from an evidence page, track, history with proof links."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
