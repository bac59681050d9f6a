"""信息公示, pure parts: the published record and its digest (a known answer), the
``disclosure`` entry bodies, the search's bounds at the limit and one past it, and the
response models held to the allow-lists."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from evidence_api.core.errors import InvalidInputError
from evidence_api.disclosure import record as rec
from evidence_api.disclosure import schemas
from evidence_api.disclosure.spotchecks import reproduce_command
from verifier.canonical import canonical_json

RECORD: dict[str, Any] = rec.penalty_record(
    publication_id="pub-019ae0c1d2e3f4a5b6c7d8e9f0a1",
    case_number="泉市监网案〔2026〕12号",
    decision_number="泉市监处罚〔2026〕88号",
    entity_name="某某保健品旗舰店",
    entity_uscc="91350100M000100Y43",
    facts="虚假宣传",
    legal_basis="《反不正当竞争法》第八条",
    penalty="罚款五万元",
    decision_date=date(2026, 11, 30),
    deciding_unit="泉州市丰泽区市场监督管理局",
)


def test_the_record_is_exactly_its_fields_and_its_digest_is_of_the_canonical_json() -> None:
    assert tuple(RECORD) == schemas.RECORD_FIELDS
    assert RECORD["decision_date"] == "2026-11-30"
    # Keys sorted by UTF-16 code units, no spaces, UTF-8 (RFC 8785); recompute with
    #   python3 -c 'import json,hashlib,sys; ...'  or: printf %s "$(cat record.json)" | sha256sum
    text = canonical_json(RECORD).decode("utf-8")
    assert text.startswith('{"case_number":"泉市监网案〔2026〕12号","deciding_unit":')
    assert text.endswith(',"publication_id":"pub-019ae0c1d2e3f4a5b6c7d8e9f0a1"}')
    assert rec.record_sha256(RECORD) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    changed = RECORD | {"penalty": "警告"}
    assert rec.record_sha256(changed) != rec.record_sha256(RECORD)


def test_entry_bodies_hold_digests_not_texts() -> None:
    digest = rec.record_sha256(RECORD)
    body = rec.publish_body(RECORD, digest)
    assert body == {
        "action": "publish",
        "publication_id": RECORD["publication_id"],
        "case_number": "泉市监网案〔2026〕12号",
        "decision_number": "泉市监处罚〔2026〕88号",
        "record_sha256": digest,
        "entity_uscc": "91350100M000100Y43",
    }
    assert set(body) == set(schemas.ENTRY_BODY_FIELDS["publish"])
    individual = rec.publish_body(RECORD | {"entity_uscc": None}, digest)
    assert "entity_uscc" not in individual
    withdrawn = rec.withdraw_body(RECORD, "复议撤销")
    assert set(withdrawn) == set(schemas.ENTRY_BODY_FIELDS["withdraw"])
    assert withdrawn["reason_sha256"] == hashlib.sha256("复议撤销".encode()).hexdigest()
    assert "复议撤销" not in str(withdrawn)


def test_search_bounds_at_the_limit_and_one_past() -> None:
    at = rec.search("名" * schemas.MAX_QUERY, schemas.MAX_OFFSET, schemas.MAX_LIMIT)
    assert (at.offset, at.limit, len(at.text or "")) == (
        schemas.MAX_OFFSET,
        schemas.MAX_LIMIT,
        schemas.MAX_QUERY,
    )
    past = [
        ("名" * (schemas.MAX_QUERY + 1), 0, 1, "q"),
        (None, schemas.MAX_OFFSET + 1, 1, "offset"),
        (None, -1, 1, "offset"),
        (None, 0, schemas.MAX_LIMIT + 1, "limit"),
        (None, 0, 0, "limit"),
        ("a\x00b", 0, 1, "q"),
        ("a\u2028b", 0, 1, "q"),
    ]
    for q, offset, limit, field in past:
        with pytest.raises(InvalidInputError) as caught:
            rec.search(q, offset, limit)
        assert caught.value.field == field, (q, offset, limit)


def test_search_understands_names_and_credit_codes() -> None:
    assert rec.search("  ", 0, 20).text is None
    name = rec.search(" 保健品 ", 0, 20)
    assert (name.text, name.uscc) == ("保健品", None)
    code = rec.search("91350100m000100y43", 0, 20)
    assert (code.text, code.uscc) == ("91350100m000100y43", "91350100M000100Y43")
    assert rec.search("91350100M000100Y4", 0, 20).uscc is None  # 17 characters
    assert rec.search("91350100M000100Y4I", 0, 20).uscc is None  # I is not in the alphabet


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (schemas.PublicPenalty, schemas.PENALTY_FIELDS),
        (schemas.PublicPenaltyDetail, schemas.PENALTY_DETAIL_FIELDS),
        (schemas.PublicPenaltyPage, schemas.PAGE_FIELDS),
        (schemas.PublicSpotCheck, schemas.SPOTCHECK_FIELDS),
        (schemas.PublicSpotCheckPage, schemas.PAGE_FIELDS),
        (schemas.PublicSpotCheckDetail, schemas.SPOTCHECK_DETAIL_FIELDS),
        (schemas.PublicItem, schemas.ITEM_FIELDS),
        (schemas.PublicDrawn, schemas.DRAWN_FIELDS),
        (schemas.PublicResult, schemas.RESULT_FIELDS),
        (schemas.PublicUnit, schemas.UNIT_FIELDS),
        (schemas.Reproduce, schemas.REPRODUCE_FIELDS),
        (schemas.StepProof, schemas.PROOF_FIELDS),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_every_public_model_is_its_allow_list_and_refuses_more(
    model: type[BaseModel], fields: tuple[str, ...]
) -> None:
    assert tuple(model.model_fields) == fields
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({"officer": "王某"})


def test_allowed_keeps_only_the_listed_fields_in_order() -> None:
    row = {"id": "pub-1", "published_by": "token-7", "entity_name": "店", "note": "内部"}
    assert schemas.allowed(row, ("entity_name", "id", "entity_uscc")) == {
        "entity_name": "店",
        "id": "pub-1",
        "entity_uscc": None,
    }


def test_the_reproduce_command_names_every_input() -> None:
    command = reproduce_command("sc-" + "a" * 28, "b" * 64, "0x" + "c" * 64)
    assert command == (
        f"evidence-verify spot-check sc-{'a' * 28}.plan.json --block-hash 0x{'c' * 64} "
        f"--plan-sha256 {'b' * 64} --draw sc-{'a' * 28}.draw.json"
    )
    assert "<seed block hash>" in reproduce_command("sc-x", "b" * 64, None)
