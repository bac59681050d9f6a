"""The pre-capture self-check (取证环境自检): capture a control page the service serves itself.

Before the officer's page is loaded, the same browser, through the same recording proxy,
loads :data:`CONTROL_URL` in a fresh context of its own. The proxy answers that URL from
memory (its ``local_pages``; the ``.invalid`` name can never resolve, so no one else can
answer it). If what the browser shows is not exactly the page we served, nothing it
captures afterwards can be trusted, and the capture fails: ``self-check failed: ...``.

What is compared, and why these values: the DOM Chromium serialises for a page changes
between Chromium versions (attribute order, whitespace, implied elements), so its bytes are
not a stable digest. Instead the check observes values that depend only on the page we
served and on a working, untampered browser:

``served_sha256``
    SHA-256 of the document's bytes as the browser received them (the navigation
    response's body): nothing between the service and the browser changed them.
``fetched_sha256``
    SHA-256 of the same URL fetched again by the page's own JavaScript (``fetch``, no
    cache): page scripts and the network stack work, and see the same bytes.
``elements``
    every element's tag name, in document order: nothing (an extension, an injected
    script, a proxy rewrite) added or removed an element or a script.
``text``
    the rendered text (``innerText``, whitespace collapsed): the page rendered, and its
    one inline script ran (it writes ``JavaScript 42``).
``box``
    the CSS size of ``#box`` (240 x 60): the stylesheet applied and layout ran.
``clean``
    cookies, local storage and service workers of the fresh context: all empty.

The check's digest is the SHA-256 of those values as canonical JSON (keys sorted, UTF-8,
no spaces); the expected digest is the same function of :func:`expected` (known in
advance, recomputable by anyone from this module). The environment record keeps both
digests and, on a mismatch, which values differed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: The control page's address; only the recording proxy answers it (``local_pages``).
CONTROL_URL = "http://selfcheck.evidence-anchor.invalid/"
CONTENT_TYPE = "text/html; charset=utf-8"

#: The control page, byte for byte (changing it changes :func:`expected`; that is fine:
#: both sides come from this module).
CONTROL_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>取证环境自检 Evidence Anchor self-check</title>
<style>body{margin:16px;font-family:sans-serif}#box{width:240px;height:60px;background:#1d4ed8}</style>
</head><body>
<h1>取证环境自检</h1>
<p id="fixed">Evidence Anchor control page 1 — 本页由取证服务自行提供</p>
<div id="box"></div>
<p id="js">JavaScript 未运行</p>
<script>document.getElementById("js").textContent = "JavaScript " + (6 * 7);</script>
</body></html>
""".encode()

EXPECTED_TEXT = "取证环境自检 Evidence Anchor control page 1 — 本页由取证服务自行提供 JavaScript 42"
EXPECTED_ELEMENTS = (
    "HTML",
    "HEAD",
    "META",
    "TITLE",
    "STYLE",
    "BODY",
    "H1",
    "P",
    "DIV",
    "P",
    "SCRIPT",
)

#: Runs in the control page: everything :func:`observe` compares except the served bytes.
_OBSERVE = """async () => {
  const response = await fetch(location.href, {cache: "no-store"});
  const bytes = Array.from(new Uint8Array(await response.arrayBuffer()));
  const box = document.getElementById("box").getBoundingClientRect();
  const workers = navigator.serviceWorker
    ? (await navigator.serviceWorker.getRegistrations()).length : 0;
  return {
    bytes,
    elements: Array.from(document.querySelectorAll("*"), e => e.tagName),
    text: document.body.innerText,
    box: [box.width, box.height],
    cookies: document.cookie,
    storage: localStorage.length,
    workers,
  };
}"""


def local_pages() -> dict[str, tuple[str, bytes]]:
    """What the recording proxy serves from memory: the control page only."""
    return {CONTROL_URL: (CONTENT_TYPE, CONTROL_PAGE)}


