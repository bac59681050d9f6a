"""Figure 2: inclusion and consistency proof latency, p50/p99 in ms, at each tree size.

Queries are drawn with a fixed seed per size and answered by every tree in
turn (interleaved, order rotating), so all lines answer the same questions
on the same leaves. Inclusion: a uniform random leaf in the whole tree of n
leaves (what a bundle carries). Consistency: from a uniform random earlier
size in 1..n-1 to n (what an auditor asks between two checkpoints).

Every run also cross-checks the answers: our stores agree with each other,
our inclusion proofs equal pymerkle's path (less its leading leaf hash), and
every proof verifies with :mod:`verifier.merkle` (ours) or pymerkle's own
verifier (theirs). pymerkle's consistency proofs use their own path layout,
not RFC 9162's, so those are checked by verification, not by equality.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pymerkle

from bench.common import Latency, Row, time_interleaved, verdict, waited_note
from bench.trees import (
    LABELS,
    OURS_MEMORY,
    OURS_SQLITE,
    PYMERKLE_MEMORY,
    BenchTree,
    OursTree,
    PymerkleTree,
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


def measure(n: int, trees: Sequence[BenchTree], samples: int, seed: int) -> list[ProofResult]:
    """Time both proof kinds on every in-memory or SQL tree that is at ``n`` leaves."""
    q = queries(n, samples, seed)
    timed = [t for t in trees if t.name in (OURS_MEMORY, OURS_SQLITE, PYMERKLE_MEMORY)]
    results: list[ProofResult] = []
    for kind in KINDS:
        calls = {t.name: _caller(t, kind, q.of(kind)) for t in timed}
        for impl, latency in time_interleaved(calls, samples).items():
            results.append(ProofResult(n, kind, impl, latency))
    return results


def _caller(tree: BenchTree, kind: str, qs: list[tuple[int, int]]) -> Callable[[int], object]:
    prove = tree.inclusion if kind == "inclusion" else tree.consistency

    def call(r: int) -> object:
        a, b = qs[r]
        return prove(a, b)

    return call


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


def _find(results: Sequence[ProofResult], n: int, kind: str, impl: str) -> Latency | None:
    return next(
        (r.latency for r in results if (r.n, r.kind, r.impl) == (n, kind, impl)),
        None,
    )


def proof_rows(results: Sequence[ProofResult], sizes: Sequence[int]) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        for kind in KINDS:
            base = _find(results, n, kind, PYMERKLE_MEMORY)
            for impl in (OURS_MEMORY, OURS_SQLITE):
                ours = _find(results, n, kind, impl)
                if ours is None:
                    continue
                for stat in ("p50", "p99"):
                    figure = f"{kind} {stat} n={n:,} {impl}"
                    note = f"{LABELS[PYMERKLE_MEMORY]}: skipped at n={n:,} (see figure 1)"
                    if base is not None:
                        lines = {"ours": ours, "pymerkle": base}
                        note = waited_note(figure, lines) if stat == "p99" else ""
                    row = Row(
                        id=f"proof.{kind}.{impl}.{stat}.n={n}",
                        figure=figure,
                        unit="ms",
                        ours=ours.stat(stat),
                        baseline=base.stat(stat) if base is not None else None,
                        baseline_name=LABELS[PYMERKLE_MEMORY],
                        note=note,
                    )
                    if impl == OURS_SQLITE and stat == "p99":
                        row.target = f"<= {SQL_P99_TARGET_MS:g} ms"
                        row.verdict = verdict(row.ours <= SQL_P99_TARGET_MS)
                    rows.append(row)
    return rows


def flatness_rows(results: Sequence[ProofResult], sizes: Sequence[int]) -> list[Row]:
    """p50 at the largest size over p50 at the smallest, ours beside pymerkle's."""
    if len(sizes) < 2:
        return []
    lo, hi = min(sizes), max(sizes)
    rows: list[Row] = []
    for kind in KINDS:
        base = _growth(results, kind, PYMERKLE_MEMORY, lo, hi)
        for impl in (OURS_MEMORY, OURS_SQLITE):
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
            "p50_ms": r.latency.p50_ms,
            "p99_ms": r.latency.p99_ms,
            "cpu_p50_ms": r.latency.cpu_p50_ms,
            "cpu_p99_ms": r.latency.cpu_p99_ms,
            "samples": r.latency.samples,
        }
        for r in results
    ]
