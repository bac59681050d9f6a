"""The public 信息公示 pages (filled in by the feature)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
