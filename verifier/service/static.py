"""Serving the portal's static files (``verifier/service/portal/``) safely.

The portal hashes evidence in the visitor's browser; it must not be able to
load or send anything anywhere but this service. So every answer carries a
Content-Security-Policy of ``default-src 'self'`` (no CDN, no inline script,
no framing), ``X-Content-Type-Options: nosniff`` and an exact media type
(JavaScript modules as ``text/javascript``). A path is served only if it
names a regular file inside the portal folder once every symlink is
resolved; anything else is a 404.

The replay of a capture's web archive (ReplayWeb.page, npm ``replaywebpage``, installed
by ``make install`` into ``verifier/service/replay/``) is served under
``/verify/replay/``: exactly its two built files, ``ui.js`` (the ``<replay-web-page>``
element and its app) and ``sw.js`` (the service worker that reads the WACZ and answers
the replayed page's requests from it), plus a one-line holding page for the moment
before that worker answers. Their headers differ from the portal's only where the
replay needs it, each reason at :data:`REPLAY_WORKER_CSP` and :data:`REPLAY_FRAME_CSP`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response

from verifier.service.http import Problem

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Revalidate every time (the names carry no content hash); the ETag makes that cheap.
CACHE_CONTROL = "no-cache"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
    ".wasm": "application/wasm",
}
#: A service worker's Content-Security-Policy is the one its script is served with, and
#: it governs every fetch the worker makes. ``connect-src 'self' blob:``: the worker reads
#: the WACZ from the blob: URL the portal made of the verified package's bytes and may
#: reach nothing but this service, so a replayed page can never load from the live web
#: (the worker answers what it cannot find in the archive with a 404 of its own).
#: ``'wasm-unsafe-eval'``: the worker hashes with WebAssembly (hash-wasm); no eval.
REPLAY_WORKER_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "connect-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
    )
)
#: The holding page the replay frame shows until the worker answers: the portal frames
#: it, so ``frame-ancestors 'self'`` (the portal's own pages refuse every framing).
REPLAY_FRAME_CSP = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    )
)
#: Portal pages the portal itself frames (same origin only): the replay frame's host page.
FRAMEABLE = frozenset({"replay.html"})
FRAMEABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
#: ReplayWeb.page's package, as ``npm ci`` installs it (verifier/service/replay/).
REPLAY_PACKAGE = Path(__file__).resolve().parent / "replay" / "node_modules" / "replaywebpage"
#: The only files of the package ever served.
REPLAY_FILES = frozenset({"ui.js", "sw.js"})
REPLAY_HOLDING_PAGE = (
    "<!doctype html><html lang=zh-CN><meta charset=utf-8><title>回放 Replay</title>"
    "<p>正在启动回放… Starting the replay…</p></html>"
).encode()
MAX_ASSET_BYTES = 16 * 2**20
MAX_PATH_CHARS = 512


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def resolve_asset(root: Path, relative: str) -> Path:
    """The file ``relative`` names under ``root``; :class:`Problem` 404 for anything else."""
    parts = relative.split("/")
    if (
        not relative
        or len(relative) > MAX_PATH_CHARS
        or not relative.isprintable()
        or "\\" in relative
        or ":" in relative
        or any(not p or p.startswith(".") for p in parts)
    ):
        raise Problem(404, "no such portal file")
    try:
        base = root.resolve(strict=True)
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise Problem(404, "no such portal file") from exc
    if not path.is_relative_to(base) or not path.is_file():
        raise Problem(404, "no such portal file")
    return path


def load_asset(path: Path) -> Asset:
    data = path.read_bytes()
    if len(data) > MAX_ASSET_BYTES:
        raise Problem(404, "no such portal file")
    media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return Asset(data, media, '"' + hashlib.sha256(data).hexdigest()[:32] + '"')


def asset_response(request: Request, asset: Asset) -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": asset.etag}
    if asset.etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def serve(request: Request, root: Path, relative: str) -> Response:
    response = asset_response(request, load_asset(resolve_asset(root, relative)))
    if relative in FRAMEABLE:
        response.headers["Content-Security-Policy"] = FRAMEABLE_CSP
    return response


def replay_available(package: Path | None = None) -> bool:
    """Whether ReplayWeb.page's files are installed (``make install``), for /v1/config.
    ``package`` defaults to :data:`REPLAY_PACKAGE`, read at each call."""
    folder = REPLAY_PACKAGE if package is None else package
    return all((folder / name).is_file() for name in REPLAY_FILES)


def serve_replay(request: Request, name: str, package: Path | None = None) -> Response:
    """``ui.js`` or ``sw.js`` of ReplayWeb.page (from ``package``, by default
    :data:`REPLAY_PACKAGE`), or the holding page for ``""``; 404 for anything else, and for
    both files when the package is not installed."""
    folder = REPLAY_PACKAGE if package is None else package
    if name == "":
        headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": REPLAY_FRAME_CSP,
            "Cache-Control": "no-store",
        }
        return Response(REPLAY_HOLDING_PAGE, media_type=MEDIA_TYPES[".html"], headers=headers)
    if name not in REPLAY_FILES:
        raise Problem(404, "no such replay file")
    try:
        asset = load_asset(resolve_asset(folder, name))
    except Problem as exc:
        raise Problem(
            404, f"the replay files are not installed here (make install): {name}"
        ) from exc
    response = asset_response(request, asset)
    if name == "sw.js":
        response.headers["Content-Security-Policy"] = REPLAY_WORKER_CSP
    return response