def canonical_digest(values: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``values`` as canonical JSON: keys sorted, UTF-8, no spaces."""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def expected() -> dict[str, Any]:
    """The values a clean, working browser observes on the control page."""
    served = hashlib.sha256(CONTROL_PAGE).hexdigest()
    return {
        "served_sha256": served,
        "fetched_sha256": served,
        "elements": list(EXPECTED_ELEMENTS),
        "text": EXPECTED_TEXT,
        "box": [240, 60],
        "clean": {"cookies": "", "local_storage": 0, "service_workers": 0, "context_cookies": 0},
    }


def collapse(text: str) -> str:
    """Whitespace runs to one space, ends stripped (``innerText``'s line breaks vary)."""
    return " ".join(text.split())


@dataclass(frozen=True)
class SelfCheck:
    """The self-check's result, as the environment record keeps it."""

    passed: bool
    expected_digest: str
    observed_digest: str
    #: the names of the values that differed, each with what was seen (bounded)
    mismatches: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "url": CONTROL_URL,
            "ok": self.passed,
            "sha256": self.observed_digest,  #: the observed values' digest
            "expected_sha256": self.expected_digest,
            "mismatches": dict(self.mismatches),
        }

    def reason(self) -> str:
        """The failure reason (``self-check failed: text is "...", box is [0, 0]``)."""
        if self.passed:
            return "self-check passed"
        return "self-check failed: " + ", ".join(
            f"{name} is {seen}" for name, seen in self.mismatches.items()
        )


def compare(observed: dict[str, Any]) -> SelfCheck:
    """Judge observed values against :func:`expected` (pure)."""
    want = expected()
    mismatches = {
        name: json.dumps(observed.get(name), ensure_ascii=False)[:120]
        for name in want
        if observed.get(name) != want[name]
    }
    want_digest = canonical_digest(want)
    seen_digest = canonical_digest(observed)
    return SelfCheck(
        passed=not mismatches and seen_digest == want_digest,
        expected_digest=want_digest,
        observed_digest=seen_digest,
        mismatches=mismatches,
    )


def observe(browser: Browser, *, timeout: float) -> dict[str, Any]:
    """Load the control page in a fresh context of ``browser`` (which already goes through
    the recording proxy) and return the observed values. Each browser call is bounded by
    ``timeout`` seconds; the context is closed before returning."""
    ms = timeout * 1000
    context = browser.new_context(
        ignore_https_errors=True, service_workers="block", accept_downloads=False
    )
    try:
        page = context.new_page()
        page.set_default_timeout(ms)
        response = page.goto(CONTROL_URL, timeout=ms, wait_until="load")
        if response is None:
            raise RuntimeError("the control page produced no response")
        served = response.body()
        seen = page.locator(":root").evaluate(f"root => ({_OBSERVE})()", timeout=ms)
        context_cookies = len(context.cookies())
    finally:
        context.close()
    return {
        "served_sha256": hashlib.sha256(served).hexdigest(),
        "fetched_sha256": hashlib.sha256(bytes(seen["bytes"])).hexdigest(),
        "elements": list(seen["elements"]),
        "text": collapse(str(seen["text"])),
        "box": [round(float(seen["box"][0])), round(float(seen["box"][1]))],
        "clean": {
            "cookies": seen["cookies"],
            "local_storage": seen["storage"],
            "service_workers": seen["workers"],
            "context_cookies": context_cookies,
        },
    }


def run(browser: Browser, *, timeout: float) -> SelfCheck:
    """Observe the control page and judge it. A browser error (the page did not load,
    a script timed out) is a failed check too, with the error as the mismatch."""
    from playwright.sync_api import Error as PlaywrightError  # noqa: PLC0415

    try:
        observed = observe(browser, timeout=timeout)
    except (PlaywrightError, RuntimeError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        want = canonical_digest(expected())
        return SelfCheck(False, want, "", {"page": f"not captured ({first})"})
    return compare(observed)
