"""``run_capture`` with REAL Chromium, the real recording proxy and the HTTPS fixture site
(its own test CA, trusted by the proxy only): the files of each mode, the redirect chain
and TLS chain of the main document, devices, the self-check, the refused target, the
hostile pages against the decision table in ``evidence_api/capture/browser.py``, and the
total-time watchdog (which kills a real process group).

Each capture launches one Chromium, one at a time; deadlines are generous for a loaded
2-core machine, limits are shortened only where a test is about that limit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from evidence_api.capture import browser, selfcheck
from evidence_api.capture.browser import Watchdog, run_capture
from evidence_api.capture.outcome import (
    DOM,
    ENVIRONMENT,
    HAR,
    MAIN_DOCUMENT,
    MHTML,
    SCREENSHOT,
    VIDEO,
    WACZ,
    AddressPolicy,
    CaptureConfig,
    CaptureError,
    CaptureLimits,
    CaptureOutput,
    step_screenshot,
    tls_chain,
)
from evidence_api.capture.request import CaptureRequest
from tests.support.capture_site import PRICE_TEXT, PRODUCT_TITLE, Site

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOOPBACK = AddressPolicy(allow_hosts=frozenset({"127.0.0.1", "localhost", "::1"}))
#: Generous on a loaded 2-core machine; tests of a limit shorten that limit only.
LIMITS = CaptureLimits(total_seconds=180.0)
WACZ_CLI = Path(sys.executable).parent / "wacz"
PAGE_FILES = {SCREENSHOT, DOM, MHTML, WACZ, HAR, MAIN_DOCUMENT, ENVIRONMENT}


def config(site: Site, **limits: Any) -> CaptureConfig:
    return CaptureConfig(
        chromium=Path("/usr/bin/chromium"),
        limits=dataclasses.replace(LIMITS, **limits),
        policy=LOOPBACK,
        upstream_ca=site.ca_file,
    )


@dataclasses.dataclass
class Captured:
    output: CaptureOutput
    workdir: Path
    progress: list[str]
    seconds: float

    def file(self, name: str) -> Path:
        found = [f.path for f in self.output.files if f.name == name]
        assert len(found) == 1, (name, [f.name for f in self.output.files])
        return found[0]

    def json(self, name: str) -> Any:
        return json.loads(self.file(name).read_text(encoding="utf-8"))


def capture(site: Site, workdir: Path, body: dict[str, Any], **limits: Any) -> Captured:
    request = CaptureRequest.model_validate(body)
    progress: list[str] = []
    started = time.monotonic()
    output = run_capture(
        request,
        capture_id=f"cap_{workdir.name}",
        workdir=workdir,
        config=config(site, **limits),
        progress=progress.append,
    )
    return Captured(output, workdir, progress, time.monotonic() - started)


def failure(site: Site, workdir: Path, body: dict[str, Any], **limits: Any) -> CaptureError:
    """Run a capture that must fail; it must leave nothing in its workdir."""
    with pytest.raises(CaptureError) as raised:
        capture(site, workdir, body, **limits)
    assert not workdir.exists() or list(workdir.iterdir()) == [], list(workdir.iterdir())
    return raised.value


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def browsers_with(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (the capture's proxy address)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# -- page mode: one capture of /r1 (301 -> 302 -> /listing) -------------------------------------


@pytest.fixture(scope="module")
def redirected(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    return capture(site, tmp_path_factory.mktemp("r1") / "work", {"url": site.url("/r1")})


def test_page_mode_yields_every_file_and_nothing_else(redirected: Captured, site: Site) -> None:
    out = redirected.output
    names = [f.name for f in out.files]
    assert set(names) == PAGE_FILES | {tls_chain("localhost", site.port)}
    assert VIDEO not in names and len(names) == len(set(names))
    assert sorted(p.name for p in redirected.workdir.iterdir()) == sorted(names)  # no staging
    for f in out.files:
        assert f.path.parent == redirected.workdir and f.path.stat().st_size > 0, f
    assert out.final_url == site.url("/listing") and out.title == PRODUCT_TITLE
    assert re.fullmatch(r"evidence-anchor capture / Chromium \d+\.\d+\.\d+\.\d+", out.tool)
    assert out.limits_hit == []
    assert redirected.progress[:3] == ["environment", "self-check", f"loading {site.url('/r1')}"]


def test_dom_holds_the_javascript_rendered_price(redirected: Captured) -> None:
    dom = redirected.file(DOM).read_text(encoding="utf-8")
    assert dom.startswith("<!DOCTYPE html>")
    assert PRICE_TEXT in dom and "加载中" not in dom
    assert png_size(redirected.file(SCREENSHOT))[0] == 1366
    mhtml = redirected.file(MHTML).read_text(encoding="utf-8")
    assert "multipart/related" in mhtml and "Snapshot-Content-Location" in mhtml


def test_har_and_wacz_hold_the_traffic(redirected: Captured, site: Site) -> None:
    har = redirected.json(HAR)
    urls = [entry["request"]["url"] for entry in har["log"]["entries"]]
    assert site.url("/api/price.json") in urls and site.url("/r1") in urls
    done = subprocess.run(
        [str(WACZ_CLI), "validate", "-f", str(redirected.file(WACZ))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(redirected.file(WACZ)) as wacz:
        pages = wacz.read("pages/pages.jsonl").decode().splitlines()
        index = wacz.read("indexes/index.cdxj").decode()
    assert any(json.loads(line).get("url") == site.url("/listing") for line in pages[1:])
    assert "/api/price.json" in index


def test_main_document_redirect_chain(redirected: Captured, site: Site) -> None:
    main = redirected.json(MAIN_DOCUMENT)
    chain = main["chain"]
    assert [hop["status"] for hop in chain] == [301, 302, 200]
    assert [hop["url"] for hop in chain] == [site.url(p) for p in ("/r1", "/r2", "/listing")]
    locations = [dict((k.lower(), v) for k, v in hop["headers"]).get("location") for hop in chain]
    assert locations == ["/r2", "/listing", None]
    assert main["redirects"] == 2 and main["final_response"] == chain[-1]
    final = dict((k.lower(), v) for k, v in main["final_response"]["headers"])
    assert final["content-type"] == "text/html; charset=utf-8"


def test_tls_chain_is_the_chain_the_site_served(redirected: Captured, site: Site) -> None:
    name = tls_chain("localhost", site.port)
    assert redirected.file(name).read_text(encoding="ascii") == site.ca.chain_pem.decode()
    tls = redirected.output.environment["tls"][f"localhost:{site.port}"]
    assert tls["file"] == name and tls["verified"] is True and tls["certificates"] == 2
    assert tls["protocol"].startswith("TLSv1.")


def test_environment_record(redirected: Captured) -> None:
    env = redirected.output.environment
    assert redirected.json(ENVIRONMENT) == env
    assert env["selfcheck"]["ok"] is True
    assert env["selfcheck"]["sha256"] == env["selfcheck"]["expected_sha256"]
    assert env["device"]["viewport"] == "1366x900"
    assert env["proxy"]["requests"] >= 5  # r1, r2, listing, css, js, price
    assert env["mode"] == "page" and env["final_url"] == redirected.output.final_url
    assert env["main_document"]["redirects"] == 2
    browser_record = env["browser"]
    assert browser_record["chromium"] in redirected.output.tool
    args = browser_record["launch_args"]
    assert "--headless" in args and "--disable-extensions" in args
    assert not any(a.startswith("--load-extension") for a in args)  # no Debian wrapper flags
    proxy = browser_record["proxy"]
    assert f"--proxy-server={proxy}" in args
    assert env["warnings"] == []
    manifest = redirected.output.manifest_environment
    assert manifest["selfcheck"].startswith("passed sha256=")
    # the browser was closed: no process still carries the capture's proxy address
    assert browsers_with(f"--proxy-server={proxy}") == []


# -- steps, video, devices ------------------------------------------------------------------


SEARCH_STEPS: list[dict[str, Any]] = [
    {"action": "fill", "selector": "#q", "text": "铁观音", "label": "搜索"},
    {"action": "click", "selector": "#search"},
    {"action": "click", "selector": "#shop", "label": "进入店铺"},
    {"action": "click", "selector": "#item", "label": "打开商品页"},
    {"action": "click", "selector": "#show-price", "label": "查看价格"},
    {"action": "wait", "selector": "#price"},
    {"action": "screenshot", "full_page": True},
]


def test_steps_mode_records_each_step_and_a_video(site: Site, tmp_path: Path) -> None:
    done = capture(
        site,
        tmp_path / "work",
        {"url": site.url("/search"), "mode": "steps", "steps": SEARCH_STEPS},
    )
    out = done.output
    names = {f.name for f in out.files}
    shots = {step_screenshot(i) for i in range(1, len(SEARCH_STEPS) + 1)}
    assert shots <= names and VIDEO in names and names >= PAGE_FILES
    for shot in shots:
        assert png_size(done.file(shot))[0] == 1366
    assert png_size(done.file(step_screenshot(6)))[1] == 900  # a viewport shot
    video = done.file(VIDEO).read_bytes()
    assert video[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in video[:64] and len(video) > 2000
    assert PRICE_TEXT in done.file(DOM).read_text(encoding="utf-8")
    assert out.final_url == site.url("/item")
    assert "1/7 fill 搜索" in done.progress and "5/7 click 查看价格" in done.progress
    recorded = out.environment["steps"]
    assert [s["action"] for s in recorded] == [s["action"] for s in SEARCH_STEPS]
    assert recorded[2]["label"] == "进入店铺"
    for entry in recorded:
        assert entry["started"] <= entry["ended"]
    assert json.loads(recorded[1]["detail"])["url"].startswith(site.url("/search/results"))


def test_mobile_device_video_mode(site: Site, tmp_path: Path) -> None:
    done = capture(
        site,
        tmp_path / "work",
        {"url": site.url("/responsive"), "mode": "video", "device": "mobile"},
    )
    device = done.output.environment["device"]
    assert device["viewport"] == "390x844" and device["is_mobile"] is True
    assert png_size(done.file(SCREENSHOT))[0] == 390  # full page at CSS scale
    har = done.json(HAR)
    agents = {
        h["value"]
        for e in har["log"]["entries"]
        for h in e["request"]["headers"]
        if h["name"].lower() == "user-agent"
    }
    assert agents and all("Mobile" in a for a in agents)
    assert done.file(VIDEO).read_bytes()[:4] == b"\x1a\x45\xdf\xa3"


# -- refusals and failures ---------------------------------------------------------------------


def test_refused_target_fails_before_the_browser_starts(site: Site, tmp_path: Path) -> None:
    progress: list[str] = []
    strict = dataclasses.replace(config(site), policy=AddressPolicy())
    workdir = tmp_path / "work"
    with pytest.raises(CaptureError) as raised:
        run_capture(
            CaptureRequest(url=f"https://127.0.0.1:{site.port}/listing"),
            capture_id="cap_refused",
            workdir=workdir,
            config=strict,
            progress=progress.append,
        )
    assert raised.value.reason.startswith("refused: 127.0.0.1")
    assert "EVIDENCE_CAPTURE_ALLOW" in raised.value.reason
    assert progress == [] and not workdir.exists()


def test_a_tampered_control_page_fails_the_self_check(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the browser is served is not the control page (an injected script): the
    capture fails before the officer's page is loaded."""
    tampered = selfcheck.CONTROL_PAGE.replace(
        b"</body>", b'<script>document.title = "x";</script></body>'
    )
    monkeypatch.setattr(
        selfcheck,
        "local_pages",
        lambda: {selfcheck.CONTROL_URL: (selfcheck.CONTENT_TYPE, tampered)},
    )
    progress: list[str] = []
    workdir = tmp_path / "work"
    with pytest.raises(CaptureError) as raised:
        run_capture(
            CaptureRequest(url=site.url("/listing")),
            capture_id="cap_tampered",
            workdir=workdir,
            config=config(site),
            progress=progress.append,
        )
    reason = raised.value.reason
    assert reason.startswith("self-check failed: served_sha256 is "), reason
    assert "fetched_sha256" in reason and "elements" in reason
    assert progress == ["environment", "self-check"] and list(workdir.iterdir()) == []


