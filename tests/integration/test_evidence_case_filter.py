"""``GET /v1/evidence?case=`` finds the evidence of a case: what was linked to it in the
case registry (``POST /v1/cases/{id}/evidence``), and what named it when submitted.

It used to compare only the submission's free-text ``case_ref``, so evidence linked
to a case afterwards never showed up under that case.
"""

from __future__ import annotations

from typing import Any

from tests.support.api import Stack, metadata, submit


def ids(stack: Stack, **params: str) -> set[str]:
    response = stack.client.get("/v1/evidence", params=params, headers=stack.auth("appraiser"))
    assert response.status_code == 200, response.text
    return {item["evidence_id"] for item in response.json()["items"]}


def created(stack: Stack, content: bytes, case_ref: str | None) -> str:
    response = submit(stack, {"page.html": content}, metadata(case_ref=case_ref))
    assert response.status_code == 201, response.text
    return str(response.json()["evidence_id"])


def test_case_filter_finds_linked_and_named_evidence(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    number = "泉市监网案〔2026〕77号"
    made = stack.client.post(
        "/v1/cases", json={"number": number, "title": "销售假冒商品"}, headers=stack.auth("officer")
    )
    assert made.status_code == 201, made.text
    case: dict[str, Any] = made.json()
    linked = created(stack, b"<p>linked later</p>", None)
    named = created(stack, b"<p>named at submission</p>", number)
    other = created(stack, b"<p>another case</p>", "泉市监网案〔2026〕78号")
    link = stack.client.post(
        f"/v1/cases/{case['id']}/evidence",
        json={"evidence_ids": [linked]},
        headers=stack.auth("officer"),
    )
    assert link.status_code == 200, link.text

    assert ids(stack, case=number) == {linked, named}
    assert ids(stack, case=str(case["id"])) == {linked}  # by id: the links only
    assert ids(stack, case="泉市监网案〔2026〕78号") == {other}
    assert ids(stack, case="泉市监网案〔2026〕79号") == set()
    assert ids(stack, case=number, platform="no-such-platform") == set()  # filters combine
    assert ids(stack) == {linked, named, other}
