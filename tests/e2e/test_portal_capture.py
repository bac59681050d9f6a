"""The portal and a server capture, in a real headless Chromium against the real verification
service: tier 1 checks the capture's WACZ inside the browser, and the WACZ replays offline.

A capture's package is built here: the recording proxy's WARC writer records the response of
``https://shop.example/listing`` (a listing whose HTML shows ``¥ 1,299.00``), the capture's
``build_wacz`` packs it as WACZ 1.1.1 (checked with ``wacz validate``), and the WACZ is sealed
in a small log as a server-recorded evidence item (``capture.environment.recorded_by =
server``). In the portal:

* the good package verifies (tiers 1-4; no chain is configured, so tier 5 is not checked)
  and tier 1 says the WACZ's own digests hold;
* a package sealing a WACZ whose resource was changed after its datapackage.json was written
  fails tier 1, naming the member, and offers no replay;
* "回放网页存档" replays the archive with ReplayWeb.page served by the service itself: the
  price text is read from the replayed page's frame. No request leaves the service: the
  replayed page's host (shop.example) is never asked, and nothing is fetched from elsewhere.

Screenshot: ``test-artifacts/portal-capture-replay.png``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anchoring.entries import evidence_entry, make_entry, sealed_bundle, sign_checkpoint
from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore
from evidence_api.capture.wacz import WaczPage
from evidence_api.capture.wacz import build_wacz as wacz_build
from evidence_api.capture.warcfile import WarcFile
from tests.support.browser import (
    PORTAL_TIMEOUT_MS,
    REPO,
    artifact,
    browser,  # noqa: F401 - fixture
    card_text,
    choose,
    live_server,
    page,  # noqa: F401 - fixture
)
from tests.support.factories import signer
from verifier.bundle import Bundle
from verifier.digests import sm3_hex
from verifier.models import Manifest
from verifier.note import SignerKey
from verifier.service.app import create_verifier_app
from verifier.service.config import ServiceConfig
from verifier.service.static import replay_available

pytestmark = [pytest.mark.browser]

TARGET = "https://shop.example/listing"
PRICE = "¥ 1,299.00"
LISTING = (
    "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><title>示例旗舰店 商品页</title>"
    "</head><body><h1>示例旗舰店</h1><p class=price>价格 " + PRICE + "</p></body></html>"
).encode()
WARC_DATE = "2026-12-01T08:00:00Z"
TIMEOUT_MS = PORTAL_TIMEOUT_MS
#: ReplayWeb.page's service worker starts, reads the WACZ and renders: generous on 2 cores.
REPLAY_TIMEOUT_MS = 180_000
WACZ_BIN = REPO / ".venv" / "bin" / "wacz"


# --- the capture's WACZ, built by the capture's own writers ------------------------------------


def build_wacz(*, tamper: bool = False) -> bytes:
    """A WACZ 1.1.1 of :data:`TARGET`, as a capture writes it: the recording proxy's WARC
    writer (:class:`~evidence_api.capture.warcfile.WarcFile`) and
    :func:`~evidence_api.capture.wacz.build_wacz`. ``tamper`` changes the WARC after
    datapackage.json recorded its digest: a WACZ that contradicts itself, though well formed."""
    with tempfile.TemporaryDirectory(prefix="portal-capture-") as folder:
        warc_path = Path(folder) / "data.warc.gz"
        warc = WarcFile(warc_path, capture_id="cap-test")
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(LISTING)}\r\n\r\n"
        ).encode()
        message = head + LISTING
        warc.write_message(
            "response",
            TARGET,
            io.BytesIO(message),
            0,
            len(head),
            len(message),
            headers={"WARC-Date": WARC_DATE, "WARC-IP-Address": "192.0.2.10"},
        )
        warc.close()
        out = Path(folder) / "archive.wacz"
        pages = [WaczPage(TARGET, "示例旗舰店 商品页", WARC_DATE)]
        wacz_build(warc_path, pages, out, title="示例旗舰店", software="evidence-anchor tests")
        data = out.read_bytes()
    if not tamper:
        return data
    changed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as original, zipfile.ZipFile(changed, "w") as zf:
        for info in original.infolist():
            member = original.read(info)
            if info.filename == "archive/data.warc.gz":
                text = gzip.decompress(member).replace(b"1,299.00", b"9,999.00")
                member = gzip.compress(text, mtime=0)
            zf.writestr(info, member)
    return changed.getvalue()


def zip64_local_extras(data: bytes) -> list[str]:
    """Members whose local header carries an extra field the central directory lacks.

    ReplayWeb.page reads a WACZ by ranges (wabac.js ``ziprangereader``): when a member's central
    directory entry has no extra field, it takes the member's data to start right after its
    local header's name, so a local ZIP64 extra (Python's ``force_zip64=True``) shifts every
    byte it reads and nothing replays, while ``wacz validate`` (Python's zipfile) is content.
    """
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            at = info.header_offset
            local_extra = int.from_bytes(data[at + 28 : at + 30], "little")
            if local_extra and not info.extra:
                out.append(info.filename)
    return out


def replayable_wacz() -> bytes:
    """:func:`build_wacz`, first checked for what would keep ReplayWeb.page from reading it."""
    data = build_wacz()
    shifted = zip64_local_extras(data)
    assert not shifted, (
        f"the capture's WACZ cannot replay in ReplayWeb.page: {shifted} carry a ZIP64 extra in "
        "their local header only (evidence_api/capture/wacz.py opens entries with "
        "force_zip64=True; a capture is far below 4 GiB, so drop it)"
    )
    return data


def sha256_tag(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_the_wacz_built_here_is_valid() -> None:
    """The fixture is a real WACZ 1.1.1 (``wacz validate``), and its tampered twin is not."""
    for tamper, ok in ((False, True), (True, False)):
        path = artifact(f"portal-capture-{'tampered' if tamper else 'good'}.wacz")
        path.write_bytes(build_wacz(tamper=tamper))
        done = subprocess.run(
            [str(WACZ_BIN), "validate", "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert (done.returncode == 0) is ok, done.stdout + done.stderr
        path.unlink()


# --- a sealed capture and its package -------------------------------------------------------


def capture_manifest(files: dict[str, bytes], capture_id: str) -> Manifest:
    """A server capture's manifest: recorded_by = server, and its capture id."""
    media = {"archive.wacz": "application/wacz", "dom.html": "text/html"}
    return Manifest.model_validate(
        {
            "v": 1,
            "evidence_id": "ev-cap-0001",
            "files": [
                {
                    "name": name,
                    "media_type": media.get(name, "application/octet-stream"),
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "sm3": sm3_hex(data),
                }
                for name, data in files.items()
            ],
            "source": {"url": TARGET, "platform": "example-mall", "entity": "示例旗舰店"},
            "captured_at": WARC_DATE,
            "capture": {
                "tool": "evidence-anchor capture 0.2.0 / Chromium 131.0",
                "environment": {"recorded_by": "server", "capture_id": capture_id},
            },
            "submitter": "officer-7f3a",
            "case": None,
            "notes": None,
            "salt": "33" * 16,
        }
    )


@dataclass
class Capture:
    bundle: dict[str, Any]
    manifest: Manifest
    files: dict[str, bytes]
    key: SignerKey


def sealed_capture(files: dict[str, bytes], capture_id: str, key: SignerKey) -> Capture:
    """The capture as one evidence entry among stamps in a small signed log (not anchored)."""
    log = MerkleLog(MemoryNodeStore())
    stamps = [
        make_entry(
            "stamp",
            f"st-{i}",
            {"sha256": hashlib.sha256(bytes([i])).hexdigest()},
            at="2026-12-01T08:00:00.000Z",
            salt=f"{i:032x}",
        )
        for i in range(4)
    ]
    log.append(e.leaf_data() for e in stamps[:2])
    manifest = capture_manifest(files, capture_id)
    entry = evidence_entry(manifest, at="2026-12-01T08:00:05.000Z", salt="44" * 16)
    index = log.append([entry.leaf_data()])
    log.append(e.leaf_data() for e in stamps[2:])
    note = sign_checkpoint(log, key)
    bundle = sealed_bundle(log, entry, index, note, log.size, origin=key.name, manifest=manifest)
    return Capture(bundle.model_dump(mode="json"), manifest, files, key)


def write_package(capture: Capture, path: Path, *, stored: bool) -> Path:
    """An evidence-package/v1 ZIP of ``capture`` (the WACZ stored or deflated inside it)."""
    Bundle.model_validate(capture.bundle)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "package.json",
            json.dumps(
                {
                    "format": "evidence-package/v1",
                    "evidence_id": capture.manifest.evidence_id,
                    "exported_at": "2026-12-01T09:00:00Z",
                    "files": [f.name for f in capture.manifest.files],
                }
            ),
        )
        zf.writestr("manifest.json", capture.manifest.canonical())
        zf.writestr("proof.json", json.dumps(capture.bundle, ensure_ascii=False, indent=2))
        zf.writestr("log-key.vkey", capture.key.verifier().to_text() + "\n")
        for name, data in capture.files.items():
            method = zipfile.ZIP_STORED if stored and name.endswith(".wacz") else 8
            zf.writestr(f"files/{name}", data, method)
    return path


