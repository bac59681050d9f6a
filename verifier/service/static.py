"""Serving the portal's static files (``verifier/service/portal/``) safely.

The portal hashes evidence in the visitor's browser; it must not be able to
load or send anything anywhere but this service. So every answer carries a
Content-Security-Policy of ``default-src 'self'`` (no CDN, no inline script,
no framing), ``X-Content-Type-Options: nosniff`` and an exact media type
(JavaScript modules as ``text/javascript``). A path is served only if it
names a regular file inside the portal folder once every symlink is
resolved; anything else is a 404.
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
    return asset_response(request, load_asset(resolve_asset(root, relative)))
