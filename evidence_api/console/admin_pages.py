"""Administrator pages: users, tokens, platforms, chain/log status, storage and database health."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
