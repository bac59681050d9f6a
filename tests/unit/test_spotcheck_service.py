"""双随机、一公开 service logic without a server or database: the plan's officer refs
(off-<n> in a random per-plan order, translated from token-<id>), recusals from unit
cases and declared conflicts, weights by credit grade, the seed block's refusals (not yet
mined, another chain, an RPC down), the built-in inspection-item list, and the
console form's mapping to the API body."""

from __future__ import annotations

import random
from typing import Any

import pytest

from evidence_api.console.spotcheck_pages import DEFAULTS, plan_data
from evidence_api.core.errors import ConflictError, InvalidInputError, ServiceUnavailableError
from evidence_api.spotcheck import items, seed
from evidence_api.spotcheck.labels import OUTCOMES
from evidence_api.spotcheck.pools import (
    Officer,
    plan_order,
    plan_ref,
    pool_officers,
    recusals_of,
    ref_id,
    weight_of,
)
from evidence_api.spotcheck.schemas import Conflict, PlanCreate, ResultCreate


def officers() -> list[Officer]:
    """A pool in the plan's order: token 7 is off-1, token 2 off-2, token 5 off-3."""
    return [Officer(7, 10, "u.a"), Officer(2, 10, "u.a"), Officer(5, 20, "u.b")]


def test_the_plan_names_its_officers_by_position_never_by_token() -> None:
    pooled = pool_officers(officers())
    assert [(o.ref, o.unit) for o in pooled] == [
        ("off-1", "u.a"),
        ("off-2", "u.a"),
        ("off-3", "u.b"),
    ]
    assert not any("token" in o.model_dump_json() for o in pooled)


def test_the_plan_order_is_a_random_permutation_drawn_per_plan() -> None:
    pool = [Officer(t, 10, "u.a") for t in range(1, 9)]
    orders = {tuple(o.token_id for o in plan_order(pool, random.Random(s))) for s in range(20)}
    assert all(sorted(order) == list(range(1, 9)) for order in orders)
    assert len(orders) >= 15  # the same pool is ordered differently from plan to plan
    first = {order.index(3) for order in orders}
    assert len(first) >= 5  # token 3 is not always the same off-<n>
    assert [o.token_id for o in pool] == list(range(1, 9))  # the pool itself is not changed


@pytest.mark.parametrize(
    ("given", "ref"),
    [
        ("off-1", "off-1"),
        ("off-3", "off-3"),
        ("token-7", "off-1"),
        ("token-5", "off-3"),
        ("off-4", None),
        ("off-0", None),
        ("token-3", None),
        ("ent-7", None),
    ],
)
def test_an_officer_is_named_by_ref_or_token_and_recorded_by_ref(
    given: str, ref: str | None
) -> None:
    assert plan_ref(given, [7, 2, 5]) == ref


def test_a_unit_case_recuses_every_officer_of_that_unit_from_that_entity() -> None:
    found = recusals_of(officers(), {(100, 10), (200, 30)}, [], {100, 200, 300})
    assert [(r.officer, r.entity, r.reason) for r in found] == [
        ("off-1", "ent-100", "unit_case"),
        ("off-2", "ent-100", "unit_case"),
    ]


def test_cases_on_entities_outside_the_pool_recuse_nobody() -> None:
    assert recusals_of(officers(), {(999, 10)}, [], {100}) == []


def test_declared_conflicts_join_and_a_unit_case_keeps_its_reason() -> None:
    conflicts = [
        Conflict(officer="token-5", entity="ent-300"),
        Conflict(officer="token-7", entity="ent-100"),
        Conflict(officer="token-2", entity="ent-300"),
    ]
    found = recusals_of(officers(), {(100, 10)}, conflicts, {100, 300})
    assert [(r.officer, r.entity, r.reason) for r in found] == [
        ("off-1", "ent-100", "unit_case"),
        ("off-2", "ent-100", "unit_case"),
        ("off-2", "ent-300", "declared"),
        ("off-3", "ent-300", "declared"),
    ]


@pytest.mark.parametrize(
    ("conflict", "detail"),
    [
        (("token-9", "ent-100"), "conflict names officer token-9, not in the officer pool"),
        (("token-7", "ent-555"), "conflict names entity ent-555, not in the entity pool"),
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
    assert ref_id("ent-1042") == 1042 and ref_id("token-7") == 7 and ref_id("off-3") == 3


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


@pytest.mark.parametrize("officer", ["off-1", "token-12"])
def test_a_result_names_its_officer_by_ref_or_token(officer: str) -> None:
    body = {"entity": "ent-1", "outcome": "qualified", "officer": officer}
    assert ResultCreate.model_validate(body).officer == officer


@pytest.mark.parametrize("officer", ["off-0", "off-", "alice", "ent-1", "off-01", "token-01"])
def test_a_result_refuses_what_names_no_officer(officer: str) -> None:
    body = {"entity": "ent-1", "outcome": "qualified", "officer": officer}
    with pytest.raises(ValueError, match="officer"):
        ResultCreate.model_validate(body)


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
        {"conflicts": [{"officer": "off-1", "entity": "ent-1"}]},
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
