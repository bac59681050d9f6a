"""Full verification of an evidence package (3 x 1 MB files, all five tiers on a local anvil),
beside hashing the same bytes: ``python -m bench.package [--quick] [--runs N]``.

The package is made the way the product makes it: the embedded stack of ``bench.anchor``
(``tests.support.api.anchoring_stack`` without Celery: anvil, ``evidence serve`` on SQLite
and the local object store, its own sealer and anchorer; its first start deploys EvidenceLog)
takes the three files through ``POST /v1/evidence``, seals and anchors them on anvil, and
exports them through ``GET /v1/evidence/{id}/package`` (``evidence_api.intake.package``).
The service is then stopped: an appraiser has the ZIP, the log key and the chain facts (from
the operator's publication; here the chain binding the service recorded, checked against the
node) and a chain node, nothing else. anvil keeps running.

Each run times, in a rotating order so a noisy neighbour hits every line alike:

* (a) ``evidence-verify PACKAGE.zip --log-key FILE --rpc URL --contract 0x... --chain-id N
  --json``, a subprocess: what an appraiser runs, interpreter start included;
* (b) in process, what that command does: ``read_package`` (ZIP checks, SHA-256 + SM3 of
  every file) then ``verify_bundle`` with ``make_anchor_check`` (tiers 1-5; tier 5 is
  JSON-RPC to anvil, timed apart);
* (c) ``sha256sum`` of the three files (coreutils, a subprocess): the baseline of (a);
* (d) ``hashlib`` SHA-256 and SM3 of the same 3 MB read from disk, in process: the baseline
  of (b);
* ``evidence-verify --help``: the interpreter start and imports alone, a breakdown of (a).

Every run of (a) and (b) must come out ``verified`` on all five tiers, and (c) and (d) must
give the manifest's digests, or the section reports a problem.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    Progress,
    Row,
    collect_young,
    format_table,
    gc_paused,
    percentile,
    report,
    section_args,
    support,
)
from verifier.chain.anchor import make_anchor_check
from verifier.note import VerifierKey
from verifier.package import read_package
from verifier.verify import AnchorCheck, Report, verify_bundle

MB = 10**6
CHUNK = 1 << 20
VERIFY_CLI = Path(sys.executable).with_name("evidence-verify")
PURPOSE = "性能测试 benchmark: package verification"
#: the lines timed in each run, in their starting order
LINES = ("cli", "library", "sha256sum", "hashlib", "startup")


@dataclass(frozen=True)
class PackageSettings:
    files: int
    file_bytes: int
    runs: int

    @classmethod
    def make(cls, quick: bool, runs: int | None = None) -> PackageSettings:
        return cls(files=3, file_bytes=1 * MB, runs=runs or (5 if quick else 30))


@dataclass
class PackageResult:
    settings: PackageSettings
    evidence_id: str = ""
    package_bytes: int = 0
    #: the tree size of the anchored checkpoint the package carries
    anchored_size: int = 0
    chain_id: int = 0
    contract: str = ""
    #: per run, ms: (a) the CLI subprocess, (b) the library path and its parts
    cli_ms: list[float] = field(default_factory=list)
    library_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    tiers_ms: list[float] = field(default_factory=list)
    tier5_ms: list[float] = field(default_factory=list)
    #: per run, ms: (c) ``sha256sum`` of the files, (d) hashlib SHA-256 + SM3 of them
    sha256sum_ms: list[float] = field(default_factory=list)
    hashlib_ms: list[float] = field(default_factory=list)
    #: per run, ms: ``evidence-verify --help`` (interpreter start and imports)
    startup_ms: list[float] = field(default_factory=list)
    #: per run: each tier's status as (a) and (b) reported it
    cli_statuses: list[list[str]] = field(default_factory=list)
    library_statuses: list[list[str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Appraisal:
    """What the appraiser holds: the package, the log key, the trusted chain facts."""

    package: Path
    key_file: Path
    rpc_url: str
    contract: str
    chain_id: int
    files: tuple[Path, ...]
    #: name -> (sha256, sm3) as the manifest records them
    digests: dict[str, tuple[str, str]]

    def cli_args(self) -> list[str]:
        return [
            str(VERIFY_CLI),
            str(self.package),
            "--log-key",
            str(self.key_file),
            "--rpc",
            self.rpc_url,
            "--contract",
            self.contract,
            "--chain-id",
            str(self.chain_id),
            "--json",
        ]


# --- making the package -------------------------------------------------------------------


def make_files(folder: Path, count: int, size: int) -> dict[str, bytes]:
    """``count`` files of ``size`` pseudo-random bytes (incompressible, reproducible, distinct,
    so content addressing stores each)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for n in range(1, count + 1):
        name = f"capture-{n}.bin"
        data = hashlib.shake_256(b"evidence-anchor package bench %d" % n).digest(size)
        (folder / name).write_bytes(data)
        out[name] = data
    return out


