"""Evidence intake's request and response bodies (pydantic), as documented in the OpenAPI spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evidence_api.core.timestamps import Rfc3339, check_client_time

Short = Annotated[str, Field(min_length=1, max_length=256)]


class EvidenceMetadata(BaseModel):
    """The ``metadata`` part of ``POST /v1/evidence`` (JSON)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_url: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="page or resource that was captured (http/https)"
    )
    platform: Short = Field(description="platform code or name, e.g. 'example-mall'")
    entity: Short | None = Field(None, description="online trading entity / shop name")
    captured_at: Rfc3339 = Field(description="capture time, RFC 3339 with a time zone")
    case_ref: Short | None = Field(None, description="case reference (案件编号)")
    notes: Annotated[str, Field(max_length=4096)] | None = None
    capture_tool: Short = Field(description="capture tool and version")
    capture_environment: Annotated[
        dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=256)]],
        Field(max_length=63),
    ] = Field(
        default_factory=dict,
        description="e.g. OS, browser, network; up to 63 items. The server adds "
        "recorded_by: officer (the manifest's 64th), so an upload stays visibly "
        "officer-supplied; an officer may not type recorded_by",
    )

    @field_validator("source_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        if any(ord(ch) < 0x21 for ch in value):
            raise ValueError("must not contain spaces or control characters")
        return value

    @field_validator("capture_environment")
    @classmethod
    def _not_recorded_by(cls, value: dict[str, str]) -> dict[str, str]:
        if "recorded_by" in value:
            raise ValueError(
                "recorded_by is set by the server (officer for uploads, server for captures)"
            )
        return value

    @field_validator("captured_at")
    @classmethod
    def _aware_past(cls, value: datetime) -> datetime:
        check_client_time(value)
        if value.astimezone(UTC) > datetime.now(UTC) + timedelta(minutes=5):
            raise ValueError("is in the future")
        return value


class FilePublic(BaseModel):
    name: str
    media_type: str
    size: int
    sha256: str
    sm3: str


class ManifestDigests(BaseModel):
    sha256: str
    sm3: str


class EvidenceCreated(BaseModel):
    evidence_id: str
    received_at: str
    manifest: ManifestDigests
    files: list[FilePublic]
    leaf_hash: str = Field(description="RFC 9162 leaf hash of the log entry (hex)")
    receipt: str = Field(description="signed receipt (C2SP signed note)")
    max_merge_delay: int = Field(description="seconds within which the entry will be sealed")
    proof_url: str


class EvidencePublic(BaseModel):
    evidence_id: str
    created_at: datetime
    case_ref: str | None
    platform: str | None
    entity: str | None
    source_url: str | None
    captured_at: str
    manifest: ManifestDigests
    leaf_hash: str
    files: list[FilePublic]


class EvidencePage(BaseModel):
    items: list[EvidencePublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class StampRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "digests": [
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                        "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
                    ]
                }
            ]
        },
    )

    digests: list[str] = Field(description="SHA-256 digests, 64 hex digits each")


class StampReceipt(BaseModel):
    digest: str
    entry_id: str
    leaf_hash: str
    receipt: str


class StampResponse(BaseModel):
    received_at: str
    max_merge_delay: int
    receipts: list[StampReceipt]
