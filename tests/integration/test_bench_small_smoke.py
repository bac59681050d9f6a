"""Smoke test of the ``small`` benchmark section (``python -m bench small``) on the local store:
1 KB evidence at 8 and 32 clients beside ``GET /healthz``, and ``/v1/stamps``, through a real
``evidence serve``. The figures are not judged here (a shared machine can miss a target by
chance); that every acknowledged item is found in the database once, and that each row is
reported beside its baseline with a verdict, is."""

from __future__ import annotations

from bench import small
from bench.__main__ import SECTIONS
from bench.common import Progress


def test_small_section_on_the_local_store() -> None:
    assert "small" in SECTIONS
    result = small.run(True, ["local"], None, Progress())
    assert result.problems == []
    assert [(f.label, f.clients) for f in result.evidence] == [("local", 8), ("local", 32)]
    assert all(f.count == len(f.latencies) > 0 and f.per_s > 0 for f in result.evidence)
    assert result.stamps is not None and result.stamps.per_s > 0
    rows = {row.id: row for row in small.rows(result)}
    assert set(rows) == {
        "small.local.c8.evidence_per_s",
        "small.local.c8.p99_ms",
        "small.local.c32.evidence_per_s",
        "small.local.c32.p99_ms",
        "small.stamps.digests_per_s",
    }
    healthz = {f.clients: f.per_s for f in result.healthz}
    assert rows["small.local.c32.evidence_per_s"].baseline == healthz[32]
    assert all(row.verdict in ("PASS", "MISS") for row in rows.values())
    assert small.raw(result)["stamps"]["count"] == result.stamps.count
