"""A server capture as the verifier sees it (verifier.capture, verifier.x509, tier 1).

The WACZ is written in the test with zipfile (tests.support.capture_evidence); each bad
WACZ is named after its defect and must be refused with its precise message. Tier 1 is
run the way every caller runs it: the package reader hashes the files (and checks the
WACZ on the very bytes hashed), verify_bundle reads the verdict.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from warcio.statusandheaders import StatusAndHeaders  # type: ignore[import-untyped]
from warcio.warcwriter import WARCWriter  # type: ignore[import-untyped]

from evidence_api.capture.environment import EnvironmentRecorder, flatten
from evidence_api.capture.outcome import (
    DOM,
    ENVIRONMENT,
    HAR,
    MAIN_DOCUMENT,
    MHTML,
    SCREENSHOT,
    VIDEO,
    WACZ,
    AddressPolicy,
    CaptureConfig,
    CaptureLimits,
    tls_chain,
)
from evidence_api.capture.wacz import WaczPage, build_wacz
from tests.support import capture_evidence as ce
from tests.support.factories import signer
from verifier import capture
from verifier.capture import (
    WaczError,
    WaczLayoutError,
    WaczLimits,
    WaczMismatchError,
    WaczUnreadableError,
    capture_facts,
    check_wacz,
    is_capture,
)
from verifier.cli import run
from verifier.digests import FileDigest, digest_stream
from verifier.errors import (
    TooManyEntriesError,
    TruncatedPackageError,
    UnsafePathError,
    ZipBombError,
)
from verifier.explain import detail_zh, explain_result
from verifier.package import read_package, read_package_stream
from verifier.service.verify import read_package_input
from verifier.verify import Outcome, Report, Status, verify_bundle
from verifier.x509 import CertificateFormatError, certificate_info, pem_certificates

WARC = "archive/data.warc.gz"
PAGES = "pages/pages.jsonl"

# --- the contract: the verifier's copies of the capture's names ----------------------------------


def test_file_names_are_the_capture_outcome_names() -> None:
    """The verifier may not import evidence_api; its copies must stay the same names."""
    assert (
        capture.SCREENSHOT,
        capture.DOM,
        capture.MHTML,
        capture.WACZ,
        capture.HAR,
        capture.VIDEO,
        capture.MAIN_DOCUMENT,
        capture.ENVIRONMENT,
    ) == (SCREENSHOT, DOM, MHTML, WACZ, HAR, VIDEO, MAIN_DOCUMENT, ENVIRONMENT)
    name = tls_chain("shop.test", 443)
    assert name.startswith(capture.TLS_PREFIX) and name.endswith(capture.TLS_SUFFIX)


def test_is_capture_needs_recorded_by_server_and_a_capture_id() -> None:
    files = {"a.txt": b"a"}
    assert is_capture(ce.capture_manifest(files))
    assert not is_capture(ce.capture_manifest(files, {"recorded_by": "server"}))
    assert not is_capture(ce.capture_manifest(files, {"recorded_by": "officer", "capture_id": "c"}))
    assert not is_capture(ce.capture_manifest(files, {"os": "debian-12"}))
    assert not is_capture(None)


# --- check_wacz: a good one -----------------------------------------------------------------


def test_good_wacz_passes_with_every_resource_hashed() -> None:
    data = ce.wacz()
    result = check_wacz(data)
    listed = ce.resources()
    assert [r.path for r in result.resources] == list(listed)
    for resource in result.resources:
        # recompute: unzip -p archive.wacz <path> | sha256sum
        assert resource.sha256 == hashlib.sha256(listed[resource.path]).hexdigest()
        assert resource.size == len(listed[resource.path])
    package = ce.wacz_members()["datapackage.json"]
    assert result.datapackage_sha256 == hashlib.sha256(package).hexdigest()
    assert result.wacz_version == "1.1.1"
    # a seekable file works as well as bytes, and is left open
    stream = io.BytesIO(data)
    assert check_wacz(stream) == result
    assert not stream.closed


def test_wacz_built_by_the_capture_passes(tmp_path: Path) -> None:
    """The contract with the issuing side: what evidence_api.capture.wacz.build_wacz writes
    (from a WARC written here with warcio) is a WACZ this check accepts, resource by resource."""
    warc = tmp_path / "data.warc.gz"
    with warc.open("wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="1.1")
        body = "<p>¥ 1,299.00</p>".encode()
        headers = StatusAndHeaders(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
        )
        writer.write_record(
            writer.create_warc_record(
                ce.URL, "response", payload=io.BytesIO(body), length=len(body), http_headers=headers
            )
        )
    out_path = tmp_path / "archive.wacz"
    build_wacz(
        warc,
        [WaczPage(ce.URL, "商品", "2026-12-02T18:26:39Z")],
        out_path,
        title="取证",
        software="evidence-anchor capture 0.1.0",
    )
    result = check_wacz(out_path.read_bytes())
    assert [r.path for r in result.resources] == [
        "archive/data.warc.gz",
        "indexes/index.cdxj",
        "pages/pages.jsonl",
    ]
    assert result.resources[0].sha256 == hashlib.sha256(warc.read_bytes()).hexdigest()
    assert result.wacz_version == "1.1.1"


def test_deflated_members_pass_too() -> None:
    assert len(check_wacz(ce.zip_of(ce.wacz_members(), method=8)).resources) == 3


# --- check_wacz: bad ones, each named after its defect --------------------------------------------


def test_tampered_resource_is_named_with_both_digests() -> None:
    members = ce.wacz_members()
    original = members[WARC]
    members[WARC] = original[:-1] + bytes([original[-1] ^ 1])  # same size, one bit
    with pytest.raises(WaczMismatchError) as caught:
        check_wacz(ce.wacz(members))
    got = hashlib.sha256(members[WARC]).hexdigest()
    want = hashlib.sha256(original).hexdigest()
    assert str(caught.value) == (
        f"resource '{WARC}' SHA-256 {got} differs from datapackage.json's {want}"
    )
    assert caught.value.member == WARC


def test_resource_of_another_size_is_named() -> None:
    members = ce.wacz_members()
    members[PAGES] += b"\n"
    with pytest.raises(
        WaczMismatchError,
        match=re.escape(
            f"resource '{PAGES}' is {len(members[PAGES])} bytes in the archive, "
            f"{len(members[PAGES]) - 1} in datapackage.json"
        ),
    ):
        check_wacz(ce.wacz(members))


def test_wrong_datapackage_digest_is_refused() -> None:
    members = ce.wacz_members()
    wrong = hashlib.sha256(b"another datapackage").hexdigest()
    members["datapackage-digest.json"] = json.dumps(
        {"path": "datapackage.json", "hash": f"sha256:{wrong}"}
    ).encode()
    right = hashlib.sha256(members["datapackage.json"]).hexdigest()
    with pytest.raises(WaczMismatchError) as caught:
        check_wacz(ce.wacz(members))
    assert str(caught.value) == (
        f"datapackage.json SHA-256 {right} differs from datapackage-digest.json's {wrong}"
    )
    assert caught.value.member == "datapackage.json"


def test_datapackage_edited_after_its_digest_is_refused() -> None:
    """Declaring a tampered resource's new hash is not enough: the digest record binds
    datapackage.json."""
    members = ce.wacz_members()
    members[WARC] = b"forged"
    forged = ce.datapackage({**ce.resources(), WARC: b"forged"})
    members["datapackage.json"] = forged
    with pytest.raises(
        WaczMismatchError, match=re.escape("differs from datapackage-digest.json's")
    ):
        check_wacz(ce.wacz(members))


def test_missing_member_is_named() -> None:
    members = ce.wacz_members()
    del members[PAGES]
    with pytest.raises(WaczMismatchError) as caught:
        check_wacz(ce.wacz(members))
    assert str(caught.value) == f"resource '{PAGES}' is in datapackage.json but not in the archive"
    assert caught.value.member == PAGES


def test_extra_undeclared_member_is_named() -> None:
    members = {**ce.wacz_members(), "archive/extra.warc.gz": b"smuggled"}
    with pytest.raises(WaczMismatchError) as caught:
        check_wacz(ce.wacz(members))
    assert str(caught.value) == (
        "member 'archive/extra.warc.gz' is in the archive but not declared in datapackage.json"
    )


def test_missing_datapackage_digest_is_refused() -> None:
    members = ce.wacz_members()
    del members["datapackage-digest.json"]
    with pytest.raises(WaczLayoutError, match=r"^the WACZ has no datapackage-digest\.json$"):
        check_wacz(ce.wacz(members))


def test_missing_datapackage_is_refused() -> None:
    members = ce.wacz_members()
    del members["datapackage.json"]
    with pytest.raises(WaczLayoutError, match=r"^the WACZ has no datapackage\.json$"):
        check_wacz(ce.wacz(members))


def test_path_traversal_member_name_is_refused() -> None:
    members = {**ce.wacz_members(), "../../etc/cron.d/evil": b"* * * * * root sh"}
    with pytest.raises(WaczUnreadableError) as caught:
        check_wacz(ce.wacz(members))
    assert isinstance(caught.value.cause, UnsafePathError)
    assert str(caught.value) == (
        "not a safe, readable ZIP: unsafe member name '../../etc/cron.d/evil': "
        "it climbs out of the package with '..'"
    )


def test_path_traversal_resource_path_is_refused() -> None:
    """datapackage.json may not point a replay tool outside the archive either."""
    members = ce.wacz_members({**ce.resources(), "../outside": b"x"})
    del members["../outside"]
    with pytest.raises(WaczLayoutError, match=r"resource 4: unsafe member name '\.\./outside'"):
        check_wacz(ce.zip_of(members))


def test_absolute_member_name_is_refused() -> None:
    with pytest.raises(WaczUnreadableError, match="is an absolute path"):
        check_wacz(ce.wacz({**ce.wacz_members(), "/etc/passwd": b"root"}))


def test_zip_bomb_is_refused_while_inflating() -> None:
    """16 MiB of zeros deflate to ~16 KiB (1000:1): beyond the reader's 200:1, even with
    honest sizes and an honest hash in datapackage.json."""
    zeros = bytes(16 << 20)
    listed = {**ce.resources(), "archive/zeros.warc": zeros}
    data = ce.zip_of(ce.wacz_members(listed), method=8)
    assert len(data) < 100_000
    with pytest.raises(WaczUnreadableError) as caught:
        check_wacz(data)
    assert isinstance(caught.value.cause, ZipBombError)
    assert re.fullmatch(
        r"not a safe, readable ZIP: member 'archive/zeros\.warc' inflates beyond 200:1 "
        r"\(\d+ bytes from \d+\): a zip bomb",
        str(caught.value),
    )


def test_too_many_members_refused_at_the_limit_not_below() -> None:
    members = ce.wacz_members()
    assert len(check_wacz(ce.wacz(members), WaczLimits(max_entries=len(members))).resources) == 3
    with pytest.raises(WaczUnreadableError) as caught:
        check_wacz(ce.wacz(members), WaczLimits(max_entries=len(members) - 1))
    assert isinstance(caught.value.cause, TooManyEntriesError)


def test_not_a_zip_is_refused() -> None:
    with pytest.raises(WaczUnreadableError) as caught:
        check_wacz(b"WARC/1.1\r\n not a zip at all")
    assert isinstance(caught.value.cause, TruncatedPackageError)


def test_truncated_wacz_is_refused() -> None:
    with pytest.raises(WaczUnreadableError, match="not a readable ZIP"):
        check_wacz(ce.wacz()[:-30])


def test_hash_other_than_sha256_is_refused() -> None:
    members = ce.wacz_members()
    package = json.loads(members["datapackage.json"])
    package["resources"][0]["hash"] = "md5:" + hashlib.md5(members[WARC]).hexdigest()
    members["datapackage.json"] = json.dumps(package).encode()
    members["datapackage-digest.json"] = ce.digest_record(members["datapackage.json"])
    with pytest.raises(WaczLayoutError, match=r"resource 1: hash 'md5:.* is not 'sha256:<hex>'"):
        check_wacz(ce.wacz(members))


@pytest.mark.parametrize(
    ("defect", "resource", "message"),
    [
        ("path-not-string", {"path": 7}, "resource 1: path must be a string"),
        ("bytes-negative", {"bytes": -1}, "bytes must be an integer in 0.."),
        ("bytes-not-int", {"bytes": "142"}, "bytes must be an integer in 0.."),
        ("hash-short", {"hash": "sha256:abcd"}, "hash is not 64 hex digits"),
    ],
)
def test_malformed_resource_entry_is_refused(
    defect: str, resource: dict[str, object], message: str
) -> None:
    members = ce.wacz_members()
    package = json.loads(members["datapackage.json"])
    package["resources"][0].update(resource)
    members["datapackage.json"] = json.dumps(package).encode()
    members["datapackage-digest.json"] = ce.digest_record(members["datapackage.json"])
    with pytest.raises(WaczLayoutError, match=re.escape(message)):
        check_wacz(ce.wacz(members))


def test_duplicate_resource_is_refused() -> None:
    members = ce.wacz_members()
    package = json.loads(members["datapackage.json"])
    package["resources"].append(package["resources"][0])
    members["datapackage.json"] = json.dumps(package).encode()
    members["datapackage-digest.json"] = ce.digest_record(members["datapackage.json"])
    with pytest.raises(WaczLayoutError, match="is listed twice or reserved"):
        check_wacz(ce.wacz(members))


def test_datapackage_not_json_is_refused() -> None:
    members = ce.wacz_members()
    members["datapackage.json"] = b"{not json"
    members["datapackage-digest.json"] = ce.digest_record(members["datapackage.json"])
    with pytest.raises(WaczLayoutError, match=r"datapackage\.json is not valid JSON"):
        check_wacz(ce.wacz(members))


@pytest.mark.parametrize("method", [0, 8], ids=["stored", "deflated"])
def test_damaged_wacz_raises_only_wacz_errors(method: int) -> None:
    """Every byte of the archive flipped in turn (every 7th): the check either holds or
    refuses with a WaczError; nothing else escapes (no zipfile, zlib or JSON error)."""
    data = ce.zip_of(ce.wacz_members(), method=method)
    outcomes = {"held": 0, "refused": 0}
    for at in range(0, len(data), 7):
        damaged = data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :]
        try:
            check_wacz(damaged)
        except WaczError:
            outcomes["refused"] += 1
        else:
            outcomes["held"] += 1
    assert outcomes["refused"] > 0


# --- tier 1 ------------------------------------------------------------------------------------


def verify_package(path: Path) -> Report:
    package = read_package(path)
    return verify_bundle(
        package.bundle, files=package.files, log_keys=[signer().verifier()], through=4
    )


def tampered_wacz() -> bytes:
    members = ce.wacz_members()
    members[WARC] = members[WARC][:-1] + bytes([members[WARC][-1] ^ 1])
    return ce.wacz(members)


@pytest.mark.parametrize("form", ["zip", "dir"])
def test_tier1_passes_a_good_capture_and_says_so(form: str, tmp_path: Path) -> None:
    members = ce.package_members(ce.sealed_capture())
    if form == "zip":
        path = ce.write_zip(tmp_path / "p.zip", members)
    else:
        path = tmp_path / "p"
        for name, data in members.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
    report = verify_package(path)
    tier1 = report.tiers[0]
    assert tier1.status is Status.VERIFIED
    assert tier1.detail == (
        "all 8 files match SHA-256 and SM3; archive.wacz: all 3 resources match its "
        "datapackage.json"
    )
    assert dict(tier1.facts) == {"wacz": "verified", "wacz_resources": 3}
    assert report.outcome is Outcome.VERIFIED
    assert detail_zh(tier1) == (
        "全部 8 个文件的 SHA-256 与 SM3 均一致；archive.wacz：其 datapackage.json 所列全部 3 个"
        "资源的大小与 SHA-256 均一致"
    )


def test_tier1_fails_for_a_tampered_wacz_in_an_otherwise_valid_bundle(tmp_path: Path) -> None:
    """The manifest is of the tampered WACZ (its bytes were anchored so), so every file
    matches its digests; the WACZ's own index does not hold, and tier 1 says where."""
    sealed = ce.sealed_capture(**{"archive.wacz": tampered_wacz()})
    path = ce.write_zip(tmp_path / "p.zip", ce.package_members(sealed))
    report = verify_package(path)
    tier1 = report.tiers[0]
    assert tier1.status is Status.FAILED
    assert re.fullmatch(
        rf"archive\.wacz: resource '{WARC}' SHA-256 [0-9a-f]{{64}} differs from "
        r"datapackage\.json's [0-9a-f]{64}",
        tier1.detail,
    )
    assert tier1.facts["wacz"] == "failed"
    assert [t.status for t in report.tiers[1:4]] == [Status.VERIFIED] * 3
    assert report.outcome is Outcome.FAILED
    zh = detail_zh(tier1)
    assert zh.startswith(f"archive.wacz：资源 '{WARC}' 的 SHA-256 实测为 ")
    assert "与 datapackage.json 记载的" in zh
    meaning = explain_result(tier1)
    assert "datapackage.json" in meaning.explanation_zh and "回放" in meaning.explanation_zh
    assert "do not replay" in meaning.explanation_en
    # the CLI over the same package: failed, exit 1
    assert run([str(path), "--log-key", signer().verifier().to_text(), "-q"]) == 1


