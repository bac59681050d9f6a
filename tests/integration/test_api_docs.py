"""``/docs`` works offline: Swagger UI and everything it loads come from this service.

FastAPI's own ``/docs`` loads Swagger UI from a CDN (a blank page on an intranet);
``evidence_api.core.apidocs`` serves the pinned npm files instead. Checked twice: the
page's HTML references only our own paths, each of which answers 200; and a real
headless Chromium renders the operation list while every request it makes stays on
our origin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from evidence_api.app import create_app
from evidence_api.core.apidocs import ASSETS
from evidence_api.core.config import Settings
from tests.support.browser import artifact, browser, live_server  # noqa: F401 - fixture

OPERATION_METHODS = {"get", "post", "put", "patch", "delete"}


class References(HTMLParser):
    """Every URL an HTML page makes the browser load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.style_attributes = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href", "action", "data", "poster"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if "style" in values:
            self.style_attributes += 1
        self._in_script = tag == "script" and not values.get("src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("docs")))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_docs_reference_only_our_origin_and_every_asset_answers(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'self'" in csp
    parsed = References()
    parsed.feed(page.text)
    assert parsed.inline_scripts == 0  # the CSP would block it
    assert parsed.urls, "the page references nothing"
    for url in parsed.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url}: another origin"
        assert url.startswith("/"), url
    assets = [u for u in parsed.urls if u.startswith("/docs/assets/")]
    assert {u.rsplit("/", 1)[1] for u in assets} == set(ASSETS)
    for url in parsed.urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.content, url
    # The initializer starts Swagger UI on our own document, with the token persisted.
    init = client.get("/docs/assets/docs-init.js").text
    assert "persistAuthorization: true" in init and "validatorUrl: null" in init
    assert "http" not in init.replace("data-openapi-url", "")
    assert 'data-openapi-url="/openapi.json"' in page.text
    assert client.get("/openapi.json").status_code == 200


def test_only_the_named_assets_are_served_and_the_cdn_pages_are_gone(client: TestClient) -> None:
    for name in ("index.html", "swagger-initializer.js", "package.json", "..%2F..%2Fapp.py"):
        answer = client.get(f"/docs/assets/{name}")
        assert answer.status_code == 404, name
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404


def _operations(doc: dict[str, Any]) -> int:
    return sum(
        1 for item in doc["paths"].values() for method in item if method in OPERATION_METHODS
    )


def _rendered_operations(page: Any, expected: int) -> int:
    """The operations Swagger UI renders, scrolling the page through: from 150 tags and
    operations on it only draws those near the viewport (a window virtualizer), so each is
    counted by its element id while the page scrolls to the bottom (or a deadline passes)."""
    seen: set[str] = set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ids = page.evaluate(
            "() => Array.from(document.querySelectorAll('.opblock'), e => e.id || e.outerHTML)"
        )
        seen.update(ids)
        at_bottom = page.evaluate(
            "() => { const before = window.scrollY; window.scrollBy(0, window.innerHeight / 2);"
            " return window.scrollY === before; }"
        )
        if at_bottom and len(seen) >= expected:
            break
        if at_bottom:
            page.wait_for_timeout(250)  # the last rows are being drawn: look once more
            more = page.evaluate(
                "() => Array.from(document.querySelectorAll('.opblock'), e => e.id || e.outerHTML)"
            )
            if set(more) <= seen:
                break
        page.wait_for_timeout(50)
    return len(seen)


@pytest.mark.browser
@pytest.mark.slow
def test_docs_render_in_a_real_browser_from_our_origin_alone(
    app: FastAPI,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    expected = _operations(app.openapi())
    with live_server(app) as server:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        requested: list[str] = []
        problems: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        try:
            page.goto(f"{server.url}/docs", wait_until="load", timeout=60_000)
            page.wait_for_selector(".opblock", state="visible", timeout=60_000)
            page.wait_for_load_state("networkidle", timeout=60_000)
            shown = _rendered_operations(page, expected)
            title = page.locator(".info .title").inner_text()
            authorize = page.locator("button.authorize").count()
            page.screenshot(path=str(artifact("api-docs.png")), full_page=False)
        finally:
            context.close()
    assert shown == expected, f"{shown} operations shown of {expected}"
    assert "Evidence Anchor" in title
    assert authorize == 1  # the bearer scheme is declared
    origin = server.url
    elsewhere = [u for u in requested if not u.startswith(origin) and not u.startswith("data:")]
    assert elsewhere == []
    assert f"{origin}/openapi.json" in requested
    assert problems == []


def test_the_page_needs_no_file_outside_the_pinned_package() -> None:
    for name, (path, _) in ASSETS.items():
        assert path.is_file(), f"{name}: {path} missing (make install)"
        assert "node_modules/swagger-ui-dist" in str(path) or path.name == "docs-init.js"
    lock = Path(__file__).resolve().parents[2] / "evidence_api/console/assets/package-lock.json"
    assert '"node_modules/swagger-ui-dist"' in lock.read_text(encoding="utf-8")
