"""evidence-draw/v1 (verifier.spotcheck, docs/spot-check.md): the worked example as known
answers, the primitives against plain reference implementations, every refusal, an
acceptance-sized draw, and chi-square tests that the draw follows the stated weights.

The chi-square critical values are at p = 0.001 (from any chi-square table; e.g.
``scipy.stats.chi2.ppf(0.999, df)``): df 1 → 10.828, df 3 → 16.266, df 11 → 31.264,
df 19 → 43.820. The seeds are fixed, so each statistic is a fixed number, not a flaky one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.canonical import canonical_json
from verifier.sampling import DOMAIN, Fenwick, Stream, weighted_sample
from verifier.spotcheck import (
    ALGORITHM,
    DrawPlan,
    DrawResult,
    PoolEntity,
    PoolOfficer,
    Recusal,
    SpotCheckError,
    SpotCheckFormatError,
    differences,
    draw,
    load_draw,
    load_plan,
    parse_block_hash,
    plan_bytes,
    plan_digest,
    validate_plan,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "testdata" / "spotcheck"
DOC = ROOT / "docs" / "spot-check.md"
#: printf 'spot-check worked example 1' | sha256sum
EXAMPLE_SEED = "0xaacbfd75a00e8244db2c13024c1d7a2f295fbcdac34c4f47b969c6c167182b56"
#: sha256sum testdata/spotcheck/plan.canonical.json
EXAMPLE_DIGEST = "af66480a3b49bb53e95b93823fc8ee44b76405896dbea6192ff5794f38a82ebc"
#: chi-square critical values at p = 0.001, by degrees of freedom
CHI2_999 = {1: 10.828, 3: 16.266, 11: 31.264, 19: 43.820}
GRADE_WEIGHTS = {"A": 1, "B": 2, "C": 4, "D": 8}


def seed_of(i: int) -> bytes:
    return hashlib.sha256(b"seed %d" % i).digest()


def make_plan(
    weights: Sequence[int] = (1, 2, 3, 4),
    officers: int = 4,
    entity_count: int = 1,
    officer_count: int = 2,
    inspectors: int = 2,
    recusals: Sequence[tuple[str, str]] = (),
) -> DrawPlan:
    return DrawPlan(
        algorithm=ALGORITHM,
        plan_id="plan-test",
        items=("ITEM-01",),
        entities=tuple(PoolEntity(ref=f"E{i}", weight=w) for i, w in enumerate(weights)),
        officers=tuple(PoolOfficer(ref=f"O{i}", unit=f"U{i % 2}") for i in range(officers)),
        entity_count=entity_count,
        officer_count=officer_count,
        inspectors_per_entity=inspectors,
        recusals=tuple(Recusal(officer=o, entity=e, reason="declared") for o, e in recusals),
        chain_id=31337,
        seed_height=1200,
    )


def acceptance_plan() -> DrawPlan:
    """10,000 entities weighted by grade (A 1, B 2, C 4, D 8), 200 officers in 20 units,
    50 entities and 10 officers drawn, every officer recused from the entities of its own
    unit's cases (entity i belongs to unit i mod 20 for every 7th entity)."""
    grades = "ABCD"
    entities = tuple(
        PoolEntity(ref=f"91330100MA{i:08d}", weight=GRADE_WEIGHTS[grades[(i * 7) % 4]])
        for i in range(10_000)
    )
    officers = tuple(PoolOfficer(ref=f"officer-{j:03d}", unit=f"U{j % 20:02d}") for j in range(200))
    recusals = tuple(
        Recusal(officer=f"officer-{j:03d}", entity=f"91330100MA{i:08d}", reason="unit_case")
        for i in range(0, 10_000, 7)
        for j in range(i % 20, 200, 20)
    )
    return DrawPlan(
        algorithm=ALGORITHM,
        plan_id="2026-Q4-provincial",
        items=("SC-PRICE-01", "SC-LABEL-02"),
        entities=entities,
        officers=officers,
        entity_count=50,
        officer_count=10,
        inspectors_per_entity=2,
        recusals=recusals,
        chain_id=31337,
        seed_height=4_000_000,
    )


def chi_square(observed: Mapping[Any, int], expected: Mapping[Any, float]) -> float:
    """Pearson's statistic; every observed cell must be an expected one."""
    assert set(observed) <= set(expected), set(observed) - set(expected)
    return sum((observed.get(cell, 0) - e) ** 2 / e for cell, e in expected.items())


