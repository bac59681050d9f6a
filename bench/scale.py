"""Throughput with 1, 2 and 3 API replicas (issue 19): ``python -m bench scale [--quick]
[--full-drill]``, or alone ``python -m bench.scale [--quick] [--full-drill] [--report-only]``.

One scale-out stack (:func:`tests.support.scale.scale_stack`: 3 ``evidence serve``
replicas without in-process timers, 2 Celery workers and beat sealing and anchoring under
the cluster-wide locks, a scratch PostgreSQL database, SeaweedFS S3 with Object Lock, its
own Redis and anvil with 1 s blocks). On that same stack, for k = 1, 2, 3 replicas (1 and 2
with ``--quick``): small evidence (1 KB uploads) and then stamps (one digest a request),
each by the same number of client threads spreading their requests round-robin over the
first k replicas (:class:`tests.support.scale_load.Load`). Figures: items/s, p50/p99
latency, and the ratio to the 1-replica figure of the same run: the baseline. The machine
has 2 cores, so the absolute figures are this machine's; the curve and where it flattens are
the result.

Where the CPU goes: during every run a sampler reads the CPU seconds (user + system,
psutil) of every process of the stack by class: the serve replicas, the Celery workers,
beat, PostgreSQL (the backends of the bench's database; the server's shared background
processes on their own line), SeaweedFS, Redis, anvil, the load generator (this process),
and what the rest of the machine used meanwhile (other users of a shared machine). The
bottleneck is named from that split: the cores saturated or not, and the class that used
the most. Then a sampling profile of one replica alone under evidence load, a run of its
own outside the curve (py-spy when installed: its top functions in the samples of the
thread holding the GIL); without py-spy the CPU split alone is reported and the legend
says so (cProfile cannot attach to a running server).

Drill (a) of the issue at full size (the default run, or ``--full-drill``): 20,000 items
(evidence and stamps, half each) from 64 clients over the 3 replicas; after everything is
sealed and anchored, the log holds exactly the receipts issued, no entry twice
(:func:`tests.support.scale_load.check_log`), the checkpoints clients saw form one history
(:func:`tests.support.scale_load.check_checkpoints`), every bundle verifies through tier 5
with the library and a sample of 500 with the ``evidence-verify`` console script. A failed
check is a problem (exit status 1); no figure has a target.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import psutil  # type: ignore[import-untyped]

from bench.common import (
    REPO,
    REPORT_ONLY_HELP,
    Progress,
    Row,
    format_table,
    percentile,
    report,
    support,
)
from bench.databases import scratch_postgres
from bench.ingest import SharedS3

if TYPE_CHECKING:
    from tests.support.scale import ScaleStack
    from tests.support.scale_load import Ack, LoadResult

KINDS = ("evidence", "stamps")
#: the process classes of the CPU split, in print order
CLASSES = (
    "serve replicas",
    "celery workers",
    "beat",
    "postgres",
    "postgres (shared server)",
    "weed (S3)",
    "redis",
    "anvil",
    "load generator",
    "profiler",
    "other (ours)",
    "rest of the machine",
)
#: classes that are not the stack's work
OUTSIDE = ("profiler", "rest of the machine")
SAMPLE_S = 0.5
#: adding a replica that raises the rate by less than this factor: the curve has flattened
FLAT = 1.10
TOP_FUNCTIONS = 12
#: the project's own packages: a frame in one is where the replica's time goes in our code
OUR_PACKAGES = ("evidence_api/", "anchoring/", "verifier/")
#: threads for the drill's checks (20,000 bundles read and verified, 500 by the CLI)
PARALLEL = 4
#: seconds a load may take (generous: the drill's 20,000 items on a loaded 2-core machine)
LOAD_DEADLINE_S = 900.0


@dataclass(frozen=True)
class ScaleSettings:
    quick: bool
    replicas: tuple[int, ...]
    clients: int
    #: items per run of the curve, per kind
    items: int
    #: items of the profiled run (1 replica, evidence), 0: no profile
    profile_items: int
    #: drill (a): items over all replicas, 0: no drill
    drill_items: int
    drill_clients: int
    #: of the drill's bundles, how many go through ``evidence-verify`` as well
    cli_sample: int
    workers: int = 2

    @classmethod
    def make(cls, quick: bool, full_drill: bool = False) -> ScaleSettings:
        drill = (20_000, 64, 500) if full_drill or not quick else (0, 64, 0)
        if quick:
            return cls(True, (1, 2), 16, 300, 150, *drill)
        return cls(False, (1, 2, 3), 32, 2_000, 600, *drill)


# --- where the CPU goes -----------------------------------------------------------------


def _cpu(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return float(times.user + times.system)


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def classify(process: psutil.Process, roots: dict[int, str]) -> str:
    """The class of one of this process's descendants: that of its nearest ancestor
    among ``roots`` (a replica, a worker, beat), else by its command line."""
    with suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        for ancestor in [process, *process.parents()]:
            if ancestor.pid in roots:
                return roots[ancestor.pid]
    line = _cmdline(process)
    for word, name in (
        ("redis-server", "redis"),
        ("anvil", "anvil"),
        ("weed", "weed (S3)"),
        ("py-spy", "profiler"),
    ):
        if word in line:
            return name
    return "other (ours)"


def postgres_class(process: psutil.Process, database: str) -> str | None:
    """``postgres`` for a backend of ``database``; the server's own processes (the
    postmaster, checkpointer, WAL writer...) are shared with anything else using the
    server; another database's backend is not ours (None)."""
    with suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        if process.name() != "postgres":
            return None
    line = _cmdline(process)
    if database in line:
        return "postgres"
    if "(" in line or "[local]" in line:
        return None  # a client backend of another database: "... db 127.0.0.1(port) idle"
    return "postgres (shared server)"


