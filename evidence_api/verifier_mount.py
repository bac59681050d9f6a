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
asked only when a visitor verifies tier 5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import select

from anchoring.schema import chain_binding
from evidence_api.core.config import ConfigurationError
from evidence_api.runtime import Runtime
from verifier.errors import VerifierError
from verifier.service.app import create_verifier_app
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
    settings = runtime.settings
    chain = chain_trust(runtime)
    prefix = mount_prefix(settings.verifier_mount) or ""
    return ServiceConfig(
        portal_url=settings.portal_url or f"{api_url}{prefix}/verify",
        log_keys=(runtime.signer.verifier(),),
        rpc_urls=(chain.rpc_url,) if chain else (),
        contract=chain.contract if chain else None,
        chain_id=chain.chain_id if chain else None,
        min_confirmations=settings.confirmations,
        log_url=api_url,
        spool_dir=settings.resolved_spool_dir,
    )


def _overlaps(app: FastAPI, prefix: str) -> str | None:
    """An API path the mount would sit on (the API's own routes always win), or None.

    The documented paths, plus the top-level ones (included routers are not listed in
    ``app.routes`` one by one)."""
    paths = [*app.openapi().get("paths", {}), *(getattr(r, "path", "") for r in app.routes)]
    for path in map(str, paths):
        if path == prefix or path.startswith(prefix + "/"):
            return path
    return None


def mount_verifier(app: FastAPI, runtime: Runtime, api_url: str) -> str | None:
    """Mount the verifier app on ``app`` at ``EVIDENCE_VERIFIER_MOUNT``; return the
    portal's URL, or None when the mount is disabled. Raises :class:`ConfigurationError`."""
    prefix = mount_prefix(runtime.settings.verifier_mount)
    if prefix is None:
        return None
    taken = _overlaps(app, prefix)
    if taken is not None:
        raise ConfigurationError(
            f"EVIDENCE_VERIFIER_MOUNT {prefix!r} overlaps the API's own {taken}; choose "
            "another prefix such as /verifier"
        )
    try:
        verifier = create_verifier_app(verifier_config(runtime, api_url))
    except VerifierError as exc:  # e.g. an RPC URL the verifier refuses
        raise ConfigurationError(f"the verification portal cannot start: {exc}") from exc
    app.mount(prefix, verifier, name="verifier")
    return f"{api_url}{prefix}/verify"
