"""Shared pieces of the benchmarks: settings, timing, percentiles, result rows, tables.

Machines running these are shared and noisy, so no figure is printed alone:
every row carries its baseline, measured in the same run on the same leaves,
and the ratio between the two. A row with a target carries its own verdict
(PASS or MISS; N/A when its baseline was skipped), and :func:`exit_status`
turns the rows and the checks into the exit status: a failed check is a broken
run, a missed target a failed one unless the run only reports.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import math
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import psutil  # type: ignore[import-untyped]

#: ``N/A``: the row has a target but its baseline was skipped, so it cannot be judged.
Verdict = Literal["PASS", "MISS", "N/A", "-"]
PASS: Verdict = "PASS"
MISS: Verdict = "MISS"
NOT_JUDGED: Verdict = "N/A"
NO_TARGET: Verdict = "-"
#: How a row's ratio reads: ``speedup`` (how many times faster ours is than the
#: baseline), ``share`` (ours as a fraction of the baseline), ``none`` (no ratio).
RatioKind = Literal["speedup", "share", "none"]


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...]
    #: leaves per append call (every implementation gets the same batches)
    batch: int
    #: random queries per proof kind and tree size
    proof_samples: int
    #: timed rounds per bundle verification part
    bundle_samples: int
    seed: int
    #: a baseline whose next tree size would take longer than this is skipped
    baseline_budget_s: float
    quick: bool


def leaf_data(index: int) -> bytes:
    """The data of leaf ``index``: the same bytes for every implementation."""
    return b"evidence-anchor bench leaf %012d" % index


# --- timing -------------------------------------------------------------------------------


class Progress:
    """Progress lines on stderr, stamped with the time since the run began."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        print(f"[{self.elapsed():7.1f}s] {message}", file=sys.stderr, flush=True)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of timed calls; callers collect between them.

    A full collection walks every live object, pymerkle's millions of tree
    nodes included, and costs tens of milliseconds; left on, it lands on
    whichever call happens to allocate at the time, so one tree's garbage is
    charged to another. Paused, every call is timed without it, and
    :func:`collect_young` runs between calls, untimed. This favours pymerkle,
    whose trees are made of many cyclic objects; ours are lists of bytes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect_young() -> None:
    """Collect the young generations (cheap: only objects made since the last call)."""
    gc.collect(1)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between ranks.

    The same definition as NumPy's default, so figures can be re-derived from
    the raw samples with any common tool.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    """p50/p99 of a set of samples, in milliseconds: wall-clock time (the figure) and
    the thread's CPU time over the same calls.

    The two part where the thread was off the CPU: on a shared machine a wall
    p99 far above the CPU p99 is mostly a neighbour's doing (or I/O waits).
    """

    p50_ms: float
    p99_ms: float
    cpu_p50_ms: float
    cpu_p99_ms: float
    samples: int

    @classmethod
    def of_seconds(cls, wall: Sequence[float], cpu: Sequence[float]) -> Latency:
        ms = [s * 1e3 for s in wall]
        cpu_ms = [s * 1e3 for s in cpu]
        return cls(
            percentile(ms, 50),
            percentile(ms, 99),
            percentile(cpu_ms, 50),
            percentile(cpu_ms, 99),
            len(ms),
        )

    def stat(self, name: str) -> float:
        return self.p50_ms if name == "p50" else self.p99_ms

    def waited(self) -> bool:
        """True when the wall p99 is mostly time spent off the CPU."""
        return self.p99_ms > 2 * self.cpu_p99_ms and self.p99_ms - self.cpu_p99_ms > 0.5


def waited_note(figure: str, lines: dict[str, Latency]) -> str:
    """A note giving the CPU-time p99 of each line when any of them mostly waited."""
    if not any(lat.waited() for lat in lines.values()):
        return ""
    cpu = ", ".join(f"{name} {lat.cpu_p99_ms:.3f} ms" for name, lat in lines.items())
    return (
        f"{figure}: p99 on CPU time: {cpu}; the rest of the wall time was spent off"
        " the CPU (waiting for a core on a shared machine, or for I/O)"
    )


def time_interleaved(
    calls: dict[str, Callable[[int], object]],
    rounds: int,
    warmup: int = 10,
    *,
    gc_on: bool = False,
    before: dict[str, Callable[[], None]] | None = None,
) -> dict[str, Latency]:
    """Time ``fn(round)`` for every call once per round, rotating their order each round.

    Interleaving spreads a noisy neighbour's bursts over every line instead of
    charging them to whichever one happened to run at the time. The round
    number lets a call pick that round's query, so all lines answer the same
    queries. The garbage collector is paused (and the young generation collected
    between rounds) unless ``gc_on``: then it runs inside whichever call allocates
    when a collection is due, as in a server. ``before[name]`` is called, untimed,
    just before each of that line's calls (e.g. to empty a cache for a cold call).
    """
    names = list(calls)
    if gc_on and not gc.isenabled():
        raise RuntimeError("the garbage collector is off: these figures are with it on")
    for r in range(min(warmup, rounds)):
        for name in names:
            calls[name](r)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    clock, cpu_clock = time.perf_counter, time.thread_time
    with contextlib.nullcontext() if gc_on else gc_paused():
        for r in range(rounds):
            shift = r % max(len(names), 1)
            for name in names[shift:] + names[:shift]:
                if before is not None:
                    before[name]()
                fn = calls[name]
                cpu_start = cpu_clock()
                start = clock()
                fn(r)
                end = clock()
                cpu[name].append(cpu_clock() - cpu_start)
                wall[name].append(end - start)
            if not gc_on:
                collect_young()
    return {name: Latency.of_seconds(wall[name], cpu[name]) for name in names}