# --- the worked example (testdata/spotcheck, docs/spot-check.md §12) ---------------------


def example_plan() -> DrawPlan:
    return load_plan((EXAMPLE / "plan.json").read_bytes())


def test_example_canonical_bytes_and_digest() -> None:
    plan = example_plan()
    assert plan_bytes(plan) == (EXAMPLE / "plan.canonical.json").read_bytes()
    assert plan_digest(plan) == EXAMPLE_DIGEST
    assert hashlib.sha256(plan_bytes(plan)).hexdigest() == EXAMPLE_DIGEST


def test_example_seed_is_the_documented_text() -> None:
    assert (EXAMPLE / "block-hash.txt").read_text().strip() == EXAMPLE_SEED
    assert hashlib.sha256(b"spot-check worked example 1").hexdigest() == EXAMPLE_SEED[2:]


def test_example_draw_and_trace() -> None:
    trace: list[str] = []
    result = draw(example_plan(), parse_block_hash(EXAMPLE_SEED), trace)
    assert result == load_draw((EXAMPLE / "draw.json").read_bytes())
    assert result.entities == ("E4", "E2")
    assert result.officers == ("O3", "O2", "O1")
    # O2 is recused from E2: it is never among E2's inspectors
    assert [(a.entity, a.officers) for a in result.assignments] == [
        ("E4", ("O1", "O3")),
        ("E2", ("O1", "O3")),
    ]
    assert "\n".join(trace) + "\n" == (EXAMPLE / "trace.txt").read_text()
    assert any(line.endswith("reject") for line in trace)  # the example shows a rejection


def test_doc_shows_the_example_trace_verbatim() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert (EXAMPLE / "trace.txt").read_text() in doc
    assert EXAMPLE_DIGEST in doc
    assert EXAMPLE_SEED in doc


def test_example_first_stream_block_recomputed_by_hand() -> None:
    """The first entities block, from the definition (docs/spot-check.md §5)."""
    block = hashlib.sha256(
        b"evidence-draw/v1\x00"
        + bytes.fromhex(EXAMPLE_DIGEST)
        + bytes.fromhex(EXAMPLE_SEED[2:])
        + b"entities\x00"
        + (0).to_bytes(8, "big")
    ).hexdigest()
    assert f"  stream entities block 0: {block}" in (EXAMPLE / "trace.txt").read_text()


# --- primitives against reference implementations ------------------------------------------


def reference_below(prefix: bytes, n: int, count: int) -> list[int]:
    """``count`` integers below n, written from the definition, byte by byte."""
    stream = b"".join(hashlib.sha256(prefix + c.to_bytes(8, "big")).digest() for c in range(64))
    bits = (n - 1).bit_length()
    size, at = (bits + 7) // 8, 0
    out: list[int] = []
    while len(out) < count:
        value = int.from_bytes(stream[at : at + size], "big") % (1 << bits)
        at += size
        if value < n:
            out.append(value)
    return out


@pytest.mark.parametrize("n", [2, 3, 5, 8, 9, 255, 256, 257, 1000, 65_537, 10**12])
def test_below_matches_the_definition(n: int) -> None:
    digest, seed = bytes(range(32)), bytes(range(32, 64))
    stream = Stream(digest, seed, "entities")
    prefix = b"evidence-draw/v1\x00" + digest + seed + b"entities\x00"
    assert [stream.below(n) for _ in range(40)] == reference_below(prefix, n, 40)


def test_below_one_reads_nothing() -> None:
    a, b = (
        Stream(b"\x01" * 32, b"\x02" * 32, "assign"),
        Stream(b"\x01" * 32, b"\x02" * 32, "assign"),
    )
    assert a.below(1) == 0
    assert a.below(1000) == b.below(1000)


def test_stream_domain_is_the_algorithm_name() -> None:
    assert DOMAIN == ALGORITHM.encode("ascii") == b"evidence-draw/v1"


def test_below_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="no integer below 0"):
        Stream(b"\x01" * 32, b"\x02" * 32, "assign").below(0)


def test_streams_differ_by_purpose_plan_and_seed() -> None:
    base = Stream(b"\x01" * 32, b"\x02" * 32, "entities").read(64)
    assert Stream(b"\x01" * 32, b"\x02" * 32, "officers").read(64) != base
    assert Stream(b"\x03" * 32, b"\x02" * 32, "entities").read(64) != base
    assert Stream(b"\x01" * 32, b"\x04" * 32, "entities").read(64) != base