def test_tier1_fails_for_a_wacz_that_is_a_zip_bomb(tmp_path: Path) -> None:
    listed = {**ce.resources(), "archive/zeros.warc": bytes(16 << 20)}
    bomb = ce.zip_of(ce.wacz_members(listed), method=8)
    sealed = ce.sealed_capture(**{"archive.wacz": bomb})
    report = verify_package(ce.write_zip(tmp_path / "p.zip", ce.package_members(sealed)))
    assert report.tiers[0].status is Status.FAILED
    assert report.tiers[0].detail.startswith("archive.wacz: not a safe, readable ZIP: member ")
    assert detail_zh(report.tiers[0]).startswith("archive.wacz：不是安全可读的 ZIP 归档（原文：")


def test_tier1_through_the_verification_service_reader(tmp_path: Path) -> None:
    sealed = ce.sealed_capture(**{"archive.wacz": tampered_wacz()})
    path = ce.write_zip(tmp_path / "p.zip", ce.package_members(sealed))
    with path.open("rb") as fh:
        data = read_package_input(fh, 4)
    report = verify_bundle(data.bundle, files=data.files, through=4)
    assert report.tiers[0].status is Status.FAILED
    assert report.tiers[0].detail.startswith(f"archive.wacz: resource '{WARC}' SHA-256 ")


