"""``GET /v1/stats/market`` (示范区指标) and its CSV, for officers and admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.runtime import Runtime
from evidence_api.core.schemas import problem_responses
from evidence_api.stats import export, service
from evidence_api.stats.schemas import MarketStats
from evidence_api.units.schemas import UNIT_CODE

router = APIRouter(prefix="/v1/stats", tags=["stats 示范区指标"], route_class=GuardedRoute)

ERRORS = problem_responses(401, 403, 422, 503)
Unit = Annotated[
    str | None,
    Query(
        pattern=UNIT_CODE,
        max_length=64,
        description="keep to this unit and the units below it (a unit in your reach)",
    ),
]
#: A day: YYYY-MM-DD from 1970 to 2999 (a date the pattern admits but the calendar does
#: not, such as 2026-02-30, is refused by the service with the same 422).
DAY = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
From = Annotated[
    str | None,
    Query(
        alias="from",
        pattern=DAY,
        description="first day (YYYY-MM-DD, Beijing time) the period-based figures count; "
        "default: from the beginning",
        json_schema_extra={"format": "date"},
    ),
]
To = Annotated[
    str | None,
    Query(
        alias="to",
        pattern=DAY,
        description="last day (YYYY-MM-DD, Beijing time, inclusive) the period-based figures "
        "count; default: today",
        json_schema_extra={"format": "date"},
    ),
]
DESCRIPTION = """Entities by class and by credit grade (the computed grade, else the one
recorded on the entity; ungraded counted as such) and the share operating two years or
more (snapshot as of today); complaints and reports by category with their count, open
count and median and mean hours from receipt to resolution; ODR mediations by status
and their success rate agreed / (agreed + failed); spot-check results by outcome and the
non-compliance rate (unqualified + rectify over all results), over the period and per
month. Complaints count by their receipt, mediations by their opening, results by their
recording, within `from`..`to` (days in Beijing time, both inclusive). Only rows in the
caller's jurisdiction count (and, with `unit`, under that unit). Every figure is
defined in docs/stats.md; each carries Chinese labels."""


async def _compute(
    runtime: Runtime,
    principal: Principal,
    unit: str | None,
    start: str | None,
    end: str | None,
) -> MarketStats:
    query = service.market_query(
        principal, unit, service.day(start, "from"), service.day(end, "to"), datetime.now(UTC)
    )

    def compute() -> MarketStats:
        with runtime.session() as session:
            return service.market_stats(session, query)

    return await run_in_threadpool(compute)


@router.get(
    "/market",
    response_model=MarketStats,
    responses=ERRORS,
    summary="Indicators of the demonstration zone (示范区指标)",
    description=DESCRIPTION,
)
async def market_stats(
    runtime: RuntimeDep,
    principal: Submitter,
    unit: Unit = None,
    start: From = None,
    end: To = None,
) -> MarketStats:
    return await _compute(runtime, principal, unit, start, end)


@router.get(
    "/market.csv",
    response_class=Response,
    responses={
        **ERRORS,
        200: {
            "description": "the same figures as CSV (UTF-8 with BOM, RFC 4180, header row "
            "indicator,indicator_label,dimension,dimension_label,value,numerator,"
            "denominator,period; docs/stats.md §3)",
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "indicator,indicator_label,dimension,dimension_label,value,"
                    "numerator,denominator,period\r\nentities,经营主体总数 entities,,"
                    "全部 all,812,,,2026-12-03\r\n",
                }
            },
        },
    },
    summary="Indicators of the demonstration zone as CSV (示范区指标导出)",
    description="The figures of `GET /v1/stats/market`, one row per figure, for a "
    "spreadsheet: null as an empty cell, a cell starting with = + - @ (a formula to a "
    "spreadsheet) prefixed with an apostrophe.",
)
async def market_stats_csv(
    runtime: RuntimeDep,
    principal: Submitter,
    unit: Unit = None,
    start: From = None,
    end: To = None,
) -> Response:
    stats = await _compute(runtime, principal, unit, start, end)
    return Response(
        export.market_csv(stats),
        media_type=export.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename(stats)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
