"""Credit grading (信用分级): the grade of an online trading entity as a pure function of
its credit records, the grading policy and the time of evaluation (docs/credit.md).

Pure: no I/O. The service stores records and policies and calls :func:`grade`; a court
or an independent implementation holding the same records (each one a log entry) and
the same policy document gets the same grade, the same score and the same lines.

This module fixes the names the service, the verifier and the tests use; the policy
format (``evidence-credit-policy/v1``, docs/credit.md §3) and the algorithm (§4) are
specified there. CONSENSUS-CRITICAL: published grades are recomputed with this code; a
change to the arithmetic, the order of lines or their text is a new policy format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from verifier.canonical import canonical_json, parse_json
from verifier.errors import JSONFormatError

#: Record kind -> label (Chinese with the English alongside). Codes are stored and logged.
RECORD_KINDS: Final[dict[str, str]] = {
    "case_penalty": "行政处罚结案 case closed with a penalty",
    "case_reduced": "减轻处罚结案 case closed with a reduced penalty",
    "case_no_penalty": "不予处罚结案 case closed without penalty (免罚清单)",
    "takedown_on_time": "按期下架 takedown completed on time",
    "takedown_late": "逾期下架 takedown completed late",
    "takedown_reappeared": "下架后复现 removed listing reappeared",
    "spotcheck_compliant": "抽查合格 spot check passed",
    "spotcheck_noncompliant": "抽查不合格 spot check failed",
    "complaint_verified": "投诉举报查实 complaint or report substantiated",
    "serious_listed": "列入严重违法失信名单 placed on the serious-violator list",
    "serious_removed": "移出严重违法失信名单 removed from the serious-violator list",
    "repair_accepted": "信用修复 credit repair accepted",
}
#: Grades from best to worst.
GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D")
GRADE_LABELS: Final[dict[str, str]] = {
    "A": "A 信用风险低 low risk",
    "B": "B 信用风险一般 ordinary risk",
    "C": "C 信用风险较高 elevated risk",
    "D": "D 信用风险高 high risk",
}
#: Hard rules a policy may switch on (docs/credit.md §3.5), in the order their lines
#: follow the record lines; rule name -> label. A rule line's ``kind`` is the rule's name.
RULES: Final[dict[str, str]] = {
    "active_listing": "列入严重违法失信名单未移出 on the serious-violator list, not removed",
    "after_repair": "信用修复后观察期 within the period after a credit repair",
}

#: The one policy format this module reads.
POLICY_FORMAT: Final = "evidence-credit-policy/v1"
#: Largest policy document read (bytes of JSON, whitespace included).
MAX_POLICY_BYTES: Final = 64 * 1024
#: Bounds of the policy's integers (docs/credit.md §3).
MAX_VERSION: Final = 2**31 - 1
MAX_SCORE: Final = 1000
MAX_POINTS: Final = 1000
MAX_DAYS: Final = 36_500
MAX_DECAY_STEPS: Final = 16
MAX_NAME_CHARS: Final = 200

_LISTED, _REMOVED, _REPAIR = "serious_listed", "serious_removed", "repair_accepted"
_MINUS = "\u2212"  # the minus sign of the line texts (−20)


def record_label(kind: str) -> str:
    """The Chinese label of a record kind or rule (``行政处罚结案``): the text before the
    first space of :data:`RECORD_KINDS` / :data:`RULES`."""
    return _LABELS[kind]


_LABELS: Final[dict[str, str]] = {
    name: label.split(" ", 1)[0] for name, label in (RECORD_KINDS | RULES).items()
}


class PolicyError(ValueError):
    """A policy document that is not a valid grading policy; the message says where."""


@dataclass(frozen=True)
class CreditFact:
    """One credit record as the grading sees it (the service's row, without storage).

    ``ref`` is the record's stable id (``cr-<n>``), ``source`` what it came from
    (``case:12``, ``takedown:td-…``, ``spotcheck:sc-…/ent-3``, ``complaint:cp-…``,
    ``violation:sv-…``, ``repair:rp-…``); ``covers`` the refs of earlier records this
    one settles (a repair names the records it repairs)."""

    ref: str
    kind: str
    at: datetime
    source: str
    covers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    """One line of a grade's explanation: the record, the points it weighs now, why.

    A record line has the record's ``ref`` and ``kind``; a rule line the ``ref`` of the
    record that brings the rule into force and the rule's name (:data:`RULES`) as
    ``kind``, with 0 points."""

    ref: str | None
    kind: str
    points: int
    text: str


@dataclass(frozen=True)
class Grade:
    grade: str
    score: int
    policy_version: int
    at: datetime
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed grading policy (docs/credit.md §3); ``document`` is its canonical JSON.

    Two policies are equal when their canonical documents are; the other fields are the
    document's values, parsed once."""

    version: int
    document: bytes
    name: str = field(default="", compare=False)
    base: int = field(default=0, compare=False)
    min_score: int = field(default=0, compare=False)
    max_score: int = field(default=0, compare=False)
    #: (grade, lowest score of that grade), A first
    thresholds: tuple[tuple[str, int], ...] = field(default=(), compare=False)
    points: Mapping[str, int] = field(default_factory=dict, compare=False)
    #: (from_days, percent), from_days ascending, the first 0
    decay: tuple[tuple[int, int], ...] = field(default=(), compare=False)
    #: rule name -> (cap grade, days or 0)
    rules: Mapping[str, tuple[str, int]] = field(default_factory=dict, compare=False)
    #: the decay steps after the first as (from_days as a timedelta, from_days, percent)
    steps: tuple[tuple[timedelta, int, int], ...] = field(default=(), compare=False)

    @property
    def sha256(self) -> str:
        """The policy digest: SHA-256 (hex) of the canonical document."""
        return hashlib.sha256(self.document).hexdigest()


# --- the policy document -----------------------------------------------------------------


def _int(value: Any, where: str, low: int, high: int) -> int:
    # bool is an int subclass in Python; JSON true is not a number
    if type(value) is not int:
        raise PolicyError(f"{where} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise PolicyError(f"{where} is {value}, outside {low}..{high}")
    return value


def _object(
    value: Any, where: str, keys: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where} must be an object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise PolicyError(f"{where} has an unknown field {unknown[0]!r}")
    missing = sorted(keys - optional - set(value))
    if missing:
        raise PolicyError(f"{where} lacks the field {missing[0]!r}")
    return value


def _list(value: Any, where: str, low: int, high: int) -> list[Any]:
    if not isinstance(value, list):
        raise PolicyError(f"{where} must be an array")
    if not low <= len(value) <= high:
        raise PolicyError(f"{where} has {len(value)} items, want {low}..{high}")
    return value


_TOP = {"format", "version", "name", "base", "min", "max", "grades", "points", "decay", "rules"}


def load_policy(data: bytes) -> Policy:
    """Parse and check a policy document (JSON); :class:`PolicyError` names what is wrong."""
    try:
        doc = parse_json(data, max_bytes=MAX_POLICY_BYTES, what="the policy")
    except JSONFormatError as exc:
        raise PolicyError(str(exc)) from exc
    doc = _object(doc, "the policy", _TOP)
    if doc["format"] != POLICY_FORMAT:
        raise PolicyError(f"format must be {POLICY_FORMAT!r}")
    version = _int(doc["version"], "version", 1, MAX_VERSION)
    name = doc["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise PolicyError(f"name must be a non-blank string of at most {MAX_NAME_CHARS} characters")
    low = _int(doc["min"], "min", 0, MAX_SCORE)
    high = _int(doc["max"], "max", 0, MAX_SCORE)
    if low >= high:
        raise PolicyError(f"min ({low}) must be below max ({high})")
    base = _int(doc["base"], "base", low, high)
    thresholds = _grades(doc["grades"], low, high)
    points = _points(doc["points"])
    decay = _decay(doc["decay"])
    rules = _rules(doc["rules"])
    return Policy(
        version=version,
        document=canonical_json(doc),
        name=name,
        base=base,
        min_score=low,
        max_score=high,
        thresholds=thresholds,
        points=points,
        decay=decay,
        rules=rules,
        steps=tuple((timedelta(days=days), days, percent) for days, percent in decay[1:]),
    )


def _grades(value: Any, low: int, high: int) -> tuple[tuple[str, int], ...]:
    items = _list(value, "grades", len(GRADES), len(GRADES))
    out: list[tuple[str, int]] = []
    for i, (raw, want) in enumerate(zip(items, GRADES, strict=True)):
        where = f"grades[{i}]"
        item = _object(raw, where, {"grade", "min_score"})
        if item["grade"] != want:
            raise PolicyError(f"{where}.grade must be {want!r} (grades A to D, best first)")
        floor = _int(item["min_score"], f"{where}.min_score", low, high)
        if out and floor >= out[-1][1]:
            raise PolicyError(f"{where}.min_score ({floor}) must be below {out[-1][0]}'s")
        out.append((want, floor))
    if out[-1][1] != low:
        raise PolicyError(f"grades[{len(out) - 1}].min_score must equal min ({low})")
    return tuple(out)


def _points(value: Any) -> dict[str, int]:
    value = _object(value, "points", set(RECORD_KINDS))
    return {
        kind: _int(value[kind], f"points.{kind}", -MAX_POINTS, MAX_POINTS) for kind in RECORD_KINDS
    }


def _decay(value: Any) -> tuple[tuple[int, int], ...]:
    items = _list(value, "decay", 1, MAX_DECAY_STEPS)
    out: list[tuple[int, int]] = []
    for i, raw in enumerate(items):
        where = f"decay[{i}]"
        item = _object(raw, where, {"from_days", "percent"})
        days = _int(item["from_days"], f"{where}.from_days", 0, MAX_DAYS)
        percent = _int(item["percent"], f"{where}.percent", 0, 100)
        if not out and days != 0:
            raise PolicyError("decay[0].from_days must be 0")
        if out and days <= out[-1][0]:
            raise PolicyError(f"{where}.from_days ({days}) must be above {out[-1][0]}")
        if out and percent > out[-1][1]:
            raise PolicyError(f"{where}.percent ({percent}) must not exceed {out[-1][1]}")
        out.append((days, percent))
    return tuple(out)


def _rules(value: Any) -> dict[str, tuple[str, int]]:
    items = _list(value, "rules", 0, len(RULES))
    out: dict[str, tuple[str, int]] = {}
    for i, raw in enumerate(items):
        where = f"rules[{i}]"
        if not isinstance(raw, dict) or raw.get("rule") not in RULES:
            raise PolicyError(f"{where}.rule must be one of {', '.join(RULES)}")
        rule = raw["rule"]
        if rule in out:
            raise PolicyError(f"{where}: rule {rule!r} appears twice")
        if rule == "after_repair":
            item = _object(raw, where, {"rule", "cap", "days"})
            days = _int(item["days"], f"{where}.days", 1, MAX_DAYS)
        else:
            item = _object(raw, where, {"rule", "cap"})
            days = 0
        if item["cap"] not in GRADES:
            raise PolicyError(f"{where}.cap must be one of {', '.join(GRADES)}")
        out[rule] = (item["cap"], days)
    return out


# --- grading -----------------------------------------------------------------------------


def _aware(moment: datetime, what: str) -> None:
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


def _ordered(facts: Sequence[CreditFact]) -> list[CreditFact]:
    """Every fact, checked, sorted by (at, ref): the order lines follow."""
    seen: set[str] = set()
    for fact in facts:
        if fact.kind not in RECORD_KINDS:
            raise ValueError(f"unknown credit record kind {fact.kind!r}")
        _aware(fact.at, f"record {fact.ref}'s time")
        if fact.ref in seen:
            raise ValueError(f"record {fact.ref} appears twice")
        seen.add(fact.ref)
    return sorted(facts, key=lambda f: (f.at, f.ref))


def _settled(past: list[CreditFact]) -> dict[str, CreditFact]:
    """Record ref -> the first repair (in order) that covers it: a ``repair_accepted`` at
    or after the record, naming it in ``covers``."""
    when = {f.ref: f.at for f in past}
    out: dict[str, CreditFact] = {}
    for repair in past:
        if repair.kind != _REPAIR:
            continue
        for ref in repair.covers:
            if ref != repair.ref and ref not in out and ref in when and when[ref] <= repair.at:
                out[ref] = repair
    return out


def _weight(policy: Policy, age: timedelta) -> tuple[int, int]:
    """The decay step (from_days, percent) of a record of age ``age``."""
    step = policy.decay[0]
    for delta, days, percent in policy.steps:
        if age < delta:
            break
        step = (days, percent)
    return step


def _trunc_percent(points: int, percent: int) -> int:
    """points × percent / 100 rounded toward zero (−15 × 50 % = −7, not −8)."""
    product = points * percent
    return product // 100 if product >= 0 else -((-product) // 100)


def _signed(points: int) -> str:
    if points > 0:
        return f"+{points}"
    if points < 0:
        return f"{_MINUS}{-points}"
    return "0"


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _span(days: int) -> str:
    return f"{days // 365}年" if days % 365 == 0 else f"{days}天"


def _record_line(
    fact: CreditFact, policy: Policy, at: datetime, settled: dict[str, CreditFact]
) -> Line:
    label = record_label(fact.kind)
    full = policy.points[fact.kind]
    date = _day(fact.at)
    if full == 0:
        return Line(fact.ref, fact.kind, 0, f"0 {label} ({date})")
    repair = settled.get(fact.ref)
    if repair is not None:
        return Line(fact.ref, fact.kind, 0, f"0 {label} ({date}, 已信用修复 {repair.ref} 不再计分)")
    days, percent = _weight(policy, at - fact.at)
    points = _trunc_percent(full, percent)
    if days == 0 and percent == 100:
        return Line(fact.ref, fact.kind, points, f"{_signed(points)} {label} ({date})")
    why = ("满" + _span(days) if days else "") + ("不再计分" if percent == 0 else f"按{percent}%计")
    return Line(fact.ref, fact.kind, points, f"{_signed(points)} {label} ({date}, {why})")


def listing_key(source: str) -> str:
    """What ties a removal to its listing: the source up to its first ``/``
    (``violation:7`` and ``violation:7/removed`` are the same listing)."""
    return source.split("/", 1)[0]


def _active_listing(past: list[CreditFact]) -> CreditFact | None:
    """The first listing (in order) with no removal of the same :func:`listing_key` at
    or before ``at``."""
    removed = {listing_key(f.source) for f in past if f.kind == _REMOVED}
    return next(
        (f for f in past if f.kind == _LISTED and listing_key(f.source) not in removed), None
    )


def _repair_in_force(past: list[CreditFact], at: datetime, days: int) -> CreditFact | None:
    """The last repair (in order) whose period [repair, repair + days) holds ``at``."""
    period = timedelta(days=days)
    found = None
    for fact in past:
        if fact.kind == _REPAIR and at < fact.at + period:
            found = fact
    return found


def grade(facts: Sequence[CreditFact], policy: Policy, at: datetime) -> Grade:
    """The grade at ``at`` of an entity whose records are ``facts`` (records after ``at``
    are ignored), with one explanation line per record at or before ``at`` (in (at, ref)
    order) and one per rule in force (in :data:`RULES` order); docs/credit.md §4."""
    _aware(at, "at")
    past = [f for f in _ordered(facts) if f.at <= at]
    settled = _settled(past)
    lines = [_record_line(f, policy, at, settled) for f in past]
    score = min(
        max(policy.base + sum(line.points for line in lines), policy.min_score), policy.max_score
    )
    worst = next(i for i, (_, floor) in enumerate(policy.thresholds) if score >= floor)
    if "active_listing" in policy.rules:
        cap, _ = policy.rules["active_listing"]
        listing = _active_listing(past)
        if listing is not None:
            worst = max(worst, GRADES.index(cap))
            lines.append(
                Line(
                    listing.ref,
                    "active_listing",
                    0,
                    f"上限{cap} {record_label('active_listing')} "
                    f"({listing.ref}, {_day(listing.at)})",
                )
            )
    if "after_repair" in policy.rules:
        cap, days = policy.rules["after_repair"]
        repair = _repair_in_force(past, at, days)
        if repair is not None:
            worst = max(worst, GRADES.index(cap))
            end = _day(repair.at + timedelta(days=days))
            lines.append(
                Line(
                    repair.ref,
                    "after_repair",
                    0,
                    f"上限{cap} 信用修复后{days}天内 ({repair.ref}, {_day(repair.at)}起至{end})",
                )
            )
    return Grade(GRADES[worst], score, policy.version, at, tuple(lines))


def next_change(facts: Sequence[CreditFact], policy: Policy, at: datetime) -> datetime | None:
    """The earliest time after ``at`` at which :func:`grade` may differ with no new record
    (a decay step or a rule's period ending); ``None``: never.

    "Differ" covers the score and the lines as well as the grade letter, so a service
    that regrades at this time keeps all three current. A record dated after ``at``
    (already in ``facts``) counts from its own time too."""
    _aware(at, "at")
    ordered = _ordered(facts)
    past = [f for f in ordered if f.at <= at]
    candidates = [f.at for f in ordered if f.at > at]
    settled = _settled(past)
    for fact in past:
        if policy.points[fact.kind] == 0 or fact.ref in settled:
            continue
        for delta, _, _ in policy.steps:
            moment = fact.at + delta
            if moment > at:
                candidates.append(moment)
                break
    if "after_repair" in policy.rules:
        # the line names the last repair in force; earlier ones' periods end before its
        days = policy.rules["after_repair"][1]
        repair = _repair_in_force(past, at, days)
        if repair is not None:
            candidates.append(repair.at + timedelta(days=days))
    return min(candidates, default=None)
