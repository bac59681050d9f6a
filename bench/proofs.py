"""Figure 2: inclusion and consistency proof latency, p50/p99 in ms, at each tree size.

Queries are drawn with a fixed seed per size and answered by every tree in
turn (interleaved, order rotating), so all lines answer the same questions
on the same leaves. Inclusion: a uniform random leaf in the whole tree of n
leaves (what a bundle carries). Consistency: from a uniform random earlier
size in 1..n-1 to n (what an auditor asks between two checkpoints).

Our SQL trees (SQLite and PostgreSQL) answer as the log API does: one
statement per proof in autocommit, through the in-process node cache. Each
is timed four ways: *warm* with the garbage collector paused (collected
between calls, see :func:`bench.common.gc_paused`), *warm, GC on* (the
collector left to run inside the timed calls, as in the service), *cold cache*
(GC on; before each call, untimed, the node cache is emptied; the pooled
connection is kept, as in a running server), and *after a restart* (the same,
and the connection pool disposed too, so the call opens a new connection, as the
first request after a restart does). Every SQL p99 of the first three is judged
against 5 ms; "after a restart" is reported beside them, not judged: it adds
the connection's setup (about 4 ms on PostgreSQL over loopback), paid once per
process, not per request.

Run alone, ``python -m bench.proofs --sizes 1e6,1e7`` builds the trees by the
bulk path (the in-memory log grown, then every node copied into SQLite and
PostgreSQL in one append each: :meth:`bench.trees.OursTree.copy_from`) and sets
each SQL line beside the previous read path on the same database, timed the same
way (:class:`PreviousReads`: a pinged connection, a transaction of two statements,
no cache), and the in-memory lines beside the in-memory log timed warm (pymerkle
cannot reach 10^7 leaves in a bench run); within ``python -m bench log`` the
baseline is pymerkle's.

Every run also cross-checks the answers: our stores agree with each other,
our inclusion proofs equal pymerkle's path (less its leading leaf hash), and
every proof verifies with :mod:`verifier.merkle` (ours) or pymerkle's own
verifier (theirs). pymerkle's consistency proofs use their own path layout,
not RFC 9162's, so those are checked by verification, not by equality.
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pymerkle
from sqlalchemy import create_engine

from anchoring.layout import Plan, consistency_plan, fold, inclusion_plan
from anchoring.store import MemoryNodeStore
from anchoring.store.sql import SqlNodeStore
from bench.common import (
    REPORT_ONLY_HELP,
    Latency,
    Progress,
    Row,
    format_table,
    leaf_data,
    report,
    time_interleaved,
    verdict,
    waited_note,
)
from bench.trees import (
    LABELS,
    OURS_MEMORY,
    OURS_SQL,
    PYMERKLE_MEMORY,
    BenchTree,
    OursTree,
    PymerkleTree,
    ours_memory,
    ours_postgres,
    ours_sqlite,
)
from verifier.errors import VerifierError
from verifier.merkle import verify_consistency, verify_inclusion

KINDS = ("inclusion", "consistency")
#: the SQL store must answer 99% of proofs within this (the issue's target at 10^6)
SQL_P99_TARGET_MS = 5.0
#: p50 at the largest size over p50 at the smallest: "flat in n" means below this
FLATNESS_TARGET = 2.0
#: how many of each size's queries are cross-checked between implementations
CROSS_CHECKS = 32
#: how a proof was timed (see the module docstring)
WARM, WARM_GC, COLD, RESTART = "warm", "warm, GC on", "cold cache", "after a restart"
MODES = (WARM, WARM_GC, COLD, RESTART)
#: judged against the target: what a running server serves. "after a restart" (a new
#: connection per call as well: its setup, ~4 ms on PostgreSQL, is paid once per process,
#: not per request) is reported beside them, not judged.
JUDGED_MODES = (WARM, WARM_GC, COLD)
#: cold calls per kind and tree at most (after a restart: each opens a connection)
COLD_SAMPLES = 200
#: the read path before one-statement proofs, on the same database as each SQL tree
PREVIOUS = {impl: f"{impl}-previous" for impl in OURS_SQL}
#: our lines, and the trees timed
OURS = (OURS_MEMORY, *OURS_SQL)
TIMED = (*OURS, PYMERKLE_MEMORY, *PREVIOUS.values())


class PreviousReads:
    """A baseline for ``python -m bench.proofs``: proofs read the way the log read them
    before they took one statement, from the same database as ``tree``: an engine that
    pings every connection it checks out (``pool_pre_ping``, which ``make_engine`` set for
    PostgreSQL), then a transaction (BEGIN ... COMMIT) of two statements, the size and then
    the tiles, and no node cache."""

    is_baseline = True
    has_cold_start = True

    def __init__(self, tree: OursTree) -> None:
        assert tree.engine is not None
        url = tree.engine.url
        self.name = PREVIOUS[tree.name]
        self.engine = (
            create_engine(url, connect_args={"timeout": 30})
            if url.get_backend_name() == "sqlite"
            else create_engine(url, pool_pre_ping=True)
        )

    def _proof(self, plan: Plan, size: int) -> list[bytes]:
        with self.engine.begin() as conn:
            store = SqlNodeStore(conn)
            if not size <= store.size():
                raise ValueError(f"size {size} is beyond the log")
            ids = [node for group in plan for node in group]
            hashes = dict(zip(ids, store.get_nodes(ids), strict=True))
            return [fold([hashes[node] for node in group]) for group in plan]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self._proof(inclusion_plan(index, size), size)

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return self._proof(consistency_plan(size1, size2), size2)

    def cold_cache(self) -> None:
        """No cache to empty: every read of the previous path was cold."""

    def restart(self) -> None:
        self.engine.dispose()

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class Queries:
    inclusion: list[tuple[int, int]]  # (index, size)
    consistency: list[tuple[int, int]]  # (size1, size2)

    def of(self, kind: str) -> list[tuple[int, int]]:
        return self.inclusion if kind == "inclusion" else self.consistency


def queries(n: int, samples: int, seed: int) -> Queries:
    rng = random.Random(f"{seed}:{n}")
    return Queries(
        inclusion=[(rng.randrange(n), n) for _ in range(samples)],
        consistency=[(rng.randrange(1, n), n) for _ in range(samples)],
    )


@dataclass(frozen=True)
class ProofResult:
    n: int
    kind: str
    impl: str
    latency: Latency
    mode: str = WARM


def measure(
    n: int, trees: Sequence[BenchTree | PreviousReads], samples: int, seed: int
) -> list[ProofResult]:
    """Time both proof kinds on every in-memory or SQL tree that is at ``n`` leaves: warm
    (GC paused) on every tree; warm with GC on, with a cold cache and after a restart on ours."""
    q = queries(n, samples, seed)
    timed = [t for t in trees if t.name in TIMED]
    results: list[ProofResult] = []
    for kind in KINDS:
        calls = {t.name: _caller(t, kind, q.of(kind)) for t in timed}
        for impl, latency in time_interleaved(calls, samples).items():
            results.append(ProofResult(n, kind, impl, latency, WARM))
        gc_calls = {name: call for name, call in calls.items() if name != PYMERKLE_MEMORY}
        for impl, latency in time_interleaved(gc_calls, samples, warmup=0, gc_on=True).items():
            results.append(ProofResult(n, kind, impl, latency, WARM_GC))
        sql = [t for t in timed if isinstance(t, OursTree | PreviousReads) and t.has_cold_start]
        for mode, hooks in (
            (COLD, {t.name: t.cold_cache for t in sql}),
            (RESTART, {t.name: t.restart for t in sql}),
        ):
            cold = {name: calls[name] for name in hooks}
            for impl, latency in time_interleaved(
                cold, min(samples, COLD_SAMPLES), warmup=0, gc_on=True, before=hooks
            ).items():
                results.append(ProofResult(n, kind, impl, latency, mode))
    return results


def _caller(
    tree: BenchTree | PreviousReads, kind: str, qs: list[tuple[int, int]]
) -> Callable[[int], object]:
    prove = _prover(tree, kind)

    def call(r: int) -> object:
        a, b = qs[r]
        return prove(a, b)

    return call


def _prover(tree: BenchTree | PreviousReads, kind: str) -> Callable[[int, int], object]:
    return tree.inclusion if kind == "inclusion" else tree.consistency


@dataclass
class CrossCheck:
    n: int
    #: each tree's root hash at n, hex
    roots: dict[str, str]
    #: seconds each tree took to return that root (pymerkle's SqliteTree hashes at read time)
    root_seconds: dict[str, float]
    checked_proofs: int
    problems: list[str]

    @property
    def roots_agree(self) -> bool:
        return len(set(self.roots.values())) == 1


def cross_check(n: int, trees: Sequence[BenchTree], samples: int, seed: int) -> CrossCheck:
    """Compare the trees' roots and a sample of their proofs at ``n``."""
    roots: dict[str, str] = {}
    root_seconds: dict[str, float] = {}
    for t in trees:
        start = time.perf_counter()
        roots[t.name] = t.root().hex()
        root_seconds[t.name] = time.perf_counter() - start
    problems: list[str] = []
    if len(set(roots.values())) != 1:
        problems.append(f"n={n}: roots differ: " + ", ".join(f"{k}={v}" for k, v in roots.items()))
    ours = [t for t in trees if isinstance(t, OursTree)]
    pm = next((t for t in trees if isinstance(t, PymerkleTree) and t.name == PYMERKLE_MEMORY), None)
    q = queries(n, samples, seed)
    checked = min(CROSS_CHECKS, samples)
    problems += _check_inclusion(n, ours, pm, q.inclusion[:checked])
    problems += _check_consistency(n, ours, pm, q.consistency[:checked])
    return CrossCheck(n, roots, root_seconds, 2 * checked, problems)


