"""Making a 存证证书's PDF (render, then sign): in this process, or in a helper process.

Rendering and signing are pure CPU work on plain data (:class:`PdfJob` in, PDF bytes out),
and heavy: reportlab, pyHanko and the embedded CJK font take about 80 MiB of memory, and
each certificate holds the GIL for about 30 ms. ``evidence serve`` therefore makes them in
a helper process (:class:`HelperProcess`), so that the processes receiving evidence load
none of it and never wait for the GIL behind a certificate. Libraries and CLI commands
make them here (:func:`make_pdf`).

This module imports neither reportlab nor pyHanko; :func:`make_pdf` does, when first
called.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from evidence_api.certificates.content import CertificateInput
from verifier.pades import Attachment

log = logging.getLogger(__name__)

#: Longest wait for one certificate from the helper process (its first one includes the
#: process's start and imports, a few seconds on a loaded machine).
HELPER_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class PdfJob:
    """One certificate to render and sign: everything :func:`make_pdf` needs, picklable."""

    data: CertificateInput
    cert_pem: bytes
    key_pem: bytes
    reason: str
    location: str
    attachments: Sequence[Attachment] = ()


def make_pdf(job: PdfJob) -> bytes:
    """The signed certificate: rendered (:func:`~evidence_api.certificates.render.
    render_certificate`), then signed with the job's key (:func:`verifier.pades.sign_pdf`)."""
    from evidence_api.certificates.render import render_certificate  # noqa: PLC0415
    from verifier.pades import sign_pdf  # noqa: PLC0415

    return sign_pdf(
        render_certificate(job.data),
        job.cert_pem,
        job.key_pem,
        reason=job.reason,
        location=job.location,
        attachments=list(job.attachments),
    )


def _helper_started(niceness: int) -> None:
    """The helper's first act: step back ``niceness`` in the CPU scheduler's order, and
    exit when the process that started it is gone (killed with SIGKILL, say: the pool's
    own queue never tells a worker, which would wait for jobs for ever)."""
    if niceness > 0:
        os.nice(niceness)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent.sentinel,), name="parent-watch", daemon=True
        ).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])  # ready once the parent has exited
    os._exit(0)


class HelperProcess:
    """:func:`make_pdf` in one helper process, started (``spawn``) at the first job.

    Jobs are made one at a time, in the order they come. If the helper dies (killed, out
    of memory), the job that was running fails with ``BrokenProcessPool`` and the next
    job starts a new helper. :meth:`close` stops it; a later job starts it again.
    """

    def __init__(self, timeout: float = HELPER_TIMEOUT_S, niceness: int = 0) -> None:
        self.timeout = timeout
        #: added to the helper's nice value when it starts (a helper already running keeps
        #: the one it started with)
        self.niceness = niceness
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_helper_started,
                    initargs=(self.niceness,),
                )
            return self._pool

    def __call__(self, job: PdfJob) -> bytes:
        pool = self._executor()
        try:
            return pool.submit(make_pdf, job).result(timeout=self.timeout)
        except BrokenProcessPool:
            log.warning("the certificate helper process died; a new one starts for the next job")
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs (None before the first job)."""
        with self._lock:
            processes = dict(self._pool._processes or {}) if self._pool is not None else {}
        return next(iter(processes), None)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
