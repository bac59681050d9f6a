"""Evidence packages through the real API: ``GET /v1/evidence/{id}/package``.

On each backend (SQLite + local folder, SQLite + S3, PostgreSQL + S3) a sealed
submission exports as a ZIP with every member of ``evidence-package/v1``; the
export is a custody entry recorded before the first byte (it is in the log and
gets sealed like any entry); the real ``evidence-verify`` accepts the package
through tier 4, and through tier 5 against the stack's own anvil. A stored
object altered behind the service's back cuts the ZIP short, and the verifier
refuses what arrived. Purpose, unknown ids and roles are checked as for
downloads.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import subprocess
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from anchoring.schema import log_entry
from evidence_api.core.auth import Principal, authenticate
from evidence_api.core.config import Settings
from evidence_api.core.storage import StorageIntegrityError, content_key
from evidence_api.core.storage.local import LocalObjectStore
from evidence_api.intake import package as package_service
from evidence_api.intake.routes import archive, package_facts
from tests.support.api import (
    VERIFY_CLI,
    Stack,
    running_stack,
    submit,
    wait_for_bundle,
)
from verifier.checkpoint import open_checkpoint
from verifier.merkle import verify_inclusion
from verifier.note import VerifierKey
from verifier.package import read_package

PURPOSE = "司法鉴定 judicial appraisal 泉市监案〔2026〕1号"
MEMBERS = {"package.json", "README.txt", "manifest.json", "proof.json", "log-key.vkey"}


def evidence_files() -> dict[str, bytes]:
    return {
        "商品页面.html": "<html><body>假冒商品 ¥99</body></html>".encode(),
        "screen shot #1.png": os.urandom(300_000),
        "empty.txt": b"",
    }


def export(stack: Stack, evidence_id: str, role: str = "appraiser", **params: str) -> Any:
    return stack.client.get(
        f"/v1/evidence/{evidence_id}/package",
        params={"purpose": PURPOSE, **params},
        headers=stack.auth(role),
    )


def custody_entries(stack: Stack) -> list[tuple[dict[str, Any], bytes]]:
    with stack.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(log_entry.c.entry, log_entry.c.leaf_hash)
            .where(log_entry.c.kind == "custody")
            .order_by(log_entry.c.seq)
        ).all()
    return [(json.loads(row.entry), bytes(row.leaf_hash)) for row in rows]


def run_verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VERIFY_CLI), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_package_exports_verifies_and_is_a_custody_entry(stack: Stack, tmp_path: Path) -> None:
    files = evidence_files()
    evidence_id = submit(stack, files).json()["evidence_id"]
    bundle = wait_for_bundle(stack.client, evidence_id, stack.auth("officer"))
    before = len(custody_entries(stack))

    response = export(stack, evidence_id)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == f"attachment; filename={evidence_id}.zip"

    # A valid ZIP holding exactly the package's members.
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert names - {"chain.json"} == MEMBERS | {f"files/{n}" for n in files}
        for name, data in files.items():
            assert zf.read(f"files/{name}") == data
        index = json.loads(zf.read("package.json"))
        proof = json.loads(zf.read("proof.json"))
        manifest = zf.read("manifest.json")
        readme = zf.read("README.txt").decode("utf-8")
        vkey = zf.read("log-key.vkey").decode()
    assert index["format"] == "evidence-package/v1"
    assert index["evidence_id"] == evidence_id
    assert sorted(index["files"]) == sorted(files)
    assert proof["entry"] == bundle["entry"]
    assert hashlib.sha256(manifest).hexdigest() == proof["entry"]["body"]["manifest_sha256"]
    assert vkey == stack.client.get("/v1/log/key").text.strip() + "\n"
    assert readme.index("中文") < readme.index("English")
    assert f"evidence-verify {evidence_id}.zip --log-key log-key.vkey" in readme

    # The export is a custody entry, recorded before the response, in the log.
    entries = custody_entries(stack)
    assert len(entries) == before + 1
    entry, custody_leaf = entries[-1]
    assert entry["id"] == response.headers["X-Custody-Entry"]
    assert entry["body"]["action"] == "export"
    assert entry["body"]["evidence_id"] == evidence_id
    assert entry["body"]["purpose"] == PURPOSE
    assert entry["body"]["role"] == "appraiser"
    assert "file" not in entry["body"]
    key = VerifierKey.from_text(vkey)
    deadline = time.monotonic() + 5
    while True:
        found = stack.client.get(
            "/v1/log/proof/inclusion", params={"leaf_hash": custody_leaf.hex()}
        )
        if found.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found.status_code == 200, found.text
    checkpoint = open_checkpoint(stack.client.get("/v1/log/checkpoint").text, [key])
    verify_inclusion(
        custody_leaf,
        found.json()["index"],
        checkpoint.size,
        [bytes.fromhex(h) for h in found.json()["hashes"]],
        checkpoint.root,
    )

    # The real verifier, from the ZIP and from the unpacked folder, through tier 4.
    package = tmp_path / f"{evidence_id}.zip"
    package.write_bytes(response.content)
    key_file = tmp_path / "log-key.vkey"
    key_file.write_text(vkey)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(unpacked)
    for target in (package, unpacked):
        result = run_verify(str(target), "--log-key", str(key_file), "--through", "4", "--json")
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        report = json.loads(result.stdout)
        assert report["outcome"] == "verified"
        assert [t["status"] for t in report["tiers"]] == ["verified"] * 4 + ["skipped"]
        assert report["package"]["trusted"] is False


@pytest.mark.chain
def test_anchored_package_verifies_through_tier_5(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", chain="anvil", seal_interval=0.1, anchor_interval=0.2
    )
    with running_stack(settings) as stack:
        _verify_anchored(stack, tmp_path)


def _verify_anchored(stack: Stack, tmp_path: Path) -> None:
    chain = stack.runtime.chain
    assert chain is not None and chain.node is not None, "the embedded stack runs anvil"
    evidence_id = submit(stack, evidence_files()).json()["evidence_id"]
    wait_for_bundle(stack.client, evidence_id, stack.auth("officer"), status="anchored", timeout=60)
    response = export(stack, evidence_id)
    assert response.status_code == 200, response.text
    package = tmp_path / "package.zip"
    package.write_bytes(response.content)
    read = read_package(package)
    assert read.bundle.status == "anchored"
    assert read.chain is not None
    assert read.bundle.anchor is not None
    assert read.chain.chain_id == read.bundle.anchor.chain_id
    key_file = tmp_path / "log-key.vkey"
    key_file.write_text(stack.client.get("/v1/log/key").text)
    # The chain facts come from the test's own knowledge of its node, compared with the
    # package's (as an appraiser compares them with the operator's publication).
    node_chain_id = chain.client.chain_id()
    assert node_chain_id == read.chain.chain_id
    assert chain.client.address.lower() == read.chain.contract.lower()
    result = run_verify(
        str(package),
        "--log-key",
        str(key_file),
        "--rpc",
        chain.node.url,
        "--contract",
        chain.client.address,
        "--chain-id",
        str(node_chain_id),
        "--json",
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout)
    assert [t["status"] for t in report["tiers"]] == ["verified"] * 5


def principal(stack: Stack, role: str = "officer") -> Principal:
    with stack.runtime.session() as session:
        return authenticate(session, f"Bearer {stack.tokens[role]}")


def test_altered_stored_object_cuts_the_zip_short(sqlite_stack: Stack, tmp_path: Path) -> None:
    """What the route streams is exactly the service's generator; an object altered
    after the export's up-front check (which hashes every object before the first byte)
    stops it before the altered file's last chunk and before the central directory."""
    stack = sqlite_stack
    files = {"a.html": b"<p>original</p>", "b.bin": os.urandom(3 << 20)}
    evidence_id = submit(stack, files).json()["evidence_id"]
    wait_for_bundle(stack.client, evidence_id, stack.auth("officer"))
    store = stack.runtime.store
    assert isinstance(store, LocalObjectStore)
    path = store.path_of(content_key(hashlib.sha256(files["b.bin"]).hexdigest()))

    exported = package_service.export_package(
        archive(stack.runtime), package_facts(stack.runtime), principal(stack), evidence_id, PURPOSE
    )
    path.chmod(stat.S_IWUSR | stat.S_IRUSR)
    altered = bytearray(path.read_bytes())
    altered[-1] ^= 0x01
    path.write_bytes(bytes(altered))
    received = bytearray()
    with pytest.raises(StorageIntegrityError, match=r"has been altered|is not the recorded file"):
        for chunk in exported.chunks:
            received += chunk
    assert bytes(altered[-(1 << 20) :]) not in received
    assert bytes(altered[: 1 << 20]) in received  # the stream was under way
    target = tmp_path / "cut.zip"
    target.write_bytes(bytes(received))
    result = run_verify(str(target))
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1
    assert "not a readable ZIP" in result.stderr


