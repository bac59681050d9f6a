"""The verification service: a read-only HTTP front for :func:`verifier.verify_bundle`.

It holds no evidence and needs no database. A client posts a proof bundle
(with the digests of files it hashed locally, so the files never leave its
machine) or a whole evidence package, and gets every tier back with a plain
explanation, or the appraisal report as a PDF. It looks up public entries in
the evidence API's log and verifies what it gets back itself, and it serves
the portal, whose JavaScript asks it only for the chain check. Its trust
roots — log keys, chain id, contract, RPC endpoints, witnesses, TSA certificates — are its own
configuration (:mod:`verifier.service.config`), never taken from a request,
a package or the log. Started by ``evidence verifier serve``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from verifier.chain.rpc import endpoint_name
from verifier.errors import VerifierError
from verifier.service.config import ServiceConfig, ServiceConfigError
from verifier.service.http import (
    Problem,
    install_problem_handlers,
    media_type,
    problem_docs,
    read_body,
    spool_body,
)
from verifier.service.lookup import (
    RETRY_AFTER,
    LookupFailedError,
    UpstreamUnavailableError,
    fetch_matches,
    matched_by,
    parse_query,
)
from verifier.service.static import replay_available, serve_replay
from verifier.service.static import serve as serve_portal
from verifier.service.verify import (
    MAX_REQUEST_BYTES,
    AnchorCheckRequest,
    FileDigestIn,
    InputError,
    VerifyInput,
    VerifyRequest,
    log_outcome,
    parse_anchor_json,
    parse_verify_json,
    read_package_input,
    report_dict,
    tier_dict,
)
from verifier.verify import Report, make_certificate_check, verify_bundle

__all__ = [
    "MAX_REQUEST_BYTES",
    "FileDigestIn",
    "ServiceConfig",
    "ServiceConfigError",
    "VerifyRequest",
    "create_verifier_app",
]

LOG = logging.getLogger("verifier.service")
ZIP = "application/zip"
JSON_TYPES = ("", "application/json", "text/plain")
Through = Annotated[int, Query(ge=1, le=5, description="check tiers up to this one (1-5)")]
Lang = Annotated[Literal["zh", "en"], Query(description="report language 报告语言")]

DESCRIPTION = """
Evidence Anchor verification service — 证据核验服务 (read-only, no database).