@dataclass
class Service:
    url: str
    key: SignerKey


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    """The real verification service (no chain configured: tier 5 is "not checked")."""
    assert replay_available(), "ReplayWeb.page is not installed: run make install"
    key = signer()
    with live_server(create_verifier_app(ServiceConfig(log_keys=(key.verifier(),)))) as server:
        yield Service(server.url, key)


def open_portal(tab: Any, service: Service) -> None:
    tab.goto(f"{service.url}/verify")
    tab.wait_for_selector("body[data-ready='true']", timeout=TIMEOUT_MS)


def python_tier_1(service: Service, package: Path) -> dict[str, Any]:
    """Tier 1 as the verification service (verifier/verify.py) reports it for ``package``."""
    import httpx  # noqa: PLC0415

    response = httpx.post(
        f"{service.url}/v1/verify?through=4",
        content=package.read_bytes(),
        headers={"Content-Type": "application/zip"},
        timeout=120,
    )
    response.raise_for_status()
    tiers: list[dict[str, Any]] = response.json()["tiers"]
    return tiers[0]


def replayed_text(tab: Any, deadline_ms: int = REPLAY_TIMEOUT_MS) -> tuple[str, str]:
    """(URL, text) of the replayed listing's frame, once its body shows the price: waits for
    ReplayWeb.page's worker to start, read the WACZ and render the page."""
    waited = 0
    seen: list[str] = []
    while waited < deadline_ms:
        seen = [f.url for f in tab.frames]
        for frame in tab.frames:
            if "mp_/" + TARGET in frame.url:
                try:
                    text: str = frame.inner_text("body", timeout=5_000)
                except Exception:  # the frame is still loading or navigating
                    continue
                if PRICE in text:
                    return frame.url, text
        tab.wait_for_timeout(500)  # lets Playwright deliver the frames' events
        waited += 500
    raise AssertionError(f"no replayed frame showed {PRICE!r} in {deadline_ms} ms; frames: {seen}")


