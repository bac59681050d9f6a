"""Console pages (filled in by the feature)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