def _check_inclusion(
    n: int, ours: list[OursTree], pm: PymerkleTree | None, qs: list[tuple[int, int]]
) -> list[str]:
    problems: list[str] = []
    ref = ours[0]
    for index, size in qs:
        proof = ref.inclusion(index, size)
        where = f"n={n}: inclusion({index}, {size})"
        if any(t.inclusion(index, size) != proof for t in ours[1:]):
            problems.append(f"{where}: our stores disagree")
        try:
            verify_inclusion(ref.leaf_hash(index), index, size, proof, ref.root(size))
        except VerifierError as exc:
            problems.append(f"{where}: ours does not verify: {exc}")
        # pymerkle's path starts with the leaf hash itself, then the RFC 9162 path.
        if pm is not None and pm.inclusion(index, size).path[1:] != proof:
            problems.append(f"{where}: differs from pymerkle's path")
    return problems


def _check_consistency(
    n: int, ours: list[OursTree], pm: PymerkleTree | None, qs: list[tuple[int, int]]
) -> list[str]:
    problems: list[str] = []
    ref = ours[0]
    for size1, size2 in qs:
        proof = ref.consistency(size1, size2)
        where = f"n={n}: consistency({size1}, {size2})"
        root1, root2 = ref.root(size1), ref.root(size2)
        if any(t.consistency(size1, size2) != proof for t in ours[1:]):
            problems.append(f"{where}: our stores disagree")
        try:
            verify_consistency(size1, size2, root1, root2, proof)
        except VerifierError as exc:
            problems.append(f"{where}: ours does not verify: {exc}")
        if pm is None:
            continue
        if pm.root(size1) != root1:
            problems.append(f"{where}: pymerkle's root at {size1} differs from ours")
        try:
            pymerkle.verify_consistency(root1, root2, pm.consistency(size1, size2))
        except pymerkle.InvalidProof as exc:
            problems.append(f"{where}: pymerkle's proof does not verify against our roots: {exc}")
    return problems