# --- the portal ----------------------------------------------------------------------------------


def verify_capture(tab: Any, service: Service, package: Path) -> None:
    """Choose ``package`` on the portal: tiers 1-4 verify, the WACZ's own digests included,
    with the very detail the Python verifier gives."""
    open_portal(tab, service)
    statuses = choose(tab, [package])
    assert statuses == {
        1: "verified",
        2: "verified",
        3: "verified",
        4: "verified",
        5: "not_checked",
    }
    detail = card_text(tab, 1, "detail")
    assert detail == (
        "all 2 files match SHA-256 and SM3; "
        "archive.wacz: all 3 resources match its datapackage.json"
    )
    assert detail == python_tier_1(service, package)["detail"]  # the portal and Python agree
    assert "回放工具读取的正是存证时的字节" in card_text(tab, 1, "meaning")


def test_a_capture_verifies_with_its_wacz_checked_in_the_browser(
    page: Any,  # noqa: F811
    service: Service,
    tmp_path: Path,
) -> None:
    files = {"archive.wacz": build_wacz(), "dom.html": LISTING}
    capture = sealed_capture(files, "cap-0001", service.key)
    verify_capture(page, service, write_package(capture, tmp_path / "capture.zip", stored=False))
    page.wait_for_selector("#replay:not([hidden])", timeout=TIMEOUT_MS)
    assert page.inner_text("#replay h3") == "回放网页存档"
    page.click("#lang-toggle")
    assert page.inner_text("#replay h3") == "Replay the web archive"
    assert "a replay tool reads the very bytes fixed" in card_text(page, 1, "meaning")


