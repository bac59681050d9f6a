"""双随机、一公开 service logic without a server or database: recusals from unit cases
and declared conflicts, weights by credit grade, the seed block's refusals (not yet
mined, another chain, an RPC down), the built-in inspection-item list, and the
console form's mapping to the API body."""

from __future__ import annotations

from typing import Any

import pytest

from evidence_api.console.spotcheck_pages import DEFAULTS, plan_data
from evidence_api.core.errors import ConflictError, InvalidInputError, ServiceUnavailableError
from evidence_api.spotcheck import items, seed
from evidence_api.spotcheck.labels import OUTCOMES
from evidence_api.spotcheck.pools import Officer, recusals_of, ref_id, weight_of
from evidence_api.spotcheck.schemas import Conflict, PlanCreate, ResultCreate


def officers() -> list[Officer]:
    return [Officer(1, 10, "u.a"), Officer(2, 10, "u.a"), Officer(3, 20, "u.b")]


def test_a_unit_case_recuses_every_officer_of_that_unit_from_that_entity() -> None:
    found = recusals_of(officers(), {(100, 10), (200, 30)}, [], {100, 200, 300})
    assert [(r.officer, r.entity, r.reason) for r in found] == [
        ("token-1", "ent-100", "unit_case"),
        ("token-2", "ent-100", "unit_case"),
    ]


def test_cases_on_entities_outside_the_pool_recuse_nobody() -> None:
    assert recusals_of(officers(), {(999, 10)}, [], {100}) == []


def test_declared_conflicts_join_and_a_unit_case_keeps_its_reason() -> None:
    conflicts = [
        Conflict(officer="token-3", entity="ent-300"),
        Conflict(officer="token-1", entity="ent-100"),
    ]
    found = recusals_of(officers(), {(100, 10)}, conflicts, {100, 300})
    assert [(r.officer, r.entity, r.reason) for r in found] == [
        ("token-1", "ent-100", "unit_case"),
        ("token-2", "ent-100", "unit_case"),
        ("token-3", "ent-300", "declared"),
    ]


@pytest.mark.parametrize(
    ("conflict", "detail"),
    [
        (("token-9", "ent-100"), "conflict names officer token-9, not in the officer pool"),
        (("token-1", "ent-555"), "conflict names entity ent-555, not in the entity pool"),
    ],
)
def test_a_conflict_outside_the_pools_is_refused(conflict: tuple[str, str], detail: str) -> None:
    officer, entity = conflict
    with pytest.raises(InvalidInputError) as caught:
        recusals_of(officers(), set(), [Conflict(officer=officer, entity=entity)], {100})
    assert caught.value.detail == detail and caught.value.field == "conflicts"


def test_weights_by_grade_with_ungraded_under_none_and_one_by_default() -> None:
    weights = {"A": 1, "D": 8, "none": 2}
    assert [weight_of(g, weights) for g in ("A", "B", "D", None)] == [1, 1, 8, 2]
    assert ref_id("ent-1042") == 1042 and ref_id("token-7") == 7


class Blocks:
    """A chain client stand-in: a head, a chain id, block hashes up to the head."""

    def __init__(self, head: int, chain_id: int = 31337, down: bool = False) -> None:
        self._head, self._chain_id, self.down = head, chain_id, down

    def chain_id(self) -> int:
        if self.down:
            raise ConnectionError("connection refused")
        return self._chain_id

    def head(self) -> int:
        return self._head

    def block_hash(self, number: int) -> str | None:
        return None if number > self._head else "0x" + f"{number:064x}"


def test_the_seed_block_is_the_head_plus_the_delay() -> None:
    assert seed.commitment_point(Blocks(100), 3) == (31337, 103)


def test_a_seed_block_not_yet_mined_is_refused_with_when_to_retry() -> None:
    with pytest.raises(ConflictError) as caught:
        seed.seed_block(Blocks(100), 31337, 103)
    assert caught.value.detail == (
        "seed block 103 not yet mined (chain head is 100); the draw can be made after it"
    )
    assert caught.value.headers == {"Retry-After": "36"}
    assert seed.retry_after(100, 10_000) == seed.MAX_RETRY
    assert seed.retry_after(100, 100) == seed.MIN_RETRY


