"""``evidence-verify credit`` on files: the worked example's grade (docs/credit.md §5)
recomputed from its records and policy v1 and compared with what was published; a changed
score, a changed line, another policy caught; nothing published or records left on another
page is incomplete; unusable input is exit 3 with one line on stderr, no traceback."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_credit_grading import (
    EXAMPLE,
    POLICY_V1,
    POLICY_V1_SHA256,
    v1_document,
)
from verifier.cli import run
from verifier.credit import grade as grade_of
from verifier.credit import load_policy

AS_OF = "2026-09-02T00:00:00+00:00"


def published(**changes: Any) -> dict[str, Any]:
    """What GET /v1/entities/{id}/credit says of the worked example's entity (newest
    record first, as the API pages them)."""
    policy = load_policy(POLICY_V1.read_bytes())
    result = grade_of(EXAMPLE, policy, datetime.fromisoformat(AS_OF))
    doc: dict[str, Any] = {
        "entity_id": 12,
        "grade": result.grade,
        "score": result.score,
        "policy_version": 1,
        "policy_sha256": POLICY_V1_SHA256,
        "as_of": AS_OF,
        "lines": [
            {"ref": x.ref, "kind": x.kind, "label": "", "points": x.points, "text": x.text}
            for x in result.lines
        ],
        "records": [
            {
                "ref": f.ref,
                "kind": f.kind,
                "source": f.source,
                "occurred_at": f.at.isoformat(),
                "covers": list(f.covers),
                "entry_id": f"crr-{f.ref}",
            }
            for f in reversed(EXAMPLE)
        ],
        "records_next_cursor": None,
    }
    doc.update(changes)
    return doc


def write(tmp_path: Path, doc: Any, name: str = "credit.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return str(path)


def credit(tmp_path: Path, doc: Any, *extra: str) -> list[str]:
    return ["credit", write(tmp_path, doc), "--policy", str(POLICY_V1), *extra]


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = run([*argv, "--json"])
    out, err = capsys.readouterr()
    assert err == ""
    result: dict[str, Any] = json.loads(out)
    return code, result


def test_the_worked_example_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_json(credit(tmp_path, published(), "--policy-sha256", POLICY_V1_SHA256), capsys)
    assert code == 0 and out["outcome"] == "verified"
    assert (out["grade"], out["score"], out["next_change_at"]) == (
        "B",
        100,
        "2027-09-01T08:00:00+00:00",
    )
    assert {k: v["status"] for k, v in out["checks"].items()} == dict.fromkeys(
        ("policy", "grade", "lines", "records"), "verified"
    )
    assert out["lines"][-1]["kind"] == "after_repair"


def test_the_table_names_grade_and_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(credit(tmp_path, published())) == 0
    text = capsys.readouterr().out
    assert "B 信用风险一般 ordinary risk, score 100" in text
    assert "上限B 信用修复后365天内 (cr-5, 2026-09-01起至2027-09-01)" in text
    assert "核验通过 VERIFIED" in text


def test_at_overrides_as_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = published()
    del doc["grade"], doc["score"], doc["lines"]
    code, out = run_json(credit(tmp_path, doc, "--at", "2027-09-01T08:00:00Z"), capsys)
    assert (out["grade"], out["next_change_at"]) == ("A", None)
    assert code == 2 and out["checks"]["grade"]["status"] == "not_checked"


def test_a_changed_score_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_json(credit(tmp_path, published(score=95)), capsys)
    assert code == 1 and out["checks"]["grade"]["status"] == "failed"
    assert "published B 95, recomputed B 100" in out["checks"]["grade"]["detail"]


def test_a_changed_line_fails_and_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = published()
    doc["lines"][0]["text"] = "0 行政处罚结案 (2026-02-03, 已信用修复 cr-5 不再计分)"
    doc["lines"].pop()
    code, out = run_json(credit(tmp_path, doc), capsys)
    assert code == 1 and out["checks"]["lines"]["status"] == "failed"
    assert out["differences"][0].startswith("line 1: published")
    assert out["differences"][-1] == "5 lines published, 6 recomputed"


def test_another_policy_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = v1_document()
    other["points"]["case_penalty"] = -30
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(other, ensure_ascii=False), "utf-8")
    argv = ["credit", write(tmp_path, published()), "--policy", str(policy)]
    code, out = run_json(argv, capsys)
    assert code == 1 and out["checks"]["policy"]["status"] == "failed"
    assert "not policy_sha256" in out["checks"]["policy"]["detail"]
    code, out = run_json(credit(tmp_path, published(), "--policy-sha256", "0" * 64), capsys)
    assert code == 1 and "--policy-sha256" in out["checks"]["policy"]["detail"]


def test_records_left_on_another_page_are_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_json(credit(tmp_path, published(records_next_cursor="abc")), capsys)
    assert code == 2 and out["checks"]["records"]["status"] == "not_checked"


UNUSABLE: dict[str, tuple[Any, str]] = {
    "not-an-object": ([], "must be a JSON object"),
    "no-records": ({"as_of": AS_OF}, "no records array"),
    "no-time": (published(as_of=5), "as_of must be an ISO 8601"),
    "naive-time": (
        published(
            records=[
                {"ref": "cr-1", "kind": "case_penalty", "source": "s", "at": "2026-01-01T00:00:00"}
            ]
        ),
        "has no UTC offset",
    ),
    "unknown-kind": (
        published(records=[{"ref": "cr-1", "kind": "case_fined", "source": "s", "at": AS_OF}]),
        "unknown credit record kind 'case_fined'",
    ),
    "ref-twice": (
        published(
            records=[{"ref": "cr-1", "kind": "case_penalty", "source": "s", "at": AS_OF}] * 2
        ),
        "record cr-1 appears twice",
    ),
    "ref-missing": (
        published(records=[{"kind": "case_penalty", "source": "s", "at": AS_OF}]),
        r"records\[0\].ref must be",
    ),
}


@pytest.mark.parametrize("defect", sorted(UNUSABLE))
def test_unusable_input(defect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc, message = UNUSABLE[defect]
    assert run(credit(tmp_path, doc)) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err


def test_unusable_policy_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad-policy.json"
    bad.write_text(json.dumps(v1_document() | {"version": 0}), "utf-8")
    assert run(["credit", write(tmp_path, published()), "--policy", str(bad)]) == 3
    assert "--policy: version is 0" in capsys.readouterr().err
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"{")
    assert run(["credit", str(garbage), "--policy", str(POLICY_V1)]) == 3
    assert "not valid JSON" in capsys.readouterr().err
    assert run(["credit", str(tmp_path / "missing.json"), "--policy", str(POLICY_V1)]) == 3
    capsys.readouterr()
    assert run(credit(tmp_path, published(), "--policy-sha256", "xyz")) == 3
    assert "is not 64 hex digits" in capsys.readouterr().err
    doc = published()
    del doc["as_of"]
    assert run(credit(tmp_path, doc)) == 3
    assert "give --at" in capsys.readouterr().err
