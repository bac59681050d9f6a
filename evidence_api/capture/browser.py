"""The capture's browser runner: one clean, recorded Chromium per capture (issue 13 items 2–5).

:func:`run_capture` is the whole job, called by the service in a worker thread or a Celery
task::

    check_url ─ environment.before ─ proxy.start ─ launch Chromium (through the proxy)
      ─ self-check (own context) ─ capture context ─ goto ─ wait ─ steps / video tour
      ─ files ─ close context (HAR, video) ─ close browser ─ proxy.stop (WARC) ─ WACZ
      ─ TLS chains ─ environment.after ─ environment.json ─ CaptureOutput

1. The target is checked (:func:`~.netpolicy.check_url`) before anything starts; a refused
   target never sees a browser.
2. Chromium (the OS package, ``config.chromium``; never ``playwright install``) runs
   headless with :data:`LAUNCH_ARGS` and talks only to the recording proxy
   (``--proxy-server``, loopback not bypassed): the proxy resolves, checks and pins every
   connection, verifies every HTTPS origin, enforces the byte/resource limits and writes
   the WARC. The browser context therefore ignores certificate errors: the certificates it
   sees are the proxy's, minted per capture.
3. The self-check (:mod:`.selfcheck`) loads the control page in its own context first.
4. The capture context is fresh (no profile, cookies, cache or service workers carried
   over; downloads refused), zh-CN, Asia/Shanghai, the device of :mod:`.devices`; it
   records a HAR (bodies embedded) and, for ``video`` and ``steps``, a WebM. Dialogs
   (alert, confirm, prompt) are dismissed, a beforeunload "leave this page?" is
   accepted (the step chose to leave), each recorded as a warning;
   downloads are refused and recorded; a basic-auth challenge is not answered (the 401
   page is what is captured) and recorded.
5. Every file is written into a private staging folder and moved into ``workdir`` only
   when the capture succeeded; on failure the staging folder is removed, so nothing
   half-written is ever returned. The browser and the proxy are closed in ``finally``.

**Files** (names from :mod:`.outcome`): the screenshot, DOM and MHTML show the page as it
was at the end (after the wait, the steps or the video tour); ``main-document.json`` is
the navigation to ``request.url`` (each hop's URL, status and response headers, as the
browser received them); later navigations of a ``steps`` capture are in the environment
record's steps (each step's ``detail`` holds the URL after it). One PEM per HTTPS origin of
that redirect chain, as the proxy saw it served. ``progress`` is called with
``environment``, ``self-check``, ``loading <url>``, ``<i>/<n> <action> <label or
target>`` per step, and ``saving``.

**Time.** A watchdog thread kills the browser's process group when ``total_seconds`` have
passed since the capture started; Playwright's pending call then fails and the capture
ends ``failed`` with limit ``total_seconds``. Every browser call also has its own timeout
(scripts are evaluated through a locator with a timeout, screenshots have one), so a page
whose JavaScript never yields cannot hang the capture.

**Limits: failed or done.** (docs/capture.md copies this table.)

=========================  ==========================================================
limit / condition          outcome
=========================  ==========================================================
self-check mismatch        ``failed``: ``self-check failed: <value> is <seen>``
target refused (policy)    ``failed`` before the browser starts: ``refused: ...``
main document refused      ``failed``: ``main document not captured whole: refused: ...``
or cut by the proxy        (a redirect to a private address: the proxy refused the hop;
                           a document cut at a byte limit names that limit)
main document not loaded   ``failed``, limit ``navigation_seconds``: ``page did not load
                           within 30 s``; a browser network error is named
max_redirects              ``failed``, limit ``max_redirects`` (more hops than allowed,
                           or the browser's own redirect cap)
total_seconds              ``failed``, limit ``total_seconds`` (watchdog)
a step fails               ``failed``: ``step 3 (click #buy): selector not found within
                           15 s`` (limit ``step_seconds``/``navigation_seconds``)
wait_for selector missing  ``failed``, limit ``step_seconds``
page unresponsive          ``failed``, limit ``step_seconds``: its scripts never yield, so
(endless JavaScript)       no screenshot or DOM could be taken within step_seconds
                           (before load: ``navigation_seconds``)
network idle never reached ``done``, limit ``network_idle`` recorded
max_page_height            ``done``, limit recorded: the full-page screenshot is cut at
                           max_page_height CSS pixels (and at MAX_PAGE_WIDTH across)
max_bytes, max_resources,  ``done`` with the limit recorded when the main document
max_response_bytes         loaded (later downloads refused or cut by the proxy);
                           ``failed`` with the limit when it did not load
max_video_seconds          ``done``, limit recorded: the video tour stopped early
dialogs, downloads,        ``done``, recorded as warnings (dismissed; beforeunload
basic-auth challenge       accepted, so a step can leave the page; downloads refused;
                           the challenge not answered: the 401 page is the capture)
=========================  ==========================================================
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from evidence_api.capture import devices, selfcheck
from evidence_api.capture.environment import EnvironmentRecorder, utc_now
from evidence_api.capture.netpolicy import check_url
from evidence_api.capture.outcome import (
    DOM,
    ENVIRONMENT,
    HAR,
    MAIN_DOCUMENT,
    MHTML,
    SCREENSHOT,
    VIDEO,
    WACZ,
    CaptureConfig,
    CapturedFile,
    CaptureError,
    CaptureLimits,
    CaptureOutput,
    Progress,
    step_screenshot,
    tls_chain,
)
from evidence_api.capture.proxy import ProxyRecord, RecordingProxy
from evidence_api.capture.request import CaptureRequest, Screenshot, Step
from evidence_api.capture.steps import browser_error_text, describe, evaluate, failure, run_step
from evidence_api.capture.steps import seconds_text as _s
from evidence_api.capture.wacz import WaczPage, build_wacz

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Download, Page, Response

#: Chromium's flags (docs/design.md §9), beside the proxy's two.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-extensions",
)
LOCALE = "zh-CN"
TIMEZONE = "Asia/Shanghai"
#: Seconds the browser gets to close on its own before its process group is killed.
CLOSE_SECONDS = 15.0
#: Seconds the self-check may take (each browser call of it).
SELFCHECK_SECONDS = 20.0
#: The video tour: pause between scroll moves, and the share of max_video_seconds per way.
TOUR_PAUSE_SECONDS = 0.25
#: Widest full-page screenshot (CSS px); a wider page is cut there (limit max_page_height).
MAX_PAGE_WIDTH = 7680
#: Most redirect hops kept in main-document.json (the limit refuses more anyway).
MAX_CHAIN = 64
#: Most refusals/errors of the proxy copied into the environment record.
MAX_NOTES = 50
_WARC = "traffic.warc.gz"
#: The limits the recording proxy enforces (named in its refusals).
_PROXY_LIMITS = ("max_response_bytes", "max_bytes", "max_resources")

_MEDIA_TYPES = {
    SCREENSHOT: "image/png",
    DOM: "text/html; charset=utf-8",
    MHTML: "multipart/related",
    WACZ: "application/wacz",
    HAR: "application/json",
    VIDEO: "video/webm",
    MAIN_DOCUMENT: "application/json",
    ENVIRONMENT: "application/json",
}


def media_type(name: str) -> str:
    """The media type of a capture file, by its name."""
    if name in _MEDIA_TYPES:
        return _MEDIA_TYPES[name]
    if name.endswith(".png"):
        return "image/png"
    if name.endswith(".pem"):
        return "application/x-pem-file"
    raise ValueError(f"not a capture file name: {name!r}")


#: Debian's browser binary; ``/usr/bin/chromium`` is a shell wrapper around it.
DEBIAN_CHROMIUM = Path("/usr/lib/chromium/chromium")


def browser_executable(configured: Path) -> Path:
    """The binary to launch for ``configured``.

    Debian's ``/usr/bin/chromium`` is a shell script that sources ``/etc/chromium.d/*``
    and adds their flags, among them ``--load-extension=`` with every extension under
    ``/usr/share/chromium/extensions``: machine-wide settings a clean capture must not
    inherit. When ``configured`` is such a script and the package's binary is there, the
    binary is launched directly, so the recorded command line is exactly ours and
    Playwright's. Any other path (a real binary) is launched as it is.
    """
    try:
        with configured.open("rb") as file:
            script = file.read(2) == b"#!"
    except OSError as error:
        raise CaptureError(f"the capture browser {configured} cannot be read: {error}") from None
    if script and DEBIAN_CHROMIUM.is_file():
        return DEBIAN_CHROMIUM
    return configured


# -- the screen recorder -------------------------------------------------------------------

#: The system's ffmpeg (Debian package ``ffmpeg``, with libvpx): Playwright's recorder
#: pipes the browser's frames into it to write the WebM.
FFMPEG = Path("/usr/bin/ffmpeg")
_RECORDER_LOCK = threading.Lock()


def use_system_ffmpeg(ffmpeg: Path = FFMPEG) -> None:
    """Point Playwright's screen recorder at the system's ffmpeg.

    Playwright looks for its own ffmpeg build under ``PLAYWRIGHT_BROWSERS_PATH``
    (``ffmpeg-<revision>/ffmpeg-linux``), which only ``playwright install`` downloads, and
    that is never run here. So a folder of our own holds a link with that name to the
    system's binary, and the driver is started with ``PLAYWRIGHT_BROWSERS_PATH`` set to it
    (browsers are found by ``executable_path``, never there). The revision is read from the
    installed driver's ``browsers.json``. Idempotent; the variable is process-wide and
    always gets the same value.
    """
    import playwright  # noqa: PLC0415

    if not ffmpeg.is_file():
        raise CaptureError(
            f"screen recording needs ffmpeg at {ffmpeg} (Debian package ffmpeg; make sysdeps)"
        )
    browsers = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    entries = json.loads(browsers.read_text(encoding="utf-8"))["browsers"]
    revision = next(e["revision"] for e in entries if e["name"] == "ffmpeg")
    root = Path(tempfile.gettempdir()) / f"evidence-capture-playwright-{os.getuid()}"
    link = root / f"ffmpeg-{revision}" / "ffmpeg-linux"
    with _RECORDER_LOCK:
        link.parent.mkdir(parents=True, exist_ok=True)
        if not (link.is_symlink() and link.resolve() == ffmpeg.resolve()):
            temporary = link.with_name(f".ffmpeg-linux-{os.getpid()}")
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(ffmpeg)
            os.replace(temporary, link)
        os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(root)


# -- the total-time watchdog ----------------------------------------------------------------


class Watchdog:
    """Kills the browser's process group when the capture's time is up.

    Playwright's sync API may only be used from its own thread, so the watchdog cannot
    close the browser politely; killing the process (Playwright starts Chromium as the
    leader of its own process group) makes every pending Playwright call fail at once.
    """

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.fired = False
        #: fired because the capture's time was up (not while closing the browser)
        self.timed_out = False
        self._closing = False
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture-watchdog", daemon=True)
        self._thread.start()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def watch(self, pid: int) -> None:
        with self._lock:
            self._pid = pid
            if self.fired:
                _kill_group(pid)

    def unwatch(self) -> None:
        """The browser has exited: its process id may be reused, never kill it later."""
        with self._lock:
            self._pid = None

    def expire_in(self, seconds: float) -> None:
        """Bring the deadline forward: the browser is closing and gets ``seconds``."""
        with self._lock:
            self._closing = True
            self.deadline = min(self.deadline, time.monotonic() + seconds)

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(min(max(self.remaining(), 0.0), 0.5)):
            if self.remaining() <= 0:
                with self._lock:
                    self.fired = True
                    self.timed_out = not self._closing
                    if self._pid is not None:
                        _kill_group(self._pid)
                return


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def _browser_pid(browser: Browser) -> int | None:
    """The browser process's id, as Chromium itself reports it (CDP SystemInfo)."""
    session = browser.new_browser_cdp_session()
    try:
        info = session.send("SystemInfo.getProcessInfo")
    finally:
        session.detach()
    for process in info.get("processInfo", []):
        if process.get("type") == "browser":
            return int(process["id"])
    return None