def _find(
    results: Sequence[ProofResult], n: int, kind: str, impl: str, mode: str = WARM
) -> Latency | None:
    return next(
        (r.latency for r in results if (r.n, r.kind, r.impl, r.mode) == (n, kind, impl, mode)),
        None,
    )


def proof_rows(
    results: Sequence[ProofResult], sizes: Sequence[int], baseline: str = PYMERKLE_MEMORY
) -> list[Row]:
    """Our lines at each size, kind and mode beside ``baseline`` timed warm on the same
    queries, or, where it was timed, beside the previous read path on the same database in
    the same mode; every SQL p99 judged against :data:`SQL_P99_TARGET_MS`."""
    rows: list[Row] = []
    for n in sizes:
        for kind in KINDS:
            for mode in MODES:
                for impl in OURS:
                    ours = _find(results, n, kind, impl, mode)
                    if ours is None or (impl == baseline and mode == WARM):
                        continue
                    base_name, base_mode = baseline, WARM
                    if _find(results, n, kind, PREVIOUS.get(impl, ""), mode) is not None:
                        base_name, base_mode = PREVIOUS[impl], mode
                    base = _find(results, n, kind, base_name, base_mode)
                    rows += [
                        _proof_row(n, kind, impl, mode, stat, ours, base, base_name, base_mode)
                        for stat in ("p50", "p99")
                    ]
    return rows