def _check_chain(stack: Any, result: PackageResult, package_chain: Any) -> None:
    """The chain binding the service recorded must be the node's chain and a deployed
    contract, and the package's (informational) ``chain.json`` must state the same."""
    w3 = stack.w3()
    facts = stack.chain
    if int(w3.eth.chain_id) != facts.chain_id:
        result.problems.append(f"node chain id {w3.eth.chain_id} is not {facts.chain_id}")
    if not bytes(w3.eth.get_code(w3.to_checksum_address(facts.contract))):
        result.problems.append(f"no contract deployed at {facts.contract}")
    if package_chain is None or (
        package_chain.chain_id != facts.chain_id
        or package_chain.contract.lower() != facts.contract.lower()
    ):
        result.problems.append(f"the package's chain.json {package_chain} is not {facts}")


def _export(api: Any, stack: Any, files: dict[str, bytes], target: Path) -> dict[str, Any]:
    """Submit ``files``, wait until anchored, stream the package to ``target``; returns the
    proof bundle as the service serves it."""
    with stack.client() as client:
        created = client.post("/v1/evidence", files=api.evidence_form(files))
        if created.status_code != 201:
            raise RuntimeError(f"POST /v1/evidence: {created.status_code} {created.text[:300]}")
        evidence_id = str(created.json()["evidence_id"])
        bundle: dict[str, Any] = api.wait_for_bundle(
            client, evidence_id, stack.headers(), status="anchored", timeout=60
        )
        url = f"/v1/evidence/{evidence_id}/package"
        with (
            client.stream("GET", url, params={"purpose": PURPOSE}) as response,
            target.open("wb") as out,
        ):
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code}")
            for chunk in response.iter_bytes():
                out.write(chunk)
    return bundle


@contextmanager
def appraisal(
    root: Path, settings: PackageSettings, progress: Progress, result: PackageResult
) -> Iterator[Appraisal]:
    """The embedded stack makes and exports an anchored package, then stops; anvil stays up
    for the runs and stops when this exits."""
    api = support("api")
    files = make_files(root / "files", settings.files, settings.file_bytes)
    with api.anchoring_stack(
        root / "stack",
        celery=False,
        block_time=None,  # a block per transaction
        seal_interval=0.2,
        anchor_interval=0.2,
        confirmations=1,
    ) as stack:
        progress(f"package: stack up (anvil {stack.node.url}); submitting {_what(settings)}")
        package = root / "package.zip"
        bundle = _export(api, stack, files, package)
        stack.server.stop()  # the appraiser's machine: the package and a chain node
        key_file = root / "log-key.vkey"
        key_file.write_text(stack.vkey, encoding="utf-8")
        read = read_package(package)
        _check_chain(stack, result, read.chain)
        manifest = read.bundle.manifest
        if manifest is None:
            raise RuntimeError("the exported package's proof carries no manifest")
        result.evidence_id = read.bundle.entry.id
        result.package_bytes = package.stat().st_size
        result.anchored_size = int(bundle["anchor"]["size"])
        result.chain_id, result.contract = stack.chain.chain_id, stack.chain.contract
        progress(
            f"package: {result.evidence_id} anchored at size {result.anchored_size}, exported "
            f"({result.package_bytes / MB:.2f} MB); service stopped, anvil up"
        )
        yield Appraisal(
            package,
            key_file,
            stack.chain.rpc_url,
            stack.chain.contract,
            stack.chain.chain_id,
            tuple(root / "files" / name for name in files),
            {f.name: (f.sha256, f.sm3) for f in manifest.files},
        )


# --- the timed lines ----------------------------------------------------------------------


def _statuses(tiers: list[dict[str, Any]]) -> list[str]:
    return [str(t["status"]) for t in tiers]