def reference_find(weights: Sequence[int], r: int) -> int:
    running = 0
    for i, w in enumerate(weights):
        if running <= r < running + w:
            return i
        running += w
    raise AssertionError("r beyond the total")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=40),
    st.data(),
)
def test_fenwick_find_matches_a_linear_scan(weights: list[int], data: st.DataObject) -> None:
    current = list(weights)
    tree = Fenwick(weights)
    for _ in range(5):
        if sum(current):
            r = data.draw(st.integers(min_value=0, max_value=sum(current) - 1))
            assert tree.find(r) == reference_find(current, r)
        i = data.draw(st.integers(min_value=0, max_value=len(current) - 1))
        tree.add(i, -current[i])
        current[i] = 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=1_000_000), min_size=1, max_size=30), st.data())
def test_weighted_sample_matches_the_plain_definition(
    weights: list[int], data: st.DataObject
) -> None:
    count = data.draw(st.integers(min_value=1, max_value=len(weights)))
    fast = weighted_sample(weights, count, Stream(b"\x05" * 32, b"\x06" * 32, "entities"))
    stream, current, plain = Stream(b"\x05" * 32, b"\x06" * 32, "entities"), list(weights), []
    for _ in range(count):
        pick = reference_find(current, stream.below(sum(current)))
        plain.append(pick)
        current[pick] = 0
    assert fast == plain
    assert len(set(fast)) == count


# --- refusals ---------------------------------------------------------------------------


def plan_with(**changes: object) -> DrawPlan:
    data = make_plan().model_dump()
    data.update(changes)
    return DrawPlan.model_validate(data, strict=False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"entities": [{"ref": "E1", "weight": 1}, {"ref": "E1", "weight": 2}]},
            "entity E1 is listed twice",
        ),
        (
            {"officers": [{"ref": "O1", "unit": "U"}] * 2, "officer_count": 1},
            "officer O1 is listed twice",
        ),
        ({"items": ["I1", "I1"]}, "item I1 is listed twice"),
        ({"entity_count": 5}, "entity_count 5 exceeds the pool of 4 entities"),
        ({"officer_count": 5}, "officer_count 5 exceeds the pool of 4 officers"),
        ({"inspectors_per_entity": 3}, "inspectors_per_entity 3 exceeds officer_count 2"),
        (
            {"recusals": [{"officer": "O9", "entity": "E1", "reason": "declared"}]},
            "recusal of officer O9: not in the officer pool",
        ),
        (
            {"recusals": [{"officer": "O1", "entity": "E9", "reason": "declared"}]},
            "recusal for entity E9: not in the entity pool",
        ),
    ],
    ids=[
        "duplicate-entity",
        "duplicate-officer",
        "duplicate-item",
        "too-many-entities",
        "too-many-officers",
        "too-many-inspectors",
        "recusal-unknown-officer",
        "recusal-unknown-entity",
    ],
)
def test_bad_plans_are_refused(changes: dict[str, object], message: str) -> None:
    plan = plan_with(**changes)
    with pytest.raises(SpotCheckError, match=message):
        validate_plan(plan)
    with pytest.raises(SpotCheckError, match=message):
        draw(plan, seed_of(0))


def test_pool_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    import verifier.spotcheck as sc  # noqa: PLC0415

    monkeypatch.setattr(sc, "MAX_POOL_ENTITIES", 4)
    validate_plan(make_plan())  # at the limit
    monkeypatch.setattr(sc, "MAX_POOL_ENTITIES", 3)
    with pytest.raises(SpotCheckError, match="the plan lists 4 entities, at most 3"):
        validate_plan(make_plan())


@pytest.mark.parametrize("size", [0, 20, 31, 33, 64])
def test_seed_must_be_32_bytes(size: int) -> None:
    with pytest.raises(SpotCheckError, match=f"32-byte block hash, got {size}"):
        draw(make_plan(), b"\x01" * size)


def test_impossible_assignment_names_the_entity() -> None:
    # E0 weighs 10^6 of 10^6 + 3: draw two officers of two, one of them recused from E0
    plan = make_plan(
        weights=(1_000_000, 1, 1, 1),
        officers=2,
        entity_count=4,
        recusals=[("O1", "E2")],
    )
    with pytest.raises(SpotCheckError, match=r"entity E2: 1 of the 2 drawn officers are recused"):
        draw(plan, seed_of(1))


