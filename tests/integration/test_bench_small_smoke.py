"""Smoke test of the ``small`` benchmark section (``python -m bench small``) on the local store:
1 KB evidence at 8 and 32 clients beside ``GET /healthz``, and ``/v1/stamps``, through a real
``evidence serve``. The figures are not judged here (a shared machine can miss a target by
chance); that every acknowledged item is found in the database once, and that each row is
reported beside its baseline with a verdict, is."""

from __future__ import annotations

import pytest

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
        "small.local.c8.cpu_bound",
        "small.local.c32.evidence_per_s",
        "small.local.c32.p99_ms",
        "small.local.c32.cpu_bound",
        "small.stamps.digests_per_s",
    }
    healthz = {f.clients: f.per_s for f in result.healthz}
    assert rows["small.local.c32.evidence_per_s"].baseline == healthz[32]
    judged = {k: row for k, row in rows.items() if not k.endswith(".cpu_bound")}
    assert all(row.verdict in ("PASS", "MISS") for row in judged.values())
    # The CPU split: the server and the clients spent CPU on every evidence; the local
    # store has no S3 server; the bound is the cores over their sum, beside the rate.
    for fig in result.evidence:
        assert fig.cpu.server_ms > 0 and fig.cpu.clients_ms > 0 and fig.cpu.store_ms == 0
        bound = rows[f"small.local.c{fig.clients}.cpu_bound"]
        assert bound.baseline == pytest.approx(small.CORES * 1e3 / fig.cpu.total_ms)
        assert bound.ours == fig.per_s and bound.verdict == "-"
        assert bound.ratio == pytest.approx(fig.per_s / bound.baseline)
    assert small.raw(result)["stamps"]["count"] == result.stamps.count