def _subprocess_ms(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    return (time.perf_counter() - start) * 1e3, done


def run_cli(a: Appraisal) -> tuple[float, list[str]]:
    """(a): the CLI subprocess; its tiers' statuses (one ``error ...`` item if it failed)."""
    ms, done = _subprocess_ms(a.cli_args())
    try:
        report = json.loads(done.stdout)
        statuses = _statuses(report["tiers"])
    except (ValueError, KeyError, TypeError):
        statuses = [f"error: exit {done.returncode}: {done.stderr.strip()[:200]}"]
    return ms, statuses


@dataclass(frozen=True)
class LibraryRun:
    total_ms: float
    read_ms: float
    tiers_ms: float
    tier5_ms: float
    report: Report


def run_library(a: Appraisal) -> LibraryRun:
    """(b): what ``evidence-verify`` does, in process, with tier 5 timed apart."""
    tier5: list[float] = []
    start = time.perf_counter()
    key = VerifierKey.from_text(a.key_file.read_text(encoding="utf-8"))
    check = make_anchor_check([a.rpc_url], contract=a.contract, chain_id=a.chain_id)

    def timed(bundle: Any) -> Any:
        began = time.perf_counter()
        try:
            return check(bundle)
        finally:
            tier5.append(time.perf_counter() - began)

    anchor_check: AnchorCheck = timed
    package = read_package(a.package)
    read = time.perf_counter()
    report = verify_bundle(
        package.bundle, files=package.files, log_keys=[key], anchor_check=anchor_check
    )
    end = time.perf_counter()
    rpc = sum(tier5)
    return LibraryRun(
        (end - start) * 1e3, (read - start) * 1e3, (end - read - rpc) * 1e3, rpc * 1e3, report
    )


def run_sha256sum(a: Appraisal) -> tuple[float, dict[str, str]]:
    """(c): ``sha256sum`` of the files; name -> digest."""
    ms, done = _subprocess_ms(["sha256sum", *map(str, a.files)])
    digests = {}
    for line in done.stdout.splitlines():
        digest, _, path = line.partition("  ")
        digests[Path(path).name] = digest
    return ms, digests


def run_hashlib(a: Appraisal) -> tuple[float, dict[str, tuple[str, str]]]:
    """(d): SHA-256 and SM3 of each file read from disk a MiB at a time (as the verifier
    reads a package member); name -> (sha256, sm3)."""
    start = time.perf_counter()
    out = {}
    for path in a.files:
        sha, sm3 = hashlib.sha256(), hashlib.new("sm3")
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                sha.update(chunk)
                sm3.update(chunk)
        out[path.name] = (sha.hexdigest(), sm3.hexdigest())
    return (time.perf_counter() - start) * 1e3, out


def one_round(a: Appraisal, result: PackageResult, r: int, record: bool) -> None:
    """Every line once, starting at line ``r`` of :data:`LINES`; checks every outcome."""
    want_sha = {name: d[0] for name, d in a.digests.items()}
    label = f"run {r + 1}" if record else "warm-up"

    def cli() -> None:
        ms, statuses = run_cli(a)
        if statuses != ["verified"] * 5:
            result.problems.append(f"{label}: evidence-verify tiers {statuses}")
        if record:
            result.cli_ms.append(ms)
            result.cli_statuses.append(statuses)

    def library() -> None:
        got = run_library(a)
        statuses = [str(t.status) for t in got.report.tiers]
        if statuses != ["verified"] * 5:
            result.problems.append(f"{label}: read_package + verify_bundle tiers {statuses}")
        if record:
            result.library_statuses.append(statuses)
            result.library_ms.append(got.total_ms)
            result.read_ms.append(got.read_ms)
            result.tiers_ms.append(got.tiers_ms)
            result.tier5_ms.append(got.tier5_ms)

    def coreutils() -> None:
        ms, digests = run_sha256sum(a)
        if digests != want_sha:
            result.problems.append(f"{label}: sha256sum gives {digests}, not {want_sha}")
        if record:
            result.sha256sum_ms.append(ms)

    def in_process() -> None:
        ms, digests = run_hashlib(a)
        if digests != a.digests:
            result.problems.append(f"{label}: hashlib gives {digests}, not {a.digests}")
        if record:
            result.hashlib_ms.append(ms)

    def startup() -> None:
        ms, done = _subprocess_ms([str(VERIFY_CLI), "--help"])
        if done.returncode != 0:
            result.problems.append(f"{label}: evidence-verify --help exit {done.returncode}")
        if record:
            result.startup_ms.append(ms)

    calls: dict[str, Callable[[], None]] = {
        "cli": cli,
        "library": library,
        "sha256sum": coreutils,
        "hashlib": in_process,
        "startup": startup,
    }
    shift = r % len(LINES)
    for name in LINES[shift:] + LINES[:shift]:
        calls[name]()


def run(settings: PackageSettings, progress: Progress) -> PackageResult:
    result = PackageResult(settings)
    if not VERIFY_CLI.is_file():
        raise RuntimeError(f"package section needs the evidence-verify script at {VERIFY_CLI}")
    with (
        tempfile.TemporaryDirectory(prefix="evidence-bench-package-") as tmp,
        appraisal(Path(tmp), settings, progress, result) as held,
    ):
        one_round(held, result, 0, record=False)  # warm-up: page cache, imports
        with gc_paused():
            for r in range(settings.runs):
                if r % 10 == 0:
                    progress(f"package: run {r + 1} of {settings.runs}")
                one_round(held, result, r, record=True)
                collect_young()
    return result


# --- reporting ----------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float:
    return percentile(values, q) if values else 0.0


def _what(s: PackageSettings) -> str:
    return f"{s.files} x {s.file_bytes / MB:g} MB"


def rows(result: PackageResult) -> list[Row]:
    files = result.settings.files
    lines = (
        ("cli", "(a) evidence-verify PACKAGE.zip, subprocess", result.cli_ms),
        ("library", "(b) read_package + verify_bundle, in process", result.library_ms),
    )
    baselines = {
        "cli": (f"(c) sha256sum of the {files} files", result.sha256sum_ms),
        "library": ("(d) hashlib SHA-256 + SM3, same bytes", result.hashlib_ms),
    }
    return [
        Row(
            id=f"package.{name}.p{q}",
            figure=f"{figure}, p{q}",
            unit="ms",
            ours=_p(ours, q),
            baseline=_p(baselines[name][1], q),
            baseline_name=baselines[name][0],
            ratio_kind="share",
        )
        for name, figure, ours in lines
        for q in (50, 90)
    ]


def legend(result: PackageResult) -> str:
    s = result.settings
    cli, library = _p(result.cli_ms, 50), _p(result.library_ms, 50)
    sha256sum, hashed = _p(result.sha256sum_ms, 50), _p(result.hashlib_ms, 50)
    lines = [
        f"ratio = ours / baseline, p50 and p90 of {s.runs} runs (every line once per run, "
        f"in a rotating order): (a)/(c) = {_x(cli, sha256sum)}, (b)/(d) = {_x(library, hashed)} "
        "at p50.",
        f"package: {result.evidence_id}, {result.package_bytes / MB:.2f} MB, exported by the "
        f"service (embedded stack: SQLite, local store) and anchored at size "
        f"{result.anchored_size} on anvil (chain {result.chain_id}, contract {result.contract}).",
        f"(a) p50 {cli:,.0f} ms, of which interpreter start and imports "
        f"(evidence-verify --help) {_p(result.startup_ms, 50):,.0f} ms.",
        f"(b) p50 {library:.1f} ms = read_package (ZIP checks, SHA-256 + SM3 of the files) "
        f"{_p(result.read_ms, 50):.1f} ms + tiers 1-4 {_p(result.tiers_ms, 50):.2f} ms + tier 5 "
        f"(JSON-RPC to anvil) {_p(result.tier5_ms, 50):.1f} ms (p50 of each part).",
    ]
    lines += [f"  ! {p}" for p in result.problems[:20]]
    return "\n".join(lines)


def _x(ours: float, base: float) -> str:
    return f"{ours / base:.1f}x" if base > 0 else "-"


def raw(result: PackageResult) -> dict[str, Any]:
    data = asdict(result)
    data["p50_ms"] = {
        name: _p(getattr(result, f"{name}_ms"), 50)
        for name in ("cli", "library", "read", "tiers", "tier5", "sha256sum", "hashlib", "startup")
    }
    data["p90_ms"] = {name: _p(getattr(result, f"{name}_ms"), 90) for name in data["p50_ms"]}
    return data


def title(result: PackageResult) -> str:
    return f"Package verification: {_what(result.settings)}, tiers 1-5 on a local anvil, ms"


def render(result: PackageResult) -> str:
    return format_table(title(result), rows(result), legend(result))


def main(argv: list[str] | None = None) -> int:
    args = section_args(
        argv,
        prog="python -m bench.package",
        description="Full verification of a 3 x 1 MB evidence package (tiers 1-5, local "
        "anvil) beside sha256sum and hashlib of the same bytes.",
        quick_help="5 runs instead of 30",
        runs_help="timed runs",
    )
    result = run(PackageSettings.make(args.quick, args.runs), Progress())
    return report(render(result), result.problems, rows(result), report_only=args.report_only)


if __name__ == "__main__":
    sys.exit(main())
