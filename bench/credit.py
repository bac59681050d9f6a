"""Regrading after a policy change: ``python -m bench credit [--quick]``.

100,000 entities (2,000 with ``--quick``) with about 3 credit records each (1 to 5,
kinds weighted as a register sees them, some listings, removals and repairs covering
earlier records, dates over the last three years) are seeded by bulk SQL into a migrated
database per backend (SQLite in a scratch file, PostgreSQL in a throwaway database on
``127.0.0.1:5432``), every entity graded under policy v1 (``credit_grade`` rows, as the
service leaves them). Then a policy v2 (other points and thresholds) becomes active and
the service's own :func:`evidence_api.credit.grading.regrade_all` regrades everything —
what ``POST /v1/credit/policies`` runs. Beside it, in the same run on the same database:
a plain ``SELECT`` of the same ``credit_record`` rows grouped per entity (the baseline:
the ratio says how many times regrading costs over merely reading its input), and the
pure :func:`verifier.credit.grade` + :func:`verifier.credit.next_change` over the same
records in memory (where the time goes: reading, grading, or writing). Seeding is not
timed.

Checks: every grade is on v2 afterwards, a sample of stored grades and scores equals the
pure grading, the count ``regrade_all`` returns equals the grades that really changed and
the ``credit_grade_change`` rows (cause ``policy``), and ``trading_entity.risk_grade``
mirrors the grade.
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select
from sqlalchemy.orm import Session

from anchoring.issuing import issue_receipt
from bench.common import Progress, Row, format_table, gc_paused
from bench.databases import BACKENDS, scratch_engine
from evidence_api.credit.grading import regrade_all
from evidence_api.credit.models import CreditGrade, CreditGradeChange, CreditPolicy, CreditRecord
from evidence_api.registry.models import Platform, TradingEntity
from verifier.credit import CreditFact, Grade, Policy, grade, load_policy, next_change
from verifier.models import Entry
from verifier.note import SignerKey

FULL_ENTITIES = 100_000
QUICK_ENTITIES = 2_000
POLICY_V1 = Path(__file__).resolve().parent.parent / "evidence_api/credit/data/policy-v1.json"
#: the instant everything is graded at (records are dated up to three years before)
AT = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
SPAN_S = 3 * 365 * 86_400
INSERT_CHUNK = 10_000
READ_REPEATS = 3
SAMPLE = 500
#: kind -> relative frequency of the ordinary records (listings, removals and repairs
#: are added on top, see :func:`make_records`)
KIND_WEIGHTS = {
    "takedown_on_time": 20,
    "spotcheck_compliant": 20,
    "takedown_late": 12,
    "complaint_verified": 12,
    "case_penalty": 10,
    "spotcheck_noncompliant": 8,
    "case_reduced": 5,
    "case_no_penalty": 5,
    "takedown_reappeared": 4,
    "serious_listed": 2,
}


@dataclass(frozen=True)
class CreditSettings:
    entities: int
    backends: tuple[str, ...] = BACKENDS
    seed: int = 20261203
    batch: int = 1000

    @classmethod
    def make(cls, quick: bool) -> CreditSettings:
        return cls(QUICK_ENTITIES if quick else FULL_ENTITIES)


@dataclass
class CreditFigure:
    backend: str
    entities: int
    records: int
    #: seconds to seed the database (bulk SQL; not a figure)
    seed_s: float
    #: seconds of regrade_all (the service path), commit included
    regrade_s: float
    #: median seconds of SELECT of the same credit_record rows, grouped per entity
    read_s: float
    #: seconds of the pure grade() + next_change() of every entity, records in memory
    grade_s: float
    #: what regrade_all returned, and the grades that really changed v1 -> v2
    changed: int
    expected_changes: int

    @property
    def ratio(self) -> float:
        return self.regrade_s / self.read_s if self.read_s > 0 else float("inf")


@dataclass
class CreditResult:
    settings: CreditSettings
    figures: list[CreditFigure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def policy_v2() -> Policy:
    """Policy v1 with heavier late takedowns and complaints, a smaller reward for a passed
    spot check and a stricter A: a change that moves a good share of the grades."""
    doc = json.loads(POLICY_V1.read_text("utf-8"))
    doc["version"] = 2
    doc["name"] = "bench policy v2"
    doc["points"].update(takedown_late=-15, complaint_verified=-10, spotcheck_compliant=1)
    doc["grades"][0]["min_score"] = 92
    doc["grades"][1]["min_score"] = 80
    return load_policy(json.dumps(doc, ensure_ascii=False).encode("utf-8"))


# --- the records -------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedRecord:
    id: int
    entity_id: int
    kind: str
    source: str
    at: datetime
    covers: tuple[str, ...]

    def fact(self) -> CreditFact:
        return CreditFact(f"cr-{self.id}", self.kind, self.at, self.source, self.covers)


def make_records(settings: CreditSettings) -> Iterator[list[SeedRecord]]:
    """Each entity's records (ids from 1, in entity order); deterministic in the seed."""
    rng = random.Random(settings.seed)
    kinds, weights = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    ids = itertools.count(1)
    for entity_id in range(1, settings.entities + 1):
        records: list[SeedRecord] = []
        for _ in range(rng.randint(1, 5)):
            kind = rng.choices(kinds, weights)[0]
            at = AT - timedelta(seconds=rng.randrange(SPAN_S))
            record_id = next(ids)
            source = f"violation:{record_id}" if kind == "serious_listed" else f"bench:{record_id}"
            records.append(SeedRecord(record_id, entity_id, kind, source, at, ()))
            if kind == "serious_listed" and rng.random() < 0.5:
                removed = at + (AT - at) * rng.random()
                record_id = next(ids)
                records.append(
                    SeedRecord(
                        record_id, entity_id, "serious_removed", f"{source}/removed", removed, ()
                    )
                )
        if rng.random() < 0.02:
            last = max(r.at for r in records)
            repaired = tuple(f"cr-{r.id}" for r in records if rng.random() < 0.7)
            record_id = next(ids)
            at = last + (AT - last) * rng.random()
            records.append(
                SeedRecord(
                    record_id, entity_id, "repair_accepted", f"repair:{record_id}", at, repaired
                )
            )
        yield records