def test_a_failing_step_names_step_target_and_time(site: Site, tmp_path: Path) -> None:
    body = {
        "url": site.url("/listing"),
        "mode": "steps",
        "steps": [{"action": "scroll", "pixels": 100}, {"action": "click", "selector": "#buy"}],
    }
    error = failure(site, tmp_path / "work", body, step_seconds=3.0)
    assert error.reason == "step 2 (click #buy): selector not found within 3 s"
    assert error.limit == "step_seconds"


@pytest.mark.parametrize(
    ("path", "limits", "reason", "limit"),
    [
        ("/loop", {}, "too many redirects (more than 10)", "max_redirects"),
        (
            "/busy",
            {"step_seconds": 3.0},
            "the page stopped responding (its scripts never yield)",
            "step_seconds",
        ),
        ("/to-private", {}, "main document not captured whole: refused: 10.0.0.1", None),
        ("/huge", {}, "the URL starts a download, not a page", None),
        (
            "/huge-html",
            {"max_response_bytes": 2 * 1024 * 1024},
            "capture limit max_response_bytes",
            "max_response_bytes",
        ),
    ],
)
def test_hostile_pages_that_fail(
    site: Site, tmp_path: Path, path: str, limits: dict[str, Any], reason: str, limit: str | None
) -> None:
    error = failure(site, tmp_path / "work", {"url": site.url(path)}, **limits)
    assert reason in error.reason, error.reason
    assert error.limit == limit