def test_a_verified_capture_replays_its_archive_offline(
    page: Any,  # noqa: F811
    service: Service,
    tmp_path: Path,
) -> None:
    requests: list[str] = []
    page.context.on("request", lambda r: requests.append(r.url))
    files = {"archive.wacz": replayable_wacz(), "dom.html": LISTING}
    capture = sealed_capture(files, "cap-0004", service.key)
    verify_capture(page, service, write_package(capture, tmp_path / "capture.zip", stored=True))

    # The replay: offered for a verified capture, run from this service alone.
    page.wait_for_selector("#replay:not([hidden])", timeout=TIMEOUT_MS)
    assert TARGET in page.inner_text("#replay-page")
    page.click("#replay-button")
    url, text = replayed_text(page)
    assert "示例旗舰店" in text
    assert url.startswith(f"{service.url}/verify/replay/w/")
    page.screenshot(path=str(artifact("portal-capture-replay.png")), full_page=True)
    outside = [
        r
        for r in requests
        if not (r.startswith(service.url) or r.startswith(f"blob:{service.url}/"))
    ]
    assert not outside, outside  # nothing from the live web, no CDN
    # ReplayWeb.page came from this service: its worker and its app.
    assert f"{service.url}/verify/replay/sw.js?serveIndex=1" in requests
    assert f"{service.url}/verify/replay/ui.js" in requests


def test_a_capture_whose_wacz_contradicts_itself_fails_tier_1_naming_the_member(
    page: Any,  # noqa: F811
    service: Service,
    tmp_path: Path,
) -> None:
    files = {"archive.wacz": build_wacz(tamper=True), "dom.html": LISTING}
    capture = sealed_capture(files, "cap-0002", service.key)
    package = write_package(capture, tmp_path / "tampered.zip", stored=False)

    open_portal(page, service)
    statuses = choose(page, [package])
    assert statuses == {1: "failed", 2: "verified", 3: "verified", 4: "verified", 5: "not_checked"}
    assert page.get_attribute("#summary", "data-outcome") == "failed"
    detail = card_text(page, 1, "detail")
    assert detail.startswith("archive.wacz: resource 'archive/data.warc.gz' "), detail
    python = python_tier_1(service, package)
    assert python["status"] == "failed"
    assert detail == python["detail"]  # the same rule, the same words
    assert "不应据此回放网页" in card_text(page, 1, "meaning")
    assert card_text(page, 1, "detail-zh").startswith("archive.wacz：资源 'archive/data.warc.gz' ")
    assert page.is_hidden("#replay")  # no replay of an archive that contradicts itself


def test_a_capture_chosen_as_files_and_proof_checks_its_wacz_too(
    page: Any,  # noqa: F811
    service: Service,
    tmp_path: Path,
) -> None:
    files = {"archive.wacz": build_wacz(), "dom.html": LISTING}
    capture = sealed_capture(files, "cap-0003", service.key)
    (tmp_path / "proof.json").write_text(json.dumps(capture.bundle), "utf-8")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    open_portal(page, service)
    statuses = choose(
        page, [tmp_path / "archive.wacz", tmp_path / "dom.html", tmp_path / "proof.json"]
    )
    assert statuses[1] == "verified"
    assert card_text(page, 1, "detail").endswith(
        "archive.wacz: all 3 resources match its datapackage.json"
    )
    page.wait_for_selector("#replay:not([hidden])", timeout=TIMEOUT_MS)


def test_the_portal_explains_a_wacz_as_the_verifier_does(
    page: Any,  # noqa: F811
    service: Service,
) -> None:
    from verifier.explain import _WACZ_MEANING, _WACZ_ZH, detail_zh  # noqa: PLC0415
    from verifier.verify import Status, TierResult  # noqa: PLC0415

    open_portal(page, service)
    words = page.evaluate("async () => (await import('/verify/static/i18n.js')).WACZ_MEANING")
    assert words == {k: {"zh": zh, "en": en} for k, (zh, en) in _WACZ_MEANING.items()}
    patterns = page.evaluate("async () => (await import('/verify/static/i18n.js')).WACZ_DETAILS_ZH")
    assert patterns == [[p.pattern.replace("(?P<", "(?<"), t] for p, t in _WACZ_ZH]
    # Every refusal of a bad WACZ reads in Chinese as the Chinese report words it.
    for name, verdict in python_verdicts(wacz_defects()).items():
        if name == "good":
            continue
        detail = "archive.wacz: " + verdict.split(": ", 1)[1]
        want = detail_zh(TierResult(1, Status.FAILED, detail, {"wacz": "failed"}))
        got = page.evaluate(
            "async (d) => (await import('/verify/static/i18n.js')).waczDetailZh(d)", detail
        )
        assert got == want, name


# --- the same WACZ rules in the browser as in verifier/capture.py ------------------------------


