"""示范区指标 page (/console/stats, officers and admins): the figures of
``GET /v1/stats/market`` as tables, one per group of indicators, with the period and
unit chosen in a filter form and a link to the same figures as CSV
(``/v1/stats/market.csv``, which the session cookie authenticates).

The page calls what the API calls (:func:`evidence_api.stats.service.market_stats`) with
the viewer's principal; a refused filter shows the API's reason beside its field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.registry_pages import Officer
from evidence_api.console.web import FormErrors, in_session, render
from evidence_api.core.errors import ApiError
from evidence_api.core.routing import page_router
from evidence_api.stats import service
from evidence_api.stats.schemas import Figure, MarketStats
from evidence_api.units.schemas import UnitPublic
from evidence_api.units.service import units_within

router = page_router("/console")

#: The page's tables: (heading key, the indicators shown in it), in order.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stats.section.entities", ("entities", "entities_by_class", "entities_by_grade")),
    ("stats.section.operating", ("operating_2y_share", "operating_since_unknown")),
    (
        "stats.section.complaints",
        (
            "complaints",
            "complaints_open",
            "complaint_resolution_median_hours",
            "complaint_resolution_mean_hours",
        ),
    ),
    ("stats.section.odr", ("odr_cases", "odr_success_rate")),
    ("stats.section.spotchecks", ("spotcheck_results", "spotcheck_noncompliance_rate")),
)
#: Longest filter value read from the query string.
MAX_FIELD = 64


def _day(raw: str, field: str, errors: FormErrors) -> date | None:
    """A typed day (YYYY-MM-DD) or None when blank; the reason in ``errors`` when not a day."""
    if not raw:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    errors[field] = f"{field}: a day as YYYY-MM-DD"
    return None


def _sections(stats: MarketStats) -> list[tuple[str, list[Figure]]]:
    return [(key, [f for f in stats.figures if f.indicator in wanted]) for key, wanted in SECTIONS]


def _shown(figure: Figure) -> str:
    """A figure's value as the page shows it: shares as percentages, null as a dash."""
    if figure.value is None:
        return "—"
    if figure.denominator is not None and figure.indicator.endswith(("_share", "_rate")):
        return f"{figure.value * 100:.2f}%"
    return str(figure.value)


@router.get("/stats", response_class=HTMLResponse)
async def stats_page(request: Request, who: Officer) -> Response:
    """The figures for the period and unit in the query string (default: all time to today,
    the viewer's whole reach)."""
    params = request.query_params
    wanted = {k: (params.get(k) or "").strip()[:MAX_FIELD] for k in ("from", "to", "unit")}
    errors = FormErrors()
    start, end = _day(wanted["from"], "from", errors), _day(wanted["to"], "to", errors)

    def work(session: Session) -> tuple[MarketStats | None, list[UnitPublic]]:
        units = units_within(session, who.principal)
        if errors:
            return None, units
        try:
            query = service.market_query(
                who.principal, wanted["unit"] or None, start, end, datetime.now(UTC)
            )
            return service.market_stats(session, query), units
        except ApiError as exc:
            errors[exc.field or ""] = exc.detail
            return None, units

    stats, units = await run_in_threadpool(in_session, request, work)
    kept = {k: v for k, v in wanted.items() if v}
    context: dict[str, Any] = {
        "wanted": wanted,
        "errors": errors,
        "units": units,
        "stats": stats,
        "sections": _sections(stats) if stats is not None else [],
        "shown": _shown,
        "csv_url": "/v1/stats/market.csv" + (f"?{urlencode(kept)}" if kept else ""),
    }
    return render(request, who, "stats/market.html", status=422 if errors else 200, **context)