def test_large_file_exports_in_bounded_memory(sqlite_stack: Stack, tmp_path: Path) -> None:
    stack = sqlite_stack
    size = 64 << 20
    data = os.urandom(size)
    evidence_id = submit(stack, {"video.bin": data}).json()["evidence_id"]
    wait_for_bundle(stack.client, evidence_id, stack.auth("officer"))
    del data
    target = tmp_path / "large.zip"
    who = principal(stack)
    tracemalloc.start()
    try:
        exported = package_service.export_package(
            archive(stack.runtime), package_facts(stack.runtime), who, evidence_id, PURPOSE
        )
        with open(target, "wb") as out:
            for chunk in exported.chunks:
                out.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert target.stat().st_size > size
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB while exporting a 64 MiB file"
    assert len(read_package(target).files) == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no-purpose", 422),
        ("empty-purpose", 422),
        ("unknown-id", 404),
        ("platform", 403),
        ("no-token", 401),
    ],
)
def test_refusals_record_nothing(sqlite_stack: Stack, case: str, status: int) -> None:
    stack = sqlite_stack
    evidence_id = submit(stack, {"a.html": b"<p>a</p>"}).json()["evidence_id"]
    before = len(custody_entries(stack))
    url = f"/v1/evidence/{evidence_id}/package"
    if case == "no-purpose":
        response = stack.client.get(url, headers=stack.auth("officer"))
    elif case == "empty-purpose":
        response = stack.client.get(url, params={"purpose": ""}, headers=stack.auth("officer"))
    elif case == "unknown-id":
        response = export(stack, "ev-0000000000000000000000000000")
    elif case == "platform":
        response = export(stack, evidence_id, role="platform")
    else:
        response = stack.client.get(url, params={"purpose": PURPOSE})
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    if case.endswith("purpose"):
        assert problem["field"] == "purpose"
    if case == "unknown-id":
        assert problem["detail"] == "no evidence 'ev-0000000000000000000000000000'"
    assert len(custody_entries(stack)) == before


