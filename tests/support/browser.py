"""A real headless Chromium for portal tests and the browser benchmark, and a live server.

Debian's ``/usr/bin/chromium`` driven by Playwright (never ``playwright install``), with the
flags docs/design.md §9 lists. ``live_server`` runs an ASGI app (the real verification service) with
uvicorn on a free loopback port in a thread, for the browser to load the portal from.

The vector runner (``tests/js/vector_runner.mjs``) is evaluated in the page as a function
whose body imports ``verify.js`` from the service itself, so it runs under the portal's own
Content-Security-Policy (``script-src 'self'``: no blob: or inline modules).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
RUNNER = REPO / "tests" / "js" / "vector_runner.mjs"


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (make sysdeps)"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        return "the playwright package is not installed"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium (a Playwright ``Browser``); closed on exit."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium per test module (each module that imports this fixture owns one;
    two alive at once would be two sync Playwright instances in one thread, which fails)."""
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context: no shared storage, downloads allowed)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


# --- a live server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str


@contextmanager
def live_server(app: Any) -> Iterator[LiveServer]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a daemon thread until the block ends."""
    import uvicorn  # noqa: PLC0415

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # generous: a loaded machine
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(
                f"uvicorn did not start on port {port} within 60 s (thread alive: "
                f"{thread.is_alive()}; its errors are in the test's captured log)"
            )
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- running the shared vectors in the page -------------------------------------------------------


def runner_function() -> str:
    """``async (vectors) => results``: vector_runner.mjs inlined, verify.js and package.js
    imported from the page's own origin."""
    source = RUNNER.read_text(encoding="utf-8").replace("export async function", "async function")
    return (
        "async (vectors) => {\n"
        f"{source}\n"
        "const v = await import('/verify/static/verify.js');\n"
        "const pkg = await import('/verify/static/package.js');\n"
        "const out = await runVectors(v, vectors);\n"
        "out.packages = await runPackageVectors(pkg, vectors.packages || []);\n"
        "return out;\n"
        "}"
    )


def run_vectors_in_page(page: Any, vectors: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(runner_function(), vectors)
    return result


def artifact(name: str) -> Path:
    """A path under ``test-artifacts/`` (kept after the run, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def node_available() -> bool:
    return shutil.which("node") is not None


#: How long a portal test waits for the page (a loaded 2-core machine, Chromium's start).
PORTAL_TIMEOUT_MS = 60_000


def choose(tab: Any, paths: list[Path]) -> dict[int, str]:
    """Choose files on the portal page, wait for the result, return {tier: status}."""
    tab.evaluate("document.getElementById('results').hidden = true")
    tab.set_input_files("#files", [str(p) for p in paths])
    tab.wait_for_selector(
        "#results:not([hidden]) li.tier[data-tier='5']", timeout=PORTAL_TIMEOUT_MS
    )
    cards = tab.query_selector_all("li.tier")
    return {int(c.get_attribute("data-tier")): c.get_attribute("data-status") for c in cards}


def card_text(tab: Any, tier: int, part: str) -> str:
    """The text of one part (``detail``, ``meaning``, ...) of a tier's result card."""
    text: str = tab.inner_text(f"li.tier[data-tier='{tier}'] .{part}")
    return text
