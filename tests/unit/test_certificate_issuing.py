"""Which certificate signs 存证证书 (the development CA, generated once with private keys;
configured files; none in production), and the background backlog: oldest first, a bounded
batch, one failing item set aside without holding up the others, nothing issued twice, batch
after batch while batches come full."""

from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import func, select

from evidence_api.certificates.devca import (
    DEV_CA_NAME,
    CertificateConfigError,
    make_development_ca,
    material,
)
from evidence_api.certificates.issuing import helper, issuer_of, pdf_maker, portal_url
from evidence_api.certificates.models import EvidenceCertificate
from evidence_api.certificates.pdf import PdfJob, make_pdf
from evidence_api.certificates.service import (
    DRAIN_SECONDS,
    Backlog,
    Issuer,
    NoSigningCertificateError,
    issue,
)
from evidence_api.core.config import Settings
from evidence_api.core.errors import ServiceUnavailableError
from evidence_api.intake.models import Evidence
from tests.support.api import Stack, running_stack, submit
from verifier.models import Manifest


def test_production_without_a_certificate_signs_nothing(tmp_path: Path) -> None:
    settings = Settings(mode="production", data_dir=tmp_path / "data")
    assert material(settings) is None
    assert not (tmp_path / "data" / "certificates").exists()  # no development CA either


def test_embedded_mode_generates_the_development_ca_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = material(settings)
    assert first is not None and first.development
    folder = tmp_path / "data" / "certificates"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for key in ("dev-ca.key", "signer.key"):
        assert stat.S_IMODE((folder / key).stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(first.ca_pem)
    assert ca.subject.rfc4514_string().endswith(f"CN={DEV_CA_NAME}")
    assert first.ca_pem == (folder / "dev-ca.pem").read_bytes()
    assert "DEVELOPMENT certificate signer" in first.subject
    second = material(settings)
    assert second is not None and second.fingerprint == first.fingerprint  # not regenerated


def test_configured_files_are_used_and_their_chain_published(tmp_path: Path) -> None:
    files = make_development_ca(ca_name="Test Court CA", signer_name="Test Signer")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    settings = Settings(
        mode="embedded",
        data_dir=tmp_path / "data",
        certificate_cert_file=tmp_path / "signer.pem",
        certificate_key_file=tmp_path / "signer.key",
    )
    found = material(settings)
    assert found is not None and not found.development
    assert found.ca_pem == files["dev-ca.pem"]  # the chain after the signer
    assert found.subject.endswith("CN=Test Signer")
    assert not (tmp_path / "data" / "certificates").exists()
    # A lone (self-signed) signer is its own trust anchor.
    leaf_only = files["signer.pem"].split(b"-----END CERTIFICATE-----")[0]
    (tmp_path / "leaf.pem").write_bytes(leaf_only + b"-----END CERTIFICATE-----\n")
    alone = material(settings.model_copy(update={"certificate_cert_file": tmp_path / "leaf.pem"}))
    assert alone is not None and alone.ca_pem.startswith(leaf_only)


def test_half_a_configuration_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    half = Settings(data_dir=tmp_path, certificate_cert_file=tmp_path / "signer.pem")
    with pytest.raises(CertificateConfigError, match="set both"):
        material(half)
    gone = half.model_copy(update={"certificate_key_file": tmp_path / "missing.key"})
    with pytest.raises(CertificateConfigError, match="certificate file"):
        material(gone)


def test_the_portal_url_for_the_qr_code() -> None:
    assert portal_url(Settings(portal_url="https://verify.example.cn/")) == (
        "https://verify.example.cn/"
    )
    mounted = Settings(host="0.0.0.0", port=8123)
    assert portal_url(mounted) == "http://127.0.0.1:8123/verifier/verify"
    assert portal_url(Settings(verifier_mount="")) is None


def test_the_setting_gives_the_helper_its_niceness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helper, "niceness", helper.niceness)  # restored afterwards
    assert Settings().certificate_niceness == 10
    chosen = pdf_maker(Settings(certificate_process=True, certificate_niceness=3))
    assert chosen is helper and helper.niceness == 3
    assert pdf_maker(Settings(certificate_process=False)) is make_pdf
    with pytest.raises(ValueError, match="certificate_niceness"):
        Settings(certificate_niceness=20)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data",
        chain="none",
        run_sealer=False,
        run_certificates=False,
        run_integrity=False,
        run_supervisor=False,
    )
    with running_stack(settings) as running:
        yield running


def issued(stack: Stack) -> int:
    with stack.runtime.session() as session:
        return int(session.execute(select(func.count()).select_from(EvidenceCertificate)).one()[0])


