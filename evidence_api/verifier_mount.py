"""The verification portal and API inside ``evidence serve`` (``EVIDENCE_VERIFIER_MOUNT``).

In a deployment the verifier is a separate read-only service (``evidence verifier
serve``) whose trust roots are configured out of band. A newcomer who runs
``make run`` should still find the portal next to the API, so ``evidence serve`` mounts
the same app (:func:`verifier.service.create_verifier_app`) under a path prefix,
``/verifier`` by default. Its trust roots are exactly this log's: the runtime's own
verifier key and, when the log anchors, the chain it is bound to (the managed anvil's
loopback URL, or the configured RPC URL) — never anything a request or a bundle says.

Nothing here connects at import; :func:`mount_verifier` runs once the runtime exists
(it reads the chain binding from the database and builds the app; the chain itself is
asked only when a visitor verifies tier 5). While ``evidence serve`` is still binding its
chain the mount answers 503 (problem+json, ``Retry-After``); the app is built once the
chain is bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy import select
from starlette.types import ASGIApp, Receive, Scope, Send

from anchoring.schema import chain_binding
from evidence_api.app import CHAIN_RETRY_AFTER, problem
from evidence_api.core.config import ConfigurationError
from evidence_api.core.routing import declared_routes
from evidence_api.runtime import Runtime

if TYPE_CHECKING:  # the verifier service (tier 5's keccak among it) is loaded to build it
    from verifier.service.config import ServiceConfig

#: One or more path segments of URL-safe characters, no trailing slash: ``/verifier``.
_PREFIX = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")
#: Listen addresses meaning "every interface": the service reaches itself on loopback.
_ANY = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}  # noqa: S104


@dataclass(frozen=True)
class ChainTrust:
    """The chain the mounted verifier checks tier 5 on: this log's own binding."""

    rpc_url: str
    chain_id: int
    contract: str


def mount_prefix(raw: str) -> str | None:
    """``EVIDENCE_VERIFIER_MOUNT`` checked: a path such as ``/verifier``, or None (empty:
    no portal). Raises :class:`ConfigurationError` naming the variable."""
    value = raw.strip()
    if not value:
        return None
    if not _PREFIX.fullmatch(value):
        raise ConfigurationError(
            f"EVIDENCE_VERIFIER_MOUNT {value[:80]!r}: must be empty or a path such as "
            "/verifier (segments of letters, digits, '.', '_', '~' and '-'; no trailing '/')"
        )
    return value


def api_base_url(host: str, port: int) -> str:
    """The URL the service reaches itself on (``0.0.0.0`` and ``::`` mean loopback)."""
    host = _ANY.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def chain_trust(runtime: Runtime) -> ChainTrust | None:
    """The runtime's chain as a verifier trusts it, or None when it has none a verifier can
    reach (no chain, or the in-process tester chain, which has no RPC URL)."""
    chain = runtime.chain
    if chain is None:
        return None
    if chain.node is not None:
        url: str | None = chain.node.url
    else:
        url = runtime.settings.chain_rpc_url if chain.mode == "rpc" else None
    if not url:
        return None
    with runtime.engine.connect() as conn:
        binding = conn.execute(
            select(chain_binding.c.chain_id, chain_binding.c.contract_address)
        ).first()
    if binding is None:
        return None
    return ChainTrust(url, int(binding.chain_id), str(binding.contract_address))


