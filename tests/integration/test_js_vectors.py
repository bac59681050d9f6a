"""The portal's JavaScript verifier (verifier/service/portal/verify.js, run by Node) agrees with the
Python verifier on the shared vectors committed under testdata/vectors (made by
tests/support/vectors.py; tests/unit/test_vectors_files.py keeps them equal to what the code
generates), read by the Node runner from those files: every tier's status and
detail of every bundle, valid and damaged, the same refusals of unusable input, RFC 8785
canonical bytes, SHA-256 and SM3 digests and verifier-key parsing; and its ZIP reader
(zip.js, package.js) accepts the packages the Python reader accepts, with the same digests,
and refuses each hostile package the Python reader refuses, for the same reason class."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.vectors import TESTDATA, disagreements, load

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "js" / "run_vectors.mjs"
NODE = shutil.which("node")

#: Every class of damage the vectors must cover, and the tier (or "format") it must break.
FAILURE_CLASSES: dict[str, int | str] = {
    "proof-bit-flip": 3,
    "leaf-hash-flip": 3,
    "root-flip": 3,
    "wrong-index": 3,
    "wrong-size": 3,
    "truncated-proof": 3,
    "extended-proof": 3,
    "wrong-signature": 4,
    "wrong-key": 4,
    "wrong-origin": 4,
    "bad-note": 4,
    "forged-cosignature": 4,
    "manifest-tampered": 2,
    "entry-tampered": 3,
    "file-byte-changed": 1,
    "bad-json": "format",
}


def run_node(path: Path) -> dict[str, Any]:
    """The Node runner on ``path``: the testdata folder, or one JSON file of every group."""
    if NODE is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [NODE, str(RUNNER), str(path), str(REPO / "verifier" / "service" / "portal" / "verify.js")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def js() -> dict[str, Any]:
    return run_node(TESTDATA)


def test_bundle_vectors_agree_tier_by_tier(vectors: dict[str, Any], js: dict[str, Any]) -> None:
    assert not [r for r in js["bundles"] if r["result"].get("error") == "crash"]
    problems = disagreements(vectors, js)
    assert not problems, "\n".join(problems[:20])


def test_vectors_cover_verified_and_every_failure_class(vectors: dict[str, Any]) -> None:
    """Agreement must not be vacuous: valid bundles verify, and each defect breaks its tier."""
    by_class: dict[str, list[dict[str, Any]]] = {}
    for vec in vectors["bundles"]:
        by_class.setdefault(vec["defect"], []).append(vec["expected"])
    assert set(by_class) == {"valid", *FAILURE_CLASSES}
    valid = by_class["valid"]
    assert len(valid) >= 20
    assert all("error" not in r and r["outcome"] != "failed" for r in valid)
    statuses = Counter(t["status"] for r in valid for t in r["tiers"])
    for status in ("verified", "not_checked", "not_applicable", "skipped"):
        assert statuses[status] > 0, status
    # At least one valid bundle is verified in tiers 1 to 4 all at once.
    assert any(all(t["status"] == "verified" for t in r["tiers"][:4]) for r in valid)
    for defect, tier in FAILURE_CLASSES.items():
        results = by_class[defect]
        if not isinstance(tier, int):
            assert sum("error" in r for r in results) >= 30, defect
            continue
        broken = [
            r for r in results if "error" not in r and r["tiers"][tier - 1]["status"] == "failed"
        ]
        assert broken, f"no {defect} vector fails tier {tier}"


def test_canonical_json_vectors_agree(vectors: dict[str, Any], js: dict[str, Any]) -> None:
    for vec, got in zip(vectors["canonical"], js["canonical"], strict=True):
        if "error" in vec:
            assert got.get("error") == "format", (vec["input"], got)
        else:
            assert got.get("canonical_b64") == vec["canonical_b64"], (vec["input"], got)
    assert sum("error" in v for v in vectors["canonical"]) >= 5
    assert sum("error" not in v for v in vectors["canonical"]) >= 10


def test_sha256_and_sm3_vectors_agree(vectors: dict[str, Any], js: dict[str, Any]) -> None:
    for vec, got in zip(vectors["hashes"], js["hashes"], strict=True):
        assert got["sha256_webcrypto"] == got["sha256_js"] == vec["sha256"]
        assert got["sm3"] == got["digest"]["sm3"] == vec["sm3"]
        assert got["digest"]["sha256"] == vec["sha256"]
    # SM3("abc"), GB/T 32905-2016 appendix A.1 (recompute: openssl dgst -sm3 <<< -n abc).
    abc = next(v for v in vectors["hashes"] if v["input_b64"] == "YWJj")
    assert abc["sm3"] == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_verifier_key_vectors_agree(vectors: dict[str, Any], js: dict[str, Any]) -> None:
    for vec, got in zip(vectors["keys"], js["keys"], strict=True):
        assert got.get("ok", False) == vec["ok"], (vec, got)
        if not vec["ok"]:
            assert got["error"] == "format", got
    assert {v["ok"] for v in vectors["keys"]} == {True, False}


def test_package_vectors_agree(vectors: dict[str, Any], js: dict[str, Any]) -> None:
    results = {r["name"]: r["result"] for r in js["packages"]}
    for vec in vectors["packages"]:
        got, want = results[vec["name"]], vec["expected"]
        if want.get("ok"):
            assert got.get("ok"), (vec["name"], got)
            assert got["files"] == want["files"], vec["name"]
            assert got["log_key_text"] == want["log_key_text"], vec["name"]
        else:
            assert got.get("error") == want["error"], (vec["name"], want, got)
    refused = {v["expected"].get("error") for v in vectors["packages"]} - {None}
    assert {
        "ZipBombError",
        "UnsafePathError",
        "LinkError",
        "TooManyEntriesError",
        "TruncatedPackageError",
        "PackageMismatchError",
    } <= refused
    assert sum(bool(v["expected"].get("ok")) for v in vectors["packages"]) >= 3


def test_a_broken_verifier_is_caught(vectors: dict[str, Any], tmp_path: Path) -> None:
    """The comparison itself can fail: a JS verifier that skips the proof check disagrees."""
    source = (REPO / "verifier" / "service" / "portal").resolve()
    broken = tmp_path / "portal"
    shutil.copytree(source, broken)
    merkle = broken / "merkle.js"
    text = merkle.read_text(encoding="utf-8")
    assert "if (!bytesEqual(calculated, root))" in text
    merkle.write_text(text.replace("if (!bytesEqual(calculated, root))", "if (false)"))
    if NODE is None:
        pytest.skip("node is not installed")
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps({**vectors, "packages": []}), encoding="utf-8")
    done = subprocess.run(
        [NODE, str(RUNNER), str(path), str(broken / "verify.js")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    problems = disagreements(vectors, json.loads(done.stdout))
    assert any(p.startswith("modified-proof@") for p in problems)


def test_portal_explanations_are_verifier_explain(tmp_path: Path) -> None:
    """The portal tells a reader what the service and the report tell them (verifier.explain),
    in both languages, for every tier and status; and every interface string exists in both."""
    from verifier.explain import explain  # noqa: PLC0415
    from verifier.verify import Status  # noqa: PLC0415

    if NODE is None:
        pytest.skip("node is not installed")
    script = tmp_path / "dump.mjs"
    script.write_text(
        "import * as i from "
        + json.dumps((REPO / "verifier/service/portal/i18n.js").as_uri())
        + ";\n"
        "const out = {strings: i.STRINGS, explained: {}};\n"
        "for (const tier of [1, 2, 3, 4, 5]) for (const s of "
        + json.dumps([s.value for s in Status])
        + ") for (const lang of ['zh', 'en']) out.explained[`${tier}/${s}/${lang}`] ="
        " i.explain(tier, s, lang);\n"
        "process.stdout.write(JSON.stringify(out));\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [NODE, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    dumped = json.loads(done.stdout)
    for tier in range(1, 6):
        for status in Status:
            want = explain(tier, status)
            for lang in ("zh", "en"):
                got = dumped["explained"][f"{tier}/{status.value}/{lang}"]
                assert got["purpose"] == getattr(want, f"purpose_{lang}"), (tier, status, lang)
                assert got["meaning"] == getattr(want, f"explanation_{lang}"), (tier, status, lang)
    strings = dumped["strings"]
    assert all(entry["zh"].strip() and entry["en"].strip() for entry in strings.values())
    html = (REPO / "verifier/service/portal/index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-aria-label)?="([a-z_]+)"', html))
    assert used and used <= set(strings), used - set(strings)
    app = (REPO / "verifier/service/portal/app.js").read_text(encoding="utf-8")
    called = set(re.findall(r'\bt\("([a-z_]+)"', app))
    assert called and called <= set(strings), called - set(strings)
