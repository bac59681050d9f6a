"""The witness's HTTP service (Starlette on uvicorn): C2SP ``tlog-witness``.

* ``POST /add-checkpoint``: the protocol (:mod:`evidence_api.witness.protocol`); 200 with
  the cosignature line, or the spec's refusal (409 with ``text/x.tlog.size`` when the old
  size is not the one recorded), other refusals as ``application/problem+json``;
* ``GET /``: the witness's name, cosigner key and, per log, the checkpoint last cosigned
  (the operator's view; public: all of it is published anyway);
* ``GET /healthz``: ``ok``.

A separate light process: no database, no log key, nothing but its own key and state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from evidence_api.witness.protocol import (
    MAX_BODY_BYTES,
    AddCheckpoint,
    LogState,
    Refusal,
    check,
    parse_request,
)
from evidence_api.witness.state import StateStore
from verifier.cosignature import WitnessSigner
from verifier.note import VerifierKey

log = logging.getLogger("evidence.witness")

SIZE_CONTENT_TYPE = "text/x.tlog.size"
_TITLES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    500: "internal_error",
    503: "unavailable",
}


def problem(status: int, detail: str) -> Response:
    title = _TITLES.get(status, "error")
    return JSONResponse(
        {
            "type": f"https://evidence-anchor.invalid/problems/{title}",
            "title": title,
            "status": status,
            "detail": detail,
        },
        status_code=status,
        media_type="application/problem+json",
    )


@dataclass
class Witness:
    """One witness: its signer, the log keys it trusts (by origin), its state."""

    signer: WitnessSigner
    log_keys: Mapping[str, Sequence[VerifierKey]]
    store: StateStore
    #: seconds a client has to send its whole body once its headers arrived
    body_timeout: float = 10.0

    def add_checkpoint(self, request: AddCheckpoint) -> str:
        """Check ``request`` and, if it passes, record it and return the cosignature
        line. Runs in a worker thread; one log's requests are serialised."""
        origin = request.checkpoint.origin
        if origin not in self.log_keys:  # before a lock is made for it: origins are unbounded
            raise Refusal(404, f"unknown log origin {origin!r}")
        with self.store.locked(origin):
            state = self.store.get(origin)
            try:
                checkpoint = check(request, self.log_keys, state)
            except Refusal as refusal:
                if refusal.status in (409, 422) and refusal.size is None:
                    # validly signed by the log, yet not consistent with what we cosigned
                    self._keep_evidence(request, refusal)
                raise
            now = int(time.time())
            if state is None or checkpoint.size > state.size:
                new = LogState(origin, checkpoint.size, checkpoint.root, request.note, now)
                try:
                    self.store.put(new)
                except OSError as exc:  # not recorded: not cosigned
                    log.error("cannot record the state of %s: %s", origin, exc)
                    raise Refusal(503, "the witness cannot record its state; try later") from exc
                if state is None:
                    log.info("first checkpoint of %s cosigned: size %d", origin, checkpoint.size)
            cosignature = self.signer.cosign(request.text, now)
        return cosignature.to_line()

    def _keep_evidence(self, request: AddCheckpoint, refusal: Refusal) -> None:
        origin, size = request.checkpoint.origin, request.checkpoint.size
        try:
            kept = self.store.keep_evidence(origin, size, request.note)
        except OSError as exc:
            kept = None
            log.error("cannot keep the refused checkpoint of %s: %s", origin, exc)
        log.warning(
            "refused checkpoint %s size %d: %s (kept as %s)", origin, size, refusal.detail, kept
        )

    def info(self) -> dict[str, object]:
        return {
            "name": self.signer.name,
            "vkey": self.signer.key().to_text(),
            "logs": [
                {
                    "origin": state.origin,
                    "size": state.size,
                    "root": state.root.hex(),
                    "updated": state.updated,
                    "trusted": state.origin in self.log_keys,
                }
                for state in self.store.all()
            ],
        }


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request's body, at most ``limit`` bytes, within ``timeout`` seconds."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refusal(400, "bad Content-Length")
        if int(declared) > limit:
            raise Refusal(413, f"request body exceeds {limit} bytes")
    body = bytearray()

    async def collect() -> None:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                raise Refusal(413, f"request body exceeds {limit} bytes")

    try:
        await asyncio.wait_for(collect(), timeout)
    except TimeoutError as exc:
        raise Refusal(408, f"request body not received within {timeout:g} s") from exc
    return bytes(body)


def create_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await read_body(request, MAX_BODY_BYTES, witness.body_timeout)
            parsed = parse_request(body)
            line = await to_thread.run_sync(witness.add_checkpoint, parsed)
        except Refusal as refusal:
            if refusal.size is not None:
                return PlainTextResponse(
                    f"{refusal.size}\n", status_code=409, media_type=SIZE_CONTENT_TYPE
                )
            return problem(refusal.status, refusal.detail)
        return PlainTextResponse(line, media_type="text/plain; charset=utf-8")

    async def index(_request: Request) -> Response:
        return Response(
            json.dumps(witness.info(), ensure_ascii=False, indent=1),
            media_type="application/json",
        )

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def not_found(_request: Request, _exc: Exception) -> Response:
        return problem(404, "no such resource")

    async def not_allowed(_request: Request, _exc: Exception) -> Response:
        return problem(405, "method not allowed")

    async def failed(_request: Request, exc: Exception) -> Response:
        log.exception("witness request failed", exc_info=exc)
        return problem(500, "internal error")

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/", index, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed, Exception: failed},
    )


def log_keys_by_origin(vkeys: Sequence[str]) -> dict[str, list[VerifierKey]]:
    """``--log-key`` values by origin (a log's key name is its origin)."""
    out: dict[str, list[VerifierKey]] = {}
    for text in vkeys:
        key = VerifierKey.from_text(text)
        out.setdefault(key.name, []).append(key)
    return out