def _command_line(pid: int | None, args: list[str]) -> list[str]:
    """The browser's real arguments (Playwright adds its own flags to ours), from
    ``/proc/<pid>/cmdline``; the ones we passed when that cannot be read."""
    if pid is not None:
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            found = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
            if found:
                return found[1:]
    return ["(as passed)", *args]


# -- what one capture gathers ---------------------------------------------------------------


@dataclass
class _Run:
    """The state of one capture while it runs (files go to ``staging``)."""

    request: CaptureRequest
    capture_id: str
    config: CaptureConfig
    progress: Progress
    staging: Path
    env: EnvironmentRecorder
    watchdog: Watchdog
    limits_hit: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    final_url: str = ""
    title: str = ""
    loaded_at: str = ""
    chain: list[dict[str, Any]] = field(default_factory=list)

    @property
    def limits(self) -> CaptureLimits:
        return self.config.limits

    def remaining(self) -> float:
        return self.watchdog.remaining()

    def bounded(self, seconds: float) -> float:
        """``seconds``, cut to what is left of the capture's time (at least 1 ms)."""
        return max(min(seconds, self.remaining()), 0.001)

    def hit(self, name: str, detail: str) -> None:
        if name not in self.limits_hit:
            self.limits_hit.append(name)
        self.env.limit(name, detail)

    def path(self, name: str) -> Path:
        return self.staging / name

    def wrote(self, name: str) -> None:
        if name not in self.files:
            self.files.append(name)