@pytest.mark.parametrize("role", ["officer", "admin", "appraiser"])
def test_readers_may_export(sqlite_stack: Stack, role: str) -> None:
    evidence_id = submit(sqlite_stack, {"a.html": b"<p>a</p>"}).json()["evidence_id"]
    response = export(sqlite_stack, evidence_id, role=role)
    assert response.status_code == 200, response.text
    assert zipfile.ZipFile(io.BytesIO(response.content)).read("files/a.html") == b"<p>a</p>"


def test_zip64_members_read_back(
    sqlite_stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of 2 GiB and more are written with ZIP64 sizes; forced here for small ones,
    the package still reads and verifies (a multi-gigabyte export is the benchmark's)."""
    monkeypatch.setattr(package_service, "ZIP64_FROM", 0)
    files = {"a.bin": os.urandom(100_000), "b.html": b"<p>b</p>"}
    evidence_id = submit(sqlite_stack, files).json()["evidence_id"]
    wait_for_bundle(sqlite_stack.client, evidence_id, sqlite_stack.auth("officer"))
    response = export(sqlite_stack, evidence_id)
    assert response.status_code == 200, response.text
    target = tmp_path / "zip64.zip"
    target.write_bytes(response.content)
    with zipfile.ZipFile(target) as zf:
        stored = [i for i in zf.infolist() if i.filename.startswith("files/")]
        assert len(stored) == 2
        assert all(i.compress_type == zipfile.ZIP_STORED for i in stored)
    # The local headers carry the ZIP64 extra field (header id 0x0001).
    raw = target.read_bytes()
    for info in stored:
        start = info.header_offset
        name_len, extra_len = struct.unpack_from("<HH", raw, start + 26)
        extra = raw[start + 30 + name_len : start + 30 + name_len + extra_len]
        assert extra[:2] == b"\x01\x00", info.filename
    package = read_package(target)
    assert {f.name: f.size for f in package.files} == {n: len(d) for n, d in files.items()}
