"""Run the benchmarks: ``python -m bench [SECTION ...] [--quick] [--sizes ...] [--out FILE]``.

Sections (default: all of them, about 8 minutes on 2 cores, ``anchor`` and ``gas`` 2 of them;
``--quick`` about a minute, 45 s of it ``anchor``):

* ``log``: the Merkle log and the offline verifier (figures 1-3): append through the real
  sealer into the SQL log on SQLite and PostgreSQL, beside pymerkle (the bare trees as unjudged
  extras); proof latency beside pymerkle; bundle verification beside Node.js crypto doing the
  same irreducible work;
* ``ingest``: evidence and stamps through the HTTP API of a real ``evidence serve``
  on SeaweedFS S3, beside raw S3 PUTs of the same bytes (figure 4);
* ``memory``: the server's peak RSS while it receives a 1 GiB upload (figure 5);
* ``sealing``: 100,000 stamps submitted and sealed, none lost or duplicated, and the sealer's
  capacity on SQLite and on PostgreSQL (figure 6);
* ``anchor``: submit-to-anchored latency on the Celery and the embedded stack (anvil,
  1 s blocks), beside a raw anchor transaction's latency on the same chain (figure 7);
  gas per evidence item at 1, 100 and 10,000 items per anchor, beside one transaction
  per item (figure 8);
* ``gas``: gas per ``EvidenceLog.anchor`` transaction by log size, 10 to 1e7 leaves, with
  the longest consistency proof per size, on eth-tester and anvil, each anchor (first, odd,
  even index) beside the target 60,000 + 1,500 * log2(size) (figure 9).
* ``takedowns``: 50 platform clients polling their takedown feed while officers issue
  1,000 orders: none lost or duplicated; poll latency beside an idle poll (figure 10).
* ``browser``: the portal in headless Chromium verifies a 100 MB file (SHA-256 + SM3 and
  tiers 1-4; 10 MB with ``--quick``), beside ``sha256sum`` of the same file.
* ``package``: full verification of an exported 3 x 1 MB evidence package (tiers 1-5 on a
  local anvil) by ``evidence-verify`` and in process, beside ``sha256sum`` and hashlib.
* ``small``: 1 KB evidence at 8 and 32 clients on the local store and S3 (evidence/s, p99,
  beside ``GET /healthz`` at the same concurrency) and ``/v1/stamps`` digests/s; every
  acknowledged item checked in the database afterwards.
* ``capture``: server-side web capture on the HTTPS fixture website through the real
  ``run_capture``: p50/p99 per mode (page, video, steps), captures per minute with 1 and 2
  worker processes, and peak RSS per capture, each beside ``chromium --headless
  --screenshot`` of the same page in the same run (no target: figures and ratios; 10
  rounds and 5 captures per worker, about 6 minutes; ``--quick`` 2 and 2, about 1.5).
* ``monitoring``: monitor runs per minute on 2 workers (embedded dispatch, light mode, real
  Chromium) on the HTTPS fixture market, beside a plain HTTPS GET loop of the same pages on
  2 threads; the scheduler's tick at 10,000 monitors on SQLite and PostgreSQL (none due, 50
  due) beside ``SELECT * FROM monitor``, with the rows (PostgreSQL's counters) or VM steps
  (SQLite) a tick reads and the due query's plan (16 runs, 50 ticks; ``--quick`` 4 and 10,
  under a minute).
* ``start``: process start, median of the rounds beside ``python -c pass``: the ``--help`` of
  ``evidence``, ``evidence admin create-token`` and ``evidence-verify``; ``evidence serve``
  (SQLite, local store, managed anvil) until ``/healthz`` answers.
* ``audit``: the full audit's entries and tree phases on a log of 100,000 entries sealed by
  the service's sealer, on SQLite and PostgreSQL, beside SHA-256 of the same bytes in the
  same run (the ratio; 10,000 entries with ``--quick``, a few seconds).
* ``spotcheck``: the verifiable draw (双随机, evidence-draw/v1) of 50 and 500 of 10^5 weighted
  entities and 10 of 10^3 officers, median of the seeds, beside ``random.sample`` of the same
  sizes in the same run (the ratio; about 20 s, ``--quick`` 10 s).
* ``credit``: regrading 100,000 entities (~3 credit records each) after a policy change
  through the service's ``credit.grading.regrade_all`` on SQLite and PostgreSQL, beside a
  plain SELECT of the same records grouped per entity (the ratio), with the pure grading of
  the same records in memory as a third line (2,000 entities with ``--quick``, seconds).
* ``scale``: small evidence/s and stamps/s with 1, 2 and 3 ``evidence serve`` replicas on
  one scale-out stack (PostgreSQL, S3, Redis, 2 Celery workers + beat, anvil), beside the
  1-replica figure of the same run, the CPU split by process class and a py-spy profile of
  a replica naming the bottleneck; then drill (a) at full size: 20,000 items by 64 clients,
  every receipt in the log once, every bundle through tier 5 (not with ``--quick`` unless
  ``--full-drill``; ``--quick``: 1 and 2 replicas, 300 items a run).

Tables go to stdout, progress to stderr, and a machine-readable summary to
``.bench/results.json`` (or ``--out``), every row with its own verdict. Every
row with a target prints PASS or MISS beside it (N/A when its baseline had to
be skipped). The exit status:

* 1 when a check fails: a cross-check (our roots or proofs disagree with
  pymerkle's or fail to verify), a service check (a file not stored intact, an
  entry lost or duplicated), a section that could not run, or a target row
  without a verdict. These are correctness failures: ``--report-only`` does
  not hide them.
* 3 when every check held but a target row missed (``make bench`` fails).
  With ``--report-only`` a miss is printed and the status is 0: for a shared,
  loaded machine, where a speed target can miss by chance.
* 0 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymerkle

from anchoring.contract import load_artifact
from bench import (
    anchor,
    audit,
    browser,
    capture,
    credit,
    gas,
    ingest,
    log_append,
    memory,
    monitoring,
    package,
    proofs,
    scale,
    sealing,
    small,
    spotcheck,
    start,
    takedowns,
    verify_bundle,
)
from bench.common import (
    EXIT_BROKEN,
    EXIT_MISSED,
    REPO,
    REPORT_ONLY_HELP,
    Progress,
    Row,
    Settings,
    exit_status,
    format_table,
    missed,
    support,
    tally,
    verdict,
    verdict_summary,
)
from bench.trees import LABELS, PYMERKLE_SQLITE, all_trees

FULL_SIZES = (10**4, 10**5, 10**6)
QUICK_SIZES = (10**3, 10**4)
DEFAULT_OUT = REPO / ".bench" / "results.json"
SECTIONS = (
    "log",
    "ingest",
    "memory",
    "sealing",
    "anchor",
    "gas",
    "takedowns",
    "browser",
    "package",
    "small",
    "start",
    "capture",
    "monitoring",
    "audit",
    "spotcheck",
    "credit",
    "scale",
)


def _sizes(text: str) -> tuple[int, ...]:
    """``"1e4,1e5"`` or ``"10000,100_000"`` -> (10000, 100000)."""
    try:
        sizes = {int(float(part)) if "e" in part.lower() else int(part) for part in text.split(",")}
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"sizes must be integers like 1e4,1e5: {text!r}") from exc
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError("every size must be at least 2 leaves")
    return tuple(sorted(sizes))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Sections: log = the Merkle log (append throughput through the real sealer into "
            "the SQL log on SQLite and PostgreSQL; inclusion and consistency proof latency, in "
            "memory and on SQLite), each figure beside pymerkle 7 measured in the same run on the "
            "same leaves, with a check that our roots and proofs agree with pymerkle's, and "
            "offline bundle verification beside Node.js crypto doing the same work; ingest = "
            "evidence/s, MB/s and stamps/s through a real `evidence serve` on SeaweedFS S3, "
            "beside raw S3 PUTs of the same bytes; memory = the server's peak RSS during a 1 GiB "
            "upload, beside its idle RSS; sealing = 100,000 stamps sealed, none lost or "
            "duplicated, and the sealer's capacity on SQLite and PostgreSQL; anchor = "
            "submit-to-anchored latency on the Celery and the embedded stack beside a raw anchor "
            "transaction's, and gas per evidence item at 1, 100 and 10,000 items per anchor "
            "beside one transaction per item; gas = gas per anchor transaction by log size "
            "beside the target 60,000 + 1,500*log2(size). Every row with a target prints its "
            "verdict (PASS/MISS). Exit status: 1 if a cross-check or a service check fails or "
            "a section breaks; else 3 if a target row missed (0 with --report-only); else 0."
        ),
    )
    parser.add_argument(
        "sections",
        nargs="*",
        metavar="SECTION",
        help=f"sections to run, any of {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run in about a minute: sizes 1e3,1e4, fewer samples, small uploads, "
        "3,000 stamps sealed, 30 items anchored per stack over 10 s, gas at 3 sizes on "
        "eth-tester",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        help="comma-separated tree sizes of the log section (default 1e4,1e5,1e6; "
        "--quick: 1e3,1e4)",
    )
    parser.add_argument("--batch", type=_positive, default=10_000, help="leaves per append call")
    parser.add_argument(
        "--samples", type=_positive, help="random queries per proof kind and size (default 500)"
    )
    parser.add_argument(
        "--bundle-samples", type=_positive, help="timed rounds per bundle part (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=20261126, help="seed of the proof queries")
    parser.add_argument(
        "--baseline-budget",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="skip a baseline whose next size would take longer than this to build",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON summary (default {DEFAULT_OUT})"
    )
    parser.add_argument("--report-only", action="store_true", help=REPORT_ONLY_HELP)
    parser.add_argument(
        "--full-drill",
        action="store_true",
        help="scale: run drill (a) at full size (20,000 items) with --quick too",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}: choose from {', '.join(SECTIONS)}")
    args.sections = tuple(name for name in SECTIONS if name in args.sections) or SECTIONS
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    return Settings(
        sizes=args.sizes or (QUICK_SIZES if quick else FULL_SIZES),
        batch=args.batch,
        proof_samples=args.samples or (200 if quick else 500),
        bundle_samples=args.bundle_samples or (300 if quick else 2000),
        seed=args.seed,
        baseline_budget_s=args.baseline_budget,
        quick=quick,
    )


@dataclass
class Results:
    settings: Settings
    sections: tuple[str, ...] = SECTIONS
    checkpoints: list[log_append.Checkpoint] = field(default_factory=list)
    #: the judged append figure: the sealer into SQLite and PostgreSQL, beside pymerkle
    sealer_append: log_append.SealerAppend | None = None
    proof_results: list[proofs.ProofResult] = field(default_factory=list)
    checks: list[proofs.CrossCheck] = field(default_factory=list)
    bundles: list[verify_bundle.BundleResult] = field(default_factory=list)
    ingest: ingest.IngestResult | None = None
    memory: memory.MemoryResult | None = None
    sealing: sealing.SealingResult | None = None
    anchor: anchor.AnchorResult | None = None
    takedowns: takedowns.TakedownResult | None = None
    browser: browser.BrowserResult | None = None
    package: package.PackageResult | None = None
    small: small.SmallResult | None = None
    start: start.StartResult | None = None
    capture: capture.CaptureResult | None = None
    monitoring: monitoring.MonitoringResult | None = None
    audit: audit.AuditResult | None = None
    spotcheck: spotcheck.SpotcheckResult | None = None
    credit: credit.CreditResult | None = None
    scale: scale.ScaleResult | None = None
    #: ``--full-drill``: the scale section runs drill (a) at full size with ``--quick`` too
    full_drill: bool = False
    #: gas per anchor, one row per chain, log size and anchor (first, odd, even)
    gas: list[gas.GasRow] = field(default_factory=list)
    #: sections that raised instead of finishing: name -> the error
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def checks_ok(self) -> bool:
        return all(not c.problems for c in self.checks)

    @property
    def service_problems(self) -> list[str]:
        found = [f"{name}: {error}" for name, error in self.failed.items()]
        for part in (
            self.ingest,
            self.memory,
            self.sealing,
            self.anchor,
            self.takedowns,
            self.browser,
            self.package,
            self.small,
            self.start,
            self.capture,
            self.monitoring,
            self.audit,
            self.spotcheck,
            self.credit,
            self.scale,
        ):
            if part is not None:
                found += part.problems
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list[str]:
        """Every correctness failure: cross-checks, service checks, broken sections."""
        found = [f"cross-check n={c.n:,}: {p}" for c in self.checks for p in c.problems]
        if self.sealer_append is not None:
            found += [f"append cross-check: {p}" for p in self.sealer_append.problems]
        return found + self.service_problems

    def all_rows(self) -> list[Row]:
        return [row for group in self.rows().values() for row in group]

    def exit_status(self, report_only: bool) -> int:
        return exit_status(self.all_rows(), self.problems, report_only=report_only)

    def rows(self) -> dict[str, list[Row]]:
        s = self.settings
        return {
            "sealer_append": log_append.sealer_rows(self.sealer_append),
            "append": log_append.append_rows(self.checkpoints),
            "proof": proofs.proof_rows(self.proof_results, s.sizes),
            "flat": proofs.flatness_rows(self.proof_results, s.sizes),
            "bundle": [row for b in self.bundles for row in verify_bundle.bundle_rows(b)],
            "ingest": ingest.rows(self.ingest) if self.ingest else [],
            "memory": memory.rows(self.memory) if self.memory else [],
            "sealing": sealing.rows(self.sealing) if self.sealing else [],
            "anchor": anchor.rows(self.anchor) if self.anchor else [],
            "gas": gas_rows(self.gas),
            "takedowns": takedowns.rows(self.takedowns) if self.takedowns else [],
            "browser": browser.rows(self.browser) if self.browser else [],
            "package": package.rows(self.package) if self.package else [],
            "small": small.rows(self.small) if self.small else [],
            "start": start.rows(self.start) if self.start else [],
            "capture": capture.rows(self.capture) if self.capture else [],
            "monitoring": monitoring.rows(self.monitoring) if self.monitoring else [],
            "audit": audit.rows(self.audit) if self.audit else [],
            "spotcheck": spotcheck.rows(self.spotcheck) if self.spotcheck else [],
            "credit": credit.rows(self.credit) if self.credit else [],
            "scale": scale.rows(self.scale) if self.scale else [],
        }


def run(
    settings: Settings,
    progress: Progress,
    sections: tuple[str, ...] = SECTIONS,
    full_drill: bool = False,
) -> Results:
    results = Results(settings, sections, full_drill=full_drill)
    if "log" in sections:
        try:
            _run_log(settings, progress, results)
            gc.collect()  # the big trees are gone: free them before timing the small bundle checks
            for make in (
                verify_bundle.factory_sample,
                lambda: verify_bundle.deep_sample(max(settings.sizes)),
            ):
                sample = make()
                progress(f"bundle: {sample.label}, {settings.bundle_samples} rounds")
                results.bundles.append(verify_bundle.measure(sample, settings.bundle_samples))
        except Exception as exc:  # e.g. no PostgreSQL: report it, run the rest, fail the run
            traceback.print_exc(file=sys.stderr)
            results.failed["log"] = f"{type(exc).__name__}: {exc}"
            progress(f"section log FAILED: {results.failed['log']}")
        gc.collect()
    _run_services(settings, progress, results)
    return results


def _run_services(settings: Settings, progress: Progress, results: Results) -> None:
    """Figures 4-9, one section at a time: a section that fails is reported, and the others
    still run. Figures 4-6 share one SeaweedFS (started on first use); ``anchor`` starts its
    own anvil, Redis and services, ``gas`` its own chains."""
    quick = settings.quick
    steps: dict[str, Callable[[ingest.SharedS3], None]] = {
        "ingest": lambda s3: setattr(
            results, "ingest", ingest.run(ingest.IngestSettings.make(quick), s3, progress)
        ),
        "memory": lambda s3: setattr(
            results, "memory", memory.run(memory.MemorySettings.make(quick), s3, progress)
        ),
        "sealing": lambda s3: setattr(
            results,
            "sealing",
            sealing.run(sealing.SealingSettings.make(quick, settings.seed), s3, progress),
        ),
        "anchor": lambda s3: setattr(
            results,
            "anchor",
            anchor.run(anchor.AnchorSettings.make(quick, settings.seed), progress),
        ),
        "gas": lambda s3: results.gas.extend(_run_gas(quick, progress)),
        "takedowns": lambda s3: setattr(
            results,
            "takedowns",
            takedowns.run(takedowns.TakedownSettings.make(quick), progress),
        ),
        "browser": lambda s3: setattr(
            results, "browser", browser.run(browser.BrowserSettings.make(quick), progress)
        ),
        "package": lambda s3: setattr(
            results, "package", package.run(package.PackageSettings.make(quick), progress)
        ),
        "small": lambda s3: setattr(
            results, "small", small.run(quick, ["local", "s3"], s3, progress)
        ),
        "start": lambda s3: setattr(
            results, "start", start.run(start.StartSettings.make(quick), progress)
        ),
        "capture": lambda s3: setattr(
            results, "capture", capture.run(capture.CaptureSettings.make(quick), progress)
        ),
        "monitoring": lambda s3: setattr(
            results,
            "monitoring",
            monitoring.run(monitoring.MonitoringSettings.make(quick), progress),
        ),
        "audit": lambda s3: setattr(
            results, "audit", audit.run(audit.AuditSettings.make(quick), progress)
        ),
        "spotcheck": lambda s3: setattr(
            results,
            "spotcheck",
            spotcheck.run(spotcheck.SpotcheckSettings.make(quick), progress),
        ),
        "credit": lambda s3: setattr(
            results, "credit", credit.run(credit.CreditSettings.make(quick), progress)
        ),
        "scale": lambda s3: setattr(
            results,
            "scale",
            scale.run(scale.ScaleSettings.make(quick, results.full_drill), s3, progress),
        ),
    }
    wanted = [name for name in steps if name in results.sections]
    if not wanted:
        return
    with ExitStack() as stack:
        s3 = ingest.SharedS3(stack, progress)
        for name in wanted:
            progress(
                f"section {name} (load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)"
            )
            try:
                steps[name](s3)
            except Exception as exc:  # report it, run the other sections, fail the run
                traceback.print_exc(file=sys.stderr)
                results.failed[name] = f"{type(exc).__name__}: {exc}"
                progress(f"section {name} FAILED: {results.failed[name]}")


def _run_gas(quick: bool, progress: Progress) -> list[gas.GasRow]:
    support("anvil")  # puts the repository on sys.path: gas imports tests.support.anvil
    chains, sizes = gas.default_chains(quick), gas.default_sizes(quick)
    progress(f"gas: chains {', '.join(chains)}; sizes {', '.join(f'{n:,}' for n in sizes)}")
    return gas.run(chains, sizes, load_artifact())


def gas_rows(measured: list[gas.GasRow]) -> list[Row]:
    """Figure 9: one row per chain, size and anchor (first, odd, even), each judged on its own
    against the target (bench/gas.py)."""
    return [
        Row(
            id=f"gas.{r.chain}.n={r.size}.{r.anchor}",
            figure=f"gas per anchor, {r.chain}, n={r.size:,}, {r.anchor} anchor "
            f"({r.proof_length}-hash proof from {r.old_size:,})",
            unit="k gas",
            ours=r.gas / 1e3,
            baseline=r.target / 1e3,
            baseline_name="target 60k + 1.5k * log2(n)",
            ratio_kind="share",
            target="<= 100%",
            verdict=verdict(r.passed),
        )
        for r in measured
    ]


def _gas_legend(measured: list[gas.GasRow]) -> str:
    return (
        "ours: whole-transaction gasUsed of one anchor of n leaves: the log's first (no proof), "
        "and at an odd and an even index,\n"
        "each with the longest RFC 9162 consistency proof any old size has to n; every anchor "
        "judged on its own; ratio = ours / target.\n"
        "The trees are virtual (identical leaves), so any size costs the same time; the "
        "contract checks the same hashes either way."
    )


def _run_log(settings: Settings, progress: Progress, results: Results) -> None:
    """Figures 1 and 2: grow the trees; at each size, time proofs and cross-check."""
    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as tmp:
        scratch = Path(tmp) / "warm-up"
        scratch.mkdir()
        log_append.warm_up(all_trees(scratch))
        trees = all_trees(Path(tmp))
        try:
            for checkpoint, live in log_append.grow(trees, settings, progress):
                n = checkpoint.size
                results.checkpoints.append(checkpoint)
                progress(f"proofs: n={n:,}, {settings.proof_samples} queries per kind")
                results.proof_results += proofs.measure(
                    n, live, settings.proof_samples, settings.seed
                )
                progress(f"cross-check: n={n:,}")
                check = proofs.cross_check(n, live, settings.proof_samples, settings.seed)
                results.checks.append(check)
                for problem in check.problems[:10]:
                    progress(f"cross-check FAILED: {problem}")
        finally:
            for tree in trees:
                tree.close()
        gc.collect()
        progress(
            "append: the sealer into SQLite and PostgreSQL beside pymerkle, n = "
            + ", ".join(f"{n:,}" for n in log_append.sealer_sizes(settings.sizes)[0])
        )
        results.sealer_append = log_append.seal_through(settings.sizes, Path(tmp), progress)


# --- output -------------------------------------------------------------------------------


def render(results: Results, report_only: bool = False) -> str:
    rows = results.rows()
    out = _render_log(results, rows) if "log" in results.sections else []
    out += _render_services(results, rows)
    out += [verdict_summary(results.all_rows(), report_only=report_only)]
    return "\n".join(out)


def _render_log(results: Results, rows: dict[str, list[Row]]) -> list[str]:
    s = results.settings
    out = []
    if results.sealer_append is not None:
        out += [
            format_table(
                "Figure 1: append throughput through the sealer, leaves/s (seal_pending into "
                "the SQL log, beside pymerkle on the same entries)",
                rows["sealer_append"],
                log_append.sealer_legend(results.sealer_append),
            ),
            "",
        ]
    out += [
        format_table(
            f"Figure 1b: append throughput of the bare trees, leaves/s, not judged (batches of "
            f"up to {s.batch:,} leaves per append call, the same batches for every tree)",
            rows["append"],
            "ratio = ours / baseline (times faster). pymerkle SqliteTree only stores leaf "
            "hashes when appending;\nits interior hashes are computed on read: "
            + _sqlite_root_note(results),
        ),
        "",
        format_table(
            f"Figure 2: proof latency, ms ({s.proof_samples} random queries per kind and size, "
            f"seed {s.seed}; the trees built in figure 1)",
            rows["proof"],
            "ratio = baseline / ours (times faster). inclusion: random leaf in the tree of n; "
            "consistency: random size1 < n to n.",
        ),
    ]
    if rows["flat"]:
        out += [
            "",
            format_table(
                "Figure 2b: flat in n (p50 at the largest size / p50 at the smallest)",
                rows["flat"],
                f"proof length grows as log2 n: log2({max(s.sizes):,})/log2({min(s.sizes):,}) "
                f"= {_log_ratio(s.sizes):.2f}",
            ),
        ]
    out += [
        "",
        format_table(
            f"Figure 3: bundle verification, tiers 2-4 without file hashing, ms "
            f"({s.bundle_samples} rounds)",
            rows["bundle"],
            "whole rows: share = ours / the external baseline, Node.js crypto (OpenSSL) doing "
            "the irreducible work of tiers 2-4\n(JSON parse, leaf and manifest hashes, the proof, "
            "the Ed25519 signatures) on the same inputs in the same run (bench/verify_baseline.mjs)"
            ";\npart rows: share of the whole, unjudged. Merkle rows: ratio = pymerkle / ours "
            "(times faster), same index and tree size.",
        ),
        "",
        _cross_check_text(results),
        "",
    ]
    return out


def _render_services(results: Results, rows: dict[str, list[Row]]) -> list[str]:
    out: list[str] = []
    if results.ingest is not None:
        st = results.ingest.settings
        out += [
            format_table(
                "Figure 4: intake through the HTTP API (evidence serve, SQLite; the local store "
                "beside fsync'd writes, SeaweedFS S3 with Object Lock beside raw PUTs); "
                f"{st.small_threads} client threads for 3 x 50 KB, "
                f"{st.large_threads} for 1 x 20 MB, {st.stamps_threads} for stamps",
                rows["ingest"],
                ingest.legend(results.ingest),
            ),
            "",
        ]
    if results.memory is not None:
        out += [
            format_table(
                "Figure 5: server memory while it receives one large upload "
                "(httpx streams it from a file)",
                rows["memory"],
                memory.legend(results.memory),
            ),
            "",
        ]
    if results.sealing is not None:
        out += [
            format_table(
                f"Figure 6: sealing {results.sealing.entries:,} stamps "
                f"({results.sealing.settings.requests} requests of {ingest.STAMPS_PER_REQUEST:,})",
                rows["sealing"],
                sealing.legend(results.sealing),
            ),
            "",
        ]
    if results.anchor is not None:
        out += [
            format_table(
                "Figure 7: submit-to-anchored latency, s",
                [r for r in rows["anchor"] if r.id.startswith("anchor.latency.")],
                anchor.latency_legend(results.anchor),
            ),
            "",
            format_table(
                "Figure 8: gas per evidence item, k gas (anvil, a block per transaction)",
                [r for r in rows["anchor"] if r.id.startswith("anchor.gas.")],
                anchor.gas_legend(results.anchor),
            ),
            "",
        ]
    if rows["gas"]:
        out += [
            format_table(
                "Figure 9: gas per EvidenceLog anchor by log size, k gas "
                f"({', '.join(dict.fromkeys(r.chain for r in results.gas))})",
                rows["gas"],
                _gas_legend(results.gas),
            ),
            "",
        ]
    if results.takedowns is not None:
        out += [
            format_table(
                "Figure 10: takedown feed polling under load, ms (evidence serve, SQLite)",
                rows["takedowns"],
                takedowns.legend(results.takedowns),
            ),
            "",
        ]
    if results.browser is not None:
        out += [
            format_table(
                "In-browser verification: the portal in headless Chromium, ms",
                rows["browser"],
                browser.legend(results.browser),
            ),
            "",
        ]
    if results.package is not None:
        out += [
            format_table(
                package.title(results.package), rows["package"], package.legend(results.package)
            ),
            "",
        ]
    if results.small is not None:
        out += [format_table(small.TITLE, rows["small"], small.LEGEND), ""]
    if results.start is not None:
        out += [format_table(start.TITLE, rows["start"], start.legend(results.start)), ""]
    if results.capture is not None:
        out += [
            format_table(capture.TITLE, rows["capture"], capture.legend(results.capture)),
            "",
        ]
    if results.monitoring is not None:
        out += [
            format_table(
                monitoring.TITLE, rows["monitoring"], monitoring.legend(results.monitoring)
            ),
            "",
        ]
    if results.audit is not None:
        out += [format_table(audit.TITLE, rows["audit"], audit.legend(results.audit)), ""]
    if results.spotcheck is not None:
        out += [
            format_table(spotcheck.TITLE, rows["spotcheck"], spotcheck.legend(results.spotcheck)),
            "",
        ]
    if results.credit is not None:
        out += [format_table(credit.TITLE, rows["credit"], credit.legend(results.credit)), ""]
    if results.scale is not None:
        out += [format_table(scale.TITLE, rows["scale"], scale.legend(results.scale)), ""]
    for name, error in results.failed.items():
        out += [f"Section {name} FAILED: {error}", ""]
    return out


def _log_ratio(sizes: tuple[int, ...]) -> float:
    return (max(sizes) - 1).bit_length() / max((min(sizes) - 1).bit_length(), 1)


def _sqlite_root_note(results: Results) -> str:
    parts = [
        f"n={c.n:,} {c.root_seconds[PYMERKLE_SQLITE]:.2f} s"
        for c in results.checks
        if PYMERKLE_SQLITE in c.root_seconds
    ]
    return "first root read at " + ", ".join(parts) if parts else "(skipped)"


def _cross_check_text(results: Results) -> str:
    lines = ["Cross-check: the same leaves give the same root in every tree (RFC 9162)"]
    for c in results.checks:
        names = " = ".join(LABELS[name] for name in c.roots)
        state = "agree" if c.roots_agree else "DIFFER"
        root = next(iter(c.roots.values()))
        lines.append(f"  n={c.n:>9,}: roots {state}: {root}  ({names})")
        verdict = "ok" if not c.problems else f"{len(c.problems)} PROBLEMS"
        lines.append(
            f"  {'':12} {c.checked_proofs} sample proofs cross-checked and verified: {verdict}"
        )
        lines.extend(f"    ! {p}" for p in c.problems[:10])
    return "\n".join(lines)


def summary_json(results: Results, seconds: float, report_only: bool = False) -> dict[str, Any]:
    rows = results.all_rows()
    return {
        "meta": _meta(seconds),
        "settings": asdict(results.settings),
        "sections": list(results.sections),
        "ok": results.ok,
        "report_only": report_only,
        "exit_status": results.exit_status(report_only),
        "verdicts": tally(rows),
        "missed": [r.id for r in missed(rows)],
        "figures": [row.as_dict() for row in rows],
        "append": log_append.append_raw(results.checkpoints, results.settings.batch),
        "sealer_append": (
            asdict(results.sealer_append) if results.sealer_append is not None else None
        ),
        "proofs": proofs.proof_raw(results.proof_results),
        "bundles": [verify_bundle.bundle_raw(b) for b in results.bundles],
        "cross_checks": [{**asdict(c), "roots_agree": c.roots_agree} for c in results.checks],
        "ingest": ingest.raw(results.ingest) if results.ingest else None,
        "memory": memory.raw(results.memory) if results.memory else None,
        "sealing": sealing.raw(results.sealing) if results.sealing else None,
        "anchor": anchor.raw(results.anchor) if results.anchor else None,
        "takedowns": takedowns.raw(results.takedowns) if results.takedowns else None,
        "browser": browser.raw(results.browser) if results.browser else None,
        "package": package.raw(results.package) if results.package else None,
        "small": small.raw(results.small) if results.small else None,
        "start": start.raw(results.start) if results.start else None,
        "capture": capture.raw(results.capture) if results.capture else None,
        "monitoring": monitoring.raw(results.monitoring) if results.monitoring else None,
        "audit": audit.raw(results.audit) if results.audit else None,
        "spotcheck": spotcheck.raw(results.spotcheck) if results.spotcheck else None,
        "credit": credit.raw(results.credit) if results.credit else None,
        "scale": scale.raw(results.scale) if results.scale else None,
        "gas": [row.as_dict() for row in results.gas] if "gas" in results.sections else None,
        "service_problems": results.service_problems,
    }


def _meta(seconds: float) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "git_commit": commit or None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "pymerkle": pymerkle.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    progress = Progress()
    sections: tuple[str, ...] = args.sections
    log = (
        f"; sizes {', '.join(f'{n:,}' for n in settings.sizes)}; batch {settings.batch:,}; "
        f"{settings.proof_samples} proof queries; {settings.bundle_samples} bundle rounds"
        if "log" in sections
        else ""
    )
    progress(f"sections {', '.join(sections)}{log}{'; quick' if settings.quick else ''}")
    results = run(settings, progress, sections, bool(args.full_drill))
    report_only: bool = args.report_only
    print(render(results, report_only), flush=True)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = summary_json(results, progress.elapsed(), report_only)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    progress(f"wrote {out}")
    status = results.exit_status(report_only)
    if not results.checks_ok or (results.sealer_append and results.sealer_append.problems):
        print("CROSS-CHECK FAILED: see the problems above", file=sys.stderr)
    if results.service_problems:
        print("SERVICE CHECK FAILED: see the problems above", file=sys.stderr)
    if status == EXIT_BROKEN and results.ok:
        print("BENCH BROKEN: a target row has no verdict (see BROKEN above)", file=sys.stderr)
    if status == EXIT_MISSED:
        print(
            f"TARGET MISSED: {len(summary['missed'])} row(s) printed MISS "
            "(--report-only to print without failing)",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