def test_tier1_with_digests_only_says_the_wacz_inside_was_not_checked() -> None:
    """A client that sends its own digests (no bytes) cannot have the WACZ opened: the
    files still verify, and tier 1 says what it could not check."""
    sealed = ce.sealed_capture(**{"archive.wacz": tampered_wacz()})
    digests = [digest_stream(n, io.BytesIO(d)) for n, d in sealed.files.items()]
    report = verify_bundle(sealed.bundle, files=digests, through=2)
    tier1 = report.tiers[0]
    assert tier1.status is Status.VERIFIED
    assert tier1.detail.endswith("; archive.wacz: its datapackage.json digests not checked")
    assert tier1.facts["wacz"] == "not_checked"
    assert detail_zh(tier1).endswith(
        "archive.wacz：未核对其 datapackage.json 内部摘要（仅提供了文件摘要）"
    )


def test_tier1_file_digest_failure_comes_before_the_wacz() -> None:
    sealed = ce.sealed_capture()
    other = FileDigest("dom.html", 1, "0" * 64, "0" * 64)
    given = [*read_package_stream(io.BytesIO(ce.zip_of(ce.package_members(sealed)))).files]
    files = [other if f.name == "dom.html" else f for f in given]
    tier1 = verify_bundle(sealed.bundle, files=files, through=1).tiers[0]
    assert tier1.status is Status.FAILED
    assert tier1.detail.startswith("dom.html: size 1 differs")
    assert "wacz" not in tier1.facts