Verifies `evidence-proof/v1` bundles and `evidence-package/v1` packages tier by tier
(files, manifest, inclusion, checkpoint signature with witness cosignatures and RFC 3161
timestamps, blockchain anchor), with the service's own trust roots (see `GET /v1/config`).
The portal is at `/verify`.
Errors are RFC 9457 problem documents (`application/problem+json`) with a precise
`detail`.
"""

VERIFY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": VerifyRequest.model_json_schema()},
            ZIP: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "an evidence-package/v1 ZIP as the raw request body "
                    "(证据包 ZIP，作为请求体原样上传)",
                }
            },
        },
    }
}
ANCHOR_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AnchorCheckRequest.model_json_schema()}},
    }
}


class _Service:
    """The configuration and trusted checks every route shares."""

    def __init__(self, cfg: ServiceConfig) -> None:
        self.cfg = cfg
        self.check = cfg.anchor_check()
        self.witnesses = cfg.witness_policy()
        self.timestamp_check = cfg.timestamp_check()

    async def verify_input(self, request: Request, through: int) -> VerifyInput:
        """The bundle and files of a verify request: JSON, or a package ZIP."""
        kind = media_type(request)
        if kind == ZIP:
            spool = await spool_body(request, self.cfg.max_package_bytes, self.cfg.spool_dir)
            try:
                return await run_in_threadpool(read_package_input, spool, through)
            except InputError as exc:
                raise Problem(422, str(exc)) from exc
            finally:
                spool.close()
        if kind not in JSON_TYPES:
            raise Problem(415, f"send application/json or {ZIP}, not {kind[:60]!r}")
        body = await read_body(request, MAX_REQUEST_BYTES)
        try:
            return parse_verify_json(body)
        except InputError as exc:
            raise Problem(422, str(exc)) from exc

    def run(self, data: VerifyInput) -> Report:
        """Every tier, with the service's own trust roots (never the input's)."""
        certificate_check = None
        if data.certificate is not None:
            if not self.cfg.certificate_cas:
                raise Problem(
                    422,
                    "certificate: this service trusts no certificate CA "
                    "(VERIFIER_CERTIFICATE_CAS is not set)",
                )
            certificate_check = make_certificate_check(data.certificate, self.cfg.certificate_cas)
        return verify_bundle(
            data.bundle,
            files=data.files,
            log_keys=self.cfg.log_keys,
            anchor_check=self.check,
            through=data.through,
            witnesses=self.witnesses,
            timestamp_check=self.timestamp_check,
            certificate_check=certificate_check,
        )

    def render(self, data: VerifyInput, report: Report, portal: str, lang: str) -> bytes:
        # Imported here: reportlab is only needed for reports.
        from verifier.report import ReportInput, render_pdf  # noqa: PLC0415
        from verifier.report.font import ReportFontError  # noqa: PLC0415

        chain_used = self.check is not None and report.tiers[4].status.value != "skipped"
        request = ReportInput(
            report=report,
            bundle=data.bundle,
            files=data.files,
            generated_at=datetime.now(UTC),
            portal_url=f"{portal}?leaf={report.leaf_hash}",
            trusted_keys=[k.to_text() for k in self.cfg.log_keys],
            rpc_endpoints=[endpoint_name(u) for u in self.cfg.rpc_urls] if chain_used else [],
            lang="en" if lang == "en" else "zh",
        )
        try:
            pdf = render_pdf(request)
        except ReportFontError as exc:  # the service's set-up, not the request
            raise Problem(503, f"reports are unavailable here: {exc}") from exc
        except VerifierError as exc:
            raise Problem(422, f"no report for this input: {exc}") from exc
        if self.cfg.report_cert is None or self.cfg.report_key is None:
            return pdf
        from verifier.pades import sign_pdf  # noqa: PLC0415

        try:
            return sign_pdf(
                pdf,
                self.cfg.report_cert,
                self.cfg.report_key,
                reason="核验报告 Evidence verification report",
            )
        except Exception as exc:  # the service's signing set-up, not the request
            LOG.error("report signing failed: %s", str(exc)[:300])
            raise Problem(503, "report signing is unavailable here: check the service's log") from (
                exc
            )

    def lookup(
        self, evidence_id: str | None, sha256: str | None, leaf_hash: str | None
    ) -> dict[str, object]:
        try:
            query = parse_query(evidence_id, sha256, leaf_hash)
        except ValueError as exc:
            raise Problem(422, str(exc)) from exc
        if self.cfg.log_url is None:
            raise Problem(404, "lookup is not configured on this service (VERIFIER_LOG_URL)")
        try:
            bundles = fetch_matches(self.cfg.log_url, query, timeout=self.cfg.log_timeout)
        except UpstreamUnavailableError as exc:
            raise Problem(503, str(exc), headers={"Retry-After": str(RETRY_AFTER)}) from exc
        except LookupFailedError as exc:
            raise Problem(exc.status, str(exc)) from exc
        matches = []
        for bundle in bundles:
            report = self.run(VerifyInput(bundle))
            matches.append(
                {
                    # as the log publishes it: no "timestamps" member when there are none
                    "bundle": bundle.model_dump(
                        mode="json", exclude={"timestamps"} if bundle.timestamps is None else None
                    ),
                    "matched_by": matched_by(bundle, query),
                    "log_outcome": log_outcome(report.tiers),
                    "report": report_dict(report),
                }
            )
        return {"query": {query.field: query.value}, "matches": matches}


def create_verifier_app(config: ServiceConfig | None = None) -> FastAPI:
    """The app. ``config`` defaults to :meth:`ServiceConfig.from_env`, which raises
    :class:`ServiceConfigError` (one line) for a bad ``VERIFIER_*`` value."""
    service = _Service(config or ServiceConfig.from_env())
    app = FastAPI(
        title="Evidence Anchor verifier 证据核验服务",
        version="0.2.0",
        description=DESCRIPTION,
    )
    install_problem_handlers(app)
    _add_info_routes(app, service)
    _add_verify_routes(app, service)
    _add_lookup_route(app, service)
    _add_portal_routes(app, service)
    return app


def _add_info_routes(app: FastAPI, service: _Service) -> None:
    cfg = service.cfg

    @app.get("/healthz", tags=["health"], summary="The process is up 服务存活")
    def healthz() -> dict[str, object]:
        return {
            "status": "ok",
            "log_keys": [k.to_text() for k in cfg.log_keys],
            "chain_check": service.check is not None,
        }

    @app.get(
        "/v1/config",
        tags=["config 配置"],
        summary="Trust roots the service verifies with 本服务使用的信任根",
    )
    def get_config() -> dict[str, object]:
        """The log keys and chain the service trusts, for the portal to show and use."""
        return {
            "log_keys": [k.to_text() for k in cfg.log_keys],
            "chain": cfg.chain,
            "min_confirmations": cfg.min_confirmations if service.check is not None else None,
            "lang_default": "zh",
            "max_package_bytes": cfg.max_package_bytes,
            "lookup": cfg.log_url is not None,
            "replay": replay_available(),
            "witnesses": [k.to_text() for k in service.witnesses.keys] if service.witnesses else [],
            "witness_quorum": service.witnesses.quorum if service.witnesses else None,
            "tsa_certificates": cfg.tsa_subjects(),
            "certificate_cas": cfg.certificate_ca_subjects(),
            "reports_signed": cfg.report_cert is not None,
        }


def _add_verify_routes(app: FastAPI, service: _Service) -> None:
    @app.post(
        "/v1/verify",
        tags=["verify 核验"],
        summary="Verify a bundle or an evidence package 核验证明包或证据包",
        responses=problem_docs(413, 415, 422),
        openapi_extra=VERIFY_BODY,
    )
    async def verify(request: Request, through: Through = 5) -> JSONResponse:
        """JSON `{bundle, files, through}` — `files` are digests the client computed, the
        files stay with it — or an evidence package as an `application/zip` body (its files
        are hashed here; `?through=` applies). Answers every tier with its Chinese name and
        a plain explanation in Chinese and English."""
        data = await service.verify_input(request, through)
        report = await run_in_threadpool(service.run, data)
        body = report_dict(report)
        if data.package is not None:
            body["package"] = data.package
        return JSONResponse(body)

    @app.post(
        "/v1/verify/report",
        tags=["verify 核验"],
        summary="Appraisal report (PDF) 核验报告（PDF）",
        responses={
            200: {"content": {"application/pdf": {}}, "description": "the report"},
            **problem_docs(413, 415, 422),
        },
        response_class=Response,
        openapi_extra=VERIFY_BODY,
    )
    async def verify_report(request: Request, through: Through = 5, lang: Lang = "zh") -> Response:
        """The same inputs as `POST /v1/verify`; the answer is the 核验报告 as a PDF,
        Chinese by default (`?lang=en` for English)."""
        data = await service.verify_input(request, through)
        report = await run_in_threadpool(service.run, data)
        # root_path carries a mount prefix (e.g. /verifier in `evidence serve`); base_url not.
        here = request.base_url.replace(path=request.scope.get("root_path", "") + "/verify")
        portal = service.cfg.portal_url or str(here)
        pdf = await run_in_threadpool(service.render, data, report, portal, lang)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="report-{report.evidence_id}.pdf"'
            },
        )

    @app.post(
        "/v1/anchor-check",
        tags=["verify 核验"],
        summary="Tier 5 only: the blockchain anchor 仅核验区块链锚定",
        responses=problem_docs(413, 415, 422),
        openapi_extra=ANCHOR_BODY,
    )
    async def anchor_check(request: Request) -> JSONResponse:
        """For the portal, which checks tiers 1-4 in the browser: is the bundle's checkpoint
        recorded on the service's trusted chain? `not_checked` when none is configured."""
        kind = media_type(request)
        if kind not in JSON_TYPES:
            raise Problem(415, f"send application/json, not {kind[:60]!r}")
        body = await read_body(request, MAX_REQUEST_BYTES)
        try:
            bundle = parse_anchor_json(body)
        except InputError as exc:
            raise Problem(422, str(exc)) from exc
        report = await run_in_threadpool(service.run, VerifyInput(bundle))
        return JSONResponse(tier_dict(report.tiers[4]))


