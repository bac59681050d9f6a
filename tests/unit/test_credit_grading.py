"""Credit grading (verifier.credit, docs/credit.md): policy v1 and its digest as known
answers, the worked example of §5 step by step, a plain reference implementation
cross-checking the score and grade, property tests (a pure function of records, policy
and time: any order, any split, later records ignored, penalties never help,
``next_change`` the first instant anything changes) and every refusal of a policy.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.credit import (
    GRADE_LABELS,
    GRADES,
    MAX_POLICY_BYTES,
    RECORD_KINDS,
    RULES,
    CreditFact,
    Grade,
    Line,
    Policy,
    PolicyError,
    grade,
    load_policy,
    next_change,
    record_label,
)

ROOT = Path(__file__).resolve().parents[2]
POLICY_V1 = ROOT / "evidence_api" / "credit" / "data" / "policy-v1.json"
#: .venv/bin/python -c "import json,rfc8785,sys; sys.stdout.buffer.write(rfc8785.dumps(
#:   json.load(open('evidence_api/credit/data/policy-v1.json'))))" | sha256sum
POLICY_V1_SHA256 = "b50f61ed478696914c471cccb3892d11f17d588cc5f61f5162b0bf3b7631c9ad"
MICRO = timedelta(microseconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def v1() -> Policy:
    return load_policy(POLICY_V1.read_bytes())


def v1_document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(POLICY_V1.read_text("utf-8"))
    return doc


def fact(
    ref: str, kind: str, at: str, source: str = "", covers: tuple[str, ...] = ()
) -> CreditFact:
    return CreditFact(ref, kind, utc(at), source or f"test:{ref}", covers)


def same(a: Grade, b: Grade) -> bool:
    """Equal but for the evaluation time."""
    return (a.grade, a.score, a.policy_version, a.lines) == (
        b.grade,
        b.score,
        b.policy_version,
        b.lines,
    )


# --- policy v1 ---------------------------------------------------------------------------


def test_policy_v1_values_and_digest(v1: Policy) -> None:
    assert v1.version == 1
    assert v1.name == "泉州市网络交易经营者信用分级规则（试行）"
    assert (v1.base, v1.min_score, v1.max_score) == (100, 0, 100)
    assert v1.thresholds == (("A", 90), ("B", 75), ("C", 60), ("D", 0))
    assert dict(v1.points) == {
        "case_penalty": -20,
        "case_reduced": -10,
        "case_no_penalty": 0,
        "takedown_on_time": 0,
        "takedown_late": -10,
        "takedown_reappeared": -15,
        "spotcheck_compliant": 2,
        "spotcheck_noncompliant": -10,
        "complaint_verified": -5,
        "serious_listed": 0,
        "serious_removed": 0,
        "repair_accepted": 0,
    }
    assert v1.decay == ((0, 100), (365, 50), (730, 0))
    assert dict(v1.rules) == {"active_listing": ("D", 0), "after_repair": ("B", 365)}
    assert v1.document == rfc8785.dumps(v1_document())
    assert v1.sha256 == hashlib.sha256(v1.document).hexdigest() == POLICY_V1_SHA256


def test_the_canonical_document_loads_to_the_same_policy(v1: Policy) -> None:
    again = load_policy(v1.document)
    assert again == v1 and again.document == v1.document and again.rules == v1.rules


def test_labels_cover_every_kind_rule_and_grade() -> None:
    assert record_label("case_penalty") == "行政处罚结案"
    assert record_label("after_repair") == "信用修复后观察期"
    assert all(record_label(k) for k in (*RECORD_KINDS, *RULES))
    assert set(GRADE_LABELS) == set(GRADES)


# --- the worked example (docs/credit.md §5) ----------------------------------------------

EXAMPLE = (
    fact("cr-1", "case_penalty", "2026-02-02T10:00:00", "case:12"),
    fact("cr-2", "takedown_late", "2026-03-10T09:00:00", "takedown:td-7"),
    fact("cr-3", "serious_listed", "2026-04-01T08:00:00", "violation:3"),
    fact("cr-4", "serious_removed", "2026-09-01T08:00:00", "violation:3/removed"),
    fact(
        "cr-5",
        "repair_accepted",
        "2026-09-01T08:00:00",
        "repair:1",
        ("cr-1", "cr-2", "cr-3"),
    ),
)
L1 = Line("cr-1", "case_penalty", -20, "−20 行政处罚结案 (2026-02-02)")
L2 = Line("cr-2", "takedown_late", -10, "−10 逾期下架 (2026-03-10)")
L3 = Line("cr-3", "serious_listed", 0, "0 列入严重违法失信名单 (2026-04-01)")
LISTED = Line("cr-3", "active_listing", 0, "上限D 列入严重违法失信名单未移出 (cr-3, 2026-04-01)")
L1_REPAIRED = Line(
    "cr-1", "case_penalty", 0, "0 行政处罚结案 (2026-02-02, 已信用修复 cr-5 不再计分)"
)
L2_REPAIRED = Line("cr-2", "takedown_late", 0, "0 逾期下架 (2026-03-10, 已信用修复 cr-5 不再计分)")
L4 = Line("cr-4", "serious_removed", 0, "0 移出严重违法失信名单 (2026-09-01)")
L5 = Line("cr-5", "repair_accepted", 0, "0 信用修复 (2026-09-01)")
CAPPED = Line("cr-5", "after_repair", 0, "上限B 信用修复后365天内 (cr-5, 2026-09-01起至2027-09-01)")
#: (records known, evaluated at, grade, score, lines, next change)
STEPS = (
    (0, "2026-01-05T00:00:00", "A", 100, (), None),
    (1, "2026-02-02T10:00:00", "B", 80, (L1,), "2027-02-02T10:00:00"),
    (2, "2026-03-10T09:00:00", "C", 70, (L1, L2), "2027-02-02T10:00:00"),
    (3, "2026-04-01T08:00:00", "D", 70, (L1, L2, L3, LISTED), "2027-02-02T10:00:00"),
    (4, "2026-09-01T08:00:00", "C", 70, (L1, L2, L3, L4), "2027-02-02T10:00:00"),
    (
        5,
        "2026-09-01T08:00:00",
        "B",
        100,
        (L1_REPAIRED, L2_REPAIRED, L3, L4, L5, CAPPED),
        "2027-09-01T08:00:00",
    ),
    (5, "2027-09-01T08:00:00", "A", 100, (L1_REPAIRED, L2_REPAIRED, L3, L4, L5), None),
)


@pytest.mark.parametrize(("known", "at", "letter", "score", "lines", "change"), STEPS)
def test_worked_example(
    v1: Policy,
    known: int,
    at: str,
    letter: str,
    score: int,
    lines: tuple[Line, ...],
    change: str | None,
) -> None:
    facts = EXAMPLE[:known]
    result = grade(facts, v1, utc(at))
    assert (result.grade, result.score, result.lines) == (letter, score, lines)
    assert result.policy_version == 1 and result.at == utc(at)
    assert next_change(facts, v1, utc(at)) == (utc(change) if change else None)


def test_worked_example_decay_without_repair(v1: Policy) -> None:
    """Without the repair: the listing removed, the case decays to half after a year and
    to nothing after two; the late takedown follows five weeks behind."""
    facts = EXAMPLE[:4]
    year = grade(facts, v1, utc("2027-02-02T10:00:00"))
    assert year.lines[0] == Line(
        "cr-1", "case_penalty", -10, "−10 行政处罚结案 (2026-02-02, 满1年按50%计)"
    )
    assert (year.grade, year.score) == ("B", 100 - 10 - 10)
    assert next_change(facts, v1, utc("2027-02-02T10:00:00")) == utc("2027-03-10T09:00:00")
    two = grade(facts, v1, utc("2028-03-10T09:00:00"))
    assert [line.points for line in two.lines] == [0, 0, 0, 0]
    assert two.lines[1].text == "0 逾期下架 (2026-03-10, 满2年不再计分)"
    assert (two.grade, two.score) == ("A", 100)
    assert next_change(facts, v1, utc("2028-03-10T09:00:00")) is None


def test_rounding_is_toward_zero(v1: Policy) -> None:
    facts = [fact("cr-1", "takedown_reappeared", "2025-01-01T00:00:00")]
    half = grade(facts, v1, utc("2026-01-01T00:00:00"))
    assert half.lines[0].points == -7  # -15 * 50 / 100 = -7.5 -> -7, not floor's -8
    assert half.score == 93


def test_the_score_is_clamped_and_the_lines_still_add_up(v1: Policy) -> None:
    facts = [fact(f"cr-{i}", "case_penalty", "2026-01-01T00:00:00") for i in range(7)]
    result = grade(facts, v1, utc("2026-02-01T00:00:00"))
    assert sum(line.points for line in result.lines) == -140
    assert (result.score, result.grade) == (0, "D")
    plus = [fact(f"cr-{i}", "spotcheck_compliant", "2026-01-01T00:00:00") for i in range(7)]
    assert grade(plus, v1, utc("2026-02-01T00:00:00")).score == 100


def test_a_repair_only_settles_earlier_records(v1: Policy) -> None:
    facts = [
        fact("cr-1", "repair_accepted", "2026-01-01T00:00:00", covers=("cr-2", "cr-9")),
        fact("cr-2", "case_penalty", "2026-02-01T00:00:00"),
    ]
    result = grade(facts, v1, utc("2026-03-01T00:00:00"))
    assert result.lines[1].points == -20 and (result.score, result.grade) == (80, "B")


def test_a_removal_names_its_listing_by_the_source_before_the_first_slash(v1: Policy) -> None:
    facts = [
        fact("cr-1", "serious_listed", "2026-01-01T00:00:00", "violation:7"),
        fact("cr-2", "serious_removed", "2026-02-01T00:00:00", "violation:7/removed"),
        fact("cr-3", "serious_removed", "2026-02-01T00:00:00", "violation:77/removed"),
    ]
    assert grade(facts[:1] + facts[2:], v1, utc("2026-03-01T00:00:00")).grade == "D"
    assert grade(facts, v1, utc("2026-03-01T00:00:00")).grade == "A"


def test_a_later_listing_with_another_source_stays_active(v1: Policy) -> None:
    facts = [
        fact("cr-1", "serious_listed", "2026-01-01T00:00:00", "violation:sv-1"),
        fact("cr-2", "serious_removed", "2026-02-01T00:00:00", "violation:sv-1"),
        fact("cr-3", "serious_listed", "2026-03-01T00:00:00", "violation:sv-2"),
    ]
    result = grade(facts, v1, utc("2026-04-01T00:00:00"))
    assert (result.grade, result.score) == ("D", 100)
    assert result.lines[-1].ref == "cr-3" and result.lines[-1].kind == "active_listing"
    assert grade(facts[:2], v1, utc("2026-04-01T00:00:00")).grade == "A"


# --- a plain reference implementation ----------------------------------------------------


def reference(facts: Sequence[CreditFact], at: datetime) -> tuple[str, int]:
    """Policy v1 written out by hand from docs/credit.md §4, with exact fractions."""
    past = [f for f in facts if f.at <= at]
    points = json.loads(POLICY_V1.read_text("utf-8"))["points"]
    total = 100
    for f in past:
        repaired = any(
            r.kind == "repair_accepted" and f.ref in r.covers and f.at <= r.at and r.ref != f.ref
            for r in past
        )
        age = at - f.at
        share = 100 if age < timedelta(days=365) else 50 if age < timedelta(days=730) else 0
        if not repaired:
            total += int(Fraction(points[f.kind] * share, 100))  # int() truncates toward 0
    score = min(max(total, 0), 100)
    letter = "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D"
    removed = {f.source.partition("/")[0] for f in past if f.kind == "serious_removed"}
    if any(f.kind == "serious_listed" and f.source not in removed for f in past):
        letter = "D"
    elif any(f.kind == "repair_accepted" and at < f.at + timedelta(days=365) for f in past):
        letter = max(letter, "B")
    return letter, score


START = utc("2024-01-01T00:00:00")
KINDS = sorted(RECORD_KINDS)


@st.composite
def histories(draw: Callable[..., Any], max_size: int = 12) -> list[CreditFact]:
    """Records over four years; repairs cover random earlier refs; listings and removals
    share two sources so some listings end."""
    size = draw(st.integers(min_value=0, max_value=max_size))
    facts: list[CreditFact] = []
    for i in range(size):
        kind = draw(st.sampled_from(KINDS))
        # minutes, with collisions likely so ties on the time are exercised
        offset = timedelta(minutes=draw(st.integers(min_value=0, max_value=4 * 365 * 24 * 60)))
        if draw(st.booleans()):
            offset = timedelta(days=offset.days)
        source = f"violation:{draw(st.integers(0, 1))}" if "serious" in kind else f"s:{i}"
        if kind == "serious_removed" and draw(st.booleans()):
            source += "/removed"
        covers: tuple[str, ...] = ()
        if kind == "repair_accepted" and i:
            covers = tuple(
                draw(st.lists(st.sampled_from([f"cr-{j}" for j in range(i)]), max_size=4))
            )
        facts.append(CreditFact(f"cr-{i}", kind, START + offset, source, covers))
    return facts


def moments(draw: Callable[..., Any]) -> datetime:
    return START + timedelta(minutes=draw(st.integers(min_value=0, max_value=6 * 365 * 24 * 60)))


@settings(max_examples=300, deadline=None)
@given(histories(), st.data())
def test_matches_the_reference(v1: Policy, facts: list[CreditFact], data: st.DataObject) -> None:
    at = moments(data.draw)
    result = grade(facts, v1, at)
    assert (result.grade, result.score) == reference(facts, at)
    assert len([line for line in result.lines if line.kind in RECORD_KINDS]) == len(
        [f for f in facts if f.at <= at]
    )


# --- properties --------------------------------------------------------------------------


def history(facts: Sequence[CreditFact], policy: Policy, until: datetime) -> list[Grade]:
    """The grade at every record's time and every next change up to ``until``: what the
    service would have recorded, walking time forward."""
    times = sorted({f.at for f in facts} | {START})
    out: list[Grade] = []
    for start in times:
        at = start
        while True:
            out.append(grade(facts, policy, at))
            step = next_change(facts, policy, at)
            if step is None or step > until or any(at < t < step for t in times):
                break
            at = step
    return out


@settings(max_examples=100, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_any_order_and_any_split_give_the_same_history(
    v1: Policy, facts: list[CreditFact], rng: random.Random
) -> None:
    until = START + timedelta(days=6 * 365)
    expected = history(facts, v1, until)
    shuffled = facts[:]
    rng.shuffle(shuffled)
    assert history(shuffled, v1, until) == expected
    # replay in batches, each batch arriving in its own order: the grade at each time
    # depends only on the records up to that time, so any split agrees with the whole
    cut = rng.randint(0, len(shuffled))
    first, second = shuffled[:cut], shuffled[cut:]
    for g in expected:
        known = [f for f in first + second if f.at <= g.at]
        rng.shuffle(known)
        assert grade(known, v1, g.at) == g


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_records_after_at_change_nothing(
    v1: Policy, facts: list[CreditFact], data: st.DataObject
) -> None:
    at = moments(data.draw)
    before = [f for f in facts if f.at <= at]
    assert grade(facts, v1, at) == grade(before, v1, at)


@settings(max_examples=200, deadline=None)
@given(
    histories(),
    st.data(),
    st.sampled_from([k for k in KINDS if k not in ("serious_listed", "repair_accepted")]),
)
def test_a_penalty_never_helps_and_a_credit_never_hurts(
    v1: Policy, facts: list[CreditFact], data: st.DataObject, kind: str
) -> None:
    at = moments(data.draw)
    when = at - timedelta(minutes=data.draw(st.integers(0, 3 * 365 * 24 * 60)))
    added = [*facts, CreditFact("cr-new", kind, when, "s:new")]
    old, new = grade(facts, v1, at), grade(added, v1, at)
    if v1.points[kind] <= 0 and kind != "serious_removed":
        assert new.score <= old.score
        assert GRADES.index(new.grade) >= GRADES.index(old.grade)
    if v1.points[kind] >= 0 and kind != "serious_listed":
        assert new.score >= old.score
        assert GRADES.index(new.grade) <= GRADES.index(old.grade)


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_a_listing_always_means_d_and_a_repair_caps_at_b(
    v1: Policy, facts: list[CreditFact], data: st.DataObject
) -> None:
    at = moments(data.draw)
    listed = [*facts, CreditFact("cr-l", "serious_listed", at, "violation:new")]
    assert grade(listed, v1, at).grade == "D"
    repaired = [*facts, CreditFact("cr-r", "repair_accepted", at - timedelta(days=364), "r")]
    assert grade(repaired, v1, at).grade in ("B", "C", "D")


@settings(max_examples=300, deadline=None)
@given(histories(), st.data())
def test_next_change_is_the_first_instant_anything_changes(
    v1: Policy, facts: list[CreditFact], data: st.DataObject
) -> None:
    at = moments(data.draw)
    now = grade(facts, v1, at)
    change = next_change(facts, v1, at)
    if change is None:
        for later in (timedelta(days=1), timedelta(days=800), timedelta(days=3650)):
            assert same(grade(facts, v1, at + later), now)
        return
    assert change > at
    assert same(grade(facts, v1, change - MICRO), now)
    inside = at + (change - at) * data.draw(st.floats(min_value=0, max_value=1, exclude_max=True))
    assert same(grade(facts, v1, min(inside, change - MICRO)), now)
    # with policy v1 every such instant changes the lines (a point step, a period's end
    # or a new record), so the bound is tight
    assert not same(grade(facts, v1, change), now)


def test_next_change_skips_records_that_no_longer_count(v1: Policy) -> None:
    facts = [
        fact("cr-1", "takedown_on_time", "2026-01-01T00:00:00"),
        fact("cr-2", "case_penalty", "2026-01-01T00:00:00"),
        fact("cr-3", "repair_accepted", "2026-02-01T00:00:00", covers=("cr-2",)),
    ]
    assert next_change(facts, v1, utc("2026-03-01T00:00:00")) == utc("2027-02-01T00:00:00")
    assert next_change(facts, v1, utc("2027-02-01T00:00:00")) is None


def test_two_repairs_the_cap_ends_with_the_last(v1: Policy) -> None:
    facts = [
        fact("cr-1", "repair_accepted", "2026-01-01T00:00:00"),
        fact("cr-2", "repair_accepted", "2026-06-01T00:00:00"),
    ]
    assert next_change(facts, v1, utc("2026-07-01T00:00:00")) == utc("2027-06-01T00:00:00")
    assert grade(facts, v1, utc("2027-05-31T23:59:59")).grade == "B"
    assert grade(facts, v1, utc("2027-06-01T00:00:00")).grade == "A"


# --- refusals ----------------------------------------------------------------------------


def test_grade_refuses_bad_facts(v1: Policy) -> None:
    at = utc("2026-01-01T00:00:00")
    with pytest.raises(ValueError, match="timezone-aware"):
        grade([], v1, at.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        grade([CreditFact("cr-1", "case_penalty", at.replace(tzinfo=None), "s")], v1, at)
    with pytest.raises(ValueError, match="unknown credit record kind"):
        grade([CreditFact("cr-1", "case_fined", at, "s")], v1, at)
    with pytest.raises(ValueError, match="appears twice"):
        grade([CreditFact("cr-1", "case_penalty", at, "s")] * 2, v1, at)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_change([], v1, at.replace(tzinfo=None))


def mutate(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = v1_document()
    change(doc)
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            del node[last]
        else:
            node[last] = value

    return change


DELETE = object()

BAD_POLICIES: dict[str, tuple[bytes, str]] = {
    "not-json": (b"{", "not valid JSON"),
    "not-utf8": (b'{"name": "\xff"}', "not valid UTF-8"),
    "duplicate-key": (b'{"version": 1, "version": 2}', "duplicate key"),
    "nan": (b'{"version": NaN}', "NaN"),
    "not-an-object": (b"[]", "must be an object"),
    "unknown-field": (mutate(put("extra", 1)), "unknown field 'extra'"),
    "missing-field": (mutate(put("decay", DELETE)), "lacks the field 'decay'"),
    "wrong-format": (mutate(put("format", "evidence-credit-policy/v2")), "format must be"),
    "version-zero": (mutate(put("version", 0)), "version is 0"),
    "version-too-big": (mutate(put("version", 2**31)), "version is 2147483648"),
    "version-float": (mutate(put("version", 1.0)), "version must be an integer, got float"),
    "version-string": (mutate(put("version", "1")), "must be an integer, got str"),
    "version-bool": (mutate(put("version", True)), "must be an integer, got bool"),
    "name-blank": (mutate(put("name", " ")), "name must be"),
    "name-too-long": (mutate(put("name", "名" * 201)), "name must be"),
    "min-not-below-max": (mutate(put("min", 100)), r"min \(100\) must be below max"),
    "max-too-big": (mutate(put("max", 1001)), "max is 1001"),
    "base-above-max": (mutate(put("base", 101)), "base is 101"),
    "points-unknown-kind": (mutate(put("points.case_fined", -5)), "unknown field 'case_fined'"),
    "points-missing-kind": (
        mutate(put("points.repair_accepted", DELETE)),
        "lacks the field 'repair_accepted'",
    ),
    "points-float": (mutate(put("points.case_penalty", -20.5)), "points.case_penalty must be"),
    "points-too-big": (mutate(put("points.case_penalty", -1001)), "points.case_penalty is -1001"),
    "grades-missing": (
        mutate(lambda d: d["grades"].pop()),
        "grades has 3 items, want 4..4",
    ),
    "grades-out-of-order": (
        mutate(lambda d: d["grades"].reverse()),
        r"grades\[0\].grade must be 'A'",
    ),
    "grades-unknown": (mutate(put("grades.3.grade", "E")), r"grades\[3\].grade must be 'D'"),
    "thresholds-not-descending": (
        mutate(put("grades.2.min_score", 75)),
        r"grades\[2\].min_score \(75\) must be below B's",
    ),
    "threshold-out-of-bounds": (mutate(put("grades.0.min_score", 101)), "is 101"),
    "lowest-grade-not-at-min": (
        mutate(put("grades.3.min_score", 10)),
        r"grades\[3\].min_score must equal min",
    ),
    "decay-empty": (mutate(put("decay", [])), "decay has 0 items"),
    "decay-not-from-zero": (mutate(put("decay.0.from_days", 1)), r"decay\[0\].from_days must be 0"),
    "decay-not-ascending": (mutate(put("decay.2.from_days", 365)), "must be above 365"),
    "decay-percent-rising": (mutate(put("decay.2.percent", 60)), "must not exceed 50"),
    "decay-percent-over-100": (mutate(put("decay.0.percent", 101)), "percent is 101"),
    "decay-days-too-big": (mutate(put("decay.2.from_days", 36_501)), "from_days is 36501"),
    "decay-too-many-steps": (
        mutate(put("decay", [{"from_days": i, "percent": 100} for i in range(17)])),
        "decay has 17 items",
    ),
    "rule-unknown": (mutate(put("rules.0.rule", "always_a")), r"rules\[0\].rule must be one of"),
    "rule-twice": (
        mutate(lambda d: d["rules"].__setitem__(1, dict(d["rules"][0]))),
        "appears twice",
    ),
    "rule-bad-cap": (mutate(put("rules.0.cap", "E")), r"rules\[0\].cap must be one of"),
    "rule-without-days": (mutate(put("rules.1.days", DELETE)), "lacks the field 'days'"),
    "rule-zero-days": (mutate(put("rules.1.days", 0)), "days is 0"),
    "rule-extra-field": (mutate(put("rules.0.days", 30)), "unknown field 'days'"),
    "too-many-rules": (
        mutate(lambda d: d["rules"].append({"rule": "active_listing", "cap": "C"})),
        "rules has 3 items",
    ),
}


@pytest.mark.parametrize("defect", sorted(BAD_POLICIES))
def test_bad_policies_are_refused(defect: str) -> None:
    data, message = BAD_POLICIES[defect]
    with pytest.raises(PolicyError, match=message):
        load_policy(data)


def test_policy_size_limit_at_the_edge() -> None:
    data = json.dumps(v1_document(), ensure_ascii=False).encode("utf-8")
    padded = data + b" " * (MAX_POLICY_BYTES - len(data))
    assert len(padded) == MAX_POLICY_BYTES
    assert load_policy(padded).sha256 == POLICY_V1_SHA256
    with pytest.raises(PolicyError, match=f"limit {MAX_POLICY_BYTES}"):
        load_policy(padded + b" ")


def test_a_policy_without_rules_or_decay_steps_is_valid() -> None:
    policy = load_policy(
        mutate(lambda d: d.update(rules=[], decay=[{"from_days": 0, "percent": 100}], version=2))
    )
    facts = [
        fact("cr-1", "serious_listed", "2020-01-01T00:00:00"),
        fact("cr-2", "case_penalty", "2020-01-01T00:00:00"),
    ]
    result = grade(facts, policy, utc("2026-01-01T00:00:00"))
    assert (result.grade, result.score, result.policy_version) == ("B", 80, 2)
    assert next_change(facts, policy, utc("2026-01-01T00:00:00")) is None


def test_docs_show_the_worked_example_and_the_digest() -> None:
    """docs/credit.md §5 prints every line text of the worked example and §3.2 the digest."""
    text = (ROOT / "docs" / "credit.md").read_text("utf-8")
    assert POLICY_V1_SHA256 in text
    for _, _, _, _, lines, _ in STEPS:
        for line in lines:
            assert line.text in text, line.text
