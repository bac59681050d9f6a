"""Process start time: ``python -m bench.start [--quick] [--runs N]``.

Each round runs, in a rotating order so a noisy neighbour hits every line alike:

* ``python -c pass``: the bare interpreter, the baseline of every other line;
* ``evidence --help``, ``evidence admin create-token --help`` and ``evidence-verify --help``:
  interpreter start, imports and argument parsing (target: at most 0.4 s above the bare
  interpreter, median of the rounds);
* ``evidence serve`` on embedded defaults (SQLite, the local object store, a managed anvil on
  a free port: ``EVIDENCE_CHAIN=anvil``, ``EVIDENCE_ANVIL_PORT=0``) from the process start
  until ``GET /healthz`` answers 200 (target: 2 s), twice: ``cold`` in a fresh data folder
  (a new key, the migrations, a new anvil state, EvidenceLog deployed) and ``warm`` on the
  folder the cold start left (what a restart costs).

The figure is the median of the rounds; the ratio is ours / ``python -c pass`` of the same
rounds, and the difference ours - ``python -c pass`` is what the target judges.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import (
    NOT_JUDGED,
    Progress,
    Row,
    format_table,
    percentile,
    report,
    section_args,
    verdict,
)

BIN = Path(sys.executable).parent
#: the most a ``--help`` may take above the bare interpreter, s
HELP_TARGET_S = 0.4
#: the most ``evidence serve`` may take to answer ``/healthz``, s
SERVE_TARGET_S = 2.0
#: how long a start may take before the round counts as a failure, s
SERVE_DEADLINE_S = 120.0

#: name -> the command, run from a scratch folder with EVIDENCE_DATA_DIR there
HELP_LINES: dict[str, list[str]] = {
    "evidence": [str(BIN / "evidence"), "--help"],
    "create-token": [str(BIN / "evidence"), "admin", "create-token", "--help"],
    "evidence-verify": [str(BIN / "evidence-verify"), "--help"],
}
SERVE_LINES = ("serve.cold", "serve.warm")
BASELINE = "pass"


@dataclass(frozen=True)
class StartSettings:
    runs: int

    @classmethod
    def make(cls, quick: bool, runs: int | None = None) -> StartSettings:
        return cls(runs=max(runs or (7 if quick else 11), 1))


@dataclass
class StartResult:
    settings: StartSettings
    #: line -> seconds per round (``pass``, the ``--help`` lines, ``serve.cold``, ``serve.warm``)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def median(self, line: str) -> float:
        values = self.seconds.get(line, [])
        return percentile(values, 50) if values else 0.0

    def above_bare(self, line: str) -> float:
        return self.median(line) - self.median(BASELINE)


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("EVIDENCE_") or k == "EVIDENCE_ANVIL_BIN"
    }
    env.update(
        EVIDENCE_DATA_DIR=str(data_dir),
        EVIDENCE_CHAIN="anvil",
        EVIDENCE_ANVIL_PORT="0",
        EVIDENCE_HOST="127.0.0.1",
        EVIDENCE_PORT=str(port),
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_command(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds from the start of ``args`` to its exit; a failure raises with its output."""
    start = time.perf_counter()
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[-3:])} exited {done.returncode}: {done.stderr.strip()[-300:]}"
        )
    return seconds


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return int(reply.status) == 200
    except OSError:
        return False


