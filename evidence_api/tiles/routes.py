"""The C2SP ``tlog-tiles`` read API under ``/tlog/``: ``checkpoint``, ``tile/<L>/<N>[.p/<W>]``
and ``tile/entries/<N>[.p/<W>]``; public (no token), cacheable. See docs/tiles.md."""

from __future__ import annotations

import gzip
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.responses import Response

from anchoring.reader import reader_for
from evidence_api.core.deps import RuntimeDep
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.tiles import service

router = APIRouter(prefix="/tlog", tags=["tiles 瓦片"], route_class=GuardedRoute)

#: Each resource answers HEAD too (as a static file server would; not in the OpenAPI
#: document): the same headers, no body.
OCTETS = "application/octet-stream"
ERRORS = problem_responses(400, 404, 503)
#: a level-0 tile of two hashes (real ones hold 1..256): the leaf hashes of b"" and b"\x00"
TILE_EXAMPLE = (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
)
CHECKPOINT_EXAMPLE = (
    "evidence.example.gov.cn/tlog\n70000\nPH6byTDck/AfppmF7yQtn56GHzxTVaokzl70tLinDMs=\n\n"
    "— evidence.example.gov.cn/tlog xuHdf4XQasZ+Q3cwtilwu0ijQVbzunC7X7q95DFtdgzhIb65P6au2rD+"
    "kb5dVtuE6kr5WOuzDDlqkPxaJfRSHgti/w0=\n"
)
IndexPath = Annotated[
    str,
    Path(
        description="the tile index N in 3-digit groups, all but the last prefixed 'x' "
        "(1234067: x001/x234/067), then '.p/<W>' (W 1..255) for a partial tile",
        examples=["000", "x001/x234/067", "001.p/112"],
        json_schema_extra={"pattern": service.INDEX_PATTERN},  # documented, parsed below
    ),
]


def _binary(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {
                OCTETS: {
                    "schema": {"type": "string", "format": "binary"},
                    "example": TILE_EXAMPLE,
                }
            },
            "headers": {
                "Cache-Control": {
                    "description": f"full: {service.IMMUTABLE!r}; partial: {service.PARTIAL!r}",
                    "schema": {"type": "string"},
                }
            },
        },
        **ERRORS,
    }


@router.get(
    "/checkpoint",
    response_class=Response,
    summary="Latest checkpoint with cosignatures (C2SP tlog-tiles checkpoint)",
    responses={
        200: {
            "description": "the signed note, then any witness cosignature lines",
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": CHECKPOINT_EXAMPLE}
            },
        },
        **ERRORS,
    },
)
@router.head("/checkpoint", response_class=Response, include_in_schema=False)
def get_checkpoint(runtime: RuntimeDep) -> Response:
    """The newest signed checkpoint (origin, tree size, root hash; the log's Ed25519
    signature and the stored witness cosignatures) as a C2SP signed note: the size the
    tiles are served up to. No token needed; cached for a few seconds at most."""
    note = service.checkpoint(reader_for(runtime.engine))
    return Response(
        note,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": service.CHECKPOINT},
    )


@router.get(
    "/tile/entries/{index:path}",
    response_class=Response,
    summary="Entry bundle: up to 256 entries' leaf data (C2SP tlog-tiles)",
    responses=_binary("each entry's canonical JSON behind its big-endian uint16 length"),
)
@router.head("/tile/entries/{index:path}", response_class=Response, include_in_schema=False)
def get_entries(
    runtime: RuntimeDep,
    index: IndexPath,
    accept_encoding: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Entries 256·N .. 256·N+255 of the log (W of them for `.p/<W>`): each entry's RFC
    9162 leaf data, our RFC 8785 canonical JSON, behind its length as a big-endian uint16.
    SHA-256(0x00 ‖ entry) is the matching hash of level-0 tile N. Gzip-compressed when the
    client accepts it. 404 (not cacheable) beyond the log's size; 400 for a malformed path."""
    parsed = service.parse_index(index)
    body = service.entry_bundle(runtime.engine, parsed)
    headers = {"Cache-Control": parsed.cache_control, "Vary": "Accept-Encoding"}
    if service.accepts_gzip(accept_encoding):
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=OCTETS, headers=headers)


@router.get(
    "/tile/{level}/{index:path}",
    response_class=Response,
    summary="Hash tile: 256 Merkle tree hashes of level 8·L (C2SP tlog-tiles)",
    responses=_binary("the tile's SHA-256 hashes, 32 bytes each, concatenated"),
)
@router.head("/tile/{level}/{index:path}", response_class=Response, include_in_schema=False)
def get_tile(
    runtime: RuntimeDep,
    level: Annotated[
        str,
        Path(
            description="tile level L, 0..63: its hashes are of tree level 8·L",
            examples=["0"],
            json_schema_extra={"pattern": service.LEVEL_PATTERN},  # documented, parsed below
        ),
    ],
    index: IndexPath,
) -> Response:
    """Hash i of tile L/N is the RFC 9162 hash of leaves (256·N + i)·256^L ..
    (256·N + i + 1)·256^L: 256 hashes (8,192 bytes) in a full tile, W in a partial one
    (`.p/<W>`, the right edge of the tree). Served from the log's stored tiles, never
    recomputed; full tiles are immutable. 404 (not cacheable) beyond the log's size; 400
    for a malformed path."""
    parsed_level = service.parse_level(level)
    parsed = service.parse_index(index)
    body = service.hash_tile(runtime.engine, parsed_level, parsed)
    return Response(body, media_type=OCTETS, headers={"Cache-Control": parsed.cache_control})
