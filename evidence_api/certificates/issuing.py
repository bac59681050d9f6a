"""Issuing 存证证书 in the background: every evidence item without a certificate gets one
(:class:`~evidence_api.certificates.service.Backlog`: oldest first, a bounded batch per
tick, one item's failure its own). Also where a process gets its :class:`Issuer`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial

from evidence_api.certificates.devca import CertificateConfigError, SigningMaterial, material
from evidence_api.certificates.pdf import HelperProcess, PdfJob, make_pdf
from evidence_api.certificates.service import Backlog, Issuer
from evidence_api.core.config import Settings
from evidence_api.core.runtime import Runtime

Step = Callable[[], object]
log = logging.getLogger(__name__)

_lock = threading.Lock()
_materials: dict[tuple[object, ...], SigningMaterial | None] = {}
#: This process's certificate helper (``certificate_process``), shared by the background
#: job and the on-demand route; it starts at the first certificate.
helper = HelperProcess()


def signing_material(settings: Settings) -> SigningMaterial | None:
    """:func:`~evidence_api.certificates.devca.material`, read once per process and
    configuration (the development CA is generated at the first call)."""
    key = (
        settings.mode,
        settings.data_dir,
        settings.certificate_cert_file,
        settings.certificate_key_file,
    )
    with _lock:
        if key not in _materials:
            try:
                found = material(settings)
            except CertificateConfigError as exc:
                log.error("no 存证证书 are issued: %s", exc)
                found = None
            else:
                if found is None:
                    log.error(
                        "no 存证证书 are issued: production mode needs a signing certificate "
                        "(EVIDENCE_CERTIFICATE_CERT_FILE and EVIDENCE_CERTIFICATE_KEY_FILE)"
                    )
            _materials[key] = found
        return _materials[key]


def portal_url(settings: Settings) -> str | None:
    """Where a certificate's QR code leads: ``portal_url``, else the portal ``evidence
    serve`` mounts on its own address (none when the mount is off)."""
    if settings.portal_url:
        return settings.portal_url
    mount = settings.verifier_mount.strip().rstrip("/")
    if not mount:
        return None
    wildcard = settings.host in ("0.0.0.0", "::", "")  # noqa: S104 (compared, not bound)
    host = "127.0.0.1" if wildcard else settings.host
    return f"http://{host}:{settings.port}{mount}/verify"


def issuer_of(runtime: Runtime) -> Issuer:
    """The running service's issuer."""
    from evidence_api.integrity import service as integrity  # noqa: PLC0415

    holdings = integrity.Holdings.of(runtime)
    return Issuer(
        transaction=runtime.session,
        store=runtime.store,
        origin=runtime.signer.name,
        material=partial(signing_material, runtime.settings),
        portal_url=portal_url(runtime.settings),
        verified_manifest=partial(integrity.verified_manifest, holdings),
        make_pdf=pdf_maker(runtime.settings),
    )


def pdf_maker(settings: Settings) -> Callable[[PdfJob], bytes]:
    """How this process makes a certificate's PDF: in its helper process
    (``certificate_process``), or here."""
    if not settings.certificate_process:
        return make_pdf
    helper.niceness = settings.certificate_niceness
    return helper


def start_issuing(
    runtime: Runtime,
) -> tuple[Sequence[Step], Callable[[float], None], Callable[[], None]]:
    """This process's issuing step (one :meth:`~Backlog.drain` per tick), how to stop it,
    and how to make a running drain end after its current certificate (before its
    thread is joined: a drain left running would start the helper again after
    :meth:`~HelperProcess.close`, and the helper would outlive the process)."""
    stopping = threading.Event()
    backlog = Backlog(issuer_of(runtime), stopping=stopping)
    return [backlog.drain], lambda _timeout: helper.close(), stopping.set