def test_a_mined_seed_block_gives_its_32_bytes() -> None:
    assert seed.seed_block(Blocks(103), 31337, 103) == (103).to_bytes(32, "big")


def test_another_chain_or_a_silent_node_is_refused() -> None:
    with pytest.raises(ConflictError) as caught:
        seed.seed_block(Blocks(200, chain_id=1), 31337, 103)
    assert caught.value.detail == (
        "the plan's seed block is on chain 31337; this service reads chain 1"
    )
    with pytest.raises(ServiceUnavailableError) as down:
        seed.seed_block(Blocks(200, down=True), 31337, 103)
    assert "the chain does not answer: ConnectionError" in down.value.detail
    with pytest.raises(ServiceUnavailableError):
        seed.commitment_point(Blocks(200, down=True), 3)


class NoChain:
    chain_pending = False
    chain = None


def test_no_chain_configured_is_409_and_a_chain_being_bound_503() -> None:
    with pytest.raises(ConflictError) as caught:
        seed.chain_client(NoChain())
    assert caught.value.detail.startswith("no chain is configured (EVIDENCE_CHAIN=none)")
    binding = NoChain()
    binding.chain_pending = True
    with pytest.raises(ServiceUnavailableError):
        seed.chain_client(binding)


def test_the_builtin_item_list_is_valid_and_cites_the_law() -> None:
    listed = items.builtin_items()
    codes = [i.code for i in listed]
    assert len(codes) == len(set(codes)) >= 12
    assert all("《" in i.legal_basis and "》" in i.legal_basis for i in listed)
    first = next(i for i in listed if i.code == "wj-01-license")
    assert "电子商务法》第十五条" in first.legal_basis


def test_outcomes_are_a_fixed_list_with_chinese_labels() -> None:
    assert list(OUTCOMES) == [
        "qualified",
        "unqualified",
        "rectify",
        "no_issue",
        "not_found",
        "closed",
    ]
    assert OUTCOMES["rectify"].startswith("责令整改")
    with pytest.raises(ValueError, match="outcome"):
        ResultCreate.model_validate({"entity": "ent-1", "outcome": "passed", "officer": "token-1"})


def test_the_console_form_becomes_the_api_body() -> None:
    values: dict[str, Any] = {
        **DEFAULTS,
        "title": "季度抽查",
        "region": "fj.qz",
        "officer_units": "fj.qz.fz, fj.qz.lc",
        "risk_classes": "食品 服装",
        "conflicts": "token-12 ent-1042\n\ntoken-3，ent-7\n",
    }
    body = PlanCreate.model_validate(plan_data(values, ["wj-01-license"], ["A", "D"]))
    assert body.officer_units == ["fj.qz.fz", "fj.qz.lc"]
    assert body.risk_classes == ["食品", "服装"] and body.risk_grades == ["A", "D"]
    assert body.weights == {"A": 1, "B": 2, "C": 4, "D": 8, "none": 2}
    assert [(c.officer, c.entity) for c in body.conflicts] == [
        ("token-12", "ent-1042"),
        ("token-3", "ent-7"),
    ]
    assert body.entity_count == 50 and body.recusal_days == 365


@pytest.mark.parametrize(
    "change",
    [
        {"entity_count": 0},
        {"weights": {"A": 0}},
        {"weights": {"E": 1}},
        {"items": []},
        {"officer_units": ["Bad Unit"]},
        {"region": "x" * 65},
        {"conflicts": [{"officer": "alice", "entity": "ent-1"}]},
        {"unknown": 1},
    ],
)
def test_plan_bodies_are_bounded(change: dict[str, Any]) -> None:
    body = {
        "title": "t",
        "items": ["wj-01-license"],
        "officer_units": ["fj.qz"],
        "entity_count": 1,
        "officer_count": 1,
        **change,
    }
    with pytest.raises(ValueError):
        PlanCreate.model_validate(body)