def wacz_with(members: dict[str, bytes], **methods: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, methods.get(name.replace("/", "_").replace(".", "_"), 8))
    return out.getvalue()


def wacz_defects() -> dict[str, bytes]:
    """WACZs, each wrong in one way (named after its defect), plus the good one."""
    good = build_wacz()
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    package = json.loads(members["datapackage.json"])

    def repackaged(**changes: Any) -> dict[str, bytes]:
        """``members`` with datapackage.json changed and its digest record kept true."""
        data = json.dumps({**package, **changes}).encode()
        digest = json.dumps({"path": "datapackage.json", "hash": sha256_tag(data)}).encode()
        return {**members, "datapackage.json": data, "datapackage-digest.json": digest}

    resources = package["resources"]
    wrong_size = [{**resources[0], "bytes": resources[0]["bytes"] + 1}, *resources[1:]]
    md5 = [{**resources[0], "hash": "md5:" + "0" * 32}, *resources[1:]]
    climbing = [*resources, {**resources[1], "path": "../evil.cdxj"}]
    twice = [*resources, resources[1]]
    cases = {
        "good": good,
        "tampered_resource": build_wacz(tamper=True),
        "no_datapackage": wacz_with({k: v for k, v in members.items() if k != "datapackage.json"}),
        "no_digest_record": wacz_with(
            {k: v for k, v in members.items() if k != "datapackage-digest.json"}
        ),
        "wrong_datapackage_digest": wacz_with(
            {
                **members,
                "datapackage-digest.json": json.dumps(
                    {"path": "datapackage.json", "hash": "sha256:" + "ab" * 32}
                ).encode(),
            }
        ),
        "digest_record_names_another_path": wacz_with(
            {
                **members,
                "datapackage-digest.json": json.dumps(
                    {"path": "other.json", "hash": sha256_tag(members["datapackage.json"])}
                ).encode(),
            }
        ),
        "missing_resource": wacz_with(
            {k: v for k, v in members.items() if k != "pages/pages.jsonl"}
        ),
        "undeclared_member": wacz_with({**members, "extra/notes.txt": b"not declared"}),
        "two_undeclared_members": wacz_with({**members, "extra/a.txt": b"a", "extra/b.txt": b"b"}),
        "resource_size_differs": wacz_with(repackaged(resources=wrong_size)),
        "md5_hash": wacz_with(repackaged(resources=md5)),
        "climbing_resource_path": wacz_with(repackaged(resources=climbing)),
        "resource_listed_twice": wacz_with(repackaged(resources=twice)),
        "resources_not_a_list": wacz_with(repackaged(resources={"a": 1})),
        "datapackage_not_json": wacz_with(
            {
                **members,
                "datapackage.json": b"{not json",
                "datapackage-digest.json": json.dumps(
                    {"path": "datapackage.json", "hash": sha256_tag(b"{not json")}
                ).encode(),
            }
        ),
        "member_climbs_out": wacz_with({**members, "../evil.sh": b"rm -rf /"}),
        "not_a_zip": b"WARC/1.1\r\n" * 10,
    }
    return cases


def python_verdicts(cases: dict[str, bytes]) -> dict[str, str]:
    from verifier.capture import WaczError, check_wacz  # noqa: PLC0415

    out = {}
    for name, data in cases.items():
        try:
            check = check_wacz(data)
        except WaczError as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
        else:
            out[name] = f"ok: {len(check.resources)} resources"
    return out


def test_the_browser_refuses_each_bad_wacz_as_the_python_verifier_does(
    page: Any,  # noqa: F811
    service: Service,
) -> None:
    cases = wacz_defects()
    python = python_verdicts(cases)
    assert python["good"] == "ok: 3 resources"
    assert sum(v.startswith("ok") for v in python.values()) == 1, python
    open_portal(page, service)
    browser_verdicts: dict[str, str] = page.evaluate(
        """async (cases) => {
          const { WaczError, checkWacz } = await import('/verify/static/wacz.js');
          const out = {};
          for (const [name, b64] of Object.entries(cases)) {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            try {
              const check = await checkWacz(new Blob([bytes]));
              out[name] = `ok: ${check.resources.length} resources`;
            } catch (exc) {
              const kind = exc instanceof WaczError ? exc.kind : "crash";
              out[name] = `${kind}: ${exc.message}`;
            }
          }
          return out;
        }""",
        {name: base64.b64encode(data).decode() for name, data in cases.items()},
    )

    def same(text: str | None) -> str | None:
        # A JSON syntax error's position is worded by each side's own parser.
        return text.split(" is not valid JSON: ")[0] if text else text

    differing = {
        name: (python[name], browser_verdicts.get(name))
        for name in cases
        if same(python[name]) != same(browser_verdicts.get(name))
    }
    assert not differing, json.dumps(differing, ensure_ascii=False, indent=1)