def run_capture(
    request: CaptureRequest,
    *,
    capture_id: str,
    workdir: Path,
    config: CaptureConfig,
    progress: Progress,
) -> CaptureOutput:
    """Capture ``request`` in a fresh, recorded browser; return the finished files (moved
    into ``workdir``) or raise :class:`CaptureError` (nothing left in ``workdir``)."""
    check_url(request.url, config.policy)
    workdir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".capture-", dir=workdir))
    watchdog = Watchdog(config.limits.total_seconds)
    env = EnvironmentRecorder(config, capture_id=capture_id, url=request.url)
    run = _Run(request, capture_id, config, progress, staging, env, watchdog)
    try:
        progress("environment")
        env.before()
        output = _capture(run)
        return _finish(run, output, workdir)
    finally:
        watchdog.cancel()
        shutil.rmtree(staging, ignore_errors=True)


def _capture(run: _Run) -> tuple[str, str]:
    """Everything between the proxy's start and stop; returns (tool, browser start time)."""
    proxy = RecordingProxy(
        policy=run.config.policy,
        limits=run.limits,
        warc_path=run.path(_WARC),
        upstream_ca=run.config.upstream_ca,
        capture_id=run.capture_id,
        local_pages=selfcheck.local_pages(),
    )
    stopped = False
    try:
        port = proxy.start()
        tool, started = _in_browser(run, proxy, port)
        record = proxy.stop()
        stopped = True
    finally:
        if not stopped:
            with contextlib.suppress(Exception):  # the capture failed already; that error wins
                proxy.stop()
    _after_proxy(run, record)
    return tool, started


