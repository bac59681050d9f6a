"""``evidence-verify credit CREDIT.json --policy POLICY.json``: recompute a credit grade
(docs/credit.md §4) from an entity's records and the policy document, and compare it with
the grade published beside them.

``CREDIT.json`` is what ``GET /v1/entities/{id}/credit`` returns (every page of its
records merged into ``records``), or any JSON object with a ``records`` array: each record
an object with ``ref``, ``kind``, ``source``, ``occurred_at`` (ISO 8601 with a UTC offset;
``at`` is accepted too) and optionally ``covers``; other fields are ignored. What it
states of its grade — ``grade``, ``score``, ``policy_version``, ``policy_sha256``,
``lines`` — is compared with the recomputation; what it leaves out is not checked. The
time graded at is ``--at`` or the document's ``as_of``.

Exit codes as the main command: 0 every check verified, 1 one failed, 2 incomplete (a
check not possible: nothing published to compare, or records left on another page), 3
unusable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from verifier.canonical import parse_json
from verifier.credit import (
    GRADE_LABELS,
    MAX_POLICY_BYTES,
    CreditFact,
    Grade,
    Policy,
    PolicyError,
    grade,
    load_policy,
    next_change,
)
from verifier.errors import FormatError, JSONFormatError
from verifier.files import BoundedReadError, read_bounded

#: The sub-command's name.
CREDIT = "credit"
#: Largest records document read, and most records graded.
MAX_CREDIT_BYTES = 32 * 1024 * 1024
MAX_RECORDS = 100_000
MAX_TEXT = 1024
#: Exit code of unusable input, as the main command's (verifier.verify.EXIT_UNUSABLE).
EXIT_UNUSABLE = 3
#: The main command's labels (verifier.cli; not imported: verifier.cli imports this module)
STATUS_LABELS = {
    "verified": "通过 verified",
    "failed": "失败 FAILED",
    "not_checked": "未核验 not checked",
}
OUTCOME_LABELS = {
    "verified": "核验通过 VERIFIED",
    "failed": "核验失败 FAILED",
    "incomplete": "核验未完成 INCOMPLETE",
}


class UsageError(FormatError):
    """Input the command cannot use (exit 3); the message says which and why."""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 (unusable input), not argparse's 2 (our "incomplete")."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_UNUSABLE, f"evidence-verify: unusable input: {one_line(message)}\n")


def one_line(text: str) -> str:
    """Control characters shown escaped, never raw (as verifier.cli.one_line)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _read_small(option: str, path: str, limit: int) -> bytes:
    try:
        return read_bounded(path, limit)
    except BoundedReadError as exc:
        raise UsageError(f"{option} {path[:80]}: {exc}") from exc


