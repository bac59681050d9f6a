"""双随机、一公开: the verifiable spot-check draw (docs/spot-check.md). Pure: no I/O.

A plan (pools, sizes, weights, recusals, the seed block's height) is committed to the
log before its seed exists; the seed is the hash of the chain block at
``seed_height``; the draw is a deterministic function of the plan's canonical bytes
and that hash, so anyone holding the published plan and the block hash reproduces it
(``evidence-verify spot-check``).

This module fixes the names the service and the command use; the algorithm itself
is specified in docs/spot-check.md, its random primitives live in :mod:`verifier.sampling`.
CONSENSUS-CRITICAL: published draws are checked against this code; any change to the
bytes hashed or the order of what is drawn is a new algorithm (``evidence-draw/v2``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verifier.canonical import canonical_json, parse_json
from verifier.errors import FormatError, JSONFormatError
from verifier.sampling import Stream, weighted_sample

#: The algorithm's name and version, part of every plan (a new algorithm: a new name).
ALGORITHM: Final = "evidence-draw/v1"
#: Largest integer canonical JSON (RFC 8785, IEEE doubles) carries exactly.
MAX_SAFE_INTEGER = 2**53 - 1

Ref = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class SpotCheckError(ValueError):
    """A plan that cannot be drawn (too few candidates after recusal, a bad seed …) or
    a draw that does not match its plan; the message says which and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PoolEntity(_Strict):
    """An entity that may be drawn: its public reference and its integer weight."""

    ref: Ref
    weight: Annotated[int, Field(ge=1, le=1_000_000)]


class PoolOfficer(_Strict):
    """An officer who may be drawn: an opaque reference and the unit's code (no name)."""

    ref: Ref
    unit: Ref


class Recusal(_Strict):
    """An officer never assigned to an entity (own unit's recent case, declared conflict)."""

    officer: Ref
    entity: Ref
    reason: Literal["unit_case", "declared"]


class DrawPlan(_Strict):
    """What is committed before the seed exists. Every field is part of the digest."""

    algorithm: Literal["evidence-draw/v1"]
    plan_id: Ref
    #: the inspection items (抽查事项) the plan covers, by code
    items: tuple[Ref, ...]
    entities: tuple[PoolEntity, ...]
    officers: tuple[PoolOfficer, ...]
    entity_count: Annotated[int, Field(ge=1)]
    officer_count: Annotated[int, Field(ge=1)]
    #: officers assigned to each drawn entity (two inspectors by law)
    inspectors_per_entity: Annotated[int, Field(ge=1, le=10)] = 2
    recusals: tuple[Recusal, ...] = ()
    #: the chain and block whose hash seeds the draw (a block not mined at commitment)
    chain_id: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
    seed_height: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]


class Assignment(_Strict):
    entity: Ref
    officers: tuple[Ref, ...]


class DrawResult(_Strict):
    """The draw: entities and officers in the order drawn, and who inspects whom."""

    algorithm: Literal["evidence-draw/v1"]
    plan_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    seed: Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
    entities: tuple[Ref, ...]
    officers: tuple[Ref, ...]
    assignments: tuple[Assignment, ...]


# --- bounds ------------------------------------------------------------------------------

#: Largest pools and recusal list a plan may hold (a province's register is ~10^6 entities).
MAX_POOL_ENTITIES = 1_000_000
MAX_POOL_OFFICERS = 100_000
MAX_RECUSALS = 1_000_000
#: Largest plan or draw document read as JSON (10^6 entities are ~50 MB of JSON).
MAX_PLAN_BYTES = 64 * 1024 * 1024
MAX_DRAW_BYTES = 64 * 1024 * 1024

PURPOSE_ENTITIES = "entities"
PURPOSE_OFFICERS = "officers"
PURPOSE_ASSIGN = "assign"


class SpotCheckFormatError(FormatError):
    """A plan or draw document that cannot be read: not strict JSON, too large, or not of
    the ``evidence-draw/v1`` shape (the message names the first problem)."""


# --- the plan ----------------------------------------------------------------------------


def plan_bytes(plan: DrawPlan) -> bytes:
    """The plan's canonical bytes (what is hashed and committed): RFC 8785 canonical JSON
    of every field, defaults included, tuples as arrays."""
    # model_dump_json then json.loads: the same values as model_dump(mode="json"), faster
    value = json.loads(plan.model_dump_json())
    try:
        # Only the plan's own integers can fall outside what RFC 8785 and json.dumps write
        # alike (beyond 2^53): every string below it is a Ref or a Literal (ASCII), every
        # integer of an entity, officer or recusal bounded by its type. So the pools skip
        # canonical_json's value-by-value check (two thirds of the time on 10^5 entities)
        # and take the serializer it would have chosen for them.
        canonical_json({k: v for k, v in value.items() if not isinstance(v, list)})
    except JSONFormatError as exc:  # an integer beyond 2^53: no verifier could hash it alike
        raise SpotCheckError(f"the plan cannot be canonicalised: {exc}") from exc
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def plan_digest(plan: DrawPlan) -> str:
    """SHA-256 of :func:`plan_bytes`, lowercase hex."""
    return hashlib.sha256(plan_bytes(plan)).hexdigest()


