"""``GET /v1/trust/witnesses``: the configured witnesses with the newest checkpoint each
has cosigned (admin, officer). ``GET /v1/trust/timestamps`` is in
:mod:`evidence_api.trust.timestamp_routes`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.trust.cosigning import witness_views

router = APIRouter(prefix="/v1/trust", tags=["trust 信任"], route_class=GuardedRoute)
Reader = Annotated[Principal, Depends(require("officer", "admin"))]


class WitnessOut(BaseModel):
    name: str = Field(
        description="the witness's key name, as in its cosignature lines",
        examples=["court.example.cn/witness"],
    )
    url: str = Field(
        description="where checkpoints are submitted (<url>/add-checkpoint)",
        examples=["http://witness-court:8300"],
    )
    vkey: str = Field(
        description="its cosignature verifier key (give it to verifiers: --witness)",
        examples=["court.example.cn/witness+b1959cfe+BKz8RAUM4IzYTK/A7lSYI/a7aacNq21SsPdNVAKnA/LR"],
    )
    key_id: str = Field(description="the key ID (hex)", examples=["b1959cfe"])
    newest_size: int | None = Field(
        description="size of the newest checkpoint it cosigned (null: none yet)", examples=[1024]
    )
    newest_at: datetime | None = Field(
        description="the time in that cosignature (the witness's clock)",
        examples=["2026-12-03T10:40:00Z"],
    )
    behind: int | None = Field(
        description="entries the newest checkpoint is ahead of what it cosigned", examples=[0]
    )
    last_error: str | None = Field(
        description="the last error of the submissions made by this process (null: none, "
        "or witnessing runs in another process)",
        examples=[None],
    )
    last_error_at: datetime | None = Field(default=None, examples=[None])


class WitnessesOut(BaseModel):
    latest_size: int | None = Field(
        description="size of the log's newest checkpoint (null: nothing sealed yet)",
        examples=[1024],
    )
    witnesses: list[WitnessOut]


@router.get(
    "/witnesses",
    response_model=WitnessesOut,
    responses=problem_responses(401, 403, 503),
    summary="Witnesses and what they cosigned (见证方及其联署)",
)
def list_witnesses(runtime: RuntimeDep, _who: Reader) -> WitnessesOut:
    """Each configured witness (C2SP tlog-witness): its name, URL and verifier key, the newest
    checkpoint it cosigned and when, how far the log has moved on since, and the last error
    of this process's submissions. Admin and officer."""
    latest, views = witness_views(runtime)
    return WitnessesOut(
        latest_size=latest,
        witnesses=[
            WitnessOut(
                name=v.name,
                url=v.url,
                vkey=v.vkey,
                key_id=v.key_id,
                newest_size=v.newest_size,
                newest_at=v.newest_at,
                behind=v.behind,
                last_error=v.last_error,
                last_error_at=v.last_error_at,
            )
            for v in views
        ],
    )
