"""Tier 4 with witnesses and timestamps, and the certificate verdict (verifier.verify).

The witness policy is the user's (keys and quorum): a forged cosignature by a trusted
witness fails tier 4 naming it, fewer valid cosignatures than the quorum leave it not
checked, a met quorum keeps it verified with the witnesses' names and times as facts.
The time-stamp token check and the certificate check are injected callables (their real
implementations, :mod:`verifier.tsa` and :mod:`verifier.certificate`, are tested with
them); a token that fails fails tier 4 with its reason.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.vectors import COURT, NOTARY, STRANGER_WITNESS, build, cosigned
from verifier.bundle import Bundle, load_bundle
from verifier.certificate import CertificateCheck
from verifier.cosignature import WitnessPolicy
from verifier.explain import detail_zh, explain_result
from verifier.note import VerifierKey, parse_note
from verifier.tsa import TokenCheck
from verifier.verify import Outcome, Status, TierResult, iso_utc, verify_bundle

BOTH = WitnessPolicy.of([COURT.key(), NOTARY.key()])
TSA_TIME = datetime(2026, 11, 26, 6, 0, 5, tzinfo=UTC)


def bundle_with(note_edit: Any = None, **fields: Any) -> tuple[Bundle, list[VerifierKey]]:
    b = build()
    data = dict(b.bundle)
    if note_edit is not None:
        data["checkpoint"] = note_edit(data["checkpoint"])
    data.update(fields)
    import json  # noqa: PLC0415

    return load_bundle(json.dumps(data)), [VerifierKey.from_text(b.vkey)]


def tier4(bundle: Bundle, keys: list[VerifierKey], **kw: Any) -> TierResult:
    return verify_bundle(bundle, log_keys=keys, **kw).tiers[3]


def test_quorum_met_is_verified_with_names_and_times() -> None:
    bundle, keys = bundle_with(lambda n: cosigned(n, COURT, NOTARY))
    report = verify_bundle(bundle, log_keys=keys, witnesses=BOTH)
    t = report.tiers[3]
    assert t.status is Status.VERIFIED
    assert t.detail == "signed by evidence.test/log; 2 of 2 witnesses cosigned (quorum 2)"
    assert t.facts["witnesses_cosigned"] == 2
    assert t.facts["witness_quorum"] == 2
    assert t.facts["witnesses"] == (
        "court.example/witness 2026-11-18T11:08:20Z, notary.example/witness 2026-11-18T11:08:21Z"
    )
    assert report.witnesses is not None and report.witnesses.met
    out = report.to_dict()["witnesses"]
    assert isinstance(out, dict)
    assert out["cosigned"] == [
        {"name": "court.example/witness", "time": "2026-11-18T11:08:20Z"},
        {"name": "notary.example/witness", "time": "2026-11-18T11:08:21Z"},
    ]


def test_short_of_quorum_is_not_checked_and_names_the_count() -> None:
    bundle, keys = bundle_with(lambda n: cosigned(n, COURT, STRANGER_WITNESS))
    t = tier4(bundle, keys, witnesses=BOTH)
    assert t.status is Status.NOT_CHECKED
    assert t.detail == "signed by evidence.test/log; 1 of 2 witnesses cosigned (quorum 2)"
    assert verify_bundle(bundle, log_keys=keys, witnesses=BOTH).outcome is Outcome.INCOMPLETE
    # quorum 1: the court alone suffices; the stranger's line is ignored
    one = WitnessPolicy.of([COURT.key(), NOTARY.key()], 1)
    assert tier4(bundle, keys, witnesses=one).status is Status.VERIFIED


def test_a_forged_cosignature_fails_naming_the_witness() -> None:
    def forge(note: str) -> str:
        good = cosigned(note, COURT, NOTARY)
        text, sigs = good.split("\n\n")
        lines = sigs.rstrip("\n").split("\n")
        prefix, blob = lines[2].rsplit(" ", 1)
        raw = bytearray(base64.b64decode(blob))
        raw[-1] ^= 1
        lines[2] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
        return text + "\n\n" + "\n".join(lines) + "\n"

    bundle, keys = bundle_with(forge)
    quorum_one = WitnessPolicy.of([COURT.key(), NOTARY.key()], 1)
    report = verify_bundle(bundle, log_keys=keys, witnesses=quorum_one)
    t = report.tiers[3]
    assert t.status is Status.FAILED
    assert t.detail == "cosignature by witness notary.example/witness does not verify"
    assert report.outcome is Outcome.FAILED and report.exit_code == 1
    assert detail_zh(t) == "见证方 notary.example/witness 的联署签名无效"
    # Without a policy the same bundle verifies, and says its cosignatures were not checked.
    t = tier4(bundle, keys)
    assert t.status is Status.VERIFIED
    assert (
        t.detail == "signed by evidence.test/log; 2 cosignatures not checked (no witness key given)"
    )


def test_a_bad_log_signature_fails_before_the_witnesses() -> None:
    bundle, _ = bundle_with(lambda n: cosigned(n, COURT, NOTARY))
    from tests.support.factories import signer  # noqa: PLC0415

    stranger = signer(bytes(range(1, 33)))
    t = tier4(bundle, [stranger.verifier()], witnesses=BOTH)
    assert t.status is Status.FAILED
    assert "cosigned" not in t.detail and "does not verify" not in t.detail


def test_no_log_key_still_reports_the_witnesses() -> None:
    bundle, _ = bundle_with(lambda n: cosigned(n, COURT, NOTARY))
    t = tier4(bundle, [], witnesses=BOTH)
    assert t.status is Status.NOT_CHECKED
    assert t.detail == (
        "no trusted log key given (pass --log-key); 2 of 2 witnesses cosigned (quorum 2)"
    )


def test_through_3_skips_tier_4_and_reports_no_witnesses() -> None:
    bundle, keys = bundle_with(lambda n: cosigned(n, COURT, NOTARY))
    report = verify_bundle(bundle, log_keys=keys, witnesses=BOTH, through=3)
    assert report.tiers[3].status is Status.SKIPPED
    assert report.witnesses is None and "witnesses" not in report.to_dict()


# --- timestamps -------------------------------------------------------------------------------

TOKEN_DER = b"0\x82\x01\x00 a token"
TOKEN = {"tsa": "tsa.example", "token": base64.b64encode(TOKEN_DER).decode()}


class FakeTsa:
    """Stands in for verifier.tsa.check_token (an injected callable, like the anchor check);
    records what it was asked, so the test sees the imprint input is the note body."""

    def __init__(self, ok: bool = True, detail: str = "ok") -> None:
        self.ok, self.detail = ok, detail
        self.calls: list[tuple[str, bytes, str]] = []

    def __call__(self, tsa: str, token: bytes, text: str) -> TokenCheck:
        self.calls.append((tsa, token, text))
        return TokenCheck(tsa, self.ok, self.detail, TSA_TIME if self.ok else None, "CN=TSA", 7)


def test_a_valid_token_is_verified_with_the_tsa_time() -> None:
    bundle, keys = bundle_with(timestamps=[TOKEN])
    tsa = FakeTsa()
    report = verify_bundle(bundle, log_keys=keys, timestamp_check=tsa)
    t = report.tiers[3]
    assert t.status is Status.VERIFIED
    assert (
        t.detail
        == "signed by evidence.test/log; timestamped by tsa.example at 2026-11-26T06:00:05Z"
    )
    assert t.facts["tsa"] == "tsa.example" and t.facts["tsa_time"] == "2026-11-26T06:00:05Z"
    assert bundle.checkpoint is not None
    body = parse_note(bundle.checkpoint).text
    assert tsa.calls == [("tsa.example", TOKEN_DER, body)]
    assert (
        hashlib.sha256(body.encode()).digest() == hashlib.sha256(tsa.calls[0][2].encode()).digest()
    )
    stamps = report.to_dict()["timestamps"]
    assert stamps == [
        {
            "tsa": "tsa.example",
            "ok": True,
            "detail": "ok",
            "tsa_time": "2026-11-26T06:00:05Z",
            "signer": "CN=TSA",
            "serial": "7",
        }
    ]
    assert (
        detail_zh(t)
        == "由 evidence.test/log 签名；时间戳机构 tsa.example 的时间为 2026-11-26T06:00:05Z（UTC）"
    )


def test_a_failing_token_fails_with_its_reason() -> None:
    bundle, keys = bundle_with(timestamps=[TOKEN])
    t = tier4(bundle, keys, timestamp_check=FakeTsa(False, "message imprint differs"))
    assert t.status is Status.FAILED
    assert t.detail == "timestamp by tsa.example: message imprint differs"


def test_one_bad_token_among_good_ones_fails() -> None:
    bundle, keys = bundle_with(timestamps=[TOKEN, {**TOKEN, "tsa": "tsa2"}])

    def check(tsa: str, token: bytes, text: str) -> TokenCheck:
        return TokenCheck(tsa, tsa != "tsa2", "expired certificate", TSA_TIME)

    t = tier4(bundle, keys, timestamp_check=check)
    assert t.status is Status.FAILED
    assert t.detail == "timestamp by tsa2: expired certificate"


def test_no_token_with_trusted_tsa_certs_is_not_checked() -> None:
    bundle, keys = bundle_with()
    t = tier4(bundle, keys, timestamp_check=FakeTsa())
    assert t.status is Status.NOT_CHECKED
    assert t.detail == "signed by evidence.test/log; no timestamp on this checkpoint"
    assert "该检查点没有时间戳" in detail_zh(t)


def test_tokens_without_trusted_tsa_certs_are_named_unchecked() -> None:
    bundle, keys = bundle_with(timestamps=[TOKEN, TOKEN])
    t = tier4(bundle, keys)
    assert t.status is Status.VERIFIED
    assert (
        t.detail
        == "signed by evidence.test/log; 2 timestamps not checked (no TSA certificate given)"
    )


def test_without_policy_or_tsa_tier_4_is_as_before() -> None:
    bundle, keys = bundle_with()
    t = tier4(bundle, keys)
    assert (t.status, t.detail) == (Status.VERIFIED, "signed by evidence.test/log")


def test_witnesses_and_timestamp_together() -> None:
    bundle, keys = bundle_with(lambda n: cosigned(n, COURT, NOTARY), timestamps=[TOKEN])
    t = tier4(bundle, keys, witnesses=BOTH, timestamp_check=FakeTsa())
    assert t.status is Status.VERIFIED
    assert t.detail == (
        "signed by evidence.test/log; 2 of 2 witnesses cosigned (quorum 2); "
        "timestamped by tsa.example at 2026-11-26T06:00:05Z"
    )
    zh = detail_zh(t)
    assert "2 个受信任见证方中 2 个已联署（要求至少 2 个）" in zh and "原文" not in zh
    assert explain_result(t).explanation_en.startswith("The checkpoint is signed")


# --- the certificate ---------------------------------------------------------------------------


@pytest.mark.parametrize("ok", [True, False])
def test_certificate_verdict_is_reported_and_a_failed_one_fails(ok: bool) -> None:
    bundle, keys = bundle_with()
    seen: list[Bundle] = []

    def check(b: Bundle) -> CertificateCheck:
        seen.append(b)
        return CertificateCheck(
            ok, "signature valid" if ok else "digest differs", {"signer": "CN=x"}
        )

    report = verify_bundle(bundle, log_keys=keys, certificate_check=check)
    assert seen == [bundle]
    assert report.to_dict()["certificate"] == {
        "ok": ok,
        "detail": "signature valid" if ok else "digest differs",
        "facts": {"signer": "CN=x"},
    }
    assert (report.outcome is Outcome.FAILED) is not ok
    assert all(t.status is not Status.FAILED for t in report.tiers)


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(datetime(2026, 1, 1, 8, 0, 0, 999, tzinfo=UTC)) == "2026-01-01T08:00:00Z"


# --- the appraisal report lists them -----------------------------------------------------------


def _report_text(lang: str, **kw: Any) -> str:
    import io  # noqa: PLC0415

    from pypdf import PdfReader  # noqa: PLC0415

    from verifier.report import ReportInput, render_pdf  # noqa: PLC0415

    bundle, keys = bundle_with(lambda n: cosigned(n, COURT, STRANGER_WITNESS), timestamps=[TOKEN])
    report = verify_bundle(bundle, log_keys=keys, **kw)
    pdf = render_pdf(
        ReportInput(
            report=report,
            bundle=bundle,
            files=(),
            generated_at=datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
            portal_url=None,
            trusted_keys=[k.to_text() for k in keys],
            rpc_endpoints=[],
            lang="zh" if lang == "zh" else "en",
        )
    )
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    return "".join(text.split())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_lists_witnesses_tsa_time_and_certificate(lang: str) -> None:
    policy = WitnessPolicy.of([COURT.key(), NOTARY.key()], 1)

    def cert(_: Bundle) -> CertificateCheck:
        return CertificateCheck(False, "digest differs from the bundle's", {"evidence_id": "ev-1"})

    text = _report_text(lang, witnesses=policy, timestamp_check=FakeTsa(), certificate_check=cert)
    assert "court.example/witness" in text and "notary.example/witness" in text
    assert "stranger.example/witness" not in text.split("witness")[0]  # only in the signer row
    if lang == "zh":
        assert "见证方联署" in text and "2026-11-1819:08:20(UTC+08:00)" in text
        assert "可信时间戳" in text and "tsa.example:2026-11-2606:00:05UTC" in text
        assert "存证证书核验失败" in text
    else:
        assert (
            "Witnesscosignatures" in text and "court.example/witness:2026-11-1811:08:20UTC" in text
        )
        assert "Trustedtimestamps" in text and "tsa.example:2026-11-2606:00:05UTC" in text
        assert "EvidencecertificateFAILED" in text
    assert "digestdiffersfromthebundle's" in text


def test_report_names_unchecked_cosignatures_and_tokens() -> None:
    text = _report_text("en")
    assert "carries2witnesscosignatures,notchecked" in text
    assert "carries1RFC3161timestamps,notchecked" in text


def test_report_puts_the_tsa_time_beside_the_block_time() -> None:
    import io  # noqa: PLC0415
    import json  # noqa: PLC0415

    from pypdf import PdfReader  # noqa: PLC0415

    from tests.support.vectors import anchor_record  # noqa: PLC0415
    from verifier.report import ReportInput, render_pdf  # noqa: PLC0415

    b = build()
    data = {**b.bundle, "status": "anchored", "anchor": anchor_record(b), "timestamps": [TOKEN]}
    bundle = load_bundle(json.dumps(data))
    report = verify_bundle(
        bundle, log_keys=[VerifierKey.from_text(b.vkey)], timestamp_check=FakeTsa()
    )
    pdf = render_pdf(
        ReportInput(report, bundle, (), datetime(2026, 12, 3, tzinfo=UTC), None, [b.vkey], [])
    )
    text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    block = text.index("区块时间")
    second = text.index("可信时间戳时间（第二时钟）")
    assert block < second < block + 200
    assert "tsa.example:2026-11-2606:00:05UTC" in text[second:]


def test_every_new_tier_4_detail_has_a_chinese_wording() -> None:
    details = [
        "signed by a/log; 2 cosignatures not checked (no witness key given)",
        "signed by a/log; 1 timestamp not checked (no TSA certificate given)",
        "no trusted log key given (pass --log-key); 0 of 2 witnesses cosigned (quorum 1)",
        "signed by a/log; timestamped by t1 at 2026-01-01T00:00:00Z (+2 more)",
        "signed by a/log; no timestamp on this checkpoint",
        "cosignature by witness w/x does not verify",
        "timestamp by t1: message imprint differs",
    ]
    for detail in details:
        zh = detail_zh(TierResult(4, Status.VERIFIED, detail))
        assert "原文" not in zh or "message imprint" in zh, zh
        assert "more" not in zh and "not checked" not in zh, zh