def test_upload_with_a_file_named_archive_wacz_is_not_opened(tmp_path: Path) -> None:
    """Only a server capture's WACZ is checked: an officer's upload of any file called
    archive.wacz verifies on its digests as before, and its package files are plain."""
    files = {"archive.wacz": b"not a zip: an officer's own file", "shot.png": b"\x89PNG"}
    sealed = ce.seal(ce.capture_manifest(files, {"os": "debian-12"}), files)
    package = read_package(ce.write_zip(tmp_path / "p.zip", ce.package_members(sealed)))
    assert all(type(f) is FileDigest for f in package.files)
    tier1 = verify_bundle(sealed.bundle, files=package.files, through=1).tiers[0]
    assert tier1.status is Status.VERIFIED
    assert tier1.detail == "all 2 files match SHA-256 and SM3"
    assert not tier1.facts


def test_package_keeps_the_small_records_for_the_report(tmp_path: Path) -> None:
    sealed = ce.sealed_capture()
    package = read_package(ce.write_zip(tmp_path / "p.zip", ce.package_members(sealed)))
    kept = capture.file_contents(package.files)
    assert set(kept) == {
        "environment.json",
        "main-document.json",
        "screenshot.png",
        "tls-shop.test-443.pem",
    }
    for name, data in kept.items():
        assert data == sealed.files[name]
    # a CheckedFile is still the FileDigest it extends
    by_name = {f.name: f for f in package.files}
    plain = digest_stream("dom.html", io.BytesIO(sealed.files["dom.html"]))
    assert dataclasses.astuple(by_name["dom.html"])[:4] == dataclasses.astuple(plain)