def verifier_config(runtime: Runtime, api_url: str) -> ServiceConfig:
    """Trust roots from the runtime (its key, its chain binding, its confirmations); lookups
    go to this API at ``api_url``; uploads spool into the API's spool folder. The reports'
    QR code points at ``EVIDENCE_PORTAL_URL``, else at this mounted portal: from the
    settings, never from a request's Host header."""
    from evidence_api.certificates.issuing import signing_material  # noqa: PLC0415
    from verifier.cosignature import WitnessKey  # noqa: PLC0415
    from verifier.service.config import ServiceConfig  # noqa: PLC0415
    from verifier.tsa import load_certificates  # noqa: PLC0415

    settings = runtime.settings
    chain = chain_trust(runtime)
    prefix = mount_prefix(settings.verifier_mount) or ""
    signing = signing_material(settings)  # the 存证证书's certificate signs the reports too
    # The witnesses and authorities this log is configured with are the mounted portal's
    # too (checked at start; a verifier elsewhere brings its own).
    tsa_certs = tuple(
        cert for tsa in settings.tsas for cert in load_certificates(tsa.cert_file.read_bytes())
    )
    return ServiceConfig(
        witness_keys=tuple(WitnessKey.from_text(w.vkey) for w in settings.witnesses),
        tsa_certs=tsa_certs,
        certificate_cas=tuple(load_certificates(signing.ca_pem)) if signing else (),
        report_cert=signing.cert_pem if signing else None,
        report_key=signing.key_pem if signing else None,
        portal_url=settings.portal_url or f"{api_url}{prefix}/verify",
        log_keys=(runtime.signer.verifier(),),
        rpc_urls=(chain.rpc_url,) if chain else (),
        contract=chain.contract if chain else None,
        chain_id=chain.chain_id if chain else None,
        min_confirmations=settings.confirmations,
        log_url=api_url,
        spool_dir=settings.resolved_spool_dir,
    )


#: a path parameter's converter (``{index:path}``)
_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def _route_paths(routes: Iterable[object]) -> Iterator[str]:
    """The path of every route, read off the routers as declared (:func:`declared_routes`):
    FastAPI builds an included router's effective routes (their models' validators: a third
    of a second) on its first request, not here."""
    for path, _ in declared_routes(routes):  # "{index:path}" is "{index}" in the document
        yield _CONVERTER.sub(r"{\1}", path)


def _overlaps(app: FastAPI, prefix: str) -> str | None:
    """An API path the mount would sit on (the API's own routes always win), or None.

    The routes' own paths (the docs' too), not the generated OpenAPI document, which costs
    more than the rest of a start."""
    for path in _route_paths(app.routes):
        if path == prefix or path.startswith(prefix + "/"):
            return path
    return None


class PendingVerifier:
    """The mounted verifier until it can be built (the chain is being bound): every
    request answers 503, problem+json with ``Retry-After``; then the app itself."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        detail = "the verification portal opens once the chain is bound; retry shortly"
        reply = problem(503, "unavailable", detail, headers={"Retry-After": CHAIN_RETRY_AFTER})
        await reply(scope, receive, send)


def build_verifier(runtime: Runtime, api_url: str) -> ASGIApp:
    """The verifier app trusting this runtime's key and chain. Raises
    :class:`ConfigurationError`."""
    from verifier.errors import VerifierError  # noqa: PLC0415
    from verifier.service.app import create_verifier_app  # noqa: PLC0415

    try:
        return create_verifier_app(verifier_config(runtime, api_url))
    except VerifierError as exc:  # e.g. an RPC URL the verifier refuses
        raise ConfigurationError(f"the verification portal cannot start: {exc}") from exc


def mount_verifier(app: FastAPI, runtime: Runtime, api_url: str) -> str | None:
    """Mount the verifier app on ``app`` at ``EVIDENCE_VERIFIER_MOUNT``; return the
    portal's URL, or None when the mount is disabled. Raises :class:`ConfigurationError`.

    While the runtime's chain is being bound (:attr:`Runtime.binding`) the mount answers
    503 and the app is built once it is bound (a failure then fails the binding)."""
    prefix = mount_prefix(runtime.settings.verifier_mount)
    if prefix is None:
        return None
    taken = _overlaps(app, prefix)
    if taken is not None:
        raise ConfigurationError(
            f"EVIDENCE_VERIFIER_MOUNT {prefix!r} overlaps the API's own {taken}; choose "
            "another prefix such as /verifier"
        )
    if runtime.binding is not None and runtime.chain_pending:
        pending = PendingVerifier()

        def build(_chain: object) -> None:
            pending.app = build_verifier(runtime, api_url)

        runtime.binding.on_bound.append(build)
        app.mount(prefix, pending, name="verifier")
    else:
        app.mount(prefix, build_verifier(runtime, api_url), name="verifier")
    return f"{api_url}{prefix}/verify"
