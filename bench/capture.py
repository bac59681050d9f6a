"""Server-side web capture on the fixture website, beside ``chromium --headless --screenshot``.

The fixture website (``tests/support/capture_site.py``: HTTPS with its own test CA, a
product listing rendered by JavaScript) is served from this process. Captures run through
the service's own function, :func:`evidence_api.capture.browser.run_capture` (recording
proxy, fresh Chromium context, every file a capture stores), in worker processes the way a
Celery worker on queue ``capture`` runs them: a process that imports the capture code once
and runs one capture at a time.

* latency per mode: ``page`` and ``video`` of ``/listing``, and ``steps`` along the
  搜索 → 进入店铺 → 打开商品页 → 查看价格 path (``/search`` ... ``/item``), one capture at a
  time in one worker, p50 and p99 of the runs (the worker times ``run_capture`` alone);
* captures per minute with 1 and 2 workers: ``page`` captures of ``/listing`` submitted all
  at once to a pool of that many processes, the wall time from the first submission to the
  last result;
* peak RSS per capture: the worker's process tree (the Python worker, Playwright's driver,
  every Chromium process) sampled every 50 ms with psutil while one ``page`` capture runs.

Every row stands beside the baseline ``chromium --headless --screenshot`` of the same page
(the same Debian Chromium, a fresh profile, the window the capture's desktop device uses,
``--ignore-certificate-errors`` since only the recording proxy trusts the test CA), run in
the same section and interleaved with the captures: its time per screenshot, its
screenshots per minute at the same concurrency, and its process tree's peak RSS. A capture
does much more (proxy, WARC/WACZ, HAR, MHTML, DOM, full-page screenshot, environment
probes, self-check), so the ratio says what that costs, not that either is slow.

The issue sets no numeric target: rows print figures and ratios, no verdict. The section's
checks (a failure exits 1): every capture finishes (no ``CaptureError``), a ``page``
capture's DOM shows the listing's price and title, a ``video`` capture has its recording,
a ``steps`` capture has a screenshot per step and ends on the price, and every baseline
run writes its PNG.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.common import Progress, Row, format_table, percentile, support
from bench.memory import SAMPLE_S

MiB = 1 << 20
CHROMIUM = Path("/usr/bin/chromium")
#: The capture's desktop device's window (docs/capture.md §2), for the baseline too.
WINDOW = (1366, 900)
MODES = ("page", "video", "steps")
#: A whole capture may take this long on a loaded machine before the section gives up.
CAPTURE_DEADLINE_S = 300.0
BASELINE_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--ignore-certificate-errors",
)


@dataclass(frozen=True)
class CaptureSettings:
    #: timed captures per mode (and baseline runs interleaved with them)
    runs: int
    #: captures per worker in the throughput runs (1 and 2 workers)
    per_worker: int

    @classmethod
    def make(cls, quick: bool) -> CaptureSettings:
        return cls(runs=2, per_worker=2) if quick else cls(runs=10, per_worker=5)


@dataclass
class CaptureResult:
    settings: CaptureSettings
    #: per mode: seconds of each capture (run_capture inside the worker)
    seconds: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    #: seconds of each ``chromium --headless --screenshot`` interleaved with them
    baseline_seconds: list[float] = field(default_factory=list)
    #: workers -> captures per minute, and the baseline's screenshots per minute
    per_minute: dict[int, float] = field(default_factory=dict)
    baseline_per_minute: dict[int, float] = field(default_factory=dict)
    #: peak RSS (bytes) of the worker's process tree during each page capture; baseline's
    peak_rss: list[int] = field(default_factory=list)
    baseline_peak_rss: list[int] = field(default_factory=list)
    #: the worker's tree between captures (Python + imports, no browser running)
    idle_rss: int = 0
    chromium: str = ""
    files: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# --- what one worker process does -----------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One capture for a worker: the request (as JSON, validated there) and the site's CA."""

    mode: str
    request: dict[str, Any]
    ca_file: str


@dataclass(frozen=True)
class Done:
    mode: str
    seconds: float
    files: list[str]
    error: str | None = None
    #: what the checks need: the DOM's text for page/video, the final title, steps taken
    dom_has_price: bool = False
    dom_has_title: bool = False
    final_url: str = ""


def _config(ca_file: str) -> Any:
    """The capture configuration a worker uses: the OS Chromium, default limits, the loopback
    fixture site allow-listed, its CA trusted upstream by the recording proxy."""
    from evidence_api.capture.outcome import (  # noqa: PLC0415
        AddressPolicy,
        CaptureConfig,
        CaptureLimits,
    )

    return CaptureConfig(
        chromium=CHROMIUM,
        limits=CaptureLimits(),
        policy=AddressPolicy(
            allow_hosts=frozenset({"localhost", "127.0.0.1"}), allow_networks=("127.0.0.0/8",)
        ),
        upstream_ca=Path(ca_file),
        tool="evidence-anchor capture bench",
        host_id="bench",
    )