@pytest.mark.parametrize(
    "text",
    ["", "0x", "0x" + "0" * 63, "0x" + "0" * 65, "0X" + "0" * 64, "0x" + "g" * 64, "00" * 32],
    ids=["empty", "bare-0x", "63-digits", "65-digits", "upper-0X", "not-hex", "no-0x"],
)
def test_block_hash_text_is_strict(text: str) -> None:
    with pytest.raises(SpotCheckFormatError, match="not 0x followed by 64 hex digits"):
        parse_block_hash(text)


def test_block_hash_either_case() -> None:
    assert parse_block_hash("0x" + "AB" * 32) == b"\xab" * 32


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"algorithm": "evidence-draw/v1", "algorithm": "x"}', "duplicate key"),
        (b"[1]", "is not evidence-draw/v1"),
        (b'{"algorithm": "evidence-draw/v2"}', "algorithm"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"[" * 100 + b"]" * 100, "nests deeper"),
    ],
    ids=["truncated", "duplicate-key", "array", "other-algorithm", "not-utf8", "too-deep"],
)
def test_unreadable_plans_are_refused(document: bytes, message: str) -> None:
    with pytest.raises(SpotCheckFormatError, match=message):
        load_plan(document)


def test_plan_fields_are_strict() -> None:
    good = json.loads((EXAMPLE / "plan.json").read_text())
    for change, where in (
        ({"entity_count": "2"}, "entity_count"),
        ({"extra": 1}, "extra"),
        ({"entities": [{"ref": "E1", "weight": 0}]}, "entities.0.weight"),
        ({"entities": [{"ref": "E 1", "weight": 1}]}, "entities.0.ref"),
        ({"seed_height": 2**53}, "seed_height"),
    ):
        with pytest.raises(SpotCheckFormatError, match=where):
            load_plan(json.dumps({**good, **change}).encode())


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.integers(1, 1_000_000), min_size=1, max_size=30),
    height=st.integers(1, 2**53 - 1),
    refs=st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True), max_size=3),
)
def test_plan_bytes_are_the_rfc8785_bytes(weights: list[int], height: int, refs: list[str]) -> None:
    """plan_bytes skips canonical_json's per-value check on the pools (their types bound
    them); the bytes stay those of RFC 8785 (canonical_json, the rfc8785 package)."""
    good = json.loads((EXAMPLE / "plan.json").read_text())
    entities = [{"ref": f"E{i}", "weight": w} for i, w in enumerate(weights)]
    plan = DrawPlan.model_validate_json(
        json.dumps(
            {**good, "entities": entities, "seed_height": height, "items": sorted(set(refs))}
        )
    )
    value = plan.model_dump(mode="json")
    assert plan_bytes(plan) == canonical_json(value) == rfc8785.dumps(value)


def test_plan_bytes_refuse_an_integer_no_verifier_could_hash_alike() -> None:
    good = json.loads((EXAMPLE / "plan.json").read_text())
    plan = DrawPlan.model_validate_json(json.dumps({**good, "entity_count": 2**60}))
    with pytest.raises(SpotCheckError, match="cannot be canonicalised"):
        plan_bytes(plan)


# --- differences ------------------------------------------------------------------------


def test_differences_lists_each_departure() -> None:
    result = load_draw((EXAMPLE / "draw.json").read_bytes())
    assert differences(result, result) == []
    changed = DrawResult.model_validate(
        {
            **result.model_dump(),
            "entities": ("E4", "E3"),
            "officers": ("O3", "O2"),
            "assignments": (
                {"entity": "E4", "officers": ("O3", "O1")},
                {"entity": "E3", "officers": ("O1", "O3")},
            ),
        }
    )
    assert differences(result, changed) == [
        "entity #2: expected E2, published E3",
        "officer: expected 3, published 2",
        "assignment of E4: expected O1, O3, published O3, O1",
        "assignment of E2: missing (expected O1, O3)",
        "assignment of E3: not in the draw",
    ]
    reordered = result.model_copy(update={"assignments": result.assignments[::-1]})
    assert differences(result, reordered) == [
        "assignments: listed in another order than the entities were drawn"
    ]


# --- the acceptance-sized draw ------------------------------------------------------------