def test_oversized_record_is_left_out_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(capture.KEEP_LIMITS, "environment.json", 100)
    sealed = ce.sealed_capture()
    package = read_package(ce.write_zip(tmp_path / "p.zip", ce.package_members(sealed)))
    assert "environment.json" not in capture.file_contents(package.files)
    facts = capture_facts(sealed.manifest, capture.file_contents(package.files))
    assert facts is not None and "environment.json" in facts.missing


# --- capture_facts ----------------------------------------------------------------------------


def test_capture_facts_read_every_recorded_part() -> None:
    sealed = ce.sealed_capture()
    facts = capture_facts(sealed.manifest, sealed.files)
    assert facts is not None
    assert (facts.capture_id, facts.requested_url, facts.final_url, facts.mode) == (
        ce.CAPTURE_ID,
        ce.URL,
        ce.FINAL_URL,
        "steps",
    )
    assert facts.host == f"{ce.HOST_ID} (hostname capture-1, machine-id)"
    assert facts.os == "Debian GNU/Linux 12 (bookworm) / Linux 6.1.0-18-amd64 x86_64"
    assert facts.chromium == f"Chromium {ce.CHROMIUM} (Playwright 1.65.2)"
    assert [(s.number, s.action, s.started_at, s.ended_at) for s in facts.steps] == [
        (1, f"goto {ce.STEP_LABEL}", "2026-12-02T18:26:37.000Z", "2026-12-02T18:26:39.500Z"),
        (2, "scroll", "2026-12-02T18:26:39.600Z", "2026-12-02T18:26:40.100Z"),
    ]
    assert [(h.status, h.url) for h in facts.redirects] == [
        ("302", "https://shop.test/r/1"),
        ("301", "https://shop.test/r/2"),
        ("200", ce.FINAL_URL),
    ]
    assert facts.dns_system == "127.0.0.1"
    assert facts.dns_second == "192.0.2.7 (192.0.2.53:5353)"
    assert facts.dns_agreement == "no"
    assert facts.clock_before == "127.0.0.1:123 +2500.2 ms stratum 2"
    assert facts.clock_after == "127.0.0.1:123 error: timed out"
    assert facts.self_check is not None and facts.self_check.startswith("passed; sha256: 9f86d")
    assert facts.limits_hit == ("max_page_height: cut at 20000 px",)
    assert facts.warnings == (ce.WARNING,)
    assert facts.egress == "203.0.113.9"
    assert facts.hosts is not None and "127.0.0.1 shop.test" in facts.hosts
    assert facts.proxy == (
        "browser proxy http://127.0.0.1:40123; proxy variables: none; clean; "
        "recording proxy: requests 12, bytes_received 48213, refused 0, errors 0"
    )
    assert facts.tls == "shop.test:443 TLSv1.3, TLS_AES_128_GCM_SHA256, verified"
    (cert,) = facts.certificates
    assert cert.session == "TLSv1.3, TLS_AES_128_GCM_SHA256, verified"
    # the runner's step detail is JSON text: shown as its pairs
    assert facts.steps[1].outcome == (
        "scroll_y: 2400; url: https://shop.test/item/42?from=redirect"
    )
    assert facts.screenshot == sealed.files["screenshot.png"]
    assert facts.missing == ()


