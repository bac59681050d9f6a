"""Credit grading (信用分级): the grade of an online trading entity as a pure function of
its credit records, the grading policy and the time of evaluation (docs/credit.md).

Pure: no I/O. The service stores records and policies and calls :func:`grade`; a court
or an independent implementation holding the same records (each one a log entry) and
the same policy document gets the same grade, the same score and the same lines.

This module fixes the names the service, the verifier and the tests use; the policy
format and the algorithm are specified in docs/credit.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

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
    """One line of a grade's explanation: the record, the points it weighs now, why."""

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
    """A parsed grading policy (docs/credit.md §3); ``document`` is its canonical JSON."""

    version: int
    document: bytes


def load_policy(data: bytes) -> Policy:
    """Parse and check a policy document (JSON); :class:`PolicyError` names what is wrong."""
    raise NotImplementedError


def grade(facts: Sequence[CreditFact], policy: Policy, at: datetime) -> Grade:
    """The grade at ``at`` of an entity whose records are ``facts`` (records after ``at``
    are ignored), with one explanation line per record that weighs and per rule applied."""
    raise NotImplementedError


def next_change(facts: Sequence[CreditFact], policy: Policy, at: datetime) -> datetime | None:
    """The earliest time after ``at`` at which :func:`grade` may differ with no new record
    (a decay step or a rule's period ending); ``None``: never."""
    raise NotImplementedError
