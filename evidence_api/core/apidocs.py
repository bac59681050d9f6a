"""``/docs``: Swagger UI served by this service, so the API docs work on an intranet.

FastAPI's own ``/docs`` and ``/redoc`` pages load Swagger UI and ReDoc from a CDN and
show a blank page without Internet access; :func:`evidence_api.app.create_app` turns
them off and :func:`install_docs` serves instead:

- ``/docs`` — a page with no inline script (its Content-Security-Policy admits only
  this origin) that loads the pinned ``swagger-ui-dist`` files (npm,
  ``evidence_api/console/assets``; ``make install`` runs ``npm ci`` there) and
  ``docs-init.js``, which starts Swagger UI on ``/openapi.json`` with the bearer
  token kept across reloads (``persistAuthorization``);
- ``/docs/assets/<name>`` — exactly the files :data:`ASSETS` names, nothing else of
  the package folder.

The bearer scheme needs no OAuth2 redirect page, so none is served.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from evidence_api.core.errors import NotFoundError, ServiceUnavailableError

CONSOLE = Path(__file__).resolve().parents[1] / "console"
SWAGGER_UI = CONSOLE / "assets" / "node_modules" / "swagger-ui-dist"
#: The files ``/docs`` references, by the name it uses, and where each one lives.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (
        SWAGGER_UI / "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
    ),
    "favicon-32x32.png": (SWAGGER_UI / "favicon-32x32.png", "image/png"),
    "docs-init.js": (CONSOLE / "static" / "docs-init.js", "text/javascript; charset=utf-8"),
}
#: Only this origin; Swagger UI sets element styles from script and shows data: icons.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def docs_page(title: str, openapi_url: str) -> str:
    """The ``/docs`` HTML: assets from ``/docs/assets``, the document's URL as data."""
    title, openapi_url = escape(title), escape(openapi_url)
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} — API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <script src="/docs/assets/swagger-ui-bundle.js" defer></script>
  <script src="/docs/assets/docs-init.js" defer></script>
</head>
<body>
  <main id="swagger-ui" data-openapi-url="{openapi_url}">
    <noscript>Swagger UI needs JavaScript; the document itself is at
      <a href="{openapi_url}">{openapi_url}</a>.</noscript>
  </main>
</body>
</html>
"""


def install_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve ``/docs`` and its assets from this service (see the module docstring)."""
    html = docs_page(app.title, openapi_url)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        known = ASSETS.get(name)
        if known is None:
            raise NotFoundError(f"no API docs asset {name!r}")
        path, media_type = known
        if not path.is_file():  # `make install` runs npm ci in evidence_api/console/assets
            raise ServiceUnavailableError("the API docs' assets are not installed (make install)")
        return FileResponse(
            path,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