# --- results ------------------------------------------------------------------------------


@dataclass
class Row:
    """One printed line: a figure of ours beside its baseline."""

    id: str
    figure: str
    unit: str
    ours: float
    baseline: float | None
    baseline_name: str
    ratio_kind: RatioKind = "speedup"
    higher_is_better: bool = False
    target: str = ""
    verdict: Verdict = NO_TARGET
    note: str = ""
    ratio: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self._ratio()

    def _ratio(self) -> float | None:
        if self.ratio_kind == "none":
            return None
        if self.baseline is None or self.ours <= 0 or self.baseline <= 0:
            return None
        if self.ratio_kind == "speedup" and not self.higher_is_better:
            return self.baseline / self.ours  # latency: how many times faster ours is
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(ok: bool) -> Verdict:
    return PASS if ok else MISS


# --- verdicts and the exit status ---------------------------------------------------------

#: every check held and every target row passed (or the run only reports: ``--report-only``)
EXIT_OK = 0
#: a correctness failure: a cross-check or a service check failed, a section could not run,
#: or a row has a target but no verdict; ``--report-only`` does not hide these
EXIT_BROKEN = 1
#: every check held, but at least one target row printed MISS
EXIT_MISSED = 3


def missed(rows: Iterable[Row]) -> list[Row]:
    """The target rows that missed."""
    return [r for r in rows if r.target and r.verdict == MISS]


def unjudged(rows: Iterable[Row]) -> list[str]:
    """Problems of rows that name a target but carry no verdict (a bench bug: such a row
    could never miss), or a verdict without a target."""
    found = []
    for r in rows:
        if r.target and r.verdict == NO_TARGET:
            found.append(f"row {r.id} has the target {r.target!r} but no verdict")
        elif not r.target and r.verdict != NO_TARGET:
            found.append(f"row {r.id} has the verdict {r.verdict} but no target")
    return found


def tally(rows: Iterable[Row]) -> dict[str, int]:
    """How many target rows got each verdict."""
    counts: dict[str, int] = {PASS: 0, MISS: 0, NOT_JUDGED: 0}
    for r in rows:
        if r.target and r.verdict in counts:
            counts[r.verdict] += 1
    return counts


def exit_status(rows: Iterable[Row], problems: Sequence[str], *, report_only: bool) -> int:
    """The exit status of a run: :data:`EXIT_BROKEN` on any problem (a failed check, a
    broken section, a target row without a verdict), else :data:`EXIT_MISSED` when a
    target row missed and the run judges (not ``report_only``), else :data:`EXIT_OK`.

    An N/A row (its baseline skipped) is neither: it is printed and counted, not judged.
    """
    rows = list(rows)
    if problems or unjudged(rows):
        return EXIT_BROKEN
    if missed(rows) and not report_only:
        return EXIT_MISSED
    return EXIT_OK


def verdict_summary(rows: Iterable[Row], *, report_only: bool) -> str:
    """The closing lines of a run: the verdict counts, then each missed row."""
    rows = list(rows)
    counts = tally(rows)
    judged = sum(counts.values())
    lines = [
        f"Targets: {counts[PASS]} PASS, {counts[MISS]} MISS, {counts[NOT_JUDGED]} N/A "
        f"(baseline skipped) of {judged}"
        + (" (--report-only: a MISS does not fail the run)" if report_only and counts[MISS] else "")
    ]
    lines += [
        f"  MISS: {r.figure}: {fmt_number(r.ours, r.unit)} {r.unit}, ratio {fmt_ratio(r)}"
        f" (target {r.target})"
        for r in missed(rows)
    ]
    lines += [f"  BROKEN: {p}" for p in unjudged(rows)]
    return "\n".join(lines)


def fmt_number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "leaves/s":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.3f}" if value < 10 else f"{value:,.1f}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.4g}"


def fmt_ratio(row: Row) -> str:
    if row.ratio is None:
        return "-"
    if row.ratio_kind == "share":
        return f"{row.ratio * 100:.0f}%"
    return f"{row.ratio:.2f}x"


