"""Statutory waiting periods before a credit repair may be granted (pure; the periods
are data, ``data/waiting-periods.json``, with their legal source; docs/credit-repair.md §3).

A period counts whole calendar months from its start (a placement's ``listed_from``, a
record's ``occurred_at``): the earliest instant is the start plus ``months`` months, on the
same day of the month and time of day, the day clamped to the month's last day
(2026-08-31 + 6 months = 2027-02-28). A record kind with no period is not repairable
by an application.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "waiting-periods.json"
FORMAT = "evidence-repair-waiting/v1"
#: The target naming a placement on the serious-violator list.
SERIOUS_VIOLATION = "serious_violation"


class WaitingDataError(ValueError):
    """The waiting-period document is malformed (a packaging error, not a user's)."""


@dataclass(frozen=True)
class Period:
    """How long after ``start`` a target may be repaired, and why."""

    target: str
    label: str
    months: int
    source: str
    #: a longer period for entities whose risk class names one of ``longer_classes``
    longer_months: int | None = None
    longer_classes: tuple[str, ...] = ()
    longer_label: str | None = None

    def months_for(self, risk_class: str | None) -> int:
        """The period's months for an entity of ``risk_class``."""
        longer = self.longer_months
        if longer is not None and risk_class and any(w in risk_class for w in self.longer_classes):
            return longer
        return self.months


def add_months(start: datetime, months: int) -> datetime:
    """``start`` plus ``months`` calendar months (the day clamped to the month's end)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _months(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 120:
        raise WaitingDataError(f"{where}: months must be an integer 0..120")
    return value


def parse(document: object) -> dict[str, Period]:
    """The periods of a waiting-period document, by target (``WaitingDataError`` if bad)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise WaitingDataError(f"not an {FORMAT} document")
    periods: dict[str, Period] = {}
    for i, item in enumerate(document.get("periods") or []):
        where = f"periods[{i}]"
        if not isinstance(item, dict):
            raise WaitingDataError(f"{where}: not an object")
        target, label, source = item.get("target"), item.get("label"), item.get("source")
        if not all(isinstance(v, str) and v for v in (target, label, source)):
            raise WaitingDataError(f"{where}: target, label and source are required strings")
        assert isinstance(target, str) and isinstance(label, str) and isinstance(source, str)
        if target in periods:
            raise WaitingDataError(f"{where}: target {target!r} twice")
        longer = item.get("longer")
        extra: dict[str, object] = {}
        if longer is not None:
            classes = longer.get("risk_classes") if isinstance(longer, dict) else None
            if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
                raise WaitingDataError(f"{where}.longer: risk_classes must be strings")
            extra = {
                "longer_months": _months(longer.get("months"), f"{where}.longer"),
                "longer_classes": tuple(classes),
                "longer_label": str(longer.get("label") or ""),
            }
        periods[target] = Period(
            target=target,
            label=label,
            months=_months(item.get("months"), where),
            source=source,
            **extra,  # type: ignore[arg-type]
        )
    if SERIOUS_VIOLATION not in periods:
        raise WaitingDataError(f"no period for {SERIOUS_VIOLATION}")
    return periods


@lru_cache(maxsize=1)
def periods() -> dict[str, Period]:
    """The packaged periods, by target (a placement: ``serious_violation``; a record: its
    kind)."""
    return parse(json.loads(DATA.read_text(encoding="utf-8")))


def earliest(period: Period, start: datetime, risk_class: str | None) -> datetime:
    """The first instant a target that started at ``start`` may be repaired."""
    return add_months(start, period.months_for(risk_class))