@pytest.mark.parametrize(
    ("record", "names", "mode"),
    [
        ({"steps": [{"index": 1, "action": "goto"}]}, ["recording.webm"], "steps"),
        ({"steps": []}, ["recording.webm"], "video"),
        ({}, [], "page"),
        ({"mode": "video", "steps": [{"index": 1}]}, [], "video"),  # recorded wins
    ],
    ids=["steps-recorded", "video-file", "screenshot-only", "recorded-mode"],
)
def test_mode_when_not_recorded_follows_what_the_capture_produced(
    record: dict[str, object], names: list[str], mode: str
) -> None:
    files = ce.capture_files(
        **{"environment.json": json.dumps(record).encode()}, **dict.fromkeys(names, b"x")
    )
    facts = capture_facts(ce.capture_manifest(files), files)
    assert facts is not None and facts.mode == mode


def test_certificate_facts_agree_with_cryptography() -> None:
    pem, leaf = ce.tls_chain()
    files = ce.capture_files(**{"tls-shop.test-443.pem": pem})
    facts = capture_facts(ce.capture_manifest(files), files)
    assert facts is not None
    (cert,) = facts.certificates
    assert (cert.file, cert.origin, cert.chain_length) == (
        "tls-shop.test-443.pem",
        "shop.test:443",
        2,
    )
    assert cert.info is not None
    assert cert.info.subject == f"CN={ce.LEAF_CN}, O=取证测试, C=CN"
    assert cert.info.issuer == f"CN={ce.CA_CN}, O=取证测试, C=CN"
    # cryptography's RFC 4514 form joins the same attributes with ","
    assert cert.info.subject.replace(", ", ",") == leaf.subject.rfc4514_string()
    assert cert.info.issuer.replace(", ", ",") == leaf.issuer.rfc4514_string()
    assert cert.info.not_before == leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert.info.not_after == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert.info.serial == f"{leaf.serial_number:x}"
    assert cert.info.sha256 == leaf.fingerprint(hashes.SHA256()).hex()
    assert cert.info.dns_names == ("shop.test", "www.shop.test")


