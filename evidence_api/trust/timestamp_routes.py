"""``GET /v1/trust/timestamps``: the configured RFC 3161 authorities with the newest
checkpoint each has stamped (admin, officer): its ``genTime`` beside that checkpoint's
block time, and the last error this process saw (docs/timestamps.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, func, select

from anchoring.schema import anchor_tx, checkpoint_timestamp
from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.trust.timestamping import authority_status

router = APIRouter(prefix="/v1/trust", tags=["trust 信任"], route_class=GuardedRoute)


class AuthorityView(BaseModel):
    """One configured time-stamping authority (时间戳服务机构)."""

    name: str = Field(description="the authority's name from the settings")
    url: str = Field(description="where queries are posted")
    stamped: int = Field(description="checkpoints it has stamped")
    newest_size: int | None = Field(None, description="the newest checkpoint it stamped (size)")
    gen_time: datetime | None = Field(
        None, description="that token's genTime (the authority's clock)"
    )
    block_time: datetime | None = Field(
        None, description="that checkpoint's anchor block time (the chain's clock)"
    )
    last_error: str | None = Field(
        None,
        description="the last failure this service process saw; null once it works again "
        "(or when the job runs in another process)",
    )
    last_error_at: datetime | None = None


class TimestampStatus(BaseModel):
    """``GET /v1/trust/timestamps``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "every": 1,
                    "authorities": [
                        {
                            "name": "ntsc",
                            "url": "http://tsa.example.cn/tsa",
                            "stamped": 12,
                            "newest_size": 4096,
                            "gen_time": "2026-12-03T10:41:07Z",
                            "block_time": "2026-12-03T10:41:02Z",
                            "last_error": None,
                            "last_error_at": None,
                        }
                    ],
                }
            ]
        }
    )

    every: int = Field(description="every Nth anchored checkpoint is stamped")
    authorities: list[AuthorityView]


def _newest(conn: Connection, name: str) -> tuple[int, int | None, datetime | None, int | None]:
    """(count, newest size, its gen_time, its anchor's block timestamp)."""
    count = conn.execute(
        select(func.count()).where(checkpoint_timestamp.c.tsa == name)
    ).scalar_one()
    row = conn.execute(
        select(checkpoint_timestamp.c.size, checkpoint_timestamp.c.gen_time)
        .where(checkpoint_timestamp.c.tsa == name)
        .order_by(checkpoint_timestamp.c.size.desc())
        .limit(1)
    ).first()
    if row is None:
        return int(count), None, None, None
    block = conn.execute(
        select(func.max(anchor_tx.c.block_timestamp)).where(
            anchor_tx.c.size == row.size, anchor_tx.c.state == "confirmed"
        )
    ).scalar_one_or_none()
    gen_time = row.gen_time if row.gen_time.tzinfo else row.gen_time.replace(tzinfo=UTC)
    return int(count), int(row.size), gen_time, None if block is None else int(block)


@router.get(
    "/timestamps",
    response_model=TimestampStatus,
    responses=problem_responses(401, 403),
    summary="Time-stamping authorities and what they stamped (时间戳状态)",
)
def timestamps(runtime: RuntimeDep, principal: Submitter) -> TimestampStatus:
    """Each configured RFC 3161 authority: how many anchored checkpoints it stamped, the
    newest one with the authority's time (``gen_time``) beside the block time of that
    checkpoint's anchor (two independent clocks), and the last error seen by this
    process. Admins and officers."""
    del principal
    views = []
    with runtime.engine.connect() as conn:
        for authority in runtime.settings.tsas:
            count, size, gen_time, block = _newest(conn, authority.name)
            status = authority_status(authority.name)
            views.append(
                AuthorityView(
                    name=authority.name,
                    url=authority.url,
                    stamped=count,
                    newest_size=size,
                    gen_time=gen_time,
                    block_time=None if block is None else datetime.fromtimestamp(block, UTC),
                    last_error=status.last_error if status else None,
                    last_error_at=status.last_error_at if status else None,
                )
            )
    return TimestampStatus(every=runtime.settings.timestamp_every, authorities=views)
