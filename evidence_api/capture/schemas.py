"""The capture API's answers (``/v1/captures``), as documented in the OpenAPI spec."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from evidence_api.capture.request import CaptureRequest

Status = Literal["queued", "running", "done", "failed"]


class CaptureAccepted(BaseModel):
    """``202``: the capture is recorded and queued; poll ``status_url``."""

    capture_id: str
    status: Status
    status_url: str


class CapturePublic(BaseModel):
    """One capture: where it stands, what was asked, by whom and when."""

    capture_id: str
    status: Status
    step: str | None = Field(description="while running: the current step, e.g. '2/5 click #q'")
    evidence_id: str | None = Field(description="once done: the evidence item it became")
    evidence_url: str | None = Field(description="once done: the evidence item's URL")
    reason: str | None = Field(description="once failed: why, precisely (shown to the officer)")
    limit: str | None = Field(description="once failed: the limit that ended it, if one did")
    request: CaptureRequest = Field(description="the request as submitted")
    case_ref: str | None = Field(description="the case's number (案件编号), if one was named")
    submitter: str = Field(description="the officer who asked (pseudonym token-<id>)")
    attempts: int = Field(description="runs started (one interrupted run is retried once)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CapturePage(BaseModel):
    items: list[CapturePublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