# --- seeding (not timed) -----------------------------------------------------------------


def table(model: Any) -> Table:
    found = model.__table__
    assert isinstance(found, Table)
    return found


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for begin in range(0, len(rows), INSERT_CHUNK):
        yield rows[begin : begin + INSERT_CHUNK]


def seed_database(
    engine: Engine, settings: CreditSettings, v1: Policy, v2: Policy
) -> tuple[dict[int, list[CreditFact]], dict[int, Grade], int]:
    """Entities, records and v1 grades inserted by bulk SQL; v2 then made the active policy.
    Returns each entity's facts, its v1 grade and the number of records."""
    facts: dict[int, list[CreditFact]] = {}
    graded: dict[int, Grade] = {}
    entity_rows: list[dict[str, Any]] = []
    record_rows: list[dict[str, Any]] = []
    grade_rows: list[dict[str, Any]] = []
    before = AT - timedelta(days=1)
    for records in make_records(settings):
        entity_id = records[0].entity_id
        own = facts[entity_id] = [r.fact() for r in records]
        now = graded[entity_id] = grade(own, v1, before)
        entity_rows.append(
            {
                "id": entity_id,
                "platform_id": 1,
                "shop_name": f"bench shop {entity_id}",
                "risk_grade": now.grade,
                "created_at": before,
                "updated_at": before,
            }
        )
        record_rows += [
            {
                "id": r.id,
                "entity_id": entity_id,
                "kind": r.kind,
                "source": r.source,
                "occurred_at": r.at,
                "details": "{}",
                "covers": json.dumps(list(r.covers)),
                "entry_id": f"crr-bench-{r.id}",
                "recorded_by": "bench",
                "recorded_at": r.at,
            }
            for r in records
        ]
        grade_rows.append(
            {
                "entity_id": entity_id,
                "grade": now.grade,
                "score": now.score,
                "policy_version": v1.version,
                "last_record_id": records[-1].id,
                "computed_at": before,
                "next_change_at": next_change(own, v1, before),
            }
        )
    with engine.begin() as conn:
        conn.execute(
            insert(table(Platform)),
            [
                {
                    "id": 1,
                    "code": "bench",
                    "name": "bench",
                    "created_at": before,
                    "updated_at": before,
                }
            ],
        )
        for model, rows in (
            (TradingEntity, entity_rows),
            (CreditRecord, record_rows),
            (CreditGrade, grade_rows),
        ):
            for chunk in _chunks(rows):
                conn.execute(insert(table(model)), chunk)
        conn.execute(
            insert(table(CreditPolicy)),
            [
                {
                    "version": p.version,
                    "document": p.document.decode("utf-8"),
                    "sha256": p.sha256,
                    "active": p is v2,
                    "created_by": "bench",
                    "created_at": before,
                    "entry_id": f"crp-bench-{p.version}",
                }
                for p in (v1, v2)
            ],
        )
    return facts, graded, len(record_rows)