def worker_ready() -> int:
    """Import the capture code (as a started Celery worker has) and answer the pid."""
    import evidence_api.capture.browser  # noqa: F401, PLC0415

    return os.getpid()


def worker_capture(job: Job) -> Done:
    """Run one capture in this worker; time ``run_capture`` alone; report what it stored."""
    from evidence_api.capture.browser import run_capture  # noqa: PLC0415
    from evidence_api.capture.outcome import DOM, CaptureError  # noqa: PLC0415
    from evidence_api.capture.request import CaptureRequest  # noqa: PLC0415

    site = support("capture_site")
    request = CaptureRequest.model_validate(job.request)
    config = _config(job.ca_file)
    with tempfile.TemporaryDirectory(prefix="evidence-bench-capture-") as tmp:
        started = time.perf_counter()
        try:
            output = run_capture(
                request,
                capture_id=f"bench-{uuid.uuid4().hex[:12]}",
                workdir=Path(tmp) / "out",
                config=config,
                progress=lambda step: None,
            )
        except CaptureError as exc:
            return Done(job.mode, time.perf_counter() - started, [], f"{exc.reason}")
        seconds = time.perf_counter() - started
        names = [f.name for f in output.files]
        dom = next((f.path for f in output.files if f.name == DOM), None)
        text = dom.read_text("utf-8", "replace") if dom is not None else ""
        return Done(
            job.mode,
            seconds,
            names,
            dom_has_price=site.PRICE_TEXT in text,
            dom_has_title=site.PRODUCT_TITLE in text,
            final_url=output.final_url,
        )


# --- the parent: site, pools, baseline, sampling --------------------------------------------


def jobs(base: str, ca_file: str) -> dict[str, Job]:
    """One job per mode on the fixture site."""
    steps = [
        {"action": "fill", "selector": "#q", "text": "铁观音", "label": "搜索"},
        {"action": "click", "selector": "#search"},
        {"action": "click", "selector": "#shop", "label": "进入店铺"},
        {"action": "click", "selector": "#item", "label": "打开商品页"},
        {"action": "click", "selector": "#show-price", "label": "查看价格"},
        {"action": "wait", "selector": "#price:not(:empty)"},
    ]
    return {
        "page": Job("page", {"url": f"{base}/listing", "mode": "page"}, ca_file),
        "video": Job("video", {"url": f"{base}/listing", "mode": "video"}, ca_file),
        "steps": Job("steps", {"url": f"{base}/search", "mode": "steps", "steps": steps}, ca_file),
    }


