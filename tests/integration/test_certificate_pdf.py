"""The certificate helper process (evidence_api.certificates.pdf), really spawned: it makes
the same signed certificate as the issuing process would, in another process; a helper that
dies fails its job and is replaced at the next; it runs at the niceness it is given; and the
serving process never loads what it runs; a helper whose process is killed exits too."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import psutil
import pytest
from pypdf import PdfReader

from evidence_api.certificates.devca import make_development_ca
from evidence_api.certificates.pdf import HelperProcess, PdfJob, make_pdf
from tests.support.factories import certificate_input, sealed_evidence
from tests.support.waiting import wait_until
from verifier.certificate import STATEMENT_NAME, check_certificate, statement_for
from verifier.pades import Attachment, read_attachment

SEALED = sealed_evidence({"页面.html": b"<p>listing</p>"})
STATEMENT = statement_for(
    SEALED.manifest,
    leaf_hash=SEALED.bundle.leaf_hash,
    log_origin=SEALED.bundle.log_origin,
    issued_at="2026-12-03T10:00:00Z",
)
CA = make_development_ca()
JOB = PdfJob(
    certificate_input(STATEMENT),
    CA["signer.pem"],
    CA["signer.key"],
    reason="test",
    location="here",
    attachments=(Attachment(STATEMENT_NAME, STATEMENT.to_bytes()),),
)


@pytest.fixture(scope="module")
def helper() -> Iterator[HelperProcess]:
    running = HelperProcess(timeout=120.0)
    yield running
    running.close()


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_helper_makes_the_certificate_in_another_process(helper: HelperProcess) -> None:
    assert helper.pid is None  # nothing starts before the first job
    pdf = helper(JOB)
    assert helper.pid is not None and helper.pid != os.getpid()
    assert psutil.Process(helper.pid).nice() == os.nice(0)  # niceness 0: our priority
    check = check_certificate(pdf, SEALED.bundle, [CA["dev-ca.pem"]])
    assert check.ok, check.detail
    assert read_attachment(pdf, STATEMENT_NAME) == STATEMENT.to_bytes()
    # the same document as made here (the signatures differ only in their signing time)
    assert _text(pdf) == _text(make_pdf(JOB))


def test_a_dead_helper_fails_its_job_and_the_next_job_starts_another(
    helper: HelperProcess,
) -> None:
    helper(JOB)
    first = helper.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not _alive(first), 60, "the killed helper to exit")
    with pytest.raises(BrokenProcessPool):
        helper(JOB)
    pdf = helper(JOB)
    assert helper.pid not in (None, first)
    assert check_certificate(pdf, SEALED.bundle, [CA["dev-ca.pem"]]).ok


def test_close_stops_the_helper_and_a_later_job_starts_it_again() -> None:
    running = HelperProcess(timeout=120.0)
    try:
        running(JOB)
        pid = running.pid
        assert pid is not None
        running.close()
        assert running.pid is None and not _alive(pid)
        running(JOB)
        assert running.pid not in (None, pid)
    finally:
        running.close()


def test_the_helper_steps_back_for_the_cpu_by_its_niceness() -> None:
    running = HelperProcess(timeout=120.0, niceness=7)
    try:
        pdf = running(JOB)
        assert running.pid is not None
        assert psutil.Process(running.pid).nice() == min(19, os.nice(0) + 7)
        assert check_certificate(pdf, SEALED.bundle, [CA["dev-ca.pem"]]).ok
    finally:
        running.close()


def test_a_helper_exits_when_its_process_is_killed() -> None:
    # The process that started the helper dies with SIGKILL (the OOM killer, kill -9): no
    # close() ever runs, and the helper must not wait for jobs for ever.
    script = (
        "import sys\n"
        "if __name__ == '__main__':\n"
        "    from tests.integration.test_certificate_pdf import JOB\n"
        "    from evidence_api.certificates.pdf import HelperProcess\n"
        "    helper = HelperProcess(timeout=120.0)\n"
        "    helper(JOB)\n"
        "    print(helper.pid, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert parent.stdout is not None
        helper_pid = int(parent.stdout.readline())
        assert _alive(helper_pid)
        parent.kill()
        parent.wait(60)
        wait_until(lambda: not _alive(helper_pid), 60, "the orphaned helper to exit")
    finally:
        parent.kill()
        parent.wait(60)


def test_the_app_loads_neither_reportlab_nor_pyhanko() -> None:
    # What the helper process keeps out of the serving processes (~80 MiB).
    probe = (
        "import sys, evidence_api.app; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'reportlab', 'pyhanko'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def _alive(pid: int) -> bool:
    # a zombie still has its pid: it is dead once it is reaped or in the zombie state
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