def _in_browser(run: _Run, proxy: RecordingProxy, port: int) -> tuple[str, str]:
    from playwright.sync_api import Error as PlaywrightError  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    if run.request.mode in ("video", "steps"):
        use_system_ffmpeg()
    proxy_url = f"http://127.0.0.1:{port}"
    args = [*LAUNCH_ARGS, f"--proxy-server={proxy_url}", "--proxy-bypass-list=<-loopback>"]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(browser_executable(run.config.chromium)),
                args=args,
                headless=True,
                timeout=run.bounded(30.0) * 1000,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
            try:
                pid = _browser_pid(browser)
                if pid is not None:
                    run.watchdog.watch(pid)
                else:
                    run.env.warning("浏览器进程 browser process id unknown: no total-time watchdog")
                started = utc_now()
                run.env.browser(
                    chromium_version=browser.version,
                    playwright_version=importlib.metadata.version("playwright"),
                    launch_args=_command_line(pid, args),
                    proxy=proxy_url,
                )
                _selfcheck(run, browser)
                _page(run, browser, proxy)
            finally:
                run.watchdog.expire_in(CLOSE_SECONDS)
                with contextlib.suppress(PlaywrightError):
                    browser.close()
                run.watchdog.unwatch()
            return f"{run.config.tool} / Chromium {browser.version}", started
    except PlaywrightError as error:
        if run.watchdog.timed_out:
            raise CaptureError(
                f"capture took longer than {_s(run.limits.total_seconds)}", limit="total_seconds"
            ) from error
        raise CaptureError(f"browser error: {browser_error_text(error)}") from error
    except CaptureError:
        if run.watchdog.timed_out:
            raise CaptureError(
                f"capture took longer than {_s(run.limits.total_seconds)}", limit="total_seconds"
            ) from None
        raise


def _selfcheck(run: _Run, browser: Browser) -> None:
    run.progress("self-check")
    result = selfcheck.run(browser, timeout=run.bounded(SELFCHECK_SECONDS))
    run.env.set("selfcheck", result.record())
    if not result.passed:
        raise CaptureError(result.reason())


def _context(run: _Run, browser: Browser) -> BrowserContext:
    request = run.request
    options = devices.context_options(
        request.device, request.viewport, chromium_version=browser.version
    )
    run.env.set("device", devices.describe(options, request.device))
    video: dict[str, Any] = {}
    if request.mode in ("video", "steps"):
        video = {
            "record_video_dir": str(run.path("video")),
            "record_video_size": options["viewport"],
        }
    har: dict[str, Any] = {}
    if not run.config.light:  # a light capture keeps no HAR (its bodies cost the most)
        har = {
            "record_har_path": str(run.path(HAR)),
            "record_har_content": "embed",
            "record_har_mode": "full",
        }
    return browser.new_context(
        **options,
        **video,
        **har,
        ignore_https_errors=True,
        service_workers="block",
        accept_downloads=False,
        locale=LOCALE,
        timezone_id=TIMEZONE,
    )