def _unusable(exc: Exception) -> int:
    sys.stderr.write(f"evidence-verify: unusable input: {one_line(str(exc))}\n")
    return EXIT_UNUSABLE


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"evidence-verify {CREDIT}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "由信用记录和分级规则复算信用等级。\n"
            "Recompute an entity's credit grade (docs/credit.md §4) from its records and the\n"
            "grading policy, and compare it with the grade published beside the records."
        ),
        epilog=(
            "checks 核验项: policy 规则 — the policy's SHA-256 and version equal the published\n"
            "policy_sha256 / policy_version (and --policy-sha256, the digest its log entry\n"
            "states); grade 等级 — grade and score equal; lines 说明 — every explanation line\n"
            "equal (kind, points, text); records 记录 — no page of records left out\n"
            "(records_next_cursor null). Each record's own log entry is checked with the main\n"
            "command or GET /v1/log/lookup, not here.\n"
            "\n"
            "exit codes 退出码: 0 verified, 1 a check failed, 2 incomplete (nothing published\n"
            "to compare, or records paged), 3 unusable input"
        ),
    )
    p.add_argument(
        "records", metavar="CREDIT.json", help="信用记录 the entity's records (and its grade)"
    )
    p.add_argument(
        "--policy", required=True, metavar="POLICY.json", help="分级规则 the policy document"
    )
    p.add_argument(
        "--policy-sha256",
        metavar="HEX",
        help="日志中的规则摘要 the policy digest its credit-policy log entry states",
    )
    p.add_argument(
        "--at", metavar="TIME", help="评级时点 ISO 8601 with offset (default: the file's as_of)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _moment(text: Any, where: str) -> datetime:
    if not isinstance(text, str) or len(text) > 64:
        raise UsageError(f"{where} must be an ISO 8601 time string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{where} {text!r} is not an ISO 8601 time") from exc
    if moment.utcoffset() is None:
        raise UsageError(f"{where} {text!r} has no UTC offset (add Z or +08:00)")
    return moment


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise UsageError(f"{where} must be a non-empty string of at most {MAX_TEXT} characters")
    return value


def _facts(doc: dict[str, Any]) -> list[CreditFact]:
    records = doc.get("records")
    if not isinstance(records, list):
        raise UsageError("CREDIT.json has no records array")
    if len(records) > MAX_RECORDS:
        raise UsageError(f"CREDIT.json has {len(records)} records, limit {MAX_RECORDS}")
    facts = []
    for i, item in enumerate(records):
        where = f"records[{i}]"
        if not isinstance(item, dict):
            raise UsageError(f"{where} must be an object")
        when = item.get("occurred_at", item.get("at"))
        covers = item.get("covers", [])
        if not isinstance(covers, list) or len(covers) > MAX_RECORDS:
            raise UsageError(f"{where}.covers must be an array of refs")
        facts.append(
            CreditFact(
                ref=_text(item.get("ref"), f"{where}.ref"),
                kind=_text(item.get("kind"), f"{where}.kind"),
                at=_moment(when, f"{where}.occurred_at"),
                source=_text(item.get("source"), f"{where}.source"),
                covers=tuple(_text(c, f"{where}.covers[{j}]") for j, c in enumerate(covers)),
            )
        )
    return facts


@dataclass
class CreditOutcome:
    at: datetime
    policy: Policy
    result: Grade
    next_change: datetime | None
    checks: dict[str, tuple[str, str]] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        statuses = {status for status, _ in self.checks.values()}
        if "failed" in statuses:
            return "failed"
        return "verified" if statuses == {"verified"} else "incomplete"

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "at": self.at.isoformat(),
            "policy_version": self.policy.version,
            "policy_sha256": self.policy.sha256,
            "grade": self.result.grade,
            "grade_label": GRADE_LABELS[self.result.grade],
            "score": self.result.score,
            "next_change_at": None if self.next_change is None else self.next_change.isoformat(),
            "lines": [
                {"ref": x.ref, "kind": x.kind, "points": x.points, "text": x.text}
                for x in self.result.lines
            ],
            "checks": {k: {"status": s, "detail": d} for k, (s, d) in self.checks.items()},
            "differences": self.differences,
        }


def _digest_arg(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) != 64 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise UsageError(f"--policy-sha256 {text[:80]!r} is not 64 hex digits")
    return text.lower()


def _compare_lines(published: Any, ours: Grade) -> list[str]:
    if not isinstance(published, list):
        return ["lines is not an array"]
    mine = [(x.kind, x.points, x.text) for x in ours.lines]
    theirs = [
        (x.get("kind"), x.get("points"), x.get("text")) if isinstance(x, dict) else (x, None, None)
        for x in published
    ]
    out = [
        f"line {i + 1}: published {t[2]!r} ({t[1]}), recomputed {m[2]!r} ({m[1]})"
        for i, (t, m) in enumerate(zip(theirs, mine, strict=False))
        if t != m
    ]
    if len(theirs) != len(mine):
        out.append(f"{len(theirs)} lines published, {len(mine)} recomputed")
    return out


