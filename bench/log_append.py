"""Figure 1: append throughput (leaves/s) while growing every tree to each size.

All trees grow together, batch by batch, on the same leaf data: each batch
is built once (outside the clock) and handed to every tree in turn, in an
order that rotates from batch to batch. A noisy neighbour therefore slows
every line alike. The garbage collector is kept out of the timed calls (see
:func:`bench.common.gc_paused`). Throughput at size n is n divided by the time spent in
append calls to grow from empty to n leaves, so growing one tree through
10^4, 10^5 and 10^6 gives the same figures as building three, while 10^6 is
built only once; the trees then stay at n for the proof benchmarks.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    NOT_JUDGED,
    Progress,
    Row,
    Settings,
    collect_young,
    gc_paused,
    leaf_data,
    verdict,
)
from bench.trees import (
    LABELS,
    OURS_MEMORY,
    OURS_SQLITE,
    PYMERKLE_MEMORY,
    PYMERKLE_SQLITE,
    BenchTree,
)

#: ours must append at least this many times faster than pymerkle's InmemoryTree
APPEND_TARGET = 3.0


@dataclass
class Checkpoint:
    """The trees have just reached ``size`` leaves."""

    size: int
    #: append seconds spent growing each still-active tree from 0 to ``size``
    seconds: dict[str, float]
    #: why a tree was dropped before reaching ``size``
    skipped: dict[str, str] = field(default_factory=dict)

    def rate(self, name: str) -> float | None:
        seconds = self.seconds.get(name)
        return self.size / seconds if seconds else None


def grow(
    trees: list[BenchTree], settings: Settings, progress: Progress
) -> Iterator[tuple[Checkpoint, list[BenchTree]]]:
    """Grow every tree through ``settings.sizes``; yield at each size with the live trees.

    A baseline whose next segment would take longer than the budget, judged
    by its rate over the previous segment, is dropped (and closed) and
    reported as skipped from then on.
    """
    active = list(trees)
    total = {t.name: 0.0 for t in trees}
    rate: dict[str, float] = {}
    skipped: dict[str, str] = {}
    done = 0
    for size in settings.sizes:
        for tree in [t for t in active if t.is_baseline and t.name in rate]:
            estimate = (size - done) / rate[tree.name]
            if estimate > settings.baseline_budget_s:
                skipped[tree.name] = (
                    f"skipped from n={size:,}: growing it there would take about"
                    f" {estimate:.3g} s, over the {settings.baseline_budget_s:g} s budget"
                )
                progress(f"append: {tree.name} {skipped[tree.name]}")
                tree.close()
                active.remove(tree)
        segment_start = {t.name: total[t.name] for t in active}
        report_every = max(settings.batch, (size - done) // 5)
        next_report = done + report_every
        with gc_paused():
            for batch_no, start in enumerate(range(done, size, settings.batch)):
                end = min(start + settings.batch, size)
                data = [leaf_data(i) for i in range(start, end)]
                shift = batch_no % len(active)
                for tree in active[shift:] + active[:shift]:
                    total[tree.name] += _timed_append(tree, data)
                    collect_young()
                if end >= next_report and end < size:
                    progress(f"append: {end:,}/{size:,} leaves")
                    next_report += report_every
        gc.collect()
        for tree in active:
            leaves = size - done
            spent = total[tree.name] - segment_start[tree.name]
            rate[tree.name] = leaves / spent if spent > 0 else float("inf")
        done = size
        checkpoint = Checkpoint(size, {t.name: total[t.name] for t in active}, dict(skipped))
        progress(
            f"append: reached n={size:,} ("
            + ", ".join(f"{t.name} {total[t.name]:.2f}s" for t in active)
            + ")"
        )
        yield checkpoint, list(active)


def warm_up(trees: list[BenchTree], leaves: int = 1000) -> None:
    """Run every code path once on throwaway trees (imports, SQLite, first-call caches),
    so the first timed batch of the real trees is not charged for it."""
    data = [leaf_data(i) for i in range(leaves)]
    for tree in trees:
        tree.append(data)
        tree.root()
        tree.inclusion(leaves // 3, leaves)
        tree.consistency(leaves // 3, leaves)
        tree.close()


def _timed_append(tree: BenchTree, data: Sequence[bytes]) -> float:
    start = time.perf_counter()
    tree.append(data)
    return time.perf_counter() - start


def append_rows(checkpoints: Sequence[Checkpoint]) -> list[Row]:
    rows: list[Row] = []
    for cp in checkpoints:
        n = cp.size
        mem, sql = cp.rate(OURS_MEMORY), cp.rate(OURS_SQLITE)
        pm_mem, pm_sql = cp.rate(PYMERKLE_MEMORY), cp.rate(PYMERKLE_SQLITE)
        for impl, ours, base_name, base, target in (
            (OURS_MEMORY, mem, PYMERKLE_MEMORY, pm_mem, True),
            (OURS_SQLITE, sql, PYMERKLE_MEMORY, pm_mem, True),
            (OURS_SQLITE, sql, PYMERKLE_SQLITE, pm_sql, False),
        ):
            if ours is None:  # our trees are never skipped
                raise RuntimeError(f"{impl} has no append time at n={n}")
            row = Row(
                id=f"append.{impl}.vs.{base_name}.n={n}",
                figure=f"append n={n:,} {impl}",
                unit="leaves/s",
                ours=ours,
                baseline=base,
                baseline_name=LABELS[base_name],
                higher_is_better=True,
                note=f"{LABELS[base_name]}: {cp.skipped[base_name]}"
                if base_name in cp.skipped
                else "",
            )
            if target:
                row.target = f">= {APPEND_TARGET:.2f}x"
                row.verdict = (
                    NOT_JUDGED if row.ratio is None else verdict(row.ratio >= APPEND_TARGET)
                )
            rows.append(row)
    return rows


def append_raw(checkpoints: Sequence[Checkpoint], batch: int) -> list[dict[str, Any]]:
    measured: list[dict[str, Any]] = [
        {
            "n": cp.size,
            "impl": name,
            "batch": batch,
            "seconds": seconds,
            "leaves_per_s": cp.size / seconds if seconds else None,
        }
        for cp in checkpoints
        for name, seconds in cp.seconds.items()
    ]
    skipped: list[dict[str, Any]] = [
        {"n": cp.size, "impl": name, "batch": batch, "skipped": reason}
        for cp in checkpoints
        for name, reason in cp.skipped.items()
    ]
    return measured + skipped