def _watch(run: _Run, context: BrowserContext, popups: list[str]) -> None:
    """Dismiss dialogs, record refused downloads and popups, on every page of the context."""

    def dialog(d: Dialog) -> None:
        # "Leave this page?" is answered yes: the officer's step chose to leave, and a page
        # must not hold the capture on itself. Every other dialog is dismissed (cancel).
        if d.type == "beforeunload":
            run.env.warning("对话框 dialog (beforeunload) accepted: the page was left")
            with contextlib.suppress(Exception):
                d.accept()
            return
        run.env.warning(f"对话框 dialog ({d.type}) dismissed: {d.message[:200]}")
        with contextlib.suppress(Exception):
            d.dismiss()

    def download(d: Download) -> None:
        run.env.warning(f"下载 download refused: {d.url[:300]} ({d.suggested_filename[:100]})")

    def popup(p: Page) -> None:
        popups.append(p.url)

    context.on("dialog", dialog)
    context.on("download", download)
    context.on("page", popup)


def _refuse_auth(run: _Run, context: BrowserContext, page: Page) -> None:
    """Answer every HTTP authentication challenge of a page load with "cancel", so the
    401 page is what is captured (and the challenge is recorded).

    Chromium without a handler fails such a navigation (``ERR_INVALID_AUTH_CREDENTIALS``);
    authentication events come only for requests the DevTools ``Fetch`` domain
    intercepts, so documents (not subresources) are intercepted and let through at once.
    """
    session = context.new_cdp_session(page)

    def paused(event: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            session.send("Fetch.continueRequest", {"requestId": event["requestId"]})

    def challenged(event: dict[str, Any]) -> None:
        url = str(event.get("request", {}).get("url", ""))[:300]
        scheme = str(event.get("authChallenge", {}).get("scheme", ""))[:32]
        run.env.warning(
            f"登录认证 {scheme} authentication asked by {url} not answered: "
            "the 401 page is what was captured"
        )
        with contextlib.suppress(Exception):
            session.send(
                "Fetch.continueWithAuth",
                {
                    "requestId": event["requestId"],
                    "authChallengeResponse": {"response": "CancelAuth"},
                },
            )

    session.on("Fetch.requestPaused", paused)
    session.on("Fetch.authRequired", challenged)
    session.send(
        "Fetch.enable",
        {
            "handleAuthRequests": True,
            "patterns": [
                {"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}
            ],
        },
    )


def _page(run: _Run, browser: Browser, proxy: RecordingProxy) -> None:
    request = run.request
    context = _context(run, browser)
    closed = False
    try:
        page = context.new_page()
        page.set_default_timeout(run.limits.step_seconds * 1000)
        popups: list[str] = []
        _watch(run, context, popups)
        _refuse_auth(run, context, page)
        run.progress(f"loading {request.url}")
        _goto(run, page, proxy)
        _wait(run, page)
        if request.mode == "steps":
            _steps(run, page, request.steps or [])
        elif request.mode == "video":
            _tour(run, page)
        run.progress("saving")
        _files(run, context, page)
        video = page.video
        context.close()
        closed = True
        if run.path(HAR).is_file():
            run.wrote(HAR)
        if video is not None:
            source = Path(video.path())
            if not source.is_file():
                raise CaptureError("the screen recording was not written")
            os.replace(source, run.path(VIDEO))
            run.wrote(VIDEO)
        if popups:
            run.env.warning(f"弹出窗口 popups opened (not captured): {', '.join(popups)[:500]}")
    finally:
        if not closed:
            # Failed: nothing of this context is kept, and a page whose scripts never
            # yield can hold context.close(); closing the browser ends it all.
            run.watchdog.expire_in(CLOSE_SECONDS)


def _goto(run: _Run, page: Page, proxy: RecordingProxy) -> None:
    from playwright.sync_api import Error as PlaywrightError  # noqa: PLC0415
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    limits = run.limits
    seconds = run.bounded(limits.navigation_seconds)
    try:
        response = page.goto(run.request.url, timeout=seconds * 1000, wait_until="load")
    except PlaywrightTimeout as error:
        _limit_failure(proxy, "the page did not load")
        raise CaptureError(
            f"page did not load within {_s(seconds)}", limit="navigation_seconds"
        ) from error
    except PlaywrightError as error:
        text = browser_error_text(error)
        if "Download is starting" in text:
            raise CaptureError(
                "the URL starts a download, not a page (Content-Disposition, or a type the "
                "browser does not display): nothing to capture as a page"
            ) from error
        if "ERR_TOO_MANY_REDIRECTS" in text:
            raise CaptureError(
                f"too many redirects (more than {limits.max_redirects})", limit="max_redirects"
            ) from error
        _limit_failure(proxy, "the page did not load")
        raise CaptureError(f"page did not load: {text}") from error
    if response is None:
        raise CaptureError("page did not load: no response for the main document")
    run.loaded_at = utc_now()
    run.chain = _chain(response)
    hops = len(run.chain) - 1
    if hops > limits.max_redirects:
        raise CaptureError(
            f"{hops} redirects, more than the limit of {limits.max_redirects}",
            limit="max_redirects",
        )


def _limit_failure(proxy: RecordingProxy, what: str) -> None:
    """The main document did not load and a proxy limit was hit: that limit is the cause."""
    hit = proxy.limit_hit
    if hit is not None:
        raise CaptureError(f"{what}: capture limit {hit} reached", limit=hit)


def _chain(response: Response) -> list[dict[str, Any]]:
    """The main document's redirect chain, first request first (each hop's response)."""
    requests = [response.request]
    while len(requests) <= MAX_CHAIN:
        previous = requests[-1].redirected_from
        if previous is None:
            break
        requests.append(previous)
    hops: list[dict[str, Any]] = []
    for req in reversed(requests):
        hop_response = response if req is response.request else req.response()
        hop: dict[str, Any] = {"url": req.url, "method": req.method}
        if hop_response is None:
            hop.update(status=None, status_text="", headers=[])
        else:
            hop.update(
                status=hop_response.status,
                status_text=hop_response.status_text,
                headers=[(h["name"], h["value"]) for h in hop_response.headers_array()],
            )
        hops.append(hop)
    return hops


def _wait(run: _Run, page: Page) -> None:
    """Wait as ``request.wait_for`` asks (default: network idle, not reached is recorded)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    wait_for = run.request.wait_for
    limits = run.limits
    if wait_for is not None and wait_for.selector is not None:
        seconds = run.bounded(limits.step_seconds)
        try:
            page.wait_for_selector(wait_for.selector, state="visible", timeout=seconds * 1000)
        except PlaywrightTimeout as error:
            raise CaptureError(
                f"wait_for {wait_for.selector}: selector not found within {_s(seconds)}",
                limit="step_seconds",
            ) from error
    elif wait_for is not None and wait_for.seconds is not None:
        page.wait_for_timeout(run.bounded(wait_for.seconds) * 1000)
    else:
        seconds = run.bounded(limits.network_idle_seconds)
        try:
            page.wait_for_load_state("networkidle", timeout=seconds * 1000)
        except PlaywrightTimeout:
            run.hit("network_idle", f"network not idle within {_s(seconds)}; captured anyway")


def _steps(run: _Run, page: Page, steps: list[Step]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    for index, step in enumerate(steps, 1):
        run.progress(f"{index}/{len(steps)} {describe(step)}")
        started = utc_now()
        detail = run_step(
            page,
            step,
            index=index,
            limits=run.limits,
            remaining=run.remaining,
            check_url=lambda url: check_url(url, run.config.policy),
        )
        full = isinstance(step, Screenshot) and step.full_page
        name = step_screenshot(index)
        try:
            cut = _screenshot(run, page, name, full_page=full)
        except PlaywrightTimeout as error:
            raise CaptureError(
                failure(index, step, "the page stopped responding: no screenshot in time"),
                limit="step_seconds",
            ) from error
        if cut:
            detail["cut"] = f"{MAX_PAGE_WIDTH}x{run.limits.max_page_height} CSS px at most"
        run.env.step(
            index,
            step.action,
            step.label,
            started,
            utc_now(),
            json.dumps(detail, ensure_ascii=False),
        )


_MEASURE = "root => [window.scrollY, (document.scrollingElement || root).scrollHeight]"
_SCROLL = (
    "(root, d) => { window.scrollBy(0, d);"
    " return [window.scrollY, (document.scrollingElement || root).scrollHeight]; }"
)


def _tour(run: _Run, page: Page) -> None:
    """Mode ``video``: scroll slowly to the bottom and back, so the recording shows the
    whole page; half of max_video_seconds each way at most (and max_page_height down)."""
    limits = run.limits
    budget = run.bounded(limits.max_video_seconds)
    ends = time.monotonic() + budget
    half = ends - budget / 2
    seconds = run.bounded(limits.step_seconds)
    view = (page.viewport_size or {"height": 900})["height"]
    stride = max(view // 3, 100)
    y, height = evaluate(page, _MEASURE, seconds)
    while y + view < min(height, limits.max_page_height) and time.monotonic() < half:
        page.wait_for_timeout(TOUR_PAUSE_SECONDS * 1000)
        before = y
        y, height = evaluate(page, _SCROLL, seconds, stride)
        if y == before:
            break  # cannot scroll further (a fixed-height page, or the end of it)
    down_cut = y + view < min(height, limits.max_page_height) and time.monotonic() >= half
    while y > 0 and time.monotonic() < ends:
        page.wait_for_timeout(TOUR_PAUSE_SECONDS * 1000)
        y, height = evaluate(page, _SCROLL, seconds, -2 * stride)
    if down_cut or y > 0:
        run.hit("max_video_seconds", f"the scroll tour stopped after {_s(budget)}")
    page.wait_for_timeout(TOUR_PAUSE_SECONDS * 2000)


def _screenshot(run: _Run, page: Page, name: str, *, full_page: bool) -> bool:
    """Write screenshot ``name``; True when a full page was cut (at max_page_height CSS px
    down, or :data:`MAX_PAGE_WIDTH` across)."""
    seconds = run.bounded(run.limits.step_seconds * 2)
    path = run.path(name)
    cut = False
    if full_page:
        width, height = evaluate(
            page,
            "root => { const el = document.scrollingElement || root;"
            " return [Math.ceil(el.scrollWidth), Math.ceil(el.scrollHeight)]; }",
            seconds,
        )
        if height > run.limits.max_page_height or width > MAX_PAGE_WIDTH:
            cut = True
            page.screenshot(
                path=path,
                full_page=True,
                clip={
                    "x": 0,
                    "y": 0,
                    "width": min(width, MAX_PAGE_WIDTH),
                    "height": min(height, run.limits.max_page_height),
                },
                timeout=seconds * 1000,
                scale="css",
            )
        else:
            page.screenshot(path=path, full_page=True, timeout=seconds * 1000, scale="css")
    else:
        page.screenshot(path=path, timeout=seconds * 1000)
    run.wrote(name)
    return cut


def _files(run: _Run, context: BrowserContext, page: Page) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    seconds = run.bounded(run.limits.step_seconds * 2)  # as each screenshot's
    try:
        if _screenshot(run, page, SCREENSHOT, full_page=run.request.full_page):
            run.hit(
                "max_page_height",
                f"the page is taller than {run.limits.max_page_height} CSS px (or wider than "
                f"{MAX_PAGE_WIDTH}); the full-page screenshot is cut there",
            )
        dom = evaluate(
            page,
            "root => (document.doctype ? new XMLSerializer().serializeToString(document.doctype)"
            " + '\\n' : '') + root.outerHTML",
            seconds,
        )
        run.title = str(evaluate(page, "root => document.title", seconds))[:1024]
    except PlaywrightTimeout as error:
        raise CaptureError(
            "the page stopped responding (its scripts never yield): no screenshot or DOM "
            f"within {_s(seconds)}",
            limit="step_seconds",
        ) from error
    run.path(DOM).write_text(str(dom), encoding="utf-8")
    run.wrote(DOM)
    if not run.config.light:
        session = context.new_cdp_session(page)
        try:
            snapshot = session.send("Page.captureSnapshot", {"format": "mhtml"})
        finally:
            session.detach()
        run.path(MHTML).write_text(str(snapshot["data"]), encoding="utf-8", newline="")
        run.wrote(MHTML)
    run.final_url = page.url
    main = {
        "requested_url": run.request.url,
        "final_url": run.chain[-1]["url"] if run.chain else page.url,
        "page_url_at_end": page.url,
        "loaded_at": run.loaded_at,
        "redirects": max(len(run.chain) - 1, 0),
        "chain": run.chain,
        "final_response": run.chain[-1] if run.chain else None,
        "note": "headers as Chromium received them from the recording proxy, which forwards "
        "the origin's end-to-end headers; the WARC in archive.wacz holds the exact bytes",
    }
    _write_json(run.path(MAIN_DOCUMENT), main)
    run.wrote(MAIN_DOCUMENT)


def _after_proxy(run: _Run, record: ProxyRecord) -> None:
    """With the proxy stopped: refusals of the main document, limits, TLS chains, WACZ."""
    refused = {n.url: n.reason for n in [*record.refused, *record.errors]}
    for hop in run.chain:
        reason = refused.get(hop["url"]) or refused.get(hop["url"].split("#", 1)[0])
        if reason:
            limit = next(
                (name for name in _PROXY_LIMITS if f"capture limit {name}" in reason), None
            )
            raise CaptureError(f"main document not captured whole: {reason}", limit=limit)
    for name in record.limits_hit:
        run.hit(name, "the main document loaded; later downloads were refused or cut")
    tls_summary: dict[str, Any] = {}
    for hop in run.chain:
        parts = urlsplit(hop["url"])
        if parts.scheme != "https" or not parts.hostname:
            continue
        host, port = parts.hostname, parts.port or 443
        key = f"{host}:{port}"
        origin = record.origins.get(key)
        if key in tls_summary:
            continue
        if origin is None or origin.tls is None or not origin.tls.chain_pem:
            run.env.warning(f"TLS chain of {key} not recorded by the proxy")
            tls_summary[key] = None
            continue
        tls = origin.tls
        name = tls_chain(host, port)
        run.path(name).write_text("".join(tls.chain_pem), encoding="ascii")
        run.wrote(name)
        tls_summary[key] = {
            "file": name,
            "protocol": tls.protocol,
            "cipher": tls.cipher,
            "verified": tls.verified,
            "error": tls.error,
            "certificates": len(tls.chain_pem),
        }
    run.env.set("tls", tls_summary)
    run.env.set("proxy", _proxy_summary(record))
    run.env.set("mode", run.request.mode)
    run.env.set("light", run.config.light)
    run.env.set("final_url", run.final_url)
    run.env.set("title", run.title)
    run.env.set(
        "main_document",
        {"url": run.request.url, "final_url": run.final_url, "redirects": len(run.chain) - 1},
    )
    if run.config.light:
        return  # no archive: the WARC stays in staging, removed with it
    ts = run.loaded_at or utc_now()
    build_wacz(
        run.path(_WARC),
        [WaczPage(url=run.final_url, title=run.title, ts=ts)],
        run.path(WACZ),
        title=run.title or run.final_url,
        software=run.config.tool,
    )
    run.wrote(WACZ)


def _proxy_summary(record: ProxyRecord) -> dict[str, Any]:
    return {
        "requests": record.requests,
        "bytes_received": record.bytes_received,
        "limits_hit": list(record.limits_hit),
        "refused": [{"url": n.url[:512], "reason": n.reason} for n in record.refused[:MAX_NOTES]],
        "errors": [{"url": n.url[:512], "reason": n.reason} for n in record.errors[:MAX_NOTES]],
        "origins": {
            key: {
                "scheme": o.scheme,
                "addresses": o.addresses,
                "connected": o.connected,
                "tls": None
                if o.tls is None
                else {
                    "protocol": o.tls.protocol,
                    "cipher": o.tls.cipher,
                    "verified": o.tls.verified,
                    "error": o.tls.error,
                },
            }
            for key, o in list(record.origins.items())[:200]
        },
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _finish(run: _Run, tool_started: tuple[str, str], workdir: Path) -> CaptureOutput:
    """environment.after, environment.json, then move every file into ``workdir``."""
    tool, started = tool_started
    run.env.after()
    _write_json(run.path(ENVIRONMENT), run.env.record())
    run.wrote(ENVIRONMENT)
    order = [SCREENSHOT, DOM, MHTML, WACZ, HAR, VIDEO, MAIN_DOCUMENT]
    names = [n for n in order if n in run.files]
    names += sorted(n for n in run.files if n not in order and n != ENVIRONMENT)
    names.append(ENVIRONMENT)
    files: list[CapturedFile] = []
    for name in names:
        source = run.path(name)
        if not source.is_file():
            raise CaptureError(f"{name} was not written")
    for name in names:
        target = workdir / name
        os.replace(run.path(name), target)
        files.append(CapturedFile(name, media_type(name), target))
    return CaptureOutput(
        files=files,
        environment=run.env.record(),
        manifest_environment=run.env.manifest(),
        tool=tool,
        final_url=run.final_url,
        title=run.title,
        started_at=started,
        limits_hit=list(run.limits_hit),
    )