class CpuSampler:
    """CPU seconds by process class over a window, sampled every :data:`SAMPLE_S`.

    Each process's CPU is read when first and last seen: one that starts in the window
    counts from zero, one that ends in it counts until its last sample (a short-lived
    process can be missed by up to one interval). The machine's busy time over the same
    window, less ours, is what the rest of the machine used."""

    def __init__(self, roots: Callable[[], dict[int, str]], database: str) -> None:
        self._roots = roots
        self._database = database
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._begin = 0.0
        self._busy = 0.0
        self.seconds = 0.0

    def _processes(self) -> Iterator[tuple[psutil.Process, str]]:
        me = psutil.Process()
        yield me, "load generator"
        roots = self._roots()
        for child in me.children(recursive=True):
            yield child, classify(child, roots)
        for process in psutil.process_iter():
            name = postgres_class(process, self._database)
            if name is not None:
                yield process, name

    def sample(self, *, first: bool = False) -> None:
        for process, name in self._processes():
            cpu = _cpu(process)
            if cpu is None:
                continue
            if process.pid not in self._first:
                self._first[process.pid] = cpu if first or self._old(process) else 0.0
            self._last[process.pid] = (name, cpu)

    def _old(self, process: psutil.Process) -> bool:
        try:
            return bool(process.create_time() < self._begin)
        except psutil.Error:
            return True

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def __enter__(self) -> CpuSampler:
        self._begin = time.time()
        self._busy = _machine_busy()
        self.seconds = time.monotonic()
        self.sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sample()
        self.seconds = time.monotonic() - self.seconds
        self._busy = _machine_busy() - self._busy

    def split(self) -> dict[str, float]:
        """CPU seconds by class, the rest of the machine included."""
        out = dict.fromkeys(CLASSES, 0.0)
        for pid, (name, cpu) in self._last.items():
            out[name] += max(0.0, cpu - self._first.get(pid, cpu))
        out["rest of the machine"] = max(0.0, self._busy - sum(out.values()))
        return out


def _machine_busy() -> float:
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(sum(times) - idle)


# --- a sampling profile of one replica ---------------------------------------------------