# --- the three timed lines ---------------------------------------------------------------


def read_records(engine: Engine) -> dict[int, list[tuple[Any, ...]]]:
    """The baseline: every credit_record row the grading needs, grouped per entity."""
    t = table(CreditRecord)
    query = select(t.c.entity_id, t.c.id, t.c.kind, t.c.source, t.c.occurred_at, t.c.covers)
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query.order_by(t.c.entity_id, t.c.id)):
            grouped.setdefault(row[0], []).append(tuple(row))
    return grouped


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    with gc_paused():
        start = time.perf_counter()
        value = call()
        return time.perf_counter() - start, value


def grade_all(facts: dict[int, list[CreditFact]], policy: Policy) -> dict[int, Grade]:
    out = {}
    for entity_id, own in facts.items():
        out[entity_id] = grade(own, policy, AT)
        next_change(own, policy, AT)
    return out


def run_regrade(engine: Engine, signer: SignerKey, batch: int) -> int:
    def sign_receipt(entry: Entry) -> tuple[bytes, str]:
        return issue_receipt(signer, entry, 86_400)

    with Session(engine) as session:
        changed = regrade_all(session, sign_receipt, at=AT, cause="policy", batch=batch)
        session.commit()
    return changed


# --- checks ------------------------------------------------------------------------------


def check(
    engine: Engine,
    settings: CreditSettings,
    backend: str,
    expected: dict[int, Grade],
    changed: int,
    expected_changes: int,
) -> list[str]:
    problems = []
    g, e, c = table(CreditGrade), table(TradingEntity), table(CreditGradeChange)
    with engine.connect() as conn:
        on_v2 = conn.execute(select(func.count()).where(g.c.policy_version == 2)).scalar_one()
        changes = conn.execute(
            select(func.count()).select_from(c).where(c.c.cause == "policy")
        ).scalar_one()
        sample = random.Random(settings.seed).sample(sorted(expected), min(SAMPLE, len(expected)))
        stored = {
            row.entity_id: (row.grade, row.score, row.risk_grade)
            for row in conn.execute(
                select(g.c.entity_id, g.c.grade, g.c.score, e.c.risk_grade)
                .join(e, e.c.id == g.c.entity_id)
                .where(g.c.entity_id.in_(sample))
            )
        }
    if on_v2 != settings.entities:
        problems.append(
            f"{backend}: {settings.entities - on_v2:,} of {settings.entities:,} grades are not "
            "on policy v2 after regrade_all"
        )
    if changed != expected_changes:
        problems.append(
            f"{backend}: regrade_all reported {changed:,} changes, the grades changed in "
            f"{expected_changes:,}"
        )
    if changes != expected_changes:
        problems.append(
            f"{backend}: {changes:,} credit_grade_change rows (cause policy), want "
            f"{expected_changes:,}"
        )
    wrong = [
        entity_id
        for entity_id in sample
        if stored.get(entity_id)
        != (expected[entity_id].grade, expected[entity_id].score, expected[entity_id].grade)
    ]
    if wrong:
        first = wrong[0]
        problems.append(
            f"{backend}: {len(wrong)} of {len(sample)} sampled entities differ from the pure "
            f"grading (entity {first}: stored {stored.get(first)}, want "
            f"{expected[first].grade} {expected[first].score})"
        )
    return problems