def _add_lookup_route(app: FastAPI, service: _Service) -> None:
    @app.get(
        "/v1/lookup",
        tags=["lookup 查询"],
        summary="Look up public entries by id, SHA-256 or leaf hash 按编号、哈希或叶哈希查询",
        responses=problem_docs(404, 422, 502, 503),
    )
    def lookup(
        evidence_id: Annotated[str | None, Query(max_length=64)] = None,
        sha256: Annotated[str | None, Query(max_length=64)] = None,
        leaf_hash: Annotated[
            str | None, Query(max_length=64, description="as in the report's QR code")
        ] = None,
    ) -> JSONResponse:
        """Asks the evidence API's public lookup (`VERIFIER_LOG_URL`), then verifies every
        bundle it returns (tiers 3-5) with this service's own trusted key and chain: the log
        is not trusted. An evidence bundle found by a file's SHA-256 carries no manifest (it
        holds non-public details), so the link from the file to that evidence is shown as
        `file_digest_unproven` until the package is verified."""
        return JSONResponse(service.lookup(evidence_id, sha256, leaf_hash))


def _add_portal_routes(app: FastAPI, service: _Service) -> None:
    root = service.cfg.portal_dir

    @app.get(
        "/verify",
        tags=["portal 门户"],
        summary="The verification portal 核验门户",
        response_class=Response,
        responses={200: {"content": {"text/html": {}}}, **problem_docs(404)},
    )
    def portal(request: Request) -> Response:
        return serve_portal(request, root, "index.html")

    @app.get(
        "/verify/static/{path:path}",
        tags=["portal 门户"],
        summary="The portal's scripts and styles 门户静态文件",
        response_class=Response,
        responses=problem_docs(404),
    )
    def portal_static(path: str, request: Request) -> Response:
        return serve_portal(request, root, path)

    @app.get(
        "/verify/replay/{name:path}",
        tags=["portal 门户"],
        summary="ReplayWeb.page, to replay a capture's web archive offline 网页存档回放组件",
        response_class=Response,
        responses=problem_docs(404),
    )
    def portal_replay(name: str, request: Request) -> Response:
        """`ui.js` and `sw.js` of the pinned npm `replaywebpage` (served from this service,
        never a CDN); the bare folder is the replay frame's holding page until the replay's
        service worker (scope `/verify/replay/`) answers in its place."""
        return serve_replay(request, name)
