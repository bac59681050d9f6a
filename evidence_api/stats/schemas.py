"""The answer of ``GET /v1/stats/market`` (示范区指标; docs/stats.md): one flat list of
figures, each the row the CSV export (``GET /v1/stats/market.csv``) writes."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, JsonValue

#: The CSV's columns, in order; each is a field of :class:`Figure`.
COLUMNS: tuple[str, ...] = (
    "indicator",
    "indicator_label",
    "dimension",
    "dimension_label",
    "value",
    "numerator",
    "denominator",
    "period",
)

_EXAMPLE_FIGURES: list[JsonValue] = [
    {
        "indicator": "entities_by_grade",
        "indicator_label": "经营主体数（按信用等级） entities by credit grade",
        "dimension": "A",
        "dimension_label": "A 信用风险低 low risk",
        "value": 812,
        "numerator": None,
        "denominator": None,
        "period": "2026-12-03",
    },
    {
        "indicator": "operating_2y_share",
        "indicator_label": "持续经营两年以上主体占比 share of entities operating 2+ years",
        "dimension": None,
        "dimension_label": "全部 all",
        "value": 0.6125,
        "numerator": 490,
        "denominator": 800,
        "period": "2026-12-03",
    },
    {
        "indicator": "odr_success_rate",
        "indicator_label": "在线纠纷调解成功率 ODR success rate",
        "dimension": None,
        "dimension_label": "全部 all",
        "value": 0.75,
        "numerator": 30,
        "denominator": 40,
        "period": "2026-01-01/2026-12-03",
    },
]


class Figure(BaseModel):
    """One figure: an indicator, broken down by one dimension value (or over everything)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_EXAMPLE_FIGURES[1]]},
    )

    indicator: str = Field(description="the indicator's code (docs/stats.md §2)")
    indicator_label: str = Field(description="指标 the indicator's label")
    dimension: str | None = Field(
        None,
        description="the breakdown value (a grade, a category code, an outcome, a month "
        "YYYY-MM …); null: the indicator's special bucket as docs/stats.md names it "
        "(everything, unclassified, ungraded)",
    )
    dimension_label: str = Field(description="维度 the dimension's label")
    value: int | float | None = Field(
        None,
        description="the figure: a count, a share in [0, 1] (4 decimals) or hours "
        "(2 decimals); null when it is undefined (a share of nothing, a median of nothing)",
    )
    numerator: int | float | None = Field(
        None,
        description="what the value is the quotient of, over ``denominator`` (null for counts)",
    )
    denominator: int | None = Field(
        None, description="what the value is counted over (null for counts)"
    )
    period: str = Field(
        description="the day (YYYY-MM-DD) a snapshot figure holds on, or the ISO 8601 "
        "interval of days (FROM/TO, both inclusive; `..` for an open start) it counts over, "
        "days in Beijing time (UTC+08:00)"
    )


class MarketStats(BaseModel):
    """``GET /v1/stats/market``: the demonstration zone's indicators in the caller's reach."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-12-03",
                    "period_from": "2026-01-01",
                    "period_to": "2026-12-03",
                    "unit": "fj.qz",
                    "unit_name": "泉州市市场监督管理局",
                    "figures": _EXAMPLE_FIGURES,
                }
            ]
        },
    )

    as_of: date = Field(description="today in Beijing time: the day snapshot figures hold on")
    period_from: date | None = Field(
        None, description="first day the period-based figures count (null: from the beginning)"
    )
    period_to: date = Field(description="last day (inclusive) the period-based figures count")
    unit: str | None = Field(
        None, description="the unit the figures keep to (null: the caller's reach)"
    )
    unit_name: str | None = Field(None, description="its name")
    figures: list[Figure] = Field(description="the figures, in the order docs/stats.md gives")
