"""Public log API: the latest signed checkpoint and proofs, for monitors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse

from anchoring.reader import reader_for
from evidence_api.core.deps import RuntimeDep
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.log import lookup as lookup_service
from evidence_api.log import service as log_service
from evidence_api.log.schemas import ConsistencyProofOut, InclusionProofOut

router = APIRouter(prefix="/v1/log", tags=["log 日志"], route_class=GuardedRoute)
ERRORS = problem_responses(404, 422, 503)
Size = Annotated[int, Query(ge=0, le=2**63 - 1)]


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses=ERRORS,
    summary="Latest signed checkpoint (C2SP tlog-checkpoint signed note)",
)
def get_checkpoint(runtime: RuntimeDep) -> PlainTextResponse:
    """The newest signed checkpoint (origin, tree size, root hash, Ed25519 signature) as a C2SP
    signed note; anyone may fetch it, no token needed."""
    return PlainTextResponse(log_service.checkpoint(reader_for(runtime.engine)).note)


@router.get("/key", response_class=PlainTextResponse, summary="The log's verifier key (vkey)")
def get_key(runtime: RuntimeDep) -> PlainTextResponse:
    """The log's Ed25519 verifier key as a C2SP vkey line: verifiers keep their own copy, obtained
    out of band, and check checkpoints against it."""
    return PlainTextResponse(runtime.signer.verifier().to_text() + "\n")


@router.get("/proof/inclusion", response_model=InclusionProofOut, responses=ERRORS)
def inclusion_proof(
    runtime: RuntimeDep,
    index: Size | None = None,
    leaf_hash: Annotated[str | None, Query(min_length=64, max_length=64)] = None,
    size: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> InclusionProofOut:
    """RFC 9162 inclusion proof of a leaf (by index or leaf hash) in the tree of ``size``
    (default: the latest checkpoint)."""
    return log_service.inclusion(
        reader_for(runtime.engine), index=index, leaf_hash_hex=leaf_hash, size=size
    )


@router.get("/proof/consistency", response_model=ConsistencyProofOut, responses=ERRORS)
def consistency_proof(
    runtime: RuntimeDep,
    first: Annotated[int, Query(alias="from", ge=1, le=2**63 - 1)],
    second: Annotated[int | None, Query(alias="to", ge=1, le=2**63 - 1)] = None,
) -> ConsistencyProofOut:
    """RFC 9162 consistency proof between two published tree sizes."""
    return log_service.consistency(reader_for(runtime.engine), first=first, second=second)


@router.get(
    "/lookup",
    responses={
        **ERRORS,
        200: {"description": "{matches: [evidence-proof/v1 bundle without manifest, …]}"},
    },
    summary="Public lookup by entry id, SHA-256 or leaf hash (公开查询，按编号、哈希或叶哈希)",
)
def lookup(
    runtime: RuntimeDep,
    evidence_id: Annotated[
        str | None, Query(max_length=64, description="an evidence (ev-…) or stamp (st-…) id")
    ] = None,
    sha256: Annotated[
        str | None, Query(max_length=64, description="SHA-256 of a file or a stamped digest")
    ] = None,
    leaf_hash: Annotated[
        str | None, Query(max_length=64, description="a sealed entry's RFC 9162 leaf hash")
    ] = None,
) -> JSONResponse:
    """No token needed. The proof bundles of the matching entries, each without its
    manifest (which holds non-public metadata): at most 20, evidence first. A verifier
    checks them itself; 404 when nothing matches."""
    with runtime.engine.connect() as conn:
        bundles = lookup_service.lookup(
            conn, runtime.signer.name, evidence_id=evidence_id, sha256=sha256, leaf_hash=leaf_hash
        )
    return JSONResponse(
        {"matches": [b.model_dump(mode="json") for b in bundles]},
        headers={"Cache-Control": "no-cache"},
    )