def py_spy() -> str | None:
    """The py-spy binary: ``EVIDENCE_BENCH_PY_SPY``, the venv's, or on ``PATH``."""
    named = os.environ.get("EVIDENCE_BENCH_PY_SPY")
    if named:
        return named if Path(named).is_file() else None
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


class ProfilerError(RuntimeError):
    """py-spy ran but wrote no profile (it could not attach, for one)."""


@contextmanager
def profiled(pid: int, out: Path, binary: str) -> Iterator[None]:
    """``py-spy record`` of ``pid`` for the duration of the block: raw collapsed stacks of
    the thread holding the GIL (where the replica's Python spends its CPU; a thread waiting
    on a socket or a lock is not sampled), without pausing the process. Stopped with
    SIGINT, on which py-spy writes its file."""
    process = subprocess.Popen(
        [binary, "record", "-p", str(pid), "-f", "raw", "-o", str(out), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        if not out.is_file():
            raise ProfilerError(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")


@dataclass
class Profile:
    samples: int = 0
    #: (function (file), samples with it running: the innermost frame), most first
    self_top: list[tuple[str, int]] = field(default_factory=list)
    #: (function (file), samples with it on the stack) of the project's own code: where
    #: the replica's time goes by route, store and log function
    total_top: list[tuple[str, int]] = field(default_factory=list)
    note: str = ""


def _frame(text: str) -> str:
    """``name (path/to/file.py:123)`` -> ``name (file.py)``; site-packages paths shortened
    to the package."""
    name, _, where = text.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif str(REPO) in path:
        path = path.split(str(REPO) + "/", 1)[1]
    return f"{name} ({path})" if path else name


def parse_raw(text: str, top: int = TOP_FUNCTIONS) -> Profile:
    """py-spy's raw (collapsed) output: one ``frame;frame;... count`` line per stack."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in {f for f in frames if f.partition(" (")[2].startswith(OUR_PACKAGES)}:
            total[name] += count
    return Profile(samples, own.most_common(top), total.most_common(top))


# --- the curve ----------------------------------------------------------------------------


@dataclass
class RunFigure:
    kind: str
    replicas: int
    clients: int
    items: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    refusals: dict[str, int]
    #: CPU seconds by process class over the run
    cpu: dict[str, float]
    per_replica: dict[str, int]
    #: seconds the CPU was sampled over (the load and its start and join around it)
    window_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def utilisation(self) -> float:
        """The machine's busy share over the sampled window (1.0: every core busy all the
        time)."""
        cores = os.cpu_count() or 1
        return sum(self.cpu.values()) / (self.window_s * cores) if self.window_s else 0.0

    def cpu_ms_per_item(self, name: str) -> float:
        return self.cpu[name] / self.items * 1e3 if self.items else 0.0

    @property
    def cpu_bound_per_s(self) -> float:
        """The rate the machine's cores would sustain if the stack had them to itself:
        cores / the stack's CPU seconds per item (every class but the profiler and the
        rest of the machine). An upper bound, less noisy than the rate on a shared
        machine: it moves with the work an item costs, not with the neighbours."""
        stack = sum(v for k, v in self.cpu.items() if k not in OUTSIDE)
        return (os.cpu_count() or 1) * self.items / stack if stack else 0.0

    def bottleneck(self) -> str:
        """The class that used the most CPU in the run, and whether the cores saturated."""
        total = max(sum(self.cpu.values()), 1e-9)
        ours = {k: v for k, v in self.cpu.items() if k != "rest of the machine"}
        name = max(ours, key=lambda k: ours[k])
        state = "cores saturated" if self.utilisation >= 0.9 else "cores not saturated"
        return (
            f"{name} ({ours[name] / total:.0%} of the CPU used; {state}, "
            f"{self.utilisation:.0%} busy, {self.cpu['rest of the machine'] / total:.0%} of it "
            "by the rest of the machine)"
        )


@dataclass
class DrillResult:
    items: int = 0
    clients: int = 0
    seconds: float = 0.0
    #: receipts of the drill's load
    receipts: int = 0
    #: receipts of every load the stack took (warm-up, curve, profile, drill)
    receipts_all: int = 0
    log_size: int = 0
    #: log entries of the loads' kinds (evidence, stamps): equal to ``receipts_all``
    entries: int = 0
    duplicates: int = 0
    missing: int = 0
    checkpoints_seen: int = 0
    library_verified: int = 0
    cli_verified: int = 0
    per_replica: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    #: seconds from the load's end until every entry was sealed and checked
    sealed_after_s: float = 0.0
    #: seconds more until the newest checkpoint was anchored (confirmed)
    anchored_after_s: float = 0.0
    #: seconds to read the drill's bundles from the database
    read_s: float = 0.0
    library_s: float = 0.0
    cli_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.receipts / self.seconds if self.seconds else 0.0


@dataclass
class ScaleResult:
    settings: ScaleSettings
    runs: list[RunFigure] = field(default_factory=list)
    profile: Profile | None = None
    profile_cpu: dict[str, float] = field(default_factory=dict)
    drill: DrillResult | None = None
    problems: list[str] = field(default_factory=list)

    def baseline(self, kind: str) -> RunFigure | None:
        return next((r for r in self.runs if r.kind == kind and r.replicas == 1), None)

    def flattens(self, kind: str, bound: bool = False) -> str:
        """Where the curve flattens: the first replica count that adds less than
        :data:`FLAT` to the rate of the one before (``bound``: the CPU bound's curve)."""
        runs = sorted((r for r in self.runs if r.kind == kind), key=lambda r: r.replicas)

        def rate(run: RunFigure) -> float:
            return run.cpu_bound_per_s if bound else run.per_s

        for before, after in itertools.pairwise(runs):
            if rate(after) < rate(before) * FLAT:
                return (
                    f"flat from {before.replicas} replica(s): {after.replicas} give "
                    f"{rate(after) / max(rate(before), 1e-9):.2f}x the rate of {before.replicas}"
                )
        if len(runs) < 2:
            return "one replica count only"
        return f"still growing at {runs[-1].replicas} replicas"


def roots_of(stack: ScaleStack) -> dict[int, str]:
    """The stack's own processes by pid: every descendant of one is of its class."""
    roots: dict[int, str] = {}
    for replica in stack.replicas:
        if replica.process is not None:
            roots[replica.process.pid] = "serve replicas"
    for worker in stack.workers:
        if worker is not None:
            roots[worker.pid] = "celery workers"
    if stack.beat is not None:
        roots[stack.beat.pid] = "beat"
    return roots


def drill_support() -> ModuleType:
    """The drills' checks (``tests.support.scale_checks``: ``Ledger``,
    ``assert_nothing_lost``, ``wait_anchored``, ``anchored_bundles``,
    ``verify_with_library``, ``verify_with_console_script``): drill (a)'s checks in CI,
    run here at full size."""
    support("scale")  # puts the repository on sys.path
    return importlib.import_module("tests.support.scale_checks")


def timed_load(urls: Callable[[], list[str]], token: str, **options: Any) -> Any:
    """A :class:`tests.support.scale_load.Load` that also keeps each item's latency: from
    its first request to its acknowledgement, retries included (``latencies``, seconds)."""
    base = support("scale_load").Load

    class TimedLoad(base):  # type: ignore[misc,valid-type]  # base reached through support()
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.latencies: list[float] = []

        def _send(self, client: Any, item: int, turn: int) -> int:
            began = time.perf_counter()
            turn = super()._send(client, item, turn)
            with self._lock:
                self.latencies.append(time.perf_counter() - began)
            return int(turn)

    return TimedLoad(urls, token, **options)


@dataclass
class Bench:
    """The stack under measurement and everything its loads were acknowledged (the log's
    checks cover every load the stack took)."""

    stack: ScaleStack
    #: the scratch database's name (its PostgreSQL backends are the ``postgres`` class)
    database: str
    acks: list[Ack] = field(default_factory=list)
    in_doubt: int = 0
    problems: list[str] = field(default_factory=list)

    def load(
        self, replicas: int, *, clients: int, items: int, stamp_share: float
    ) -> tuple[LoadResult, list[float]]:
        """``items`` through the first ``replicas`` replicas; what was acknowledged and
        each item's latency. An unexpected answer or an item never acknowledged is a
        problem."""
        urls = self.stack.urls()[:replicas]
        load = timed_load(
            lambda: urls, self.stack.token, clients=clients, total=items, stamp_share=stamp_share
        )
        load.start()
        result: LoadResult = load.join(LOAD_DEADLINE_S)
        self.acks += result.acks
        self.in_doubt += result.in_doubt
        if result.failures:
            self.problems.append(
                f"scale: unexpected answers {result.failures}: {result.failure_samples[:3]}"
            )
        if result.unfinished:
            self.problems.append(f"scale: {result.unfinished} items never acknowledged")
        return result, list(load.latencies)

    def sampler(self) -> CpuSampler:
        return CpuSampler(lambda: roots_of(self.stack), self.database)

    def check(self, what: str, call: Callable[[], object]) -> bool:
        """Run one of the drill's checks; its ``AssertionError`` is a problem."""
        try:
            call()
        except AssertionError as exc:
            self.problems.append(f"scale: {what}: {str(exc)[:500]}")
            return False
        return True

    def nothing_lost(self, last: LoadResult) -> None:
        """Once sealed, every acknowledged entry of every load is in the log once, and the
        checkpoints seen (and in the table) are one history."""
        e2e = drill_support()
        ledger = e2e.Ledger(acks=list(self.acks), in_doubt=self.in_doubt)
        self.check("nothing lost", lambda: e2e.assert_nothing_lost(self.stack, ledger, last))


def measure(bench: Bench, kind: str, replicas: int, settings: ScaleSettings) -> RunFigure:
    share = 1.0 if kind == "stamps" else 0.0
    with bench.sampler() as sampler:
        result, latencies = bench.load(
            replicas, clients=settings.clients, items=settings.items, stamp_share=share
        )
    return RunFigure(
        kind,
        replicas,
        settings.clients,
        len(result.acks),
        result.seconds,
        percentile(latencies, 50) * 1e3 if latencies else None,
        percentile(latencies, 99) * 1e3 if latencies else None,
        dict(result.refusals),
        sampler.split(),
        result.by_replica(),
        sampler.seconds,
    )


def curve(bench: Bench, settings: ScaleSettings, progress: Progress) -> list[RunFigure]:
    """Every kind at every replica count, on the same stack."""
    runs = []
    for replicas in settings.replicas:
        for kind in KINDS:
            fig = measure(bench, kind, replicas, settings)
            runs.append(fig)
            lat = f", p50 {fig.p50_ms:.0f} ms, p99 {fig.p99_ms:.0f} ms" if fig.p99_ms else ""
            progress(
                f"scale: {replicas} replica(s), {kind}: {fig.per_s:.1f}/s{lat}; "
                f"bottleneck {fig.bottleneck()}"
            )
    return runs


def profile_replica(
    bench: Bench, settings: ScaleSettings, folder: Path, result: ScaleResult
) -> LoadResult | None:
    """Evidence through replica 0 alone while py-spy samples it (a run of its own, not
    part of the curve: the sampler takes CPU)."""
    binary = py_spy()
    if binary is None:
        result.profile = Profile(note="py-spy is not installed: the CPU split alone")
        return None
    replica = bench.stack.replicas[0]
    assert replica.process is not None
    out = folder / "replica-0.pyspy.txt"
    try:
        with bench.sampler() as sampler, profiled(replica.process.pid, out, binary):
            loaded, _ = bench.load(
                1, clients=settings.clients, items=settings.profile_items, stamp_share=0
            )
    except ProfilerError as exc:  # e.g. ptrace not permitted in this container
        result.profile = Profile(note=f"py-spy could not profile the replica: {exc}")
        return None
    result.profile = parse_raw(out.read_text())
    result.profile_cpu = sampler.split()
    return loaded


# --- drill (a) ------------------------------------------------------------------------------


def in_parallel(
    call: Callable[[list[Any]], Any], items: list[Any], ways: int = PARALLEL
) -> list[Any]:
    """``call`` on ``ways`` consecutive parts of ``items`` at once (threads: the drill's
    checks wait on PostgreSQL, the chain and subprocesses); their results joined in
    order (a part's ``None`` adds nothing). The first ``AssertionError`` is raised."""
    size = max(1, -(-len(items) // ways))
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(len(parts) or 1) as pool:
        answers = list(pool.map(call, parts))
    return [x for answer in answers if answer is not None for x in answer]


def drill(bench: Bench, settings: ScaleSettings, folder: Path, progress: Progress) -> DrillResult:
    """Drill (a) at full size: the load over every replica, then helper B's checks."""
    e2e = drill_support()
    stack = bench.stack
    out = DrillResult(items=settings.drill_items, clients=settings.drill_clients)
    progress(
        f"drill (a): {settings.drill_items:,} items by {settings.drill_clients} clients over "
        f"{len(stack.urls())} replicas"
    )
    load, _ = bench.load(
        len(stack.replicas),
        clients=settings.drill_clients,
        items=settings.drill_items,
        stamp_share=0.5,
    )
    out.seconds, out.receipts = load.seconds, len(load.acks)
    out.per_replica, out.refusals = load.by_replica(), dict(load.refusals)
    out.checkpoints_seen = len(load.checkpoints)
    progress(f"drill (a): {out.receipts:,} receipts in {out.seconds:.1f} s ({out.per_s:.0f}/s)")
    began = time.monotonic()
    bench.nothing_lost(load)
    out.sealed_after_s = time.monotonic() - began
    check = support("scale_load").check_log(stack.engine, bench.acks)
    out.log_size, out.entries, out.receipts_all = check.log_size, check.entries, len(bench.acks)
    out.duplicates, out.missing = len(check.duplicates), len(check.missing)
    began = time.monotonic()
    bench.check("anchored", lambda: e2e.wait_anchored(stack))
    out.anchored_after_s = time.monotonic() - began
    began = time.monotonic()
    bundles: list[Any] = []
    bench.check(
        "bundles",
        lambda: bundles.extend(
            in_parallel(lambda part: e2e.anchored_bundles(stack, part), load.acks)
        ),
    )
    out.read_s = time.monotonic() - began
    began = time.monotonic()
    if bundles and bench.check(
        "tier 5", lambda: in_parallel(lambda part: e2e.verify_with_library(stack, part), bundles)
    ):
        out.library_verified = len(bundles)
    out.library_s = time.monotonic() - began
    sample = random.Random(19).sample(bundles, min(settings.cli_sample, len(bundles)))
    began = time.monotonic()
    if sample and bench.check(
        "evidence-verify",
        lambda: in_parallel(
            lambda part: e2e.verify_with_console_script(
                stack, part, folder / f"bundles-{threading.get_ident()}"
            ),
            sample,
        ),
    ):
        out.cli_verified = len(sample)
    out.cli_s = time.monotonic() - began
    progress(drill_text(out))
    return out


# --- the section --------------------------------------------------------------------------


def run(settings: ScaleSettings, s3: SharedS3, progress: Progress) -> ScaleResult:
    """The curve, the profile and (full size) drill (a), on one stack."""
    result = ScaleResult(settings)
    if not s3.available:
        result.problems.append("scale: SeaweedFS binary not found")
        return result
    scale = support("scale")
    with (
        ExitStack() as stack_of,
        tempfile.TemporaryDirectory(prefix="evidence-bench-scale-") as tmp,
    ):
        url = stack_of.enter_context(scratch_postgres())
        progress(f"scale: starting {max(settings.replicas)} replicas, {settings.workers} workers")
        stack: ScaleStack = stack_of.enter_context(
            scale.scale_stack(
                Path(tmp) / "stack",
                replicas=max(settings.replicas),
                workers=settings.workers,
                database_url=url,
                s3_env=support("api").s3_env(s3.get()),
            )
        )
        bench = Bench(stack, url.rsplit("/", 1)[-1].split("?", 1)[0])
        replicas = len(stack.replicas)
        bench.load(replicas, clients=settings.clients, items=4 * settings.clients, stamp_share=0.5)
        result.runs = curve(bench, settings, progress)
        last, _ = bench.load(replicas, clients=settings.clients, items=10, stamp_share=0.5)
        if settings.profile_items:
            profile_replica(bench, settings, Path(tmp), result)
        progress(f"scale: checking the log for {len(bench.acks):,} receipts")
        bench.nothing_lost(last)
        if settings.drill_items:
            result.drill = drill(bench, settings, Path(tmp), progress)
        result.problems += bench.problems
    for problem in result.problems[:10]:
        progress(f"scale: PROBLEM: {problem}")
    return result


def rows(result: ScaleResult) -> list[Row]:
    """Per kind and replica count: the rate and the latencies, beside 1 replica."""
    out: list[Row] = []
    for fig in result.runs:
        base = result.baseline(fig.kind)
        name = f"scale.{fig.kind}.r{fig.replicas}"
        what = f"{fig.kind}, {fig.replicas} replica{'s' if fig.replicas > 1 else ''}"
        out.append(
            Row(
                id=f"{name}.per_s",
                figure=f"{what}, {fig.clients} clients",
                unit="items/s",
                ours=fig.per_s,
                baseline=base.per_s if base else None,
                baseline_name="1 replica, same run",
                higher_is_better=True,
            )
        )
        out.append(
            Row(
                id=f"{name}.cpu_bound_per_s",
                figure=f"{what}: CPU bound, {os.cpu_count()} cores / stack CPU per item",
                unit="items/s",
                ours=fig.cpu_bound_per_s,
                baseline=base.cpu_bound_per_s if base else None,
                baseline_name="1 replica, same run",
                higher_is_better=True,
            )
        )
        for stat in ("p50", "p99"):
            value: float | None = getattr(fig, f"{stat}_ms")
            if value is None:
                continue
            before: float | None = getattr(base, f"{stat}_ms") if base else None
            out.append(
                Row(
                    id=f"{name}.{stat}_ms",
                    figure=f"{stat} latency, {what}",
                    unit="ms",
                    ours=value,
                    baseline=before,
                    baseline_name="1 replica, same run",
                )
            )
    if result.drill is not None:
        d = result.drill
        out.append(
            Row(
                id="scale.drill_a.per_s",
                figure=f"drill (a): {d.receipts:,} items, {d.clients} clients, all replicas",
                unit="items/s",
                ours=d.per_s,
                baseline=None,
                baseline_name="",
                ratio_kind="none",
            )
        )
    return out


def cpu_table(result: ScaleResult) -> str:
    """CPU ms per item by process class, one column per run."""
    runs = result.runs
    head = ["process class"] + [f"{r.kind[:5]} x{r.replicas}" for r in runs]
    lines = [head]
    for name in CLASSES:
        if not any(r.cpu.get(name) for r in runs):
            continue
        lines.append([name] + [f"{r.cpu_ms_per_item(name):.2f}" for r in runs])
    lines.append(["machine busy"] + [f"{r.utilisation:.0%}" for r in runs])
    lines.append(["CPU bound, items/s"] + [f"{r.cpu_bound_per_s:.0f}" for r in runs])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    return "\n".join(text)


def profile_text(result: ScaleResult) -> str:
    profile = result.profile
    if profile is None:
        return "Profile: not run"
    if not profile.samples:
        return f"Profile of replica 0: {profile.note or 'no samples'}"
    lines = [
        f"Profile of replica 0 alone under evidence load (py-spy --gil, {profile.samples:,} "
        "samples of the thread holding the GIL), top functions by own samples:"
    ]
    lines += [f"  {n * 100 / profile.samples:5.1f}%  {name}" for name, n in profile.self_top]
    lines.append("  the project's functions on the stack (inclusive):")
    lines += [f"  {n * 100 / profile.samples:5.1f}%  {name}" for name, n in profile.total_top]
    return "\n".join(lines)


def drill_text(drill: DrillResult | None) -> str:
    if drill is None:
        return "Drill (a): not run (--full-drill or the default full run)"
    spread = ", ".join(f"{n:,}" for _, n in sorted(drill.per_replica.items()))
    return (
        f"Drill (a): {drill.receipts:,} receipts ({drill.items:,} items asked) by "
        f"{drill.clients} clients in {drill.seconds:.1f} s = {drill.per_s:.0f}/s, per replica "
        f"{spread}, {sum(drill.refusals.values())} refusals retried.\n"
        f"  log: tree size {drill.log_size:,}; {drill.entries:,} entries of the loads' kinds "
        f"for {drill.receipts_all:,} receipts of every load on the stack; {drill.duplicates} "
        f"twice, {drill.missing} missing; sealed and checked {drill.sealed_after_s:.1f} s after "
        f"the load; {drill.checkpoints_seen} checkpoints seen by clients, one history.\n"
        f"  bundles: anchored {drill.anchored_after_s:.1f} s later, read in {drill.read_s:.1f} s; "
        f"{drill.library_verified:,} verified through tier 5 by the library in "
        f"{drill.library_s:.1f} s, {drill.cli_verified} by evidence-verify in {drill.cli_s:.1f} s"
    )


def legend(result: ScaleResult) -> str:
    st = result.settings
    lines = [
        "ratio = ours / 1 replica in the same run (rates: times the rate; latencies: "
        "1 replica / ours). Not judged: 2 cores bound the figures.",
        "CPU bound: the cores / the stack's CPU seconds per item (every process of the stack, "
        "not the profiler nor the rest of the machine):\nthe rate if the stack had the "
        "machine to itself, steadier than the measured rate on a shared machine.",
        *(
            f"{kind}: measured {result.flattens(kind)}; CPU bound {result.flattens(kind, True)}"
            for kind in KINDS
        ),
        *(f"bottleneck, {r.kind} x{r.replicas}: {r.bottleneck()}" for r in result.runs),
        f"CPU ms per item by process class ({st.items:,} items a run, {st.clients} clients):",
        cpu_table(result),
        profile_text(result),
        drill_text(result.drill),
    ]
    return "\n".join(lines)


def raw(result: ScaleResult) -> dict[str, Any]:
    return {
        "settings": asdict(result.settings),
        "runs": [
            {
                **asdict(r),
                "per_s": r.per_s,
                "cpu_bound_per_s": r.cpu_bound_per_s,
                "utilisation": r.utilisation,
                "bottleneck": r.bottleneck(),
            }
            for r in result.runs
        ],
        "flattens": {kind: result.flattens(kind) for kind in KINDS},
        "cpu_bound_flattens": {kind: result.flattens(kind, True) for kind in KINDS},
        "profile": asdict(result.profile) if result.profile else None,
        "profile_cpu": result.profile_cpu,
        "drill": {**asdict(result.drill), "per_s": result.drill.per_s} if result.drill else None,
        "problems": result.problems,
    }


TITLE = (
    "Scale-out: small evidence/s and stamps/s with 1, 2, 3 evidence serve replicas "
    "(PostgreSQL, S3, Redis, 2 Celery workers + beat, anvil)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=TITLE)
    parser.add_argument("--quick", action="store_true", help="1 and 2 replicas, few items")
    parser.add_argument("--full-drill", action="store_true", help="drill (a) at 20,000 items")
    parser.add_argument("--report-only", action="store_true", help=REPORT_ONLY_HELP)
    args = parser.parse_args(argv)
    progress = Progress()
    with ExitStack() as stack:
        outcome = run(
            ScaleSettings.make(args.quick, args.full_drill), SharedS3(stack, progress), progress
        )
    table = format_table(TITLE, rows(outcome), legend(outcome))
    return report(table, outcome.problems, rows(outcome), report_only=args.report_only)


if __name__ == "__main__":
    sys.exit(main())
