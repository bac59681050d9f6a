"""The verification service: a read-only HTTP front for :func:`verifier.verify_bundle`.

It holds no evidence and needs no database: a client posts a proof bundle
(and, optionally, the digests of files it hashed locally, so the files never
leave the client's machine) and gets the tiered result back. Its trust roots
— log keys, chain id, contract, RPC endpoints — are its own configuration,
never taken from the request. Started by ``evidence verifier serve``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verifier.bundle import MAX_BUNDLE_BYTES, bundle_from_obj
from verifier.canonical import parse_json
from verifier.chain import make_anchor_check
from verifier.digests import FileDigest
from verifier.errors import FormatError, VerifierError
from verifier.note import VerifierKey
from verifier.verify import AnchorCheck, verify_bundle

MAX_REQUEST_BYTES = MAX_BUNDLE_BYTES + 256 * 1024
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class FileDigestIn(BaseModel):
    """A file the client hashed itself (SHA-256 and SM3)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=0, le=2**53 - 1)]
    sha256: Hex64
    sm3: Hex64


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle: dict[str, Any] = Field(description="an evidence-proof/v1 bundle")
    files: Annotated[list[FileDigestIn], Field(max_length=1000)] = Field(default_factory=list)
    through: Annotated[int, Field(ge=1, le=5)] = 5


@dataclass(frozen=True)
class ServiceConfig:
    """Trust roots of the service (environment ``VERIFIER_*``)."""

    log_keys: tuple[VerifierKey, ...] = ()
    rpc_urls: tuple[str, ...] = ()
    contract: str | None = None
    chain_id: int | None = None
    min_confirmations: int = 1
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> ServiceConfig:
        keys = tuple(
            VerifierKey.from_text(k) for k in os.environ.get("VERIFIER_LOG_KEYS", "").split() if k
        )
        rpc = tuple(u for u in os.environ.get("VERIFIER_RPC_URLS", "").split() if u)
        chain_id = os.environ.get("VERIFIER_CHAIN_ID")
        return cls(
            log_keys=keys,
            rpc_urls=rpc,
            contract=os.environ.get("VERIFIER_CONTRACT") or None,
            chain_id=int(chain_id) if chain_id else None,
            min_confirmations=int(os.environ.get("VERIFIER_MIN_CONFIRMATIONS", "1")),
        )

    def anchor_check(self) -> AnchorCheck | None:
        if not self.rpc_urls or self.contract is None or self.chain_id is None:
            return None
        return make_anchor_check(
            list(self.rpc_urls),
            contract=self.contract,
            chain_id=self.chain_id,
            min_confirmations=self.min_confirmations,
        )


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": "unusable_input", "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def create_verifier_app(config: ServiceConfig | None = None) -> FastAPI:
    cfg = config or ServiceConfig.from_env()
    check = cfg.anchor_check()
    app = FastAPI(
        title="Evidence Anchor verifier 证据核验服务",
        version="0.1.0",
        description="Verifies evidence-proof/v1 bundles tier by tier. Read-only; no database.",
    )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, object]:
        return {
            "status": "ok",
            "log_keys": [k.to_text() for k in cfg.log_keys],
            "chain_check": check is not None,
        }

    @app.post(
        "/v1/verify",
        tags=["verify 核验"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": VerifyRequest.model_json_schema()}},
            }
        },
    )
    async def verify(request: Request) -> JSONResponse:
        """Verify a bundle; ``files`` are digests the client computed (the files stay with it)."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return _problem(413, f"request exceeds {MAX_REQUEST_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                return _problem(413, f"request exceeds {MAX_REQUEST_BYTES} bytes")
        try:
            raw = parse_json(bytes(body), max_bytes=MAX_REQUEST_BYTES, what="request")
            req = VerifyRequest.model_validate(raw)
            bundle = bundle_from_obj(req.bundle)
        except FormatError as exc:
            return _problem(422, str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "request"
            return _problem(422, f"{loc}: {first['msg']}")
        files = [FileDigest(f.name, f.size, f.sha256, f.sm3) for f in req.files]
        try:
            report = verify_bundle(
                bundle, files=files, log_keys=cfg.log_keys, anchor_check=check, through=req.through
            )
        except VerifierError as exc:
            return _problem(422, str(exc))
        return JSONResponse(report.to_dict())

    return app