def test_the_backlog_issues_oldest_first_and_sets_a_failure_aside(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [submit(stack, {f"f{i}.txt": b"x" * i}).json()["evidence_id"] for i in range(4)]
    real = issuer_of(stack.runtime)
    broken = ids[0]  # the oldest: it must not hold up the others

    def verified(row: Evidence) -> Manifest:
        if row.id == broken:
            raise RuntimeError("store unreachable")
        return real.verified_manifest(row)

    issuer: Issuer = replace(real, verified_manifest=verified)
    backlog = Backlog(issuer, batch=2, retry_after=0.0, full_scan_every=4)
    failure = f"certificate for {broken} not issued: RuntimeError: store unreachable"
    caplog.set_level(logging.WARNING, "evidence_api.certificates.service")
    assert backlog.tick() == 1  # the oldest failed, the next one issued
    assert caplog.text.count(failure) == 1
    assert backlog.tick() == 2  # above the floor: the rest, the failed item not holding them
    assert backlog.tick() == 0 and issued(stack) == 3
    assert backlog.tick() == 0  # the failed item lies below the floor: not looked at
    assert caplog.text.count(failure) == 1
    assert backlog.tick() == 0  # the full look finds it, and it fails again
    assert caplog.text.count(failure) == 2
    # With the store back, the next full look issues it.
    backlog.issuer = real
    assert [backlog.tick() for _ in range(4)] == [0, 0, 0, 1] and issued(stack) == 4
    assert Backlog(real).tick() == 0  # nothing issued twice


def test_a_drain_issues_batch_after_batch_until_the_backlog_is_empty(stack: Stack) -> None:
    for i in range(5):
        submit(stack, {f"f{i}.txt": b"y" * (i + 1)})
    issuer = issuer_of(stack.runtime)
    assert Backlog(issuer, batch=2).drain(budget=0.0) == 2  # out of time: one batch
    assert issued(stack) == 2
    assert Backlog(issuer, batch=2).drain(budget=0.0) == 2 and issued(stack) == 4
    submit(stack, {"late.txt": b"z"})
    # Two left, in batches of one: a full batch, another, then an empty look ends it.
    assert Backlog(issuer, batch=1).drain() == 2 and issued(stack) == 6
    assert Backlog(issuer, batch=1).drain() == 0


def test_the_interval_setting_states_the_drain_budget_the_backlog_uses() -> None:
    """The setting's description (in ``evidence_api.core``, which may not import a feature)
    repeats :data:`DRAIN_SECONDS`: the two must agree, in the operators' docs as in code."""
    description = Settings.model_fields["certificate_interval"].description or ""
    assert f"for up to {DRAIN_SECONDS:g} s" in description, description


def test_a_stopping_backlog_finishes_its_certificate_and_starts_no_other(stack: Stack) -> None:
    for i in range(3):
        submit(stack, {f"s{i}.txt": b"s" * (i + 1)})
    real = issuer_of(stack.runtime)
    stopping = threading.Event()
    stopping.set()
    assert Backlog(real, stopping=stopping).drain() == 0 and issued(stack) == 0

    def make_pdf_then_stop(job: PdfJob) -> bytes:
        stopping.set()  # the server stops while this certificate is being made
        return real.make_pdf(job)

    stopping.clear()
    stopped = replace(real, make_pdf=make_pdf_then_stop)
    assert Backlog(stopped, batch=2, stopping=stopping).drain() == 1 and issued(stack) == 1


def test_without_signing_material_nothing_is_issued_and_requests_get_503(stack: Stack) -> None:
    evidence_id = submit(stack, {"a.txt": b"a"}).json()["evidence_id"]
    unsigned = replace(issuer_of(stack.runtime), material=lambda: None)
    assert Backlog(unsigned).tick() == 0 and issued(stack) == 0
    with pytest.raises(NoSigningCertificateError) as refused:
        issue(unsigned, evidence_id)
    assert refused.value.status == 503
    assert "EVIDENCE_CERTIFICATE_CERT_FILE" in refused.value.detail


def test_a_key_that_is_not_the_certificates_or_a_certificate_without_non_repudiation(
    tmp_path: Path,
) -> None:
    mine, other = make_development_ca(), make_development_ca()
    (tmp_path / "signer.pem").write_bytes(mine["signer.pem"])
    (tmp_path / "other.key").write_bytes(other["signer.key"])
    mismatched = Settings(
        data_dir=tmp_path,
        certificate_cert_file=tmp_path / "signer.pem",
        certificate_key_file=tmp_path / "other.key",
    )
    with pytest.raises(CertificateConfigError, match="does not belong"):
        material(mismatched)
    # The CA's own certificate (keyCertSign only) cannot sign documents.
    (tmp_path / "ca.pem").write_bytes(mine["dev-ca.pem"])
    (tmp_path / "ca.key").write_bytes(mine["dev-ca.key"])
    ca_as_signer = mismatched.model_copy(
        update={
            "certificate_cert_file": tmp_path / "ca.pem",
            "certificate_key_file": tmp_path / "ca.key",
        }
    )
    with pytest.raises(CertificateConfigError, match="nonRepudiation"):
        material(ca_as_signer)


def test_an_outage_ends_the_tick_and_sets_nothing_aside(stack: Stack) -> None:
    for i in range(3):
        submit(stack, {f"f{i}.txt": b"y" * (i + 1)})
    real = issuer_of(stack.runtime)
    tried: list[str] = []

    def unavailable(row: Evidence) -> Manifest:
        tried.append(row.id)
        raise ServiceUnavailableError("evidence storage is unavailable: connection refused")

    backlog = Backlog(replace(real, verified_manifest=unavailable), batch=3, full_scan_every=100)
    assert backlog.tick() == 0
    assert len(tried) == 1  # the first item only: the outage is not waited on three times
    backlog.issuer = real  # the store is back: the next tick issues all three, none set aside
    assert backlog.tick() == 3 and issued(stack) == 3
