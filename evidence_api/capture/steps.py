"""Runs the steps of a ``steps`` capture (过程取证) in the page, one bounded step at a time.

Each step gets its own timeout (:func:`step_timeout`: ``step_seconds`` for anything that
waits for a selector, ``navigation_seconds`` for a ``goto`` and for the page a click or key
press opens, ``network_idle_seconds`` for a network-idle wait, the step's own length for a
timed wait), cut further to what is left of the whole capture's time. A step that does not
finish ends the capture ``failed`` with a reason an officer can act on, e.g.
``step 3 (click #buy): selector not found within 15 s`` (:func:`failure`).

Scripts the runner evaluates go through a locator with a timeout (:func:`evaluate`): a page
whose own JavaScript never yields cannot hang the capture. A ``goto`` step's URL passes the
same address check as the capture's URL before the browser is pointed at it (the recording
proxy refuses what slips past: redirects, subresources).

The descriptions (:func:`describe`, :func:`target`) and the timeout rules are pure; only
:func:`run_step` touches the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evidence_api.capture.outcome import CaptureError, CaptureLimits
from evidence_api.capture.request import Click, Fill, Goto, Press, Screenshot, Scroll, Step, Wait

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Longest text of a browser error quoted in a failure reason.
MAX_ERROR_TEXT = 300


def seconds_text(seconds: float) -> str:
    """``15.0`` -> ``"15 s"``, ``2.5`` -> ``"2.5 s"`` (as an officer reads it)."""
    return f"{seconds:g} s"


def target(step: Step) -> str:
    """What the step acts on, as the failure reason names it (``#buy``, a URL, ``Enter``)."""
    match step:
        case Goto():
            return step.url
        case Click() | Fill():
            return step.selector
        case Press():
            return f"{step.key} on {step.selector}" if step.selector else step.key
        case Scroll():
            return "to bottom" if step.to_bottom else f"{step.pixels:+d} px"
        case Wait():
            if step.selector is not None:
                return step.selector
            if step.network_idle:
                return "network idle"
            return seconds_text(step.seconds or 0.0)
        case Screenshot():
            return "full page" if step.full_page else "viewport"
    raise TypeError(f"not a step: {step!r}")  # pragma: no cover - the union is closed


def describe(step: Step) -> str:
    """The step as progress shows it: the action, then its label, else its target."""
    return f"{step.action} {step.label or target(step)}"


def failure(index: int, step: Step, what: str) -> str:
    """The failure reason of step ``index`` (1-based): ``step 3 (click #buy): <what>``."""
    return f"step {index} ({step.action} {target(step)}): {what}"


def step_timeout(step: Step, limits: CaptureLimits) -> float:
    """Seconds step ``step`` may take before it fails (before the total-time cut)."""
    match step:
        case Goto():
            return limits.navigation_seconds
        case Wait() if step.network_idle:
            return limits.network_idle_seconds
        case Wait() if step.seconds is not None:
            return step.seconds + limits.step_seconds
        case _:
            return limits.step_seconds


def browser_error_text(error: BaseException) -> str:
    """The first line of a Playwright error, bounded (its call log is not for officers)."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return first[:MAX_ERROR_TEXT]


def evaluate(page: Page, expression: str, timeout: float, arg: Any = None) -> Any:
    """Evaluate ``expression`` (a function of the root element and ``arg``) in the page,
    failing with Playwright's ``TimeoutError`` after ``timeout`` seconds instead of hanging
    on a page whose scripts never yield (``page.evaluate`` has no timeout)."""
    return page.locator(":root").evaluate(expression, arg, timeout=timeout * 1000)


_SCROLL_BY = "(root, pixels) => { window.scrollBy(0, pixels); return window.scrollY; }"
_SCROLL_BOTTOM = (
    "root => { const el = document.scrollingElement || root;"
    " window.scrollTo(0, el.scrollHeight); return window.scrollY; }"
)


def run_step(
    page: Page,
    step: Step,
    *,
    index: int,
    limits: CaptureLimits,
    remaining: Callable[[], float],
    check_url: Callable[[str], object],
) -> dict[str, Any]:
    """Run step ``index`` of a ``steps`` capture; return what it did (for the environment
    record). Raises :class:`CaptureError` with the step's failure reason."""
    from playwright.sync_api import Error as PlaywrightError  # noqa: PLC0415
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    allowed = step_timeout(step, limits)
    left = remaining()
    if left <= 0:
        raise CaptureError(failure(index, step, "no time left"), limit="total_seconds")
    seconds = min(allowed, left)
    ms = seconds * 1000
    detail: dict[str, Any] = {}
    try:
        match step:
            case Goto():
                try:
                    check_url(step.url)
                except CaptureError as refused:
                    raise CaptureError(failure(index, step, refused.reason)) from refused
                response = page.goto(step.url, timeout=ms, wait_until="load")
                detail["status"] = response.status if response else None
            case Click():
                page.click(step.selector, timeout=ms)
                _settle(page, index, step, limits, remaining)
            case Fill():
                page.fill(step.selector, step.text, timeout=ms)
            case Press():
                if step.selector:
                    page.press(step.selector, step.key, timeout=ms)
                else:
                    page.keyboard.press(step.key)
                _settle(page, index, step, limits, remaining)
            case Scroll():
                if step.to_bottom:
                    detail["scroll_y"] = evaluate(page, _SCROLL_BOTTOM, seconds)
                else:
                    detail["scroll_y"] = evaluate(page, _SCROLL_BY, seconds, step.pixels)
            case Wait():
                if step.selector is not None:
                    page.wait_for_selector(step.selector, state="visible", timeout=ms)
                elif step.network_idle:
                    page.wait_for_load_state("networkidle", timeout=ms)
                else:
                    page.wait_for_timeout(min(step.seconds or 0.0, seconds) * 1000)
            case Screenshot():
                pass  # the runner takes every step's screenshot; this step only picks its kind
    except PlaywrightTimeout as timed_out:
        raise CaptureError(
            failure(index, step, _timeout_text(step, seconds)),
            limit="total_seconds" if seconds < allowed else "step_seconds",
        ) from timed_out
    except PlaywrightError as error:
        raise CaptureError(failure(index, step, browser_error_text(error))) from error
    detail["url"] = page.url
    return detail


def _settle(
    page: Page, index: int, step: Step, limits: CaptureLimits, remaining: Callable[[], float]
) -> None:
    """After a click or key press: if it opened a page, wait for that page's load event."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    allowed = limits.navigation_seconds
    seconds = min(allowed, max(remaining(), 0.001))
    try:
        page.wait_for_load_state("load", timeout=seconds * 1000)
    except PlaywrightTimeout as timed_out:
        raise CaptureError(
            failure(index, step, f"the page it opened did not load within {seconds_text(seconds)}"),
            limit="total_seconds" if seconds < allowed else "navigation_seconds",
        ) from timed_out


def _timeout_text(step: Step, seconds: float) -> str:
    within = seconds_text(seconds)
    match step:
        case Goto():
            return f"page did not load within {within}"
        case Wait() if step.network_idle:
            return f"network not idle within {within}"
        case Wait() if step.selector is None:
            return f"wait not over within {within}"
        case Scroll():
            return f"page did not respond within {within}"
        case _:
            return f"selector not found within {within}"