def test_unreadable_certificate_is_a_fact_not_a_crash() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    files = ce.capture_files(**{"tls-shop.test-443.pem": pem})
    facts = capture_facts(ce.capture_manifest(files), files)
    assert facts is not None
    (cert,) = facts.certificates
    assert cert.info is None and cert.problem is not None


def test_facts_of_an_upload_are_none() -> None:
    files = {"a.html": b"<p>"}
    assert capture_facts(ce.capture_manifest(files, {"os": "debian-12"}), files) is None
    assert capture_facts(None, {}) is None


def test_facts_without_the_records_fall_back_on_the_manifest() -> None:
    files = ce.capture_files()
    manifest = ce.capture_manifest(
        files,
        flatten(ce.environment_record()) | {"recorded_by": "server", "capture_id": ce.CAPTURE_ID},
    )
    facts = capture_facts(manifest, {})
    assert facts is not None
    assert facts.missing == (
        "environment.json",
        "main-document.json",
        "screenshot.png",
        "tls-shop.test-443.pem",
    )
    assert facts.capture_id == ce.CAPTURE_ID
    assert facts.host == ce.HOST_ID
    assert facts.dns_system == "127.0.0.1"
    assert facts.dns_agreement == "no"
    assert facts.clock_before == "127.0.0.1:123 +2500.2 ms stratum 2"
    assert facts.limits_hit == ("max_page_height",)
    assert facts.warnings == (ce.WARNING,)
    assert facts.steps == () and facts.redirects == () and facts.screenshot is None