# --- what the service serves for the replay -------------------------------------------------------


def test_the_replay_files_are_served_locally_with_their_own_headers(service: Service) -> None:
    import httpx  # noqa: PLC0415

    from verifier.service.static import CSP, REPLAY_FRAME_CSP, REPLAY_WORKER_CSP  # noqa: PLC0415

    with httpx.Client(base_url=service.url, timeout=60) as http:
        worker = http.get("/verify/replay/sw.js", params={"serveIndex": "1"})
        assert worker.status_code == 200
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["content-security-policy"] == REPLAY_WORKER_CSP
        assert "connect-src 'self' blob:" in REPLAY_WORKER_CSP
        app = http.get("/verify/replay/ui.js")
        assert app.status_code == 200
        assert (
            app.content
            == (REPO / "verifier/service/replay/node_modules/replaywebpage/ui.js").read_bytes()
        )
        holding = http.get("/verify/replay/")
        assert holding.status_code == 200
        assert holding.headers["content-security-policy"] == REPLAY_FRAME_CSP
        assert "frame-ancestors 'self'" in REPLAY_FRAME_CSP
        frame = http.get("/verify/static/replay.html")
        assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
        assert "script-src 'self';" in frame.headers["content-security-policy"]
        portal = http.get("/verify")
        assert portal.headers["content-security-policy"] == CSP  # the portal is never framed
        for other in ("index.html", "package.json", "dist/index.js", "../portal/app.js", "x"):
            assert http.get(f"/verify/replay/{other}").status_code == 404, other
        assert http.get("/v1/config").json()["replay"] is True


def test_without_the_replay_files_the_portal_says_so_and_still_verifies(
    page: Any,  # noqa: F811
    service: Service,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service whose ``make install`` did not fetch ReplayWeb.page (an image without node,
    say) verifies captures as before and says why it cannot replay them."""
    import httpx  # noqa: PLC0415

    import verifier.service.static as static  # noqa: PLC0415 - the served folder, swapped

    monkeypatch.setattr(static, "REPLAY_PACKAGE", tmp_path / "not-installed")
    assert httpx.get(f"{service.url}/v1/config", timeout=60).json()["replay"] is False
    missing = httpx.get(f"{service.url}/verify/replay/ui.js", timeout=60)
    assert missing.status_code == 404
    assert "not installed here (make install)" in missing.json()["detail"]
    files = {"archive.wacz": build_wacz(), "dom.html": LISTING}
    capture = sealed_capture(files, "cap-0005", service.key)
    verify_capture(page, service, write_package(capture, tmp_path / "capture.zip", stored=True))
    page.wait_for_selector("#replay:not([hidden])", timeout=TIMEOUT_MS)
    assert page.is_visible("#replay-unavailable")
    assert "未安装回放组件" in page.inner_text("#replay-unavailable")
    assert page.is_hidden("#replay-controls")


def test_the_replay_works_under_a_mount_prefix(
    page: Any,  # noqa: F811
    service: Service,
    tmp_path: Path,
) -> None:
    """``evidence serve`` mounts the verification service at /verifier: the portal, its
    replay frame and ReplayWeb.page's worker (scope /verifier/verify/replay/) all follow."""
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.routing import Mount  # noqa: PLC0415

    mounted = Starlette(
        routes=[
            Mount(
                "/verifier",
                app=create_verifier_app(ServiceConfig(log_keys=(service.key.verifier(),))),
            )
        ]
    )
    files = {"archive.wacz": replayable_wacz(), "dom.html": LISTING}
    capture = sealed_capture(files, "cap-0006", service.key)
    package = write_package(capture, tmp_path / "capture.zip", stored=True)
    with live_server(mounted) as server:
        page.goto(f"{server.url}/verifier/verify")
        page.wait_for_selector("body[data-ready='true']", timeout=TIMEOUT_MS)
        assert choose(page, [package])[1] == "verified"
        page.wait_for_selector("#replay:not([hidden])", timeout=TIMEOUT_MS)
        page.click("#replay-button")
        url, _ = replayed_text(page)
        assert url.startswith(f"{server.url}/verifier/verify/replay/w/")
