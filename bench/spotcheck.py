"""The verifiable draw's cost: ``python -m bench spotcheck [--quick]``.

A plan of 100,000 entities weighted by grade (A 1, B 2, C 4, D 8) and 1,000 officers, with
1,000 recusals, is drawn by :func:`verifier.spotcheck.draw` (evidence-draw/v1,
docs/spot-check.md): 50 and 500 entities, 10 officers, 2 inspectors each, one seed per
repeat; the median of the repeats is the figure. Beside it, in the same run, a plain
``random.sample`` of the same sizes (k of 100,000 and 10 of 1,000): the ratio says how many
times the verifiable draw costs over an unverifiable one. The draw's time includes hashing
the plan's canonical bytes (shown on its own in the note), which a plan this size dominates.

Checks: every draw reproduces (the same seed twice, the same result), draws distinct
entities and officers in the numbers asked, and never assigns a recused officer.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.common import Progress, Row, format_table, gc_paused
from verifier.spotcheck import (
    ALGORITHM,
    DrawPlan,
    DrawResult,
    PoolEntity,
    PoolOfficer,
    Recusal,
    draw,
    plan_digest,
)

ENTITIES = 100_000
OFFICERS = 1_000
OFFICER_COUNT = 10
ENTITY_COUNTS = (50, 500)
RECUSALS = 1_000
GRADE_WEIGHTS = (1, 2, 4, 8)


@dataclass(frozen=True)
class SpotcheckSettings:
    repeats: int
    entities: int = ENTITIES
    officers: int = OFFICERS
    entity_counts: tuple[int, ...] = ENTITY_COUNTS

    @classmethod
    def make(cls, quick: bool) -> SpotcheckSettings:
        return cls(repeats=3 if quick else 9)


@dataclass
class SpotcheckFigure:
    entity_count: int
    officer_count: int
    #: median seconds of ``draw`` (plan digest included)
    draw_s: float
    #: median seconds of ``plan_digest`` alone (canonical JSON and SHA-256)
    digest_s: float
    #: median seconds of random.sample(k of the entities) + random.sample(10 of the officers)
    sample_s: float

    @property
    def ratio(self) -> float:
        return self.draw_s / self.sample_s if self.sample_s > 0 else float("inf")


@dataclass
class SpotcheckResult:
    settings: SpotcheckSettings
    plan_bytes: int = 0
    figures: list[SpotcheckFigure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def make_plan(settings: SpotcheckSettings, entity_count: int) -> DrawPlan:
    """The entity pool weighted by grade in turn; every 100th entity recuses one officer."""
    return DrawPlan(
        algorithm=ALGORITHM,
        plan_id=f"bench-{entity_count}",
        items=("SC-BENCH-01",),
        entities=tuple(
            PoolEntity(ref=f"E{i:07d}", weight=GRADE_WEIGHTS[i % 4])
            for i in range(settings.entities)
        ),
        officers=tuple(
            PoolOfficer(ref=f"O{j:05d}", unit=f"U{j % 50:02d}") for j in range(settings.officers)
        ),
        entity_count=entity_count,
        officer_count=OFFICER_COUNT,
        recusals=tuple(
            Recusal(
                officer=f"O{i % settings.officers:05d}",
                entity=f"E{i * 100:07d}",
                reason="unit_case",
            )
            for i in range(min(RECUSALS, settings.entities // 100))
        ),
        chain_id=31337,
        seed_height=1_000_000,
    )


def median_seconds(call: Callable[[int], object], repeats: int) -> float:
    times = []
    with gc_paused():
        for i in range(repeats):
            start = time.perf_counter()
            call(i)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def seed(i: int) -> bytes:
    return hashlib.sha256(b"bench spot-check seed %d" % i).digest()


def check(plan: DrawPlan, result: DrawResult) -> list[str]:
    """What a draw must be: the numbers asked, distinct, no recused pair assigned."""
    problems = []
    if len(set(result.entities)) != plan.entity_count:
        problems.append(f"k={plan.entity_count}: {len(set(result.entities))} distinct entities")
    if len(set(result.officers)) != plan.officer_count:
        problems.append(f"k={plan.entity_count}: {len(set(result.officers))} distinct officers")
    recused = {(r.officer, r.entity) for r in plan.recusals}
    if any((o, a.entity) in recused for a in result.assignments for o in a.officers):
        problems.append(f"k={plan.entity_count}: a recused officer was assigned")
    return problems


def measure(
    settings: SpotcheckSettings, entity_count: int, progress: Progress
) -> tuple[SpotcheckFigure, list[str]]:
    plan = make_plan(settings, entity_count)
    first = draw(plan, seed(0))
    problems = check(plan, first)
    if draw(plan, seed(0)) != first:
        problems.append(f"k={entity_count}: the same seed drew another result")
    drawn = median_seconds(lambda i: draw(plan, seed(i)), settings.repeats)
    digest = median_seconds(lambda _i: plan_digest(plan), settings.repeats)
    entities, officers = range(settings.entities), range(settings.officers)
    rounds = 200  # random.sample takes microseconds: time a batch, per call
    rng = random.Random(entity_count)  # the baseline: a plain, unverifiable PRNG sample

    def sample_batch(_i: int) -> None:
        for _ in range(rounds):
            rng.sample(entities, entity_count)
            rng.sample(officers, OFFICER_COUNT)

    sampled = median_seconds(sample_batch, settings.repeats) / rounds
    figure = SpotcheckFigure(entity_count, OFFICER_COUNT, drawn, digest, sampled)
    progress(
        f"spotcheck: {entity_count} of {settings.entities:,} entities, {OFFICER_COUNT} of "
        f"{settings.officers:,} officers: draw {drawn * 1e3:.1f} ms (plan digest "
        f"{digest * 1e3:.1f} ms), random.sample {sampled * 1e6:.1f} µs, ratio {figure.ratio:,.0f}"
    )
    return figure, problems


def run(settings: SpotcheckSettings, progress: Progress) -> SpotcheckResult:
    result = SpotcheckResult(settings)
    result.plan_bytes = len(make_plan(settings, 1).model_dump_json())
    for entity_count in settings.entity_counts:
        figure, problems = measure(settings, entity_count, progress)
        result.figures.append(figure)
        result.problems += problems
    return result


def rows(result: SpotcheckResult) -> list[Row]:
    n, m = result.settings.entities, result.settings.officers
    return [
        Row(
            id=f"spotcheck.draw.k={f.entity_count}.ms",
            figure=f"draw {f.entity_count} of {n:,} entities + {f.officer_count} of {m:,} officers",
            unit="ms",
            ours=f.draw_s * 1e3,
            baseline=f.sample_s * 1e3,
            baseline_name="random.sample, same sizes",
            higher_is_better=True,  # the ratio printed is ours / baseline: times the sample
            note=f"plan digest alone {f.digest_s * 1e3:.1f} ms",
        )
        for f in result.figures
    ]


def legend(result: SpotcheckResult) -> str:
    st = result.settings
    return (
        f"evidence-draw/v1 on a plan of {st.entities:,} entities weighted by grade, "
        f"{st.officers:,} officers and {min(RECUSALS, st.entities // 100):,} recusals "
        f"(~{result.plan_bytes / 1e6:.1f} MB of JSON), median of {st.repeats} seeds; the draw "
        "includes hashing the plan's canonical bytes (the note: that alone). Baseline: "
        "random.sample of the same sizes, same run. ratio = draw / sample. Not judged: no target."
    )


def raw(result: SpotcheckResult) -> dict[str, Any]:
    return {
        "settings": asdict(result.settings),
        "plan_bytes": result.plan_bytes,
        "figures": [{**asdict(f), "ratio": f.ratio} for f in result.figures],
        "problems": result.problems,
    }


TITLE = "Verifiable draw (双随机, evidence-draw/v1), ms: beside random.sample of the same sizes"


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv[1:]
    outcome = run(SpotcheckSettings.make(quick), Progress())
    print(format_table(TITLE, rows(outcome), legend(outcome)))
    sys.exit(1 if outcome.problems else 0)
