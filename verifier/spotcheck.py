"""双随机、一公开: the verifiable spot-check draw (docs/spot-check.md). Pure: no I/O.

A plan (pools, sizes, weights, recusals, the seed block's height) is committed to the
log before its seed exists; the seed is the hash of the chain block at
``seed_height``; the draw is a deterministic function of the plan's canonical bytes
and that hash, so anyone holding the published plan and the block hash reproduces it
(``evidence-verify spot-check``).

This module fixes the names the service and the command use; the algorithm itself
is specified in docs/spot-check.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The algorithm's name and version, part of every plan (a new algorithm: a new name).
ALGORITHM = "evidence-draw/v1"

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
    chain_id: Annotated[int, Field(ge=1)]
    seed_height: Annotated[int, Field(ge=1)]


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


def plan_bytes(plan: DrawPlan) -> bytes:
    """The plan's canonical bytes (what is hashed and committed)."""
    raise NotImplementedError


def plan_digest(plan: DrawPlan) -> str:
    """SHA-256 of :func:`plan_bytes`, lowercase hex."""
    raise NotImplementedError


def draw(plan: DrawPlan, block_hash: bytes) -> DrawResult:
    """The draw of ``plan`` seeded by ``block_hash`` (32 bytes); :class:`SpotCheckError`
    when it cannot be made."""
    raise NotImplementedError