def baseline_screenshot(url: str, folder: Path, on_start: Callable[[int], None]) -> float:
    """``chromium --headless --screenshot`` of ``url`` with a fresh profile; its seconds.
    ``on_start`` gets the browser's pid (for the RSS sampler)."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=folder))
    png = profile / "screenshot.png"
    args = [
        str(CHROMIUM),
        *BASELINE_ARGS,
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={png}",
        url,
    ]
    try:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        on_start(process.pid)
        try:
            code = process.wait(CAPTURE_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
            raise RuntimeError(
                f"chromium --screenshot of {url} took over {CAPTURE_DEADLINE_S} s"
            ) from None
        seconds = time.perf_counter() - started
        if code != 0 or not png.is_file() or png.stat().st_size == 0:
            raise RuntimeError(f"chromium --screenshot of {url} exited {code} without a PNG")
        return seconds
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def chromium_version() -> str:
    done = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout.strip()


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[tuple[concurrent.futures.ProcessPoolExecutor, list[int]]]:
    """``workers`` spawned processes, each with the capture code imported; their pids."""
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
    try:
        # one ready() per worker: a barrier-free way is to ask more than once and collect pids
        pids: set[int] = set()
        deadline = time.monotonic() + CAPTURE_DEADLINE_S
        while len(pids) < workers and time.monotonic() < deadline:
            pids |= set(pool.map(_ready_slowly, range(workers * 2)))
        yield pool, sorted(pids)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ready_slowly(_: int) -> int:
    """worker_ready, holding the worker a moment so every worker gets one of the calls."""
    pid = worker_ready()
    time.sleep(0.2)
    return pid


class TreePeak:
    """The peak RSS of one process tree (the process and all its descendants) over a
    window, sampled every 50 ms; a tree that exits meanwhile just stops adding samples."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-peak", daemon=True)

    def sample(self) -> int:
        try:
            root = psutil.Process(self.pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in family:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _check(done: Done, result: CaptureResult) -> None:
    """The section's service checks on one finished capture."""
    from evidence_api.capture.outcome import VIDEO, step_screenshot  # noqa: PLC0415

    where = f"{done.mode} capture"
    if done.error is not None:
        result.problems.append(f"{where} failed: {done.error}")
        return
    result.files.setdefault(done.mode, done.files)
    if done.mode in ("page", "video") and not (done.dom_has_price and done.dom_has_title):
        result.problems.append(f"{where}: the DOM lacks the listing's price or title")
    if done.mode in ("video", "steps") and VIDEO not in done.files:
        result.problems.append(f"{where}: no {VIDEO}")
    if done.mode == "steps":
        if step_screenshot(5) not in done.files:
            result.problems.append(f"{where}: no screenshot of step 5 ({done.files})")
        if not done.final_url.endswith("/item"):
            result.problems.append(f"{where}: ended at {done.final_url}, not /item")


def _latency(
    result: CaptureResult,
    pool: concurrent.futures.ProcessPoolExecutor,
    pid: int,
    work: dict[str, Job],
    url: str,
    folder: Path,
    progress: Progress,
) -> None:
    """Each round: every mode once (page with the RSS sampler on), then the baseline once;
    the order rotates round by round."""
    lines = [*MODES, "baseline"]
    for r in range(result.settings.runs):
        shift = r % len(lines)
        for line in lines[shift:] + lines[:shift]:
            if line == "baseline":
                seconds, rss = _sampled_baseline(url, folder)
                result.baseline_seconds.append(seconds)
                result.baseline_peak_rss.append(rss)
                continue
            with TreePeak(pid) as tree:
                done: Done = pool.submit(worker_capture, work[line]).result(CAPTURE_DEADLINE_S)
            _check(done, result)
            if done.error is None:
                result.seconds[line].append(done.seconds)
                if line == "page":
                    result.peak_rss.append(tree.peak)
        progress(
            f"capture: round {r + 1} of {result.settings.runs}: "
            + ", ".join(f"{m} {result.seconds[m][-1]:.2f} s" for m in MODES if result.seconds[m])
            + (f", baseline {result.baseline_seconds[-1]:.2f} s" if result.baseline_seconds else "")
        )


def _sampled_baseline(url: str, folder: Path) -> tuple[float, int]:
    """One baseline screenshot with its process tree's RSS sampled: (seconds, peak bytes)."""
    holder: dict[str, TreePeak] = {}
    lock = threading.Lock()

    def start(pid: int) -> None:
        with lock, contextlib.suppress(Exception):
            holder["tree"] = TreePeak(pid).__enter__()

    try:
        seconds = baseline_screenshot(url, folder, start)
    finally:
        with lock:
            tree = holder.get("tree")
            if tree is not None:
                tree.__exit__()
    return seconds, tree.peak if tree is not None else 0


def _throughput(
    result: CaptureResult, work: Job, url: str, folder: Path, workers: int, progress: Progress
) -> None:
    """``per_worker * workers`` page captures on ``workers`` processes, and as many baseline
    screenshots on ``workers`` threads, each timed from the first start to the last end."""
    total = result.settings.per_worker * workers
    with worker_pool(workers) as (pool, _):
        started = time.perf_counter()
        futures = [pool.submit(worker_capture, work) for _ in range(total)]
        for future in futures:
            _check(future.result(CAPTURE_DEADLINE_S * total), result)
        result.per_minute[workers] = total / (time.perf_counter() - started) * 60
    with concurrent.futures.ThreadPoolExecutor(workers) as threads:
        started = time.perf_counter()
        shots = [
            threads.submit(baseline_screenshot, url, folder, lambda pid: None) for _ in range(total)
        ]
        for shot in shots:
            shot.result()
        result.baseline_per_minute[workers] = total / (time.perf_counter() - started) * 60
    progress(
        f"capture: {workers} worker(s): {result.per_minute[workers]:.1f} captures/min, "
        f"baseline {result.baseline_per_minute[workers]:.1f} screenshots/min"
    )


def run(settings: CaptureSettings, progress: Progress) -> CaptureResult:
    site_support = support("capture_site")
    if not CHROMIUM.is_file():
        raise RuntimeError(f"capture section needs {CHROMIUM} (make sysdeps)")
    result = CaptureResult(settings)
    result.chromium = chromium_version()
    with (
        tempfile.TemporaryDirectory(prefix="evidence-bench-capture-") as tmp,
        site_support.capture_site(Path(tmp) / "site") as site,
    ):
        folder = Path(tmp)
        work = jobs(site.base, str(site.ca_file))
        url = site.url("/listing")
        progress(f"capture: fixture site {site.base}; {result.chromium}")
        with worker_pool(1) as (pool, pids):
            result.idle_rss = TreePeak(pids[0]).sample()
            # warm-up: one capture of each mode and one baseline, untimed
            for mode in MODES:
                _check(pool.submit(worker_capture, work[mode]).result(CAPTURE_DEADLINE_S), result)
            baseline_screenshot(url, folder, lambda pid: None)
            _latency(result, pool, pids[0], work, url, folder, progress)
        for workers in (1, 2):
            _throughput(result, work["page"], url, folder, workers, progress)
    return result


# --- rows -----------------------------------------------------------------------------------


def _stat(values: list[float], q: float) -> float:
    return percentile(values, q) if values else 0.0


BASELINE = "chromium --headless --screenshot"


def rows(result: CaptureResult) -> list[Row]:
    out: list[Row] = []
    base = [s * 1e3 for s in result.baseline_seconds]
    for mode in MODES:
        ms = [s * 1e3 for s in result.seconds[mode]]
        for q in (50, 99):
            out.append(
                Row(
                    id=f"capture.{mode}.p{q}",
                    figure=f"capture, mode {mode}, p{q}",
                    unit="ms",
                    ours=_stat(ms, q),
                    baseline=_stat(base, q) if base else None,
                    baseline_name=f"{BASELINE}, p{q}",
                    ratio_kind="share",
                )
            )
    for workers in sorted(result.per_minute):
        out.append(
            Row(
                id=f"capture.per_min.w{workers}",
                figure=f"page captures per minute, {workers} worker{'s' if workers > 1 else ''}",
                unit="/min",
                ours=result.per_minute[workers],
                baseline=result.baseline_per_minute.get(workers),
                baseline_name=f"{BASELINE}, {workers} at once",
                ratio_kind="share",
                higher_is_better=True,
            )
        )
    peaks = [b / MiB for b in result.peak_rss]
    base_peaks = [b / MiB for b in result.baseline_peak_rss]
    out.append(
        Row(
            id="capture.rss.peak",
            figure="peak RSS per page capture (worker + driver + Chromium), p50",
            unit="MiB",
            ours=_stat(peaks, 50),
            baseline=_stat(base_peaks, 50) if base_peaks else None,
            baseline_name=f"{BASELINE}'s process tree, p50",
            ratio_kind="share",
        )
    )
    return out


TITLE = "Server-side capture on the fixture website (real Chromium, recording proxy, WACZ)"


def legend(result: CaptureResult) -> str:
    s = result.settings
    lines = [
        f"ratio = ours / baseline. {s.runs} rounds, each mode once and the baseline once, the "
        "order rotating; the worker times run_capture alone (a spawned process, one capture at "
        f"a time). Per minute: {s.per_worker} captures per worker, all submitted at once. "
        f"{result.chromium}.",
        "page and video: /listing (JavaScript fetches the price); steps: /search, fill, click "
        "搜索 → 进入店铺 → 打开商品页 → 查看价格, wait for the price (6 steps).",
        f"RSS: the sum over the process tree, sampled every {SAMPLE_S * 1e3:.0f} ms (shared "
        f"pages counted per process, alike on both lines); the worker idles at "
        f"{result.idle_rss / MiB:.0f} MiB between captures. No target: the issue sets none.",
    ]
    lines += [f"  ! {p}" for p in result.problems]
    return "\n".join(lines)


def raw(result: CaptureResult) -> dict[str, Any]:
    return {
        "runs": result.settings.runs,
        "per_worker": result.settings.per_worker,
        "chromium": result.chromium,
        "seconds": result.seconds,
        "baseline_seconds": result.baseline_seconds,
        "per_minute": {str(k): v for k, v in result.per_minute.items()},
        "baseline_per_minute": {str(k): v for k, v in result.baseline_per_minute.items()},
        "peak_rss": result.peak_rss,
        "baseline_peak_rss": result.baseline_peak_rss,
        "idle_rss": result.idle_rss,
        "files": result.files,
        "problems": result.problems,
    }


def render(result: CaptureResult) -> str:
    return format_table(TITLE, rows(result), legend(result))


if __name__ == "__main__":  # python -m bench.capture [--quick]: this section alone
    import sys

    outcome = run(CaptureSettings.make("--quick" in sys.argv), Progress())
    print(render(outcome))
    print(json.dumps(raw(outcome), indent=2))
