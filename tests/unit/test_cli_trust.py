"""``evidence-verify`` with the trust options beyond the operator: ``--witness`` and
``--witness-quorum`` (cosignatures), ``--tsa-cert`` (RFC 3161 timestamps),
``--certificate``/``--certificate-ca`` (存证证书) and ``--sign-cert``/``--sign-key`` (a
signed report). Exit codes as ever: 0 verified, 1 failed, 2 incomplete, 3 unusable input
(one line on stderr). Real tokens from a real authority: tests/integration/test_cli_tsa.py.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.tsa import self_signed_ca
from tests.support.vectors import COURT, NOTARY, STRANGER_WITNESS, build, cosigned
from verifier.cli import run


class Case:
    """A sealed bundle (optionally cosigned / timestamped) and its log key, on disk."""

    def __init__(self, tmp: Path, *witnesses: Any, **fields: Any) -> None:
        b = build()
        data = dict(b.bundle)
        if witnesses:
            data["checkpoint"] = cosigned(data["checkpoint"], *witnesses)
        data.update(fields)
        self.tmp = tmp
        self.bundle = tmp / "bundle.json"
        self.bundle.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        self.key = tmp / "log.vkey"
        self.key.write_text(b.vkey + "\n", encoding="utf-8")

    def argv(self, *extra: str) -> list[str]:
        return [str(self.bundle), "--log-key", str(self.key), *extra]


COURT_KEY = COURT.key().to_text()
NOTARY_KEY = NOTARY.key().to_text()


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = run([*argv, "--json"])
    out, err = capsys.readouterr()
    assert err == ""
    return code, json.loads(out)


def unusable(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == 3, (out, err)
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    return err.strip()


def test_both_witnesses_cosigned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = Case(tmp_path, COURT, NOTARY)
    code = run(case.argv("--witness", COURT_KEY, "--witness", NOTARY_KEY))
    out = capsys.readouterr().out
    assert code == 2  # tier 5: not anchored
    tier4 = next(line for line in out.splitlines() if line.startswith("  4 "))
    assert "通过 verified" in tier4 and "2 of 2 witnesses cosigned (quorum 2)" in tier4
    assert (
        "见证 witnesses       : court.example/witness 2026-11-18T11:08:20Z, "
        "notary.example/witness 2026-11-18T11:08:21Z (quorum 2)"
    ) in out
    code, report = run_json(case.argv("--witness", COURT_KEY, "--witness", NOTARY_KEY), capsys)
    assert report["witnesses"]["met"] is True
    assert [w["name"] for w in report["witnesses"]["cosigned"]] == [
        "court.example/witness",
        "notary.example/witness",
    ]


def test_one_witness_down_quorum_1_verifies_quorum_2_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path, COURT)
    witnesses = ["--witness", COURT_KEY, "--witness", NOTARY_KEY]
    code, report = run_json(case.argv(*witnesses, "--witness-quorum", "1"), capsys)
    assert report["tiers"][3]["status"] == "verified"
    code, report = run_json(case.argv(*witnesses, "--witness-quorum", "2"), capsys)
    assert code == 2
    assert report["tiers"][3]["status"] == "not_checked"
    assert report["tiers"][3]["detail"].endswith("1 of 2 witnesses cosigned (quorum 2)")
    assert report["witnesses"]["missing"] == ["notary.example/witness"]


def test_a_forged_cosignature_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = Case(tmp_path, COURT, NOTARY)
    data = json.loads(case.bundle.read_text(encoding="utf-8"))
    text, sigs = data["checkpoint"].split("\n\n")
    lines = sigs.rstrip("\n").split("\n")
    prefix, blob = lines[1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[20] ^= 0x01
    lines[1] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    data["checkpoint"] = text + "\n\n" + "\n".join(lines) + "\n"
    case.bundle.write_text(json.dumps(data), encoding="utf-8")
    code = run(case.argv("--witness", COURT_KEY, "--witness", NOTARY_KEY, "--witness-quorum", "1"))
    out = capsys.readouterr().out
    assert code == 1
    assert "cosignature by witness court.example/witness does not verify" in out
    assert "FORGED by court.example/witness" in out
    assert "核验失败 FAILED" in out


def test_witness_keys_from_a_file_and_an_unknown_cosigner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path, STRANGER_WITNESS, NOTARY)
    keys = tmp_path / "witnesses.txt"
    keys.write_text(f"{COURT_KEY}\n\n  {NOTARY_KEY}\n", encoding="utf-8")
    _, report = run_json(case.argv("--witness", str(keys), "--witness-quorum", "1"), capsys)
    assert report["tiers"][3]["detail"].endswith("1 of 2 witnesses cosigned (quorum 1)")
    assert report["tiers"][3]["status"] == "verified"


def test_without_witness_keys_cosignatures_are_named_unchecked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path, COURT, NOTARY)
    _, report = run_json(case.argv(), capsys)
    assert report["tiers"][3]["status"] == "verified"
    assert report["tiers"][3]["detail"] == (
        "signed by evidence.test/log; 2 cosignatures not checked (no witness key given)"
    )
    assert "witnesses" not in report


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--witness-quorum", "1"], "--witness-quorum needs --witness keys"),
        (["--witness", COURT_KEY, "--witness-quorum", "2"], "witness quorum 2 must be 1..1"),
        (["--witness", "court+00000000+AAAA"], "--witness: "),
        (["--witness", COURT_KEY, "--witness", COURT_KEY], "a witness key is given twice"),
        (["--witness", "x" * 5000], "--witness: "),
        (["--tsa-cert", "/nonexistent/tsa.pem"], "--tsa-cert /nonexistent/tsa.pem: cannot read"),
        (["--certificate", "cert.pdf"], "--certificate needs --certificate-ca"),
        (["--certificate-ca", "ca.pem"], "--certificate-ca needs --certificate"),
        (["--sign-cert", "c.pem"], "--sign-cert and --sign-key go together"),
        (["--sign-cert", "c.pem", "--sign-key", "k.pem"], "give --report too"),
    ],
)
def test_bad_trust_inputs_exit_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], reason: str
) -> None:
    case = Case(tmp_path)
    assert reason in unusable(case.argv(*extra), capsys)


def test_a_quorum_of_0_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(Case(tmp_path).argv("--witness", COURT_KEY, "--witness-quorum", "0"))
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--witness-quorum: must be an integer in 1..32" in err


def test_a_tsa_cert_file_without_certificates_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    assert "no certificate found" in unusable(case.argv("--tsa-cert", str(junk)), capsys)
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    assert "larger than" in unusable(case.argv("--tsa-cert", str(big)), capsys)


def _self_signed(tmp: Path) -> Path:
    return self_signed_ca(tmp / "ca.pem", "test TSA CA")


def test_with_tsa_certs_a_checkpoint_without_timestamp_is_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path)
    code, report = run_json(case.argv("--tsa-cert", str(_self_signed(tmp_path))), capsys)
    assert code == 2
    assert report["tiers"][3]["status"] == "not_checked"
    assert report["tiers"][3]["detail"].endswith("no timestamp on this checkpoint")


def test_a_malformed_token_fails_tier_4_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = {"tsa": "tsa.example", "token": base64.b64encode(b"0\x03\x02\x01\x00").decode()}
    case = Case(tmp_path, timestamps=[token])
    code = run(case.argv("--tsa-cert", str(_self_signed(tmp_path))))
    out = capsys.readouterr().out
    assert code == 1
    tier4 = next(line for line in out.splitlines() if line.startswith("  4 "))
    assert "失败 FAILED" in tier4 and "timestamp by tsa.example: " in tier4
    assert "TSA tsa.example unreadable FAILED" in out


def test_tokens_without_tsa_certs_are_named_unchecked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = {"tsa": "tsa.example", "token": base64.b64encode(b"0\x03\x02\x01\x00").decode()}
    case = Case(tmp_path, timestamps=[token])
    _, report = run_json(case.argv(), capsys)
    assert report["tiers"][3]["detail"] == (
        "signed by evidence.test/log; 1 timestamp not checked (no TSA certificate given)"
    )
    assert "timestamps" not in report


def test_help_names_the_trust_options_in_both_languages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        run(["--help"])
    out = capsys.readouterr().out
    for option, zh in (
        ("--witness VKEY", "见证方公钥"),
        ("--witness-quorum K", "见证法定数"),
        ("--tsa-cert PEM", "可信时间戳机构证书"),
        ("--certificate PDF", "存证证书"),
        ("--certificate-ca PEM", "证书签发机构"),
        ("--sign-cert PEM", "报告签名证书"),
        ("--sign-key PEM", "报告签名私钥"),
    ):
        assert option in out and zh in out, option


# --- 存证证书 and the signed report (verifier.certificate, verifier.pades) -------------------


class CA:
    """A development CA and its signing certificate (evidence_api's own maker), on disk."""

    def __init__(self, tmp: Path, tag: str) -> None:
        from evidence_api.certificates.devca import make_development_ca  # noqa: PLC0415

        self.files = make_development_ca()
        self.ca = tmp / f"{tag}-ca.pem"
        self.cert = tmp / f"{tag}-signer.pem"
        self.key = tmp / f"{tag}-signer.key"
        self.ca.write_bytes(self.files["dev-ca.pem"])
        self.cert.write_bytes(self.files["signer.pem"])
        self.key.write_bytes(self.files["signer.key"])


def _minimal_pdf() -> bytes:
    from reportlab.pdfgen import canvas  # type: ignore[import-untyped]  # noqa: PLC0415

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "evidence certificate")
    page.save()
    return out.getvalue()