def _first_duplicate(values: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def validate_plan(plan: DrawPlan) -> None:
    """Refuse a plan no draw can come from: pools over their bounds, a reference twice in
    a pool, more to draw than the pool holds, a recusal naming no pool member."""
    for what, size, limit in (
        ("entities", len(plan.entities), MAX_POOL_ENTITIES),
        ("officers", len(plan.officers), MAX_POOL_OFFICERS),
        ("recusals", len(plan.recusals), MAX_RECUSALS),
    ):
        if size > limit:
            raise SpotCheckError(f"the plan lists {size} {what}, at most {limit}")
    for what, refs in (
        ("item", plan.items),
        ("entity", (e.ref for e in plan.entities)),
        ("officer", (o.ref for o in plan.officers)),
    ):
        twice = _first_duplicate(refs)
        if twice is not None:
            raise SpotCheckError(f"{what} {twice} is listed twice in the plan")
    if plan.entity_count > len(plan.entities):
        raise SpotCheckError(
            f"entity_count {plan.entity_count} exceeds the pool of {len(plan.entities)} entities"
        )
    if plan.officer_count > len(plan.officers):
        raise SpotCheckError(
            f"officer_count {plan.officer_count} exceeds the pool of {len(plan.officers)} officers"
        )
    if plan.inspectors_per_entity > plan.officer_count:
        raise SpotCheckError(
            f"inspectors_per_entity {plan.inspectors_per_entity} exceeds officer_count "
            f"{plan.officer_count}"
        )
    entities = {e.ref for e in plan.entities}
    officers = {o.ref for o in plan.officers}
    for recusal in plan.recusals:
        if recusal.officer not in officers:
            raise SpotCheckError(f"recusal of officer {recusal.officer}: not in the officer pool")
        if recusal.entity not in entities:
            raise SpotCheckError(f"recusal for entity {recusal.entity}: not in the entity pool")


# --- the draw ----------------------------------------------------------------------------


def _seed(block_hash: bytes) -> bytes:
    if not isinstance(block_hash, bytes) or len(block_hash) != 32:
        size = len(block_hash) if isinstance(block_hash, bytes) else type(block_hash).__name__
        raise SpotCheckError(f"the seed must be a 32-byte block hash, got {size}")
    return block_hash


def _assign(
    plan: DrawPlan,
    entities: Sequence[str],
    officers: Sequence[str],
    stream: Stream,
    trace: list[str] | None,
) -> list[Assignment]:
    """For each drawn entity in draw order, ``inspectors_per_entity`` picks; each pick is
    uniform among the eligible drawn officers (not recused, not yet on this entity) with
    the fewest assignments so far, in officer draw order."""
    recused: dict[str, set[str]] = {}
    for recusal in plan.recusals:
        recused.setdefault(recusal.entity, set()).add(recusal.officer)
    load = dict.fromkeys(officers, 0)
    need = plan.inspectors_per_entity
    out: list[Assignment] = []
    for entity in entities:
        barred = recused.get(entity, set())
        eligible = [o for o in officers if o not in barred]
        if len(eligible) < need:
            raise SpotCheckError(
                f"entity {entity}: {len(officers) - len(eligible)} of the {len(officers)} "
                f"drawn officers are recused, {len(eligible)} remain, {need} needed"
            )
        chosen: list[str] = []
        for _ in range(need):
            least = min(load[o] for o in eligible)
            candidates = [o for o in eligible if load[o] == least]
            if trace is not None:
                loads = ", ".join(f"{o}:{load[o]}" for o in eligible)
                trace.append(
                    f"  assign {entity} (recused: {', '.join(sorted(barred)) or 'none'}): "
                    f"eligible {loads}; least load {least}: {', '.join(candidates)}"
                )
            pick = candidates[stream.below(len(candidates))]
            if trace is not None:
                trace.append(f"  assign {entity}: -> {pick}")
            chosen.append(pick)
            load[pick] += 1
            eligible.remove(pick)
        out.append(Assignment(entity=entity, officers=tuple(chosen)))
    return out


def draw(plan: DrawPlan, block_hash: bytes, trace: list[str] | None = None) -> DrawResult:
    """The draw of ``plan`` seeded by ``block_hash`` (32 bytes); :class:`SpotCheckError`
    when it cannot be made. ``trace`` (a list) receives every intermediate value, as the
    worked example in docs/spot-check.md shows them."""
    validate_plan(plan)
    seed = _seed(block_hash)
    digest = hashlib.sha256(plan_bytes(plan)).digest()
    if trace is not None:
        trace += [f"plan_sha256 {digest.hex()}", f"seed 0x{seed.hex()}"]

    def stream(purpose: str) -> Stream:
        return Stream(digest, seed, purpose, trace)

    entity_refs = [e.ref for e in plan.entities]
    officer_refs = [o.ref for o in plan.officers]
    entity_picks = weighted_sample(
        [e.weight for e in plan.entities],
        plan.entity_count,
        stream(PURPOSE_ENTITIES),
        trace,
        entity_refs if trace is not None else (),
    )
    officer_picks = weighted_sample(
        [1] * len(plan.officers),
        plan.officer_count,
        stream(PURPOSE_OFFICERS),
        trace,
        officer_refs if trace is not None else (),
    )
    entities = [entity_refs[i] for i in entity_picks]
    officers = [officer_refs[i] for i in officer_picks]
    assignments = _assign(plan, entities, officers, stream(PURPOSE_ASSIGN), trace)
    return DrawResult(
        algorithm=plan.algorithm,
        plan_sha256=digest.hex(),
        seed="0x" + seed.hex(),
        entities=tuple(entities),
        officers=tuple(officers),
        assignments=tuple(assignments),
    )


# --- checking a published draw ----------------------------------------------------------


def _sequence_differences(what: str, want: Sequence[str], got: Sequence[str]) -> list[str]:
    out = [
        f"{what} #{i}: expected {w}, published {g}"
        for i, (w, g) in enumerate(zip(want, got, strict=False), start=1)
        if w != g
    ]
    if len(want) != len(got):
        out.append(f"{what}: expected {len(want)}, published {len(got)}")
    return out


def differences(expected: DrawResult, published: DrawResult) -> list[str]:
    """Every way ``published`` departs from the recomputed ``expected`` draw (empty: the
    same draw)."""
    out = [
        f"{name}: expected {getattr(expected, name)}, published {getattr(published, name)}"
        for name in ("algorithm", "plan_sha256", "seed")
        if getattr(expected, name) != getattr(published, name)
    ]
    out += _sequence_differences("entity", expected.entities, published.entities)
    out += _sequence_differences("officer", expected.officers, published.officers)
    claimed = {a.entity: a.officers for a in published.assignments}
    for a in expected.assignments:
        got = claimed.pop(a.entity, None)
        if got is None:
            out.append(f"assignment of {a.entity}: missing (expected {', '.join(a.officers)})")
        elif got != a.officers:
            out.append(
                f"assignment of {a.entity}: expected {', '.join(a.officers)}, "
                f"published {', '.join(got)}"
            )
    out += [f"assignment of {entity}: not in the draw" for entity in claimed]
    if not out and expected != published:  # e.g. assignments in another order
        out.append("assignments: listed in another order than the entities were drawn")
    return out


# --- reading the documents ---------------------------------------------------------------

_Doc = TypeVar("_Doc", DrawPlan, DrawResult)


def _load(model: type[_Doc], data: bytes, what: str, limit: int) -> _Doc:
    try:
        parse_json(data, max_bytes=limit, what=what)  # duplicates, NaN, depth, size
        return model.model_validate_json(data)
    except JSONFormatError as exc:
        raise SpotCheckFormatError(str(exc)) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise SpotCheckFormatError(
            f"{what} is not {ALGORITHM}: {where}: {first['msg']} "
            f"({exc.error_count()} problem{'s' if exc.error_count() > 1 else ''})"
        ) from exc


def load_plan(data: bytes) -> DrawPlan:
    """A plan from its JSON (strict: duplicate keys, unknown fields, wrong types refused)."""
    return _load(DrawPlan, data, "the plan", MAX_PLAN_BYTES)


def load_draw(data: bytes) -> DrawResult:
    """A published draw from its JSON, as strictly as :func:`load_plan`."""
    return _load(DrawResult, data, "the draw", MAX_DRAW_BYTES)


def parse_block_hash(text: str) -> bytes:
    """``0x`` and 64 hex digits (either case) -> 32 bytes; anything else refused."""
    if not isinstance(text, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", text):
        raise SpotCheckFormatError(
            f"block hash {str(text)[:80]!r} is not 0x followed by 64 hex digits"
        )
    return bytes.fromhex(text[2:])