def test_redirects_beyond_the_limit_fail(site: Site, tmp_path: Path) -> None:
    error = failure(site, tmp_path / "work", {"url": site.url("/r1")}, max_redirects=1)
    assert error.reason == "2 redirects, more than the limit of 1"
    assert error.limit == "max_redirects"


def test_total_time_watchdog_ends_a_capture(site: Site, tmp_path: Path) -> None:
    started = time.monotonic()
    error = failure(
        site,
        tmp_path / "work",
        {"url": site.url("/never-idle")},
        total_seconds=12.0,
        network_idle_seconds=60.0,
    )
    assert error.limit == "total_seconds" and error.reason == "capture took longer than 12 s"
    assert time.monotonic() - started < 12.0 + browser.CLOSE_SECONDS + 30.0


# -- hostile pages captured with the limit or warning recorded ----------------------------------


def test_never_idle_is_captured_with_the_limit_recorded(site: Site, tmp_path: Path) -> None:
    done = capture(
        site, tmp_path / "work", {"url": site.url("/never-idle")}, network_idle_seconds=3.0
    )
    assert done.output.limits_hit == ["network_idle"]
    assert [hit["name"] for hit in done.output.environment["limits_hit"]] == ["network_idle"]
    assert "页面已加载" in done.file(DOM).read_text(encoding="utf-8")