def _proof_row(
    n: int,
    kind: str,
    impl: str,
    mode: str,
    stat: str,
    ours: Latency,
    base: Latency | None,
    baseline: str,
    base_mode: str,
) -> Row:
    suffix = "" if mode == WARM else f", {mode}"
    figure = f"{kind} {stat} n={n:,} {impl}{suffix}"
    note = f"{_label(baseline)}: skipped at n={n:,} (see figure 1)"
    if base is not None:
        note = waited_note(figure, {"ours": ours, "baseline": base}) if stat == "p99" else ""
    row = Row(
        id=f"proof.{kind}.{impl}.{stat}.n={n}" + ("" if mode == WARM else f".{_slug(mode)}"),
        figure=figure,
        unit="ms",
        ours=ours.stat(stat),
        baseline=base.stat(stat) if base is not None else None,
        baseline_name=_label(baseline)
        + ("" if base_mode == WARM else f", {base_mode}")
        + (", warm, GC paused" if base_mode == WARM and mode != WARM else ""),
        note=note,
    )
    if impl in OURS_SQL and stat == "p99" and mode in JUDGED_MODES:
        row.target = f"<= {SQL_P99_TARGET_MS:g} ms"
        row.verdict = verdict(row.ours <= SQL_P99_TARGET_MS)
    return row


def _label(name: str) -> str:
    previous = {name: impl for impl, name in PREVIOUS.items()}
    if name in previous:
        return f"previous read path, {LABELS[previous[name]].split('/')[-1]}"
    return LABELS[name]


def _slug(mode: str) -> str:
    return {WARM_GC: "gc-on", COLD: "cold", RESTART: "restart"}.get(mode, mode)


def flatness_rows(results: Sequence[ProofResult], sizes: Sequence[int]) -> list[Row]:
    """p50 at the largest size over p50 at the smallest (warm), ours beside pymerkle's."""
    if len(sizes) < 2:
        return []
    lo, hi = min(sizes), max(sizes)
    rows: list[Row] = []
    for kind in KINDS:
        base = _growth(results, kind, PYMERKLE_MEMORY, lo, hi)
        for impl in OURS:
            growth = _growth(results, kind, impl, lo, hi)
            if growth is None:
                continue
            rows.append(
                Row(
                    id=f"flat.{kind}.{impl}",
                    figure=f"{kind} p50(n={hi:,})/p50(n={lo:,}) {impl}",
                    unit="x",
                    ours=growth,
                    baseline=base,
                    baseline_name=LABELS[PYMERKLE_MEMORY],
                    ratio_kind="none",
                    target=f"<= {FLATNESS_TARGET:.2f}x",
                    verdict=verdict(growth <= FLATNESS_TARGET),
                )
            )
    return rows


def _growth(results: Sequence[ProofResult], kind: str, impl: str, lo: int, hi: int) -> float | None:
    small, large = _find(results, lo, kind, impl), _find(results, hi, kind, impl)
    if small is None or large is None or small.p50_ms <= 0:
        return None
    return large.p50_ms / small.p50_ms


def proof_raw(results: Sequence[ProofResult]) -> list[dict[str, object]]:
    return [
        {
            "n": r.n,
            "kind": r.kind,
            "impl": r.impl,
            "mode": r.mode,
            "p50_ms": r.latency.p50_ms,
            "p99_ms": r.latency.p99_ms,
            "cpu_p50_ms": r.latency.cpu_p50_ms,
            "cpu_p99_ms": r.latency.cpu_p99_ms,
            "samples": r.latency.samples,
        }
        for r in results
    ]


# --- run alone: 10^6 and 10^7 leaves, built by the bulk path ----------------------------

#: leaves per append while growing the in-memory log
GROW_BATCH = 100_000


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(float(part)) for part in text.split(",")})
    if not sizes or sizes[0] < 2:
        raise argparse.ArgumentTypeError("every size must be at least 2 leaves")
    return sizes


