"""The conditions of a 免罚清单 item, as data, and their check — pure: no I/O.

The service reads the item and the entity's earlier closed cases and calls
:func:`check_conditions`; what it returns is the reasoning stored with the case
(``case_file.outcome_reasoning``) and the refusal's text when a condition fails.
docs/leniency.md §2 specifies every rule and every message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from evidence_api.leniency.labels import CONDITIONS, OFFENCES, OUTCOMES, SCOPES

#: Dates in messages are China Standard Time (UTC+8), as the officers read them.
CST: Final = timezone(timedelta(hours=8), "CST")
MAX_WINDOW_DAYS: Final = 3650
#: Earlier cases named in one refusal (the rest counted).
MAX_NAMED: Final = 5


class ConditionsError(ValueError):
    """A conditions document that is not valid; the message names the key."""


@dataclass(frozen=True)
class FirstOffence:
    """No earlier case of the entity closed as an offence within ``window_days``;
    ``scope``: ``any_case`` (any such case) or ``same_item`` (only those citing this item)."""

    window_days: int
    scope: str = "any_case"


@dataclass(frozen=True)
class Conditions:
    first_offence: FirstOffence | None = None
    corrected_in_time: bool = False
    minor_harm: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "first_offence": None
            if self.first_offence is None
            else {
                "window_days": self.first_offence.window_days,
                "scope": self.first_offence.scope,
            },
            "corrected_in_time": self.corrected_in_time,
            "minor_harm": self.minor_harm,
        }

    def names(self) -> list[str]:
        """The conditions the item has, in check order."""
        return [
            name
            for name, wanted in (
                ("first_offence", self.first_offence is not None),
                ("corrected_in_time", self.corrected_in_time),
                ("minor_harm", self.minor_harm),
            )
            if wanted
        ]


def parse_conditions(data: Mapping[str, Any]) -> Conditions:
    """Conditions from their JSON form; :class:`ConditionsError` names what is wrong.
    At least one condition: an item without any would waive every penalty unchecked."""
    unknown = sorted(set(data) - set(CONDITIONS))
    if unknown:
        raise ConditionsError(
            f"unknown condition {unknown[0]!r}; conditions: {', '.join(CONDITIONS)}"
        )
    first: FirstOffence | None = None
    raw = data.get("first_offence")
    if raw is not None:
        if not isinstance(raw, Mapping):
            raise ConditionsError("first_offence: an object {window_days, scope} or null")
        extra = sorted(set(raw) - {"window_days", "scope"})
        if extra:
            raise ConditionsError(f"first_offence: unknown key {extra[0]!r}")
        days = raw.get("window_days")
        if type(days) is not int or not 1 <= days <= MAX_WINDOW_DAYS:
            raise ConditionsError(
                f"first_offence.window_days: an integer from 1 to {MAX_WINDOW_DAYS}"
            )
        scope = raw.get("scope", "any_case")
        if scope not in SCOPES:
            raise ConditionsError(f"first_offence.scope: one of {', '.join(SCOPES)}")
        first = FirstOffence(window_days=days, scope=scope)
    flags = {}
    for name in ("corrected_in_time", "minor_harm"):
        value = data.get(name, False)
        if type(value) is not bool:
            raise ConditionsError(f"{name}: true or false")
        flags[name] = value
    found = Conditions(first_offence=first, **flags)
    if not found.names():
        raise ConditionsError("an item needs at least one condition")
    return found


@dataclass(frozen=True)
class PriorCase:
    """An earlier closed case of the same entity, as the first-offence check sees it."""

    number: str
    outcome: str
    leniency_item: str | None
    closed_at: datetime
    #: False: a case of a unit outside the caller's jurisdiction, named without its number
    visible: bool = True

    def named(self) -> str:
        return f"案件 {self.number}" if self.visible else "其他单位办理的一件案件"


@dataclass(frozen=True)
class Facts:
    """What the officer states at closing and what the history holds."""

    entity_id: int | None
    corrected_in_time: bool | None
    minor_harm: bool | None
    evidence_ids: tuple[str, ...] = ()
    priors: tuple[PriorCase, ...] = ()


@dataclass(frozen=True)
class Check:
    """One condition checked: what was checked, what was found, whether it holds."""

    condition: str
    checked: str
    found: str
    passed: bool

    @property
    def label(self) -> str:
        return CONDITIONS[self.condition]

    def as_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "label": self.label,
            "checked": self.checked,
            "found": self.found,
            "passed": self.passed,
        }


def day(at: datetime) -> str:
    """``2026-05-01``: the date of ``at`` in China Standard Time."""
    return at.astimezone(CST).date().isoformat()


def offences_in_window(
    priors: Iterable[PriorCase], rule: FirstOffence, item_code: str, at: datetime
) -> list[PriorCase]:
    """The earlier cases that make the offence not a first one: closed as an offence
    after ``at − window_days`` (any later closing counts: the history holds only what has
    already closed), citing ``item_code`` when the scope is ``same_item``; newest first."""
    since = at - timedelta(days=rule.window_days)
    hits = [
        p
        for p in priors
        if p.outcome in OFFENCES
        and since < p.closed_at.astimezone(UTC)
        and (rule.scope == "any_case" or p.leniency_item == item_code)
    ]
    return sorted(hits, key=lambda p: (p.closed_at, p.number), reverse=True)


def _first_offence(rule: FirstOffence, item_code: str, facts: Facts, at: datetime) -> Check:
    since = at - timedelta(days=rule.window_days)
    scope = "" if rule.scope == "any_case" else f"援引清单事项 {item_code} 且"
    if facts.entity_id is None:
        return Check(
            "first_offence",
            "案件关联的经营主体的违法记录",
            "案件未关联经营主体，无法核查是否首次违法",
            passed=False,
        )
    checked = (
        f"经营主体 #{facts.entity_id} 在 {day(since)} 至 {day(at)}（{rule.window_days} 日）内"
        f"{scope}以行政处罚、减轻处罚或不予处罚结案的案件"
    )
    hits = offences_in_window(facts.priors, rule, item_code, at)
    if not hits:
        return Check("first_offence", checked, "无，属首次违法", passed=True)
    named = "；".join(
        f"{p.named()} 于 {day(p.closed_at)} 以{OUTCOMES[p.outcome]}结案" for p in hits[:MAX_NAMED]
    )
    more = f"（另有 {len(hits) - MAX_NAMED} 件）" if len(hits) > MAX_NAMED else ""
    return Check("first_offence", checked, f"非首次违法：{named}{more}", passed=False)


def _stated(name: str, value: bool | None, evidence_ids: Sequence[str]) -> Check:
    cited = f"（证据 {', '.join(evidence_ids)}）" if evidence_ids else ""
    if name == "corrected_in_time":
        checked = "经办人员对是否在责令改正期限内改正的认定"
        yes, no = f"已在期限内改正{cited}", "未在期限内改正"
        unset = "未说明是否在期限内改正（corrected_in_time）"
    else:
        checked = "经办人员对危害后果的认定"
        yes, no = f"危害后果轻微{cited}", "危害后果并非轻微"
        unset = "未说明危害后果是否轻微（minor_harm）"
    if value is None:
        return Check(name, checked, unset, passed=False)
    return Check(name, checked, yes if value else no, passed=value)


def check_conditions(
    item_code: str, conditions: Conditions, facts: Facts, at: datetime
) -> list[Check]:
    """Every condition of the item checked against ``facts`` at ``at``, in order
    (``first_offence``, ``corrected_in_time``, ``minor_harm``); the case may close with the
    item's outcome only if every check passed."""
    checks: list[Check] = []
    if conditions.first_offence is not None:
        checks.append(_first_offence(conditions.first_offence, item_code, facts, at))
    if conditions.corrected_in_time:
        checks.append(_stated("corrected_in_time", facts.corrected_in_time, facts.evidence_ids))
    if conditions.minor_harm:
        checks.append(_stated("minor_harm", facts.minor_harm, facts.evidence_ids))
    return checks


def refusal(item_code: str, outcome: str, checks: Sequence[Check]) -> str | None:
    """The refusal text naming each failed condition and what was found; None if all hold."""
    failed = [c for c in checks if not c.passed]
    if not failed:
        return None
    lines = "; ".join(f"{c.condition} ({c.label}): {c.found}" for c in failed)
    return (
        f"the conditions of leniency item {item_code!r} for {outcome} ({OUTCOMES[outcome]}) "
        f"are not met: {lines}"
    )