def test_tall_page_screenshot_is_cut(site: Site, tmp_path: Path) -> None:
    done = capture(site, tmp_path / "work", {"url": site.url("/lazy")}, max_page_height=1200)
    assert done.output.limits_hit == ["max_page_height"]
    assert png_size(done.file(SCREENSHOT)) == (1366, 1200)


def test_oversized_subresource_is_cut_and_recorded(site: Site, tmp_path: Path) -> None:
    done = capture(
        site, tmp_path / "work", {"url": site.url("/huge-page")}, max_response_bytes=2 * 1024 * 1024
    )
    assert "max_response_bytes" in done.output.limits_hit
    assert done.output.environment["proxy"]["bytes_received"] < 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("path", "warning", "text"),
    [
        ("/alert", "对话框 dialog (alert) dismissed: 这是一个提示框", "提示框"),
        ("/download", "下载 download refused: ", "下载"),
        ("/basic-auth", "登录认证 basic authentication asked by ", "401 需要认证"),
    ],
)
def test_hostile_pages_captured_with_a_warning(
    site: Site, tmp_path: Path, path: str, warning: str, text: str
) -> None:
    done = capture(site, tmp_path / "work", {"url": site.url(path)}, network_idle_seconds=3.0)
    warnings = done.output.environment["warnings"]
    assert any(w.startswith(warning) for w in warnings), warnings
    assert text in done.file(DOM).read_text(encoding="utf-8")
    if path == "/basic-auth":
        assert done.json(MAIN_DOCUMENT)["final_response"]["status"] == 401


def test_a_page_asking_before_it_is_left_does_not_hold_the_steps(
    site: Site, tmp_path: Path
) -> None:
    steps = [
        {"action": "click", "selector": "#touch"},
        {"action": "click", "selector": "#away", "label": "离开"},
        {"action": "wait", "selector": "#price:not(:empty)"},
    ]
    done = capture(
        site, tmp_path / "work", {"url": site.url("/beforeunload"), "mode": "steps", "steps": steps}
    )
    assert done.output.final_url == site.url("/listing")
    assert PRICE_TEXT in done.file(DOM).read_text(encoding="utf-8")
    warnings = done.output.environment["warnings"]
    assert "对话框 dialog (beforeunload) accepted: the page was left" in warnings, warnings


# -- the watchdog on a real process group ----------------------------------------------------


def _sleeper() -> subprocess.Popen[bytes]:
    # its own process group, as Playwright starts Chromium
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )


def test_watchdog_kills_the_process_group_when_time_is_up() -> None:
    child = _sleeper()
    try:
        dog = Watchdog(0.5)
        dog.watch(child.pid)
        assert child.wait(timeout=30) == -9
        assert dog.fired and dog.timed_out and dog.remaining() <= 0
        dog.cancel()
    finally:
        if child.poll() is None:
            os.kill(child.pid, 9)
            child.wait()


def test_watchdog_closing_is_not_a_timeout_and_cancel_spares_the_process() -> None:
    child = _sleeper()
    try:
        closing = Watchdog(300)
        closing.watch(child.pid)
        closing.expire_in(0.2)  # the browser is closing and did not close in time
        assert child.wait(timeout=30) == -9
        assert closing.fired and not closing.timed_out
        closing.cancel()
    finally:
        if child.poll() is None:
            os.kill(child.pid, 9)
            child.wait()
    spared = _sleeper()
    try:
        dog = Watchdog(1.0)
        dog.watch(spared.pid)
        dog.cancel()
        time.sleep(1.5)  # past the deadline it would have had: cancelled, so no kill
        assert spared.poll() is None and not dog.fired
        exited = Watchdog(0.3)
        exited.watch(spared.pid)
        exited.unwatch()  # the browser exited: its pid may belong to someone else now
        deadline = time.monotonic() + 30
        while not exited.fired and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exited.fired and spared.poll() is None
        exited.cancel()
    finally:
        os.kill(spared.pid, 9)
        spared.wait()