def format_table(title: str, rows: Sequence[Row], legend: str = "") -> str:
    header = ("figure", "unit", "ours", "baseline", "vs", "ratio", "target", "")
    lines = [
        (
            r.figure,
            r.unit,
            fmt_number(r.ours, r.unit) + ("*" if r.note and r.baseline is not None else ""),
            fmt_number(r.baseline, r.unit) if r.baseline is not None else "skipped*",
            r.baseline_name,
            fmt_ratio(r),
            r.target or "-",
            r.verdict,
        )
        for r in rows
    ]
    widths = [max([len(h), *(len(line[i]) for line in lines)]) for i, h in enumerate(header)]
    right = {2, 3, 5}

    def render(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(render(header))
    out = [title, rule, render(header), rule, *(render(line) for line in lines), rule]
    if legend:
        out.append(legend)
    out.extend(dict.fromkeys(f"  * {r.note}" for r in rows if r.note))
    return "\n".join(out)


REPORT_ONLY_HELP = (
    "print every verdict but exit 0 when a target row misses (a failed check or a broken "
    "section still exits 1)"
)


def section_args(
    argv: list[str] | None, *, prog: str, description: str, quick_help: str, runs_help: str
) -> argparse.Namespace:
    """The command line every measured section takes: ``--quick``, ``--runs N`` and
    ``--report-only``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--runs", type=int, help=runs_help)
    parser.add_argument("--report-only", action="store_true", help=REPORT_ONLY_HELP)
    return parser.parse_args(argv)


def report(
    rendered: str, problems: list[str], rows: Sequence[Row], *, report_only: bool = False
) -> int:
    """Print a section's table and its verdicts; the exit status of :func:`exit_status`."""
    print(rendered, flush=True)
    print(verdict_summary(rows, report_only=report_only), flush=True)
    status = exit_status(rows, problems, report_only=report_only)
    if status == EXIT_BROKEN:
        print("CHECK FAILED: see the problems above", file=sys.stderr)
    elif status == EXIT_MISSED:
        print("TARGET MISSED: see the MISS rows above", file=sys.stderr)
    return status


#: the repository's root (``tests.support`` lives under it)
REPO = Path(__file__).resolve().parent.parent


def support(name: str) -> ModuleType:
    """``tests.support.<name>``, importable from any working directory."""
    root = str(REPO)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"tests.support.{name}")


# --- CPU per item, by party -----------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` and its children have used (the server
    and its worker processes and certificate helper; the S3 server)."""
    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def own_cpu() -> float:
    """CPU seconds (user + system) of this process: the client threads and their driver."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuSplit:
    """CPU per item, ms, of each party on the machine's cores during a load."""

    #: the service's processes (0 for a baseline without one)
    server_ms: float = 0.0
    #: the S3 server's processes (0 on the local store: its writes are the server's)
    store_ms: float = 0.0
    #: this process: the client threads (on the same cores, not part of a deployment)
    clients_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.server_ms + self.store_ms + self.clients_ms

    @property
    def parties(self) -> str:
        """Whose CPU this counts: the parties that used any ("server + S3 server + clients")."""
        used = zip(
            ("server", "S3 server", "clients"),
            (self.server_ms, self.store_ms, self.clients_ms),
            strict=True,
        )
        return " + ".join(name for name, ms in used if ms > 0) or "nothing measured"

    def bound(self, cores: int) -> float:
        """Items/s the machine's ``cores`` could give with every one of them busy with this
        load's parties alone (0 when nothing was measured)."""
        return cores * 1e3 / self.total_ms if self.total_ms > 0 else 0.0


#: what a timed load calls as its clock starts and as it stops
#: (``bench.ingest.run_concurrent``'s ``clock``)
Clock = tuple[Callable[[], object], Callable[[], object]]


class CpuMeter:
    """:class:`CpuSplit` of one load: :meth:`start` as its clock starts, :meth:`stop` as it
    stops (``bench.ingest.run_concurrent(..., clock=meter.clock)``), then :meth:`per_item`;
    ``server_pid`` / ``store_pid`` ``None``: no such party (a baseline, the local store)."""

    def __init__(self, server_pid: int | None, store_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.store_pid = store_pid
        self._start = self._stop = (0.0, 0.0, 0.0)

    def _now(self) -> tuple[float, float, float]:
        store = process_cpu(self.store_pid) if self.store_pid is not None else 0.0
        server = process_cpu(self.server_pid) if self.server_pid is not None else 0.0
        return server, store, own_cpu()

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        self._stop = self._now()

    @property
    def clock(self) -> Clock:
        return self.start, self.stop

    def per_item(self, count: int) -> CpuSplit:
        used = [1e3 * (b - a) / count for a, b in zip(self._start, self._stop, strict=True)]
        return CpuSplit(*used)


#: the cores the load, the server and the S3 server share (the CPU bound's numerator)
CORES = psutil.cpu_count() or 1


def bound_row(id_: str, figure: str, unit: str, rate: float, cpu: CpuSplit) -> Row:
    """``rate`` (items/s) beside the CPU bound that ``cpu`` gives on this machine's cores,
    unjudged; the baseline's name says whose CPU ``cpu`` counts."""
    return Row(
        id=id_,
        figure=f"{figure}, beside the CPU bound",
        unit=unit,
        ours=rate,
        baseline=cpu.bound(CORES),
        baseline_name=f"{CORES} cores / CPU per evidence ({cpu.parties})",
        ratio_kind="share",
        higher_is_better=True,
    )