def test_acceptance_draw_reproduces_and_honours_recusals() -> None:
    plan = acceptance_plan()
    seed = seed_of(2026)
    first, second = draw(plan, seed), draw(plan, seed)
    assert first == second
    assert len(first.entities) == len(set(first.entities)) == 50
    assert len(first.officers) == len(set(first.officers)) == 10
    recused = {(r.officer, r.entity) for r in plan.recusals}
    load: Counter[str] = Counter()
    for a in first.assignments:
        assert len(a.officers) == len(set(a.officers)) == 2
        assert set(a.officers) <= set(first.officers)
        assert not any((o, a.entity) in recused for o in a.officers)
        load.update(a.officers)
    assert [a.entity for a in first.assignments] == list(first.entities)
    assert sum(load.values()) == 100
    assert max(load.values()) - min(load.values()) <= 1  # least-loaded first: 10 each
    assert any(e in {r.entity for r in plan.recusals} for e in first.entities)
    # another seed, another draw; one changed weight, another digest and another draw
    assert draw(plan, seed_of(2027)).entities != first.entities
    heavier = plan.model_copy(
        update={"entities": (PoolEntity(ref=plan.entities[0].ref, weight=2), *plan.entities[1:])}
    )
    assert plan_digest(heavier) != plan_digest(plan)
    assert draw(heavier, seed).plan_sha256 != first.plan_sha256


# --- statistics ---------------------------------------------------------------------------

PLAN_DIGEST = hashlib.sha256(b"statistics").digest()


def test_single_pick_follows_the_weights() -> None:
    """20,000 draws of 1 from weights 1, 2, 3, 4: chi-square, 3 degrees of freedom."""
    weights, rounds = (1, 2, 3, 4), 20_000
    seen: Counter[Any] = Counter(
        weighted_sample(weights, 1, Stream(PLAN_DIGEST, seed_of(i), "entities"))[0]
        for i in range(rounds)
    )
    expected: dict[Any, float] = {i: rounds * w / 10 for i, w in enumerate(weights)}
    assert chi_square(seen, expected) < CHI2_999[3]


def without_replacement(weights: Sequence[int], k: int) -> dict[tuple[int, ...], float]:
    """The exact probability of every ordered k-sequence, by enumeration."""
    total = sum(weights)
    out: dict[tuple[int, ...], float] = {}
    for seq in itertools.permutations(range(len(weights)), k):
        p, left = 1.0, total
        for i in seq:
            p *= weights[i] / left
            left -= weights[i]
        out[seq] = p
    return out


def test_ordered_pairs_follow_the_without_replacement_probabilities() -> None:
    """20,000 draws of 2 from weights 1..5: every ordered pair against its exact
    probability (20 cells, 19 degrees of freedom); the inclusion probabilities follow."""
    weights, rounds = (1, 2, 3, 4, 5), 20_000
    pairs: Counter[tuple[int, ...]] = Counter(
        tuple(weighted_sample(weights, 2, Stream(PLAN_DIGEST, seed_of(i), "entities")))
        for i in range(rounds)
    )
    exact = without_replacement(weights, 2)
    assert chi_square(pairs, {cell: rounds * p for cell, p in exact.items()}) < CHI2_999[19]
    included: Counter[int] = Counter()
    for pair, n in pairs.items():
        included.update(dict.fromkeys(pair, n))
    for i in range(5):
        exact_inclusion = sum(p for pair, p in exact.items() if i in pair)
        assert abs(included[i] / rounds - exact_inclusion) < 0.02


def test_officers_and_assignments_are_uniform() -> None:
    """6,000 full draws: the ordered officer pair is uniform over 12 cells (df 11), and the
    first inspector is either drawn officer equally often (df 1)."""
    plan, rounds = make_plan(officers=4, officer_count=2), 6_000
    pairs: Counter[Any] = Counter()
    first_is_first: Counter[Any] = Counter()
    for i in range(rounds):
        result = draw(plan, seed_of(i))
        pairs[result.officers] += 1
        first_is_first[result.assignments[0].officers[0] == result.officers[0]] += 1
    cells = list(itertools.permutations([f"O{i}" for i in range(4)], 2))
    assert chi_square(pairs, {c: rounds / 12 for c in cells}) < CHI2_999[11]
    assert chi_square(first_is_first, {True: rounds / 2, False: rounds / 2}) < CHI2_999[1]