def measure(
    backend: str, settings: CreditSettings, folder: Path, progress: Progress
) -> tuple[CreditFigure, list[str]]:
    v1, v2 = load_policy(POLICY_V1.read_bytes()), policy_v2()
    with scratch_engine(backend, folder / backend) as engine:
        start = time.perf_counter()
        facts, before, records = seed_database(engine, settings, v1, v2)
        seeded = time.perf_counter() - start
        progress(
            f"credit: {backend}: {settings.entities:,} entities, {records:,} records seeded "
            f"in {seeded:.1f} s"
        )
        reads = []
        for _ in range(READ_REPEATS):
            took, grouped = timed(lambda: read_records(engine))
            reads.append(took)
        if sum(len(rows) for rows in grouped.values()) != records:
            raise RuntimeError(f"{backend}: the read found another number of records")
        graded_s, after = timed(lambda: grade_all(facts, v2))
        expected_changes = sum(1 for k, now in after.items() if now.grade != before[k].grade)
        regrade_s, changed = timed(
            lambda: run_regrade(engine, SignerKey.generate("bench.local/credit"), settings.batch)
        )
        figure = CreditFigure(
            backend,
            settings.entities,
            records,
            seeded,
            regrade_s,
            statistics.median(reads),
            graded_s,
            changed,
            expected_changes,
        )
        progress(
            f"credit: {backend}: regrade_all {regrade_s:.2f} s ({changed:,} changed), SELECT "
            f"grouped {figure.read_s:.2f} s, pure grade {graded_s:.2f} s, ratio {figure.ratio:.1f}"
        )
        return figure, check(engine, settings, backend, after, changed, expected_changes)


def run(settings: CreditSettings, progress: Progress) -> CreditResult:
    result = CreditResult(settings)
    with tempfile.TemporaryDirectory(prefix="bench-credit-") as scratch:
        for backend in settings.backends:
            figure, problems = measure(backend, settings, Path(scratch), progress)
            result.figures.append(figure)
            result.problems += problems
    return result


def rows(result: CreditResult) -> list[Row]:
    out = []
    for f in result.figures:
        n = f"n={f.entities}"
        out += [
            Row(
                id=f"credit.{f.backend}.{n}.regrade_all.s",
                figure=f"regrade_all after a policy change, {f.backend}, {f.entities:,} entities",
                unit="s",
                ours=f.regrade_s,
                baseline=f.read_s,
                baseline_name="SELECT of the same records, grouped per entity",
                higher_is_better=True,  # the ratio printed is ours / baseline: times the read
                note=(
                    f"{f.changed:,} grades changed; {f.entities / f.regrade_s:,.0f} entities/s"
                    if f.regrade_s > 0
                    else ""
                ),
            ),
            Row(
                id=f"credit.{f.backend}.{n}.grade.s",
                figure=f"pure grade()+next_change(), same records in memory, {f.entities:,}",
                unit="s",
                ours=f.grade_s,
                baseline=f.read_s,
                baseline_name="SELECT of the same records, grouped per entity",
                higher_is_better=True,
                note=f"{f.records:,} records",
            ),
        ]
    return out


def legend(result: CreditResult) -> str:
    return (
        "Policy v1 -> v2 on entities with 1-5 credit records each (listings, removals, "
        "repairs included), seeded by bulk SQL (not timed); ours: the service's "
        "credit.grading.regrade_all (read, grade, write grades, change rows and their log "
        "entries, commit), and the pure verifier.credit grading of the same records in "
        "memory; baseline: a plain SELECT of the same credit_record rows grouped per entity "
        f"(median of {READ_REPEATS}), the same run and database. ratio = ours / read. "
        "Not judged: no target."
    )


def raw(result: CreditResult) -> dict[str, Any]:
    return {
        "settings": asdict(result.settings),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in result.figures],
        "problems": result.problems,
    }


TITLE = "Credit regrading after a policy change, s: beside reading the same records"


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv[1:]
    outcome = run(CreditSettings.make(quick), Progress())
    print(format_table(TITLE, rows(outcome), legend(outcome)))
    for problem in outcome.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    sys.exit(1 if outcome.problems else 0)
