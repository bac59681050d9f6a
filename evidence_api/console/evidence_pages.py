"""Evidence: list with search, detail (files, manifest, proof timeline, custody,
downloads), upload with progress, capture with live progress."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