def time_serve(data_dir: Path, log_file: Path) -> float:
    """Seconds from starting ``evidence serve`` until ``/healthz`` answers 200; the server is
    stopped again (SIGTERM) before this returns. A start that fails raises with its log."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    with log_file.open("ab") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(BIN / "evidence"), "serve"],
            cwd=data_dir.parent,
            env=_env(data_dir, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while not _healthy(url):
            if process.poll() is not None or time.perf_counter() - start > SERVE_DEADLINE_S:
                tail = log_file.read_text(errors="replace").splitlines()[-20:]
                raise RuntimeError(
                    f"evidence serve did not answer /healthz (exit {process.poll()}):\n"
                    + "\n".join(tail)
                )
            time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def one_round(scratch: Path, result: StartResult, round_no: int) -> None:
    """Every line once, starting at a different one each round."""
    env = _env(scratch / "help-data", free_port())
    data = scratch / f"serve-{round_no}" / "data"
    data.parent.mkdir(parents=True)
    log_file = data.parent / "serve.log"
    commands = {BASELINE: [sys.executable, "-c", "pass"], **HELP_LINES}
    lines: list[tuple[str, Callable[[], float]]] = [
        (name, partial(time_command, args, scratch, env)) for name, args in commands.items()
    ]
    # cold then warm: the warm start reuses the folder the cold one made
    lines.append(("serve", partial(_serve_pair, data, log_file, result)))
    shift = round_no % len(lines)
    for name, measure in lines[shift:] + lines[:shift]:
        try:
            seconds = measure()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            result.problems.append(f"round {round_no + 1}, {name}: {exc}")
            continue
        if name != "serve":
            result.seconds.setdefault(name, []).append(seconds)
    shutil.rmtree(data.parent, ignore_errors=True)


def _serve_pair(data: Path, log_file: Path, result: StartResult) -> float:
    cold = time_serve(data, log_file)
    result.seconds.setdefault("serve.cold", []).append(cold)
    warm = time_serve(data, log_file)
    result.seconds.setdefault("serve.warm", []).append(warm)
    return cold + warm


def run(settings: StartSettings, progress: Progress) -> StartResult:
    result = StartResult(settings)
    if shutil.which("evidence", path=str(BIN)) is None:
        result.problems.append(f"no `evidence` entry point in {BIN}: run `make install`")
        return result
    with tempfile.TemporaryDirectory(prefix="evidence-bench-start-") as tmp:
        scratch = Path(tmp)
        (scratch / "help-data").mkdir()
        for n in range(settings.runs):
            progress(f"start: round {n + 1} of {settings.runs}")
            one_round(scratch, result, n)
    wanted = (BASELINE, *HELP_LINES, *SERVE_LINES)
    missing = [name for name in wanted if len(result.seconds.get(name, [])) != settings.runs]
    if missing and not result.problems:
        result.problems.append(f"lines without a figure in every round: {', '.join(missing)}")
    return result


def rows(result: StartResult) -> list[Row]:
    bare = result.median(BASELINE)
    out = []
    for name, args in HELP_LINES.items():
        label = " ".join(Path(args[0]).name if i == 0 else a for i, a in enumerate(args))
        out.append(_row(result, f"start.{name}", label, bare, HELP_TARGET_S, above=True))
    for name in SERVE_LINES:
        kind = "fresh data folder" if name == "serve.cold" else "restart on its folder"
        label = f"evidence serve until /healthz 200 ({kind}, anvil)"
        out.append(_row(result, f"start.{name}", label, bare, SERVE_TARGET_S, above=False))
    return out


def _row(
    result: StartResult, row_id: str, label: str, bare: float, target: float, *, above: bool
) -> Row:
    line = row_id.removeprefix("start.")
    ours = result.median(line)
    measured = bool(result.seconds.get(line))
    ok = (ours - bare if above else ours) <= target
    return Row(
        id=row_id,
        figure=f"{label}, median ({ours - bare:+.2f} s)",
        unit="s",
        ours=ours,
        baseline=bare if bare > 0 else None,
        baseline_name="python -c pass",
        ratio_kind="speedup",
        higher_is_better=True,  # the ratio reads ours / baseline: "12.3x the bare interpreter"
        target=f"<= bare + {target:g} s" if above else f"<= {target:g} s",
        verdict=verdict(ok) if measured else NOT_JUDGED,
    )


def legend(result: StartResult) -> str:
    bare = result.median(BASELINE)
    lines = [
        f"median of {result.settings.runs} rounds, every line once per round in a rotating "
        f"order; ratio = ours / python -c pass (median {bare * 1e3:.0f} ms, same rounds).",
        "difference above the bare interpreter: "
        + ", ".join(
            f"{name} {result.above_bare(name):+.3f} s"
            for name in (*HELP_LINES, *SERVE_LINES)
            if result.seconds.get(name)
        ),
        "serve: EVIDENCE_CHAIN=anvil EVIDENCE_ANVIL_PORT=0, SQLite and the local store in a "
        "scratch folder; timed from the process start to the first 200 from /healthz "
        "(readiness of the chain is /readyz's, not timed here).",
    ]
    lines += [f"  ! {p}" for p in result.problems[:20]]
    return "\n".join(lines)


def raw(result: StartResult) -> dict[str, Any]:
    data = asdict(result)
    data["median_s"] = {name: result.median(name) for name in result.seconds}
    data["above_bare_s"] = {name: result.above_bare(name) for name in result.seconds}
    data["ratio"] = {
        name: result.median(name) / result.median(BASELINE)
        for name in result.seconds
        if result.median(BASELINE) > 0
    }
    return data


TITLE = "Process start, s (median; ratio and difference beside python -c pass)"


def render(result: StartResult) -> str:
    return format_table(TITLE, rows(result), legend(result))


def main(argv: list[str] | None = None) -> int:
    args = section_args(
        argv,
        prog="python -m bench.start",
        description="Start time of evidence --help, evidence admin create-token --help, "
        "evidence-verify --help and evidence serve (until /healthz), beside python -c pass.",
        quick_help="7 rounds instead of 11",
        runs_help="rounds",
    )
    result = run(StartSettings.make(args.quick, args.runs), Progress())
    return report(render(result), result.problems, rows(result), report_only=args.report_only)


if __name__ == "__main__":
    sys.exit(main())