def check_credit(args: argparse.Namespace) -> CreditOutcome:
    """Read the inputs (UsageError/FormatError: unusable), recompute, compare."""
    committed = _digest_arg(args.policy_sha256)
    try:
        policy = load_policy(_read_small("--policy", args.policy, MAX_POLICY_BYTES))
    except PolicyError as exc:
        raise UsageError(f"--policy: {exc}") from exc
    raw = _read_small("CREDIT.json", args.records, MAX_CREDIT_BYTES)
    try:
        doc = parse_json(raw, max_bytes=MAX_CREDIT_BYTES, what="CREDIT.json")
    except JSONFormatError as exc:
        raise UsageError(str(exc)) from exc
    if not isinstance(doc, dict):
        raise UsageError("CREDIT.json must be a JSON object")
    at = _moment(args.at, "--at") if args.at else None
    if at is None:
        if "as_of" not in doc:
            raise UsageError("give --at (the time to grade at): CREDIT.json has no as_of")
        at = _moment(doc["as_of"], "as_of")
    facts = _facts(doc)
    try:
        result = grade(facts, policy, at)
        upcoming = next_change(facts, policy, at)
    except ValueError as exc:  # an unknown kind, a ref twice
        raise UsageError(f"CREDIT.json: {exc}") from exc
    out = CreditOutcome(at, policy, result, upcoming)
    stated = {k: doc[k] for k in ("policy_sha256", "policy_version") if k in doc}
    if committed is not None:
        stated["--policy-sha256"] = committed
    wrong = [
        f"{k} {v!r}"
        for k, v in stated.items()
        if v != (policy.version if k == "policy_version" else policy.sha256)
    ]
    out.checks["policy"] = (
        ("failed", f"the policy is v{policy.version} {policy.sha256}, not {', '.join(wrong)}")
        if wrong
        else ("verified", f"v{policy.version} {policy.sha256}, as stated")
        if stated
        else ("not_checked", "no policy_sha256 or --policy-sha256 to compare the policy with")
    )
    if "grade" in doc or "score" in doc:
        published = (doc.get("grade"), doc.get("score"))
        out.checks["grade"] = (
            ("verified", f"{result.grade} {result.score}, as published")
            if published == (result.grade, result.score)
            else (
                "failed",
                f"published {published[0]} {published[1]}, recomputed "
                f"{result.grade} {result.score}",
            )
        )
    else:
        out.checks["grade"] = ("not_checked", "no grade or score published to compare")
    if "lines" in doc:
        out.differences = _compare_lines(doc["lines"], result)
        out.checks["lines"] = (
            ("failed", f"{len(out.differences)} difference(s)")
            if out.differences
            else ("verified", f"all {len(result.lines)} lines as published")
        )
    else:
        out.checks["lines"] = ("not_checked", "no lines published to compare")
    out.checks["records"] = (
        ("not_checked", "records_next_cursor is set: merge every page of records first")
        if doc.get("records_next_cursor")
        else ("verified", f"{len(facts)} records, no page left out")
    )
    return out


def render(out: CreditOutcome) -> str:
    r = out.result
    lines = [
        f"评级时点 at          : {out.at.isoformat()}",
        f"分级规则 policy      : v{out.policy.version} {out.policy.name}, SHA-256 "
        f"{out.policy.sha256}",
        f"信用等级 grade       : {GRADE_LABELS[r.grade]}, score {r.score}",
        "下次变化 next change : "
        + ("none" if out.next_change is None else out.next_change.isoformat()),
    ]
    lines += [f"  {one_line(x.text)}" for x in r.lines]
    lines.append("")
    names = {"policy": "规则 policy", "grade": "等级 grade", "lines": "说明 lines"}
    names["records"] = "记录 records"
    for key, (status, detail) in out.checks.items():
        lines.append(f"  {names[key]:<12} {STATUS_LABELS[status]:<20} {one_line(detail)}")
    lines += [f"    - {one_line(d)}" for d in out.differences]
    lines.append("")
    lines.append(f"结论 outcome: {OUTCOME_LABELS[out.outcome]}")
    return "\n".join(lines)


def run(argv: Sequence[str]) -> int:
    """``evidence-verify credit``: 0 verified, 1 failed, 2 incomplete, 3 unusable."""
    args = _parser().parse_args(argv)
    try:
        out = check_credit(args)
    except (UsageError, FormatError) as exc:
        return _unusable(exc)
    # stdout, as the main command prints (this module is not verifier/cli.py, the one
    # module allowed print)
    text = json.dumps(out.to_dict(), ensure_ascii=False, indent=2) if args.json else render(out)
    sys.stdout.write(text + "\n")
    return {"verified": 0, "failed": 1, "incomplete": 2}[out.outcome]