@pytest.mark.parametrize(
    "record",
    [
        b"not json at all",
        b"[1, 2, 3]",
        json.dumps(
            {
                "steps": "goto",
                "dns": 5,
                "clock": {"before": "x", "after": [1, None]},
                "host": ["a"],
                "os": {"kernel": 7},
                "limits_hit": {"a": 1},
                "warnings": [None, {"x": [1, {"y": {"z": {"w": 1}}}]}],
                "selfcheck": [],
                "browser": "chromium",
                "proxy_env": {"variables": "HTTP_PROXY"},
                "hosts": {"sha256": 12, "target_lines": "x"},
                "mode": {"m": None},
                "main_document": {"hops": [1, {"status": None}]},
            }
        ).encode(),
        json.dumps({"steps": [None, 3, {"index": -5, "action": ["x"]}, {"index": True}]}).encode(),
        json.dumps({"url": "x" * 100_000}).encode(),
    ],
    ids=["not-json", "a-list", "every-type-wrong", "steps-of-wrong-types", "huge-value"],
)
def test_facts_of_a_mistyped_record_never_crash(record: bytes) -> None:
    files = ce.capture_files(**{"environment.json": record, "main-document.json": record})
    facts = capture_facts(ce.capture_manifest(files), files)
    assert facts is not None
    assert facts.capture_id == ce.CAPTURE_ID  # from the manifest
    for value in dataclasses.astuple(facts):
        if isinstance(value, str):
            assert len(value) <= capture.MAX_FACT_CHARS


def test_facts_read_a_record_written_by_the_capture_recorder() -> None:
    """The contract: what EnvironmentRecorder writes (without its network probes) is what
    capture_facts reads."""
    config = CaptureConfig(
        chromium=Path("/usr/bin/chromium"), limits=CaptureLimits(), policy=AddressPolicy()
    )
    recorder = EnvironmentRecorder(config, capture_id=ce.CAPTURE_ID, url=ce.URL)
    recorder.browser(
        chromium_version=ce.CHROMIUM,
        playwright_version="1.65.2",
        launch_args=["--headless"],
        proxy="http://127.0.0.1:40123",
    )
    recorder.step(1, "goto", ce.STEP_LABEL, "2026-12-02T18:26:37.000Z", "2026-12-02T18:26:39.500Z")
    recorder.limit("max_page_height", "cut at 20000 px")
    recorder.warning(ce.WARNING)
    recorder.set("selfcheck", {"ok": False, "sha256": "ab" * 32})
    recorder.set("mode", "page")
    record = recorder.record()
    files = ce.capture_files(**{"environment.json": json.dumps(record).encode()})
    facts = capture_facts(ce.capture_manifest(files, recorder.manifest()), files)
    assert facts is not None
    assert facts.capture_id == ce.CAPTURE_ID and facts.requested_url == ce.URL
    assert facts.chromium == f"Chromium {ce.CHROMIUM} (Playwright 1.65.2)"
    assert [(s.number, s.action) for s in facts.steps] == [(1, f"goto {ce.STEP_LABEL}")]
    assert facts.steps[0].started_at == "2026-12-02T18:26:37.000Z"
    assert facts.limits_hit == ("max_page_height: cut at 20000 px",)
    assert facts.warnings == (ce.WARNING,)
    assert facts.self_check is not None and facts.self_check.startswith("failed")
    assert facts.mode == "page"
    assert facts.proxy is not None and "http://127.0.0.1:40123" in facts.proxy


# --- the DER reader --------------------------------------------------------------------------


def test_pem_with_no_certificate_is_empty() -> None:
    assert pem_certificates(b"nothing here") == []


def test_pem_over_its_limit_is_refused() -> None:
    with pytest.raises(CertificateFormatError, match="limit"):
        pem_certificates(b"x" * (256 * 1024 + 1))


@pytest.mark.parametrize("cut", [0, 1, 2, 10, 100, -1])
def test_truncated_certificate_is_refused(cut: int) -> None:
    der = pem_certificates(ce.tls_chain()[0])[0]
    with pytest.raises(CertificateFormatError):
        certificate_info(der[:cut] if cut >= 0 else der[:-1])


def test_damaged_certificates_raise_only_format_errors() -> None:
    """Every single-byte change either still reads or is a CertificateFormatError."""
    der = pem_certificates(ce.tls_chain()[0])[0]
    for at in range(0, len(der), 3):
        damaged = der[:at] + bytes([der[at] ^ 0xFF]) + der[at + 1 :]
        with contextlib.suppress(CertificateFormatError):
            certificate_info(damaged)


def test_wacz_digest_is_zlib_independent() -> None:
    """The digests are of the member bytes, not of how they are stored."""
    stored = check_wacz(ce.zip_of(ce.wacz_members()))
    deflated = check_wacz(ce.zip_of(ce.wacz_members(), method=8))
    assert stored == deflated
