"""The read-only verification service answers tiered results and refuses bad input with 4xx.

Everything here runs in process (ASGI test client, temporary folders); the
service against a live evidence API and anvil is in
``tests/integration/test_verifier_service_stack.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from evidence_api.cli import app as evidence_cli
from tests.support.factories import Sealed, sealed_evidence
from verifier.bundle import bundle_from_obj
from verifier.digests import FileDigest, sm3_hex
from verifier.explain import MEANING, PURPOSE, explain
from verifier.service.app import MAX_REQUEST_BYTES, ServiceConfig, create_verifier_app
from verifier.service.config import ServiceConfigError
from verifier.service.http import Problem
from verifier.service.lookup import (
    MAX_MATCHES,
    NotFoundUpstreamError,
    Query,
    UpstreamInvalidError,
    UpstreamUnavailableError,
    fetch_matches,
    parse_query,
)
from verifier.service.static import CSP, resolve_asset
from verifier.verify import TIER_NAMES, Status

PROBLEM = "application/problem+json"


def _digests(sealed: Sealed) -> list[dict[str, object]]:
    return [
        FileDigest(name, len(data), hashlib.sha256(data).hexdigest(), sm3_hex(data)).__dict__
        for name, data in sealed.files.items()
    ]


def _client(
    trusted: bool = True, **config: Any
) -> tuple[TestClient, dict[str, Any], list[dict[str, object]]]:
    sealed = sealed_evidence()
    cfg = ServiceConfig(log_keys=(sealed.signer.verifier(),) if trusted else (), **config)
    bundle = json.loads(sealed.bundle.to_json())
    return TestClient(create_verifier_app(cfg)), bundle, _digests(sealed)


def package_zip(
    sealed: Sealed,
    *,
    files: dict[str, bytes] | None = None,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """An evidence-package/v1 ZIP of ``sealed`` (layout of coord/ISSUE5.md), built here so
    that a test can change any member."""
    members: dict[str, bytes] = {
        "package.json": json.dumps(
            {
                "format": "evidence-package/v1",
                "evidence_id": sealed.entry.id,
                "exported_at": "2026-11-26T08:00:00Z",
                "files": list(sealed.files),
            }
        ).encode(),
        "README.txt": "核验方法 / How to verify\n".encode(),
        "manifest.json": sealed.manifest.canonical(),
        "proof.json": sealed.bundle.to_json().encode(),
        "log-key.vkey": (sealed.signer.verifier().to_text() + "\n").encode(),
    }
    for name, data in (files if files is not None else sealed.files).items():
        members[f"files/{name}"] = data
    members |= extra or {}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- POST /v1/verify (JSON) -------------------------------------------------------------


def test_a_sealed_bundle_with_its_files_verifies_through_tier_4() -> None:
    client, bundle, files = _client()
    answer = client.post("/v1/verify", json={"bundle": bundle, "files": files, "through": 4})
    assert answer.status_code == 200
    body = answer.json()
    assert body["outcome"] == "verified"
    assert [t["status"] for t in body["tiers"]] == ["verified"] * 4 + ["skipped"]


def test_every_tier_carries_its_chinese_name_and_plain_explanations() -> None:
    client, bundle, files = _client()
    tiers = client.post("/v1/verify", json={"bundle": bundle, "files": files}).json()["tiers"]
    for tier in tiers:
        wanted = explain(tier["tier"], tier["status"])
        assert tier["name_zh"] == TIER_NAMES[tier["tier"]][1]
        assert tier["explanation_zh"] == wanted.explanation_zh
        assert tier["explanation_en"] == wanted.explanation_en
        assert tier["purpose_zh"] and tier["purpose_en"]
        assert isinstance(tier["facts"], dict)
    # Tier 5 without a chain: "not checked" has its own wording, not the verified one.
    assert tiers[4]["status"] == "not_checked"
    assert tiers[4]["explanation_en"] != explain(5, Status.VERIFIED).explanation_en


def test_the_explanation_table_covers_every_tier_and_status() -> None:
    for tier in TIER_NAMES:
        assert tier in PURPOSE
        for status in Status:
            got = explain(tier, status)
            assert got.explanation_zh and got.explanation_en
            if status in (Status.VERIFIED, Status.FAILED, Status.NOT_CHECKED):
                assert (tier, status) in MEANING
    # Failing and passing never read the same.
    for tier in TIER_NAMES:
        assert explain(tier, "verified").explanation_zh != explain(tier, "failed").explanation_zh


def test_a_changed_file_digest_fails_tier_1_with_its_explanation() -> None:
    client, bundle, files = _client()
    files[0]["sha256"] = "0" * 64
    body = client.post("/v1/verify", json={"bundle": bundle, "files": files}).json()
    assert body["outcome"] == "failed"
    assert body["tiers"][0]["status"] == "failed"
    assert body["tiers"][0]["explanation_en"] == explain(1, "failed").explanation_en


def test_without_a_trusted_key_tier_4_is_not_checked() -> None:
    client, bundle, files = _client(trusted=False)
    body = client.post("/v1/verify", json={"bundle": bundle, "files": files}).json()
    assert body["tiers"][3]["status"] == "not_checked"
    assert body["outcome"] == "incomplete"


def test_bad_input_gets_a_precise_4xx() -> None:
    client, bundle, _ = _client()
    cases = {
        "truncated": (b'{"bundle": {', 422, "not valid JSON"),
        "unknown-version": (
            json.dumps({"bundle": {**bundle, "format": "evidence-proof/v9"}}).encode(),
            422,
            "unknown bundle format",
        ),
        "extra-field": (json.dumps({"bundle": bundle, "x": 1}).encode(), 422, "x"),
        "bad-digest": (
            json.dumps(
                {
                    "bundle": bundle,
                    "files": [{"name": "a", "size": 1, "sha256": "zz", "sm3": "0" * 64}],
                }
            ).encode(),
            422,
            "files.0.sha256",
        ),
    }
    for name, (body, status, needle) in cases.items():
        answer = client.post(
            "/v1/verify", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == status, name
        assert answer.headers["content-type"] == PROBLEM
        assert needle in answer.json()["detail"], (name, answer.json())
    huge = client.post(
        "/v1/verify",
        content=b" " * (MAX_REQUEST_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.headers["content-type"] == PROBLEM
    at_limit = client.post(
        "/v1/verify",
        content=b" " * MAX_REQUEST_BYTES,
        headers={"content-type": "application/json"},
    )
    assert at_limit.status_code == 422  # read in full, then refused as not JSON
    other = client.post("/v1/verify", content=b"x", headers={"content-type": "image/png"})
    assert other.status_code == 415
    assert "application/zip" in other.json()["detail"]
    bad_query = client.post("/v1/verify?through=9", json={"bundle": bundle})
    assert bad_query.status_code == 422
    assert bad_query.json()["detail"].startswith("through:")


def test_unknown_routes_and_methods_are_problem_documents() -> None:
    client, _, _ = _client()
    missing = client.get("/v1/nothing")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    wrong = client.get("/v1/verify")
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, PROBLEM)


# --- POST /v1/verify (package ZIP) ------------------------------------------------------


def test_an_uploaded_package_verifies_its_files_here() -> None:
    sealed = sealed_evidence()
    client = TestClient(create_verifier_app(ServiceConfig(log_keys=(sealed.signer.verifier(),))))
    answer = client.post(
        "/v1/verify?through=4",
        content=package_zip(sealed),
        headers={"content-type": "application/zip"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [t["status"] for t in body["tiers"]] == ["verified"] * 4 + ["skipped"]
    package = body["package"]
    assert package["trusted"] is False
    assert package["log_key_text"] == sealed.signer.verifier().to_text()
    assert [f["sha256"] for f in package["files"]] == [
        hashlib.sha256(d).hexdigest() for d in sealed.files.values()
    ]


def test_the_key_inside_a_package_is_never_trusted() -> None:
    sealed = sealed_evidence()
    client = TestClient(create_verifier_app(ServiceConfig()))
    body = client.post(
        "/v1/verify", content=package_zip(sealed), headers={"content-type": "application/zip"}
    ).json()
    assert body["tiers"][3]["status"] == "not_checked"  # the package's key is only shown
    assert body["outcome"] == "incomplete"


@pytest.mark.parametrize(
    ("defect", "needle"),
    [
        ("path-traversal", "../"),
        ("file-not-matching-manifest", "differs from the manifest"),
        ("truncated-zip", "package refused"),
        ("not-a-zip", "package refused"),
    ],
)
def test_a_hostile_package_is_refused_with_its_reason(defect: str, needle: str) -> None:
    sealed = sealed_evidence()
    good = package_zip(sealed)
    if defect == "path-traversal":
        data = package_zip(sealed, extra={"../evil.txt": b"x"})
    elif defect == "file-not-matching-manifest":
        changed = {n: b"Z" + d[1:] for n, d in sealed.files.items()}
        data = package_zip(sealed, files=changed)
    elif defect == "truncated-zip":
        data = good[: len(good) // 2]
    else:
        data = b"this is not a zip file"
    client = TestClient(create_verifier_app(ServiceConfig(log_keys=(sealed.signer.verifier(),))))
    answer = client.post("/v1/verify", content=data, headers={"content-type": "application/zip"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    detail = answer.json()["detail"]
    assert detail.startswith("package refused:")
    assert needle in detail
    assert "\n" not in detail


def test_a_package_over_the_limit_is_refused_413_declared_or_streamed() -> None:
    sealed = sealed_evidence()
    data = package_zip(sealed)
    client = TestClient(create_verifier_app(ServiceConfig(max_package_bytes=len(data) - 1)))
    declared = client.post("/v1/verify", content=data, headers={"content-type": "application/zip"})
    assert declared.status_code == 413
    assert str(len(data) - 1) in declared.json()["detail"]

    def chunks() -> Any:  # no Content-Length: refused while streaming
        for i in range(0, len(data), 100):
            yield data[i : i + 100]

    streamed = client.post(
        "/v1/verify", content=chunks(), headers={"content-type": "application/zip"}
    )
    assert streamed.status_code == 413
    # Exactly at the limit it is read.
    client = TestClient(create_verifier_app(ServiceConfig(max_package_bytes=len(data))))
    exact = client.post("/v1/verify", content=data, headers={"content-type": "application/zip"})
    assert exact.status_code == 200


def test_an_empty_package_body_is_refused() -> None:
    client, _, _ = _client()
    answer = client.post("/v1/verify", content=b"", headers={"content-type": "application/zip"})
    assert answer.status_code == 422
    assert "empty" in answer.json()["detail"]


# --- POST /v1/anchor-check ---------------------------------------------------------------


def test_anchor_check_without_a_chain_is_not_checked() -> None:
    client, bundle, _ = _client()
    anchored = {
        **bundle,
        "status": "anchored",
        "anchor": {
            "chain_id": 31337,
            "contract": "0x" + "11" * 20,
            "log_id": "0x" + "22" * 32,
            "tx_hash": "0x" + "33" * 32,
            "block_number": 7,
            "block_hash": "0x" + "44" * 32,
            "block_timestamp": 1_790_000_000,
            "size": bundle["inclusion"]["tree_size"],
            "root": _root(bundle),
        },
    }
    for sent in (bundle, anchored):
        answer = client.post("/v1/anchor-check", json={"bundle": sent})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["tier"], body["status"]) == (5, "not_checked")
        assert body["name_zh"] == "区块链锚定"
        assert body["explanation_zh"] == explain(5, "not_checked").explanation_zh
    bad = client.post("/v1/anchor-check", json={"bundle": bundle, "files": []})
    assert bad.status_code == 422
    assert "files" in bad.json()["detail"]


def _root(bundle: dict[str, Any]) -> str:
    checkpoint = bundle_from_obj(bundle).checkpoint
    assert checkpoint is not None
    import base64  # noqa: PLC0415

    return base64.b64decode(checkpoint.split("\n")[2]).hex()


# --- GET /v1/config and /healthz ----------------------------------------------------------


def test_config_tells_the_portal_the_trust_roots() -> None:
    sealed = sealed_evidence()
    cfg = ServiceConfig(log_keys=(sealed.signer.verifier(),), max_package_bytes=12345)
    body = TestClient(create_verifier_app(cfg)).get("/v1/config").json()
    assert body["log_keys"] == [sealed.signer.verifier().to_text()]
    assert body["chain"] is None
    assert body["lang_default"] == "zh"
    assert body["max_package_bytes"] == 12345
    assert body["lookup"] is False
    chained = ServiceConfig(
        rpc_urls=("http://127.0.0.1:8545",), contract="0x" + "ab" * 20, chain_id=31337
    )
    body = TestClient(create_verifier_app(chained)).get("/v1/config").json()
    assert body["chain"] == {"chain_id": 31337, "contract": "0x" + "ab" * 20}


# --- VERIFIER_* configuration ------------------------------------------------------------


def test_configuration_from_the_environment() -> None:
    sealed = sealed_evidence()
    vkey = sealed.signer.verifier().to_text()
    cfg = ServiceConfig.from_env(
        {
            "VERIFIER_LOG_KEYS": vkey,
            "VERIFIER_RPC_URLS": "http://127.0.0.1:8545 http://127.0.0.1:8546",
            "VERIFIER_CONTRACT": "0x" + "ab" * 20,
            "VERIFIER_CHAIN_ID": "31337",
            "VERIFIER_MIN_CONFIRMATIONS": "2",
            "VERIFIER_LOG_URL": "http://127.0.0.1:8000/",
            "VERIFIER_LOG_TIMEOUT": "2.5",
            "VERIFIER_PORTAL_URL": "https://verify.example.gov.cn/verify",
            "VERIFIER_MAX_PACKAGE_BYTES": "1048576",
        }
    )
    assert [k.to_text() for k in cfg.log_keys] == [vkey]
    assert cfg.chain == {"chain_id": 31337, "contract": "0x" + "ab" * 20}
    assert cfg.anchor_check() is not None
    assert (cfg.min_confirmations, cfg.log_url, cfg.log_timeout) == (
        2,
        "http://127.0.0.1:8000",
        2.5,
    )
    assert cfg.max_package_bytes == 1048576
    empty = ServiceConfig.from_env({})
    assert (empty.log_keys, empty.chain, empty.max_package_bytes) == ((), None, 2 * 2**30)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"VERIFIER_LOG_KEYS": "not-a-key"}, "VERIFIER_LOG_KEYS: key 1"),
        ({"VERIFIER_CHAIN_ID": "x"}, "VERIFIER_CHAIN_ID must be an integer"),
        ({"VERIFIER_MIN_CONFIRMATIONS": "0"}, "VERIFIER_MIN_CONFIRMATIONS"),
        ({"VERIFIER_MAX_PACKAGE_BYTES": "-1"}, "VERIFIER_MAX_PACKAGE_BYTES"),
        ({"VERIFIER_LOG_URL": "ftp://x"}, "VERIFIER_LOG_URL"),
        ({"VERIFIER_LOG_URL": "http://x/?q=1"}, "without query"),
        ({"VERIFIER_PORTAL_URL": "http://x:99999"}, "VERIFIER_PORTAL_URL"),
        ({"VERIFIER_LOG_TIMEOUT": "nan"}, "VERIFIER_LOG_TIMEOUT"),
        ({"VERIFIER_SPOOL_DIR": "/nonexistent/spool"}, "VERIFIER_SPOOL_DIR"),
        ({"VERIFIER_CONTRACT": "0x" + "ab" * 20}, "VERIFIER_RPC_URLS, VERIFIER_CHAIN_ID not set"),
        (
            {
                "VERIFIER_RPC_URLS": "http://a",
                "VERIFIER_CONTRACT": "0x12",
                "VERIFIER_CHAIN_ID": "1",
            },
            "not a 0x-prefixed address",
        ),
    ],
)
def test_a_bad_setting_is_refused_with_one_line_naming_it(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ServiceConfigError) as caught:
        ServiceConfig.from_env(env)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_verifier_serve_refuses_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VERIFIER_CHAIN_ID", "thirty")
    result = CliRunner().invoke(evidence_cli, ["verifier", "serve"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines == [lines[0]]
    assert lines[0].startswith("error: VERIFIER_CHAIN_ID")


# --- lookup: query shapes and what upstream may answer --------------------------------------


def test_lookup_query_shapes() -> None:
    assert parse_query("ev-" + "0" * 28, None) == Query("evidence_id", "ev-" + "0" * 28)
    assert parse_query(None, "AB" * 32) == Query("sha256", "ab" * 32)
    assert parse_query(None, None, "cd" * 32) == Query("leaf_hash", "cd" * 32)
    with pytest.raises(ValueError, match="exactly one"):
        parse_query(None, "ab" * 32, "cd" * 32)
    with pytest.raises(ValueError, match="leaf_hash"):
        parse_query(None, None, "cd" * 31)
    for evidence_id, sha in (
        (None, None),
        ("ev-" + "0" * 28, "ab" * 32),
        ("ev-1", None),
        ("xx-" + "0" * 28, None),
        (None, "ab" * 31),
        (None, "zz" * 32),
    ):
        with pytest.raises(ValueError, match=r"exactly one|evidence_id|sha256"):
            parse_query(evidence_id, sha)


def test_lookup_route_validates_before_asking_anyone() -> None:
    client, _, _ = _client(log_url="http://127.0.0.1:9")  # discard port: nothing listens
    for params, needle in (
        ({}, "exactly one"),
        ({"evidence_id": "ev-1"}, "evidence_id"),
        ({"sha256": "zz"}, "sha256"),
        ({"evidence_id": "ev-" + "0" * 28, "sha256": "ab" * 32}, "exactly one"),
        ({"sha256": "a" * 65}, "sha256"),
    ):
        answer = client.get("/v1/lookup", params=params)
        assert answer.status_code == 422, params
        assert answer.headers["content-type"] == PROBLEM
        assert needle in answer.json()["detail"]
    down = client.get("/v1/lookup", params={"sha256": "ab" * 32})
    assert down.status_code == 503
    assert down.headers["retry-after"] == "5"


def test_lookup_without_a_log_url_is_404() -> None:
    client, _, _ = _client()
    answer = client.get("/v1/lookup", params={"sha256": "ab" * 32})
    assert answer.status_code == 404
    assert "VERIFIER_LOG_URL" in answer.json()["detail"]


def _answer(*bundles: dict[str, Any], status: int = 200, ctype: str = "application/json") -> Any:
    body = json.dumps({"matches": list(bundles)}).encode()

    def fetch(url: str, timeout: float) -> tuple[int, str, bytes]:
        fetch.urls.append(url)  # type: ignore[attr-defined]
        return status, ctype, body

    fetch.urls = []  # type: ignore[attr-defined]
    return fetch


def test_what_upstream_answers_is_checked_before_anything_is_verified() -> None:
    sealed = sealed_evidence()
    bundle = json.loads(sealed.bundle.to_json())
    by_id = Query("evidence_id", sealed.entry.id)
    fetch = _answer(bundle)
    got = fetch_matches("http://log", by_id, timeout=1, fetch=fetch)
    assert [b.entry.id for b in got] == [sealed.entry.id]
    assert fetch.urls == [f"http://log/v1/log/lookup?evidence_id={sealed.entry.id}"]

    by_leaf = Query("leaf_hash", sealed.bundle.leaf_hash)
    assert len(fetch_matches("http://log", by_leaf, timeout=1, fetch=_answer(bundle))) == 1
    with pytest.raises(UpstreamInvalidError, match="is leaf"):
        other_leaf = Query("leaf_hash", "ee" * 32)
        fetch_matches("http://log", other_leaf, timeout=1, fetch=_answer(bundle))

    other_id = Query("evidence_id", "ev-" + "f" * 28)
    with pytest.raises(UpstreamInvalidError, match="is entry"):
        fetch_matches("http://log", other_id, timeout=1, fetch=_answer(bundle))
    not_in_manifest = Query("sha256", "ab" * 32)
    with pytest.raises(UpstreamInvalidError, match="lists no file"):
        fetch_matches("http://log", not_in_manifest, timeout=1, fetch=_answer(bundle))
    with pytest.raises(UpstreamInvalidError, match="match 0: invalid bundle"):
        fetch_matches("http://log", by_id, timeout=1, fetch=_answer({**bundle, "leaf_hash": 1}))
    with pytest.raises(UpstreamInvalidError, match="not JSON"):
        fetch_matches("http://log", by_id, timeout=1, fetch=_answer(bundle, ctype="text/html"))
    with pytest.raises(UpstreamInvalidError, match=f"at most {MAX_MATCHES}"):
        many = _answer(*[bundle] * (MAX_MATCHES + 1))
        fetch_matches("http://log", by_id, timeout=1, fetch=many)
    with pytest.raises(NotFoundUpstreamError):
        fetch_matches("http://log", by_id, timeout=1, fetch=_answer(status=404))
    with pytest.raises(NotFoundUpstreamError):
        fetch_matches("http://log", by_id, timeout=1, fetch=_answer())
    with pytest.raises(UpstreamUnavailableError):
        fetch_matches("http://log", by_id, timeout=1, fetch=_answer(status=503))
    with pytest.raises(UpstreamInvalidError, match="HTTP 500"):
        fetch_matches("http://log", by_id, timeout=1, fetch=_answer(status=500))
    # Exactly MAX_MATCHES is accepted.
    full = fetch_matches("http://log", by_id, timeout=1, fetch=_answer(*[bundle] * MAX_MATCHES))
    assert len(full) == MAX_MATCHES


# --- the portal ---------------------------------------------------------------------------


@pytest.fixture
def portal(tmp_path: Path) -> tuple[TestClient, Path]:
    root = tmp_path / "portal"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>核验</title>", "utf-8")
    (root / "app.js").write_text("export const x = 1;\n", "utf-8")
    (root / "style.css").write_text("body{}\n", "utf-8")
    (root / ".hidden.js").write_text("secret", "utf-8")
    (tmp_path / "outside.txt").write_text("outside", "utf-8")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "sub").mkdir()
    return TestClient(create_verifier_app(ServiceConfig(portal_dir=root))), root


def test_the_portal_is_served_with_a_strict_policy(portal: tuple[TestClient, Path]) -> None:
    client, _ = portal
    page = client.get("/verify")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "核验" in page.text
    assert page.headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    script = client.get("/verify/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["content-security-policy"] == CSP
    assert client.get("/verify/static/style.css").headers["content-type"].startswith("text/css")
    again = client.get("/verify/static/app.js", headers={"if-none-match": script.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "..%2foutside.txt",
        "%2e%2e/outside.txt",
        "sub/../../outside.txt",
        "link.txt",
        ".hidden.js",
        "sub",
        "sub/",
        "missing.js",
        "..\\outside.txt",
        "/etc/passwd",
        "app.js%00.png",
    ],
)
def test_nothing_outside_the_portal_is_served(portal: tuple[TestClient, Path], path: str) -> None:
    client, _ = portal
    answer = client.get(f"/verify/static/{path}")
    assert answer.status_code == 404, answer.text
    assert "outside" not in answer.text


@pytest.mark.parametrize(
    "relative",
    ["../outside.txt", "sub/../../outside.txt", "link.txt", ".hidden.js", "sub", "", "a//b"],
)
def test_the_resolver_itself_refuses_escapes(
    portal: tuple[TestClient, Path], relative: str
) -> None:
    # Raw strings, not URLs: the HTTP client would normalise "../" away before the route.
    _, root = portal
    with pytest.raises(Problem) as caught:
        resolve_asset(root, relative)
    assert caught.value.status == 404
    assert resolve_asset(root, "app.js") == (root / "app.js").resolve()


def test_without_portal_files_the_portal_route_is_404(tmp_path: Path) -> None:
    client = TestClient(create_verifier_app(ServiceConfig(portal_dir=tmp_path / "none")))
    assert client.get("/verify").status_code == 404
    assert client.get("/verify/static/app.js").status_code == 404


def test_openapi_documents_every_route_in_chinese_and_english() -> None:
    client, _, _ = _client()
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in (
        ("/v1/verify", "post"),
        ("/v1/verify/report", "post"),
        ("/v1/anchor-check", "post"),
        ("/v1/lookup", "get"),
        ("/v1/config", "get"),
        ("/verify", "get"),
    ):
        summary = paths[path][method]["summary"]
        assert any("\u4e00" <= c <= "\u9fff" for c in summary), summary
        assert any(c.isascii() and c.isalpha() for c in summary), summary
    assert "application/zip" in paths["/v1/verify"]["post"]["requestBody"]["content"]
    assert "application/pdf" in paths["/v1/verify/report"]["post"]["responses"]["200"]["content"]