def certificate_pdf(tmp: Path, ca: CA, *, evidence_id: str | None = None) -> Path:
    """A 存证证书 of the bundle ``build()`` makes: a PDF with the statement, signed."""
    from verifier.certificate import STATEMENT_NAME, statement_for  # noqa: PLC0415
    from verifier.pades import Attachment, sign_pdf  # noqa: PLC0415

    b = build()
    assert b.manifest is not None
    manifest = b.manifest
    if evidence_id is not None:
        manifest = manifest.model_copy(update={"evidence_id": evidence_id})
    statement = statement_for(
        manifest,
        leaf_hash=b.bundle["leaf_hash"],
        log_origin=b.bundle["log_origin"],
        issued_at="2026-12-03T10:00:00Z",
    )
    pdf = sign_pdf(
        _minimal_pdf(),
        ca.cert.read_bytes(),
        ca.key.read_bytes(),
        reason="存证证书",
        attachments=[Attachment(STATEMENT_NAME, statement.to_bytes())],
    )
    path = tmp / f"certificate-{evidence_id or 'good'}.pdf"
    path.write_bytes(pdf)
    return path


def test_a_valid_certificate_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case, ca = Case(tmp_path), CA(tmp_path, "dev")
    argv = case.argv("--certificate", str(certificate_pdf(tmp_path, ca)), "--certificate-ca")
    code, report = run_json([*argv, str(ca.ca)], capsys)
    assert code == 2  # tier 5 offline; the certificate does not fail it
    assert report["certificate"]["ok"] is True, report["certificate"]
    assert report["certificate"]["facts"]["signer"]
    code = run([*argv, str(ca.ca)])
    assert "存证证书 certificate : 通过 verified" in capsys.readouterr().out


