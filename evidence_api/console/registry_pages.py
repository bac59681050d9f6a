"""Entities (主体库) with grade, cases as a board by status with transitions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
