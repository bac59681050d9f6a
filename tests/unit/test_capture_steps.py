"""The capture runner's pure parts: step descriptions and failure reasons, step timeouts,
the emulated devices, the self-check's judgement, file media types and the browser binary
choice (the watchdog, which kills a real process, is tested in tests/integration)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from evidence_api.capture import browser, devices, selfcheck, steps
from evidence_api.capture.outcome import (
    DOM,
    ENVIRONMENT,
    HAR,
    MAIN_DOCUMENT,
    MHTML,
    SCREENSHOT,
    VIDEO,
    WACZ,
    CaptureError,
    CaptureLimits,
    step_screenshot,
    tls_chain,
)
from evidence_api.capture.request import Step, Viewport

STEP = TypeAdapter(Step)
LIMITS = CaptureLimits(
    navigation_seconds=30.0, step_seconds=15.0, network_idle_seconds=10.0, total_seconds=120.0
)


def step(**fields: object) -> Step:
    return STEP.validate_python(fields)


# -- descriptions and failure reasons ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "target", "described"),
    [
        ({"action": "goto", "url": "https://shop.example.cn/a"}, "https://shop.example.cn/a", None),
        ({"action": "click", "selector": "#buy"}, "#buy", "click #buy"),
        ({"action": "click", "selector": "#buy", "label": "进入店铺"}, "#buy", "click 进入店铺"),
        ({"action": "fill", "selector": "#q", "text": "铁观音"}, "#q", "fill #q"),
        ({"action": "press", "key": "Enter"}, "Enter", "press Enter"),
        ({"action": "press", "key": "Enter", "selector": "#q"}, "Enter on #q", None),
        ({"action": "scroll", "pixels": 600}, "+600 px", "scroll +600 px"),
        ({"action": "scroll", "pixels": -200}, "-200 px", None),
        ({"action": "scroll", "to_bottom": True}, "to bottom", None),
        ({"action": "wait", "selector": "#price"}, "#price", "wait #price"),
        ({"action": "wait", "network_idle": True}, "network idle", None),
        ({"action": "wait", "seconds": 2.5}, "2.5 s", "wait 2.5 s"),
        ({"action": "screenshot"}, "viewport", None),
        ({"action": "screenshot", "full_page": True, "label": "查看价格"}, "full page", None),
    ],
)
def test_target_and_description(
    fields: dict[str, object], target: str, described: str | None
) -> None:
    parsed = step(**fields)
    assert steps.target(parsed) == target
    label = fields.get("label")
    assert steps.describe(parsed) == (described or f"{fields['action']} {label or target}")


def test_failure_reason_names_the_step_its_target_and_the_time() -> None:
    reason = steps.failure(3, step(action="click", selector="#buy", label="购买"), "x")
    assert reason == "step 3 (click #buy): x"
    assert steps.failure(1, step(action="goto", url="https://a.example/"), "y") == (
        "step 1 (goto https://a.example/): y"
    )


@pytest.mark.parametrize(("seconds", "text"), [(15.0, "15 s"), (2.5, "2.5 s"), (0.25, "0.25 s")])
def test_seconds_text(seconds: float, text: str) -> None:
    assert steps.seconds_text(seconds) == text


@pytest.mark.parametrize(
    ("fields", "timeout"),
    [
        ({"action": "goto", "url": "https://a.example/"}, 30.0),
        ({"action": "click", "selector": "#a"}, 15.0),
        ({"action": "fill", "selector": "#a", "text": ""}, 15.0),
        ({"action": "wait", "selector": "#a"}, 15.0),
        ({"action": "wait", "network_idle": True}, 10.0),
        # a timed wait may last its own length, plus the step time for the page to answer
        ({"action": "wait", "seconds": 60}, 75.0),
        ({"action": "scroll", "to_bottom": True}, 15.0),
    ],
)
def test_step_timeout(fields: dict[str, object], timeout: float) -> None:
    assert steps.step_timeout(step(**fields), LIMITS) == timeout


def test_browser_error_text_keeps_the_first_line_only_and_bounds_it() -> None:
    error = RuntimeError("Page.click: Timeout 15000ms exceeded.\nCall log:\n  - waiting for #a")
    assert steps.browser_error_text(error) == "Page.click: Timeout 15000ms exceeded."
    long = RuntimeError("x" * (steps.MAX_ERROR_TEXT + 1))
    assert len(steps.browser_error_text(long)) == steps.MAX_ERROR_TEXT
    assert steps.browser_error_text(RuntimeError("")) == "RuntimeError"


# -- devices --------------------------------------------------------------------------------


def test_desktop_device() -> None:
    options = devices.context_options("desktop", None, chromium_version="156.0.8078.114")
    assert options["viewport"] == {"width": 1366, "height": 900}
    assert options["is_mobile"] is False and options["has_touch"] is False
    assert options["device_scale_factor"] == 1.0
    assert "Chrome/156.0.0.0 " in options["user_agent"]
    assert "Headless" not in options["user_agent"] and "Mobile" not in options["user_agent"]


def test_mobile_device_and_viewport_override() -> None:
    options = devices.context_options("mobile", None, chromium_version="141.0.7390.54")
    assert options["viewport"] == {"width": 390, "height": 844}
    assert options["screen"] == options["viewport"]
    assert options["is_mobile"] is True and options["has_touch"] is True
    assert options["device_scale_factor"] == 3.0
    assert options["user_agent"].endswith("Chrome/141.0.0.0 Mobile Safari/537.36")
    sized = devices.context_options(
        "mobile", Viewport(width=412, height=915), chromium_version="141.0.1.2"
    )
    assert sized["viewport"] == {"width": 412, "height": 915} and sized["is_mobile"] is True
    assert devices.describe(sized, "mobile")["viewport"] == "412x915"


def test_unknown_device_and_bad_version_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown device 'tablet'"):
        devices.context_options("tablet", None, chromium_version="1.0")
    with pytest.raises(ValueError, match="not a Chromium version"):
        devices.DESKTOP.user_agent("chromium")


# -- self-check -----------------------------------------------------------------------------


def test_canonical_digest_known_answer() -> None:
    # printf '{"a":1,"b":"中"}' | sha256sum
    expected = hashlib.sha256('{"a":1,"b":"中"}'.encode()).hexdigest()
    assert selfcheck.canonical_digest({"b": "中", "a": 1}) == expected


def test_selfcheck_expected_values_pass() -> None:
    result = selfcheck.compare(selfcheck.expected())
    assert result.passed and result.mismatches == {}
    assert result.observed_digest == result.expected_digest
    assert result.record()["ok"] is True and result.reason() == "self-check passed"


def test_selfcheck_expected_digests_are_of_the_served_page() -> None:
    want = selfcheck.expected()
    assert want["served_sha256"] == hashlib.sha256(selfcheck.CONTROL_PAGE).hexdigest()
    assert selfcheck.local_pages() == {
        selfcheck.CONTROL_URL: ("text/html; charset=utf-8", selfcheck.CONTROL_PAGE)
    }
    # the page's text and element list are what the expected values say it holds
    page = selfcheck.CONTROL_PAGE.decode()
    assert "本页由取证服务自行提供" in page and page.count("<script>") == 1


@pytest.mark.parametrize(
    ("name", "seen"),
    [
        ("fetched_sha256", "0" * 64),
        ("elements", [*selfcheck.EXPECTED_ELEMENTS, "SCRIPT"]),  # an injected script
        ("text", "取证环境自检 JavaScript 未运行"),  # scripts did not run
        ("box", [0, 0]),  # no layout
        ("clean", {"cookies": "a=1", "local_storage": 0, "service_workers": 0}),
    ],
)
def test_selfcheck_names_what_differs(name: str, seen: object) -> None:
    observed = selfcheck.expected() | {name: seen}
    result = selfcheck.compare(observed)
    assert not result.passed
    assert list(result.mismatches) == [name]
    assert result.observed_digest != result.expected_digest
    assert result.reason().startswith(f"self-check failed: {name} is ")
    assert json.dumps(seen, ensure_ascii=False)[:120] in result.reason()


# -- files, browser binary, watchdog -----------------------------------------------------------


def test_media_types() -> None:
    assert browser.media_type(SCREENSHOT) == "image/png"
    assert browser.media_type(step_screenshot(7)) == "image/png"
    assert browser.media_type(tls_chain("shop.example.cn", 443)) == "application/x-pem-file"
    assert browser.media_type(VIDEO) == "video/webm"
    assert browser.media_type(WACZ) == "application/wacz"
    for name in (DOM, MHTML, HAR, MAIN_DOCUMENT, ENVIRONMENT):
        assert browser.media_type(name)
    with pytest.raises(ValueError, match="not a capture file name"):
        browser.media_type("notes.txt")


def test_browser_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "chromium-binary"
    real.write_bytes(b"\x7fELF....")
    wrapper = tmp_path / "chromium"
    wrapper.write_text('#!/bin/sh\nexec chromium-binary $CHROMIUM_FLAGS "$@"\n')
    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", real)
    assert browser.browser_executable(wrapper) == real
    assert browser.browser_executable(real) == real
    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", tmp_path / "absent")
    assert browser.browser_executable(wrapper) == wrapper
    with pytest.raises(CaptureError, match="cannot be read"):
        browser.browser_executable(tmp_path / "missing")