def run_bulk(
    sizes: Sequence[int], samples: int, seed: int, progress: Progress
) -> tuple[list[ProofResult], list[CrossCheck]]:
    """Grow the in-memory log through ``sizes``; at each, copy it into SQLite and PostgreSQL
    (one bulk append each), then time and cross-check the proofs of all three."""
    results: list[ProofResult] = []
    checks: list[CrossCheck] = []
    with tempfile.TemporaryDirectory(prefix="evidence-bench-proofs-") as tmp:
        memory = ours_memory()
        trees = [memory, ours_sqlite(Path(tmp)), ours_postgres()]
        store = memory.log.store
        assert isinstance(store, MemoryNodeStore)
        previous = [PreviousReads(tree) for tree in trees[1:]]
        try:
            for n in sizes:
                start = time.perf_counter()
                for first in range(store.size(), n, GROW_BATCH):
                    memory.append([leaf_data(i) for i in range(first, min(n, first + GROW_BATCH))])
                progress(f"proofs: memory log at n={n:,} ({time.perf_counter() - start:.1f} s)")
                for tree in trees[1:]:
                    start = time.perf_counter()
                    tree.copy_from(store)
                    progress(f"proofs: {tree.name} bulk copy ({time.perf_counter() - start:.1f} s)")
                gc.collect()
                progress(f"proofs: n={n:,}, {samples} queries per kind")
                results += measure(n, [*trees, *previous], samples, seed)
                check = cross_check(n, trees, samples, seed)
                check.problems += _check_previous(n, memory, previous, samples, seed)
                checks.append(check)
        finally:
            for old in previous:
                old.close()
            for tree in trees:
                tree.close()
    return results, checks


def _check_previous(
    n: int, memory: OursTree, previous: list[PreviousReads], samples: int, seed: int
) -> list[str]:
    """The previous read path answers what the in-memory log answers."""
    q = queries(n, samples, seed)
    return [
        f"n={n:,}: {old.name} {kind}{args} differs from the in-memory log"
        for kind in KINDS
        for args in q.of(kind)[:CROSS_CHECKS]
        for old in previous
        if _prover(old, kind)(*args) != _prover(memory, kind)(*args)
    ]


def _caller_of(tree: OursTree | PreviousReads, kind: str) -> Callable[[int, int], list[bytes]]:
    return tree.inclusion if kind == "inclusion" else tree.consistency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.proofs",
        description="Proof latency, p50/p99 warm, warm with GC on, with a cold cache and "
        "after a restart, in memory, on SQLite and on PostgreSQL (a throwaway database), at "
        "sizes built by bulk copy; each SQL p99 but the restart's judged against 5 ms, beside "
        "the in-memory log.",
    )
    parser.add_argument("--sizes", type=_sizes, default=[10**6, 10**7], help="default 1e6,1e7")
    parser.add_argument("--samples", type=int, default=1000, help="queries per kind and size")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--report-only", action="store_true", help=REPORT_ONLY_HELP)
    args = parser.parse_args(argv)
    results, checks = run_bulk(args.sizes, args.samples, args.seed, Progress())
    rows = proof_rows(results, args.sizes, baseline=OURS_MEMORY)
    problems = [p for c in checks for p in c.problems]
    verified = ", ".join(f"n={c.n:,}: {c.checked_proofs}" for c in checks)
    rendered = format_table(
        f"Proof latency, ms ({args.samples} random queries per kind and size, seed {args.seed}; "
        f"cold cache: at most {COLD_SAMPLES}, each with an empty node cache; after a restart: "
        "a new connection too, not judged)",
        rows,
        "ratio = baseline / ours (times faster). Baseline of the SQL lines: the previous read "
        "path (pool_pre_ping, BEGIN, the size, the tiles, COMMIT; no cache) on the same "
        "database, timed the same way;\nof the memory lines: the in-memory log, warm, GC "
        "paused. inclusion: random leaf in the tree of n; consistency: random size1 < n to n."
        f"\nproofs cross-checked between the three stores and verified: {verified}"
        + ("" if not problems else "; PROBLEMS:\n  " + "\n  ".join(problems[:10])),
    )
    return report(rendered, problems, rows, report_only=args.report_only)


if __name__ == "__main__":
    raise SystemExit(main())