def test_a_certificate_for_another_item_or_ca_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case, ca, other = Case(tmp_path), CA(tmp_path, "dev"), CA(tmp_path, "other")
    wrong = certificate_pdf(tmp_path, ca, evidence_id="ev-9999")
    code, report = run_json(
        case.argv("--certificate", str(wrong), "--certificate-ca", str(ca.ca)), capsys
    )
    assert code == 1 and report["outcome"] == "failed"
    assert report["certificate"]["ok"] is False
    assert "ev-9999" in report["certificate"]["detail"]
    assert all(t["status"] != "failed" for t in report["tiers"])
    good = certificate_pdf(tmp_path, ca)
    code = run(case.argv("--certificate", str(good), "--certificate-ca", str(other.ca)))
    out = capsys.readouterr().out
    assert code == 1
    assert "存证证书 certificate : 失败 FAILED signature: " in out


def test_the_report_is_pades_signed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from verifier.pades import verify_pdf_signature  # noqa: PLC0415

    case, ca = Case(tmp_path), CA(tmp_path, "dev")
    out = tmp_path / "report.pdf"
    argv = ["--report", str(out), "--sign-cert", str(ca.cert), "--sign-key", str(ca.key)]
    code = run(case.argv(*argv))
    capsys.readouterr()
    assert code == 2
    verdict = verify_pdf_signature(out.read_bytes(), [ca.files["dev-ca.pem"]])
    assert verdict.ok, verdict.detail
    # a key that is not the certificate's: one line, exit 3, no report written
    out.unlink()
    other = CA(tmp_path, "other")
    bad = ["--report", str(out), "--sign-cert", str(ca.cert), "--sign-key", str(other.key)]
    reason = unusable(case.argv(*bad), capsys)
    assert "--sign-key is not the private key of --sign-cert's first certificate" in reason
    assert not out.exists()
