"""The public log API, checked the way a monitor would: with the verifier alone.

The checkpoint is a C2SP signed note that opens with the vkey from
``/v1/log/key``; its root is the RFC 9162 root of the entries in the log, as
a plain reference implementation computes it; inclusion proofs (by index and
by leaf hash) and consistency proofs verify. And the log's signing key: the
service refuses to start in production mode without a real one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from anchoring.schema import log_checkpoint, log_entry
from anchoring.sealer import seal_pending
from evidence_api.core.config import ConfigurationError, Settings
from evidence_api.core.keys import DEV_MARKER
from evidence_api.runtime import build_runtime
from tests.support.api import (
    EVIDENCE_CLI,
    Stack,
    free_port,
    running_stack,
    serve_subprocess,
)
from tests.support.reference import ReferenceTree
from verifier.checkpoint import open_checkpoint
from verifier.merkle import verify_consistency, verify_inclusion
from verifier.note import SignerKey, VerifierKey


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(Settings(data_dir=tmp_path / "data", seal_interval=0.05)) as running:
        yield running


def stamp(stack: Stack, count: int) -> list[dict[str, Any]]:
    digests = [hashlib.sha256(os.urandom(16)).hexdigest() for _ in range(count)]
    response = stack.client.post(
        "/v1/stamps", json={"digests": digests}, headers=stack.auth("officer")
    )
    assert response.status_code == 200, response.text
    receipts: list[dict[str, Any]] = response.json()["receipts"]
    return receipts


def wait_for_size(stack: Stack, size: int, timeout: float = 5.0) -> str:
    """The signed checkpoint once the log has ``size`` leaves."""
    deadline = time.monotonic() + timeout
    while True:
        response = stack.client.get("/v1/log/checkpoint")
        if response.status_code == 200 and response.text.split("\n")[1] == str(size):
            return response.text
        assert time.monotonic() < deadline, f"log did not reach size {size}: {response.text}"
        time.sleep(0.02)


def vkey_of(stack: Stack) -> VerifierKey:
    response = stack.client.get("/v1/log/key")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return VerifierKey.from_text(response.text.strip())


def hashes(proof: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(h) for h in proof["hashes"]]


def test_nothing_to_prove_before_the_first_seal(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", run_sealer=False)
    with running_stack(settings) as stack:
        missing = stack.client.get("/v1/log/checkpoint")
        assert missing.status_code == 404
        assert missing.json()["detail"] == "the log has no checkpoint yet (nothing sealed)"
        assert stack.client.get("/v1/log/proof/inclusion", params={"index": 0}).status_code == 404
        assert stack.client.get("/v1/log/proof/consistency", params={"from": 1}).status_code == 404
        # A receipt is not a proof: a pending leaf has no inclusion proof yet.
        stamp(stack, 1)
        assert stack.client.get("/v1/log/checkpoint").status_code == 404
        # The vkey is there from the start: receipts are signed before any seal.
        assert vkey_of(stack).name == settings.log_origin


def test_checkpoint_inclusion_and_consistency_verify(stack: Stack) -> None:
    vkey = vkey_of(stack)
    first = stamp(stack, 5)
    note5 = wait_for_size(stack, 5)
    second = stamp(stack, 8)
    note13 = wait_for_size(stack, 13)
    receipts = first + second

    cp5, cp13 = open_checkpoint(note5, [vkey]), open_checkpoint(note13, [vkey])
    assert (cp5.origin, cp5.size, cp13.size) == (stack.settings.log_origin, 5, 13)

    # The root is the RFC 9162 root of the entries in the log, in leaf order.
    with stack.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(log_entry.c.entry, log_entry.c.leaf_hash, log_entry.c.leaf_index).order_by(
                log_entry.c.leaf_index
            )
        ).all()
    assert [r.leaf_index for r in rows] == list(range(13))
    reference = ReferenceTree([r.entry.encode() for r in rows])
    assert cp5.root == reference.mth(5)
    assert cp13.root == reference.mth(13)
    assert [bytes(r.leaf_hash).hex() for r in rows] == [r["leaf_hash"] for r in receipts]

    for index, receipt in enumerate(receipts):
        by_index = stack.client.get("/v1/log/proof/inclusion", params={"index": index}).json()
        assert by_index["tree_size"] == 13
        assert by_index["leaf_hash"] == receipt["leaf_hash"]
        assert hashes(by_index) == reference.path(index, 13)
        leaf = bytes.fromhex(receipt["leaf_hash"])
        verify_inclusion(leaf, index, 13, hashes(by_index), cp13.root)
        by_leaf = stack.client.get(
            "/v1/log/proof/inclusion", params={"leaf_hash": receipt["leaf_hash"]}
        ).json()
        assert by_leaf == by_index
        if index < 5:  # against the older checkpoint too
            old = stack.client.get(
                "/v1/log/proof/inclusion", params={"index": index, "size": 5}
            ).json()
            verify_inclusion(leaf, index, 5, hashes(old), cp5.root)

    proof = stack.client.get("/v1/log/proof/consistency", params={"from": 5}).json()
    assert (proof["first"], proof["second"]) == (5, 13)
    verify_consistency(5, 13, cp5.root, cp13.root, hashes(proof))
    for size in range(1, 14):
        found = stack.client.get(
            "/v1/log/proof/consistency", params={"from": size, "to": 13}
        ).json()
        assert hashes(found) == reference.proof(size, 13)
        verify_consistency(size, 13, reference.mth(size), cp13.root, hashes(found))

    # Every checkpoint the sealer signed is a prefix of the latest one.
    with stack.runtime.engine.connect() as conn:
        signed = conn.execute(select(log_checkpoint.c.size, log_checkpoint.c.note)).all()
    assert {s.size for s in signed} == {5, 13}
    for row in signed:
        assert open_checkpoint(row.note, [vkey]).root == reference.mth(row.size)


@pytest.mark.parametrize(
    ("path", "params", "field", "detail"),
    [
        ("inclusion", {"index": 0, "size": 4}, "size", "size must be 1..3 (the latest checkpoint)"),
        ("inclusion", {"index": 3}, "index", "index must be 0..2"),
        ("inclusion", {"index": 2, "size": 2}, "index", "index must be 0..1"),
        ("inclusion", {}, "index", "give exactly one of index and leaf_hash"),
        (
            "inclusion",
            {"index": 0, "leaf_hash": "0" * 64},
            "index",
            "give exactly one of index and leaf_hash",
        ),
        ("inclusion", {"leaf_hash": "z" * 64}, "leaf_hash", "leaf_hash must be 64 hex digits"),
        (
            "inclusion",
            {"leaf_hash": "0" * 63},
            "leaf_hash",
            "leaf_hash: String should have at least 64 characters",
        ),
        ("inclusion", {"index": -1}, "index", "index: Input should be greater than or equal to 0"),
        (
            "consistency",
            {"from": 1, "to": 4},
            "size",
            "size must be 1..3 (the latest checkpoint)",
        ),
        ("consistency", {"from": 4}, "from", "from must be 1..3"),
        ("consistency", {"from": 3, "to": 2}, "from", "from must be 1..2"),
        ("consistency", {"from": 0}, "from", "from: Input should be greater than or equal to 1"),
        ("consistency", {}, "from", "from: Field required"),
    ],
)
def test_bad_proof_requests(
    stack: Stack, path: str, params: dict[str, Any], field: str, detail: str
) -> None:
    stamp(stack, 3)
    wait_for_size(stack, 3)
    response = stack.client.get(f"/v1/log/proof/{path}", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["detail"] == detail


def test_unknown_or_pending_leaf_hash_is_not_found(tmp_path: Path) -> None:
    with running_stack(Settings(data_dir=tmp_path / "data", run_sealer=False)) as stack:
        sealed = stamp(stack, 2)
        seal_pending(stack.runtime.engine, stack.runtime.signer, max_batch=1000)
        pending = stamp(stack, 1)[0]
        for leaf in (pending["leaf_hash"], "ab" * 32):
            response = stack.client.get("/v1/log/proof/inclusion", params={"leaf_hash": leaf})
            assert response.status_code == 404, response.text
            assert response.json()["detail"] == f"no sealed leaf {leaf} in the tree of size 2"
        found = stack.client.get(
            "/v1/log/proof/inclusion", params={"leaf_hash": sealed[1]["leaf_hash"]}
        )
        assert found.json()["index"] == 1


# --- the signing key ------------------------------------------------------------------


def write_key(path: Path, origin: str) -> SignerKey:
    signer = SignerKey.generate(origin)
    path.write_text(signer.to_text() + "\n", encoding="utf-8")
    path.chmod(0o600)
    return signer


def dev_key(tmp_path: Path) -> Path:
    """The development key an embedded start generates in its data folder."""
    settings = Settings(data_dir=tmp_path / "embedded")
    build_runtime(settings, start_sealer=False).close()
    assert DEV_MARKER in settings.dev_key_path.read_text()
    return settings.dev_key_path


#: a configured key sealing webhook secrets (production refuses to start without one)
SK = "11" * 32


def test_production_refuses_missing_and_development_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(ConfigurationError, match="no log signing key configured"):
        build_runtime(Settings(mode="production", data_dir=data))

    generated = dev_key(tmp_path)
    copied = tmp_path / "copied.key"
    copied.write_text(generated.read_text())
    copied.chmod(0o600)  # a shared key file is refused for its mode before its content
    for settings, message in [
        (
            Settings(mode="production", data_dir=generated.parent, log_key_file=generated),
            "the log key is the generated development key",
        ),
        (
            Settings(mode="production", data_dir=data, log_key_file=copied, secrets_key=SK),
            f"{copied} is a development key; refusing production mode",
        ),
        (
            Settings(
                mode="production", data_dir=data, log_key=generated.read_text(), secrets_key=SK
            ),
            "EVIDENCE_LOG_KEY is a development key; refusing production mode",
        ),
    ]:
        with pytest.raises(ConfigurationError) as refused:
            build_runtime(settings)
        assert message in str(refused.value)


def test_key_name_must_be_the_log_origin(tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    write_key(key, "other.example/log")
    for mode in ("embedded", "production"):
        settings = Settings(
            mode=mode,
            data_dir=tmp_path / mode,
            log_origin="evidence.example.gov.cn/log",
            log_key_file=key,
            secrets_key=SK,
        )
        with pytest.raises(ConfigurationError) as refused:
            build_runtime(settings)
        assert str(refused.value) == (
            "log key is named 'other.example/log' but EVIDENCE_LOG_ORIGIN is "
            "'evidence.example.gov.cn/log'"
        )


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``evidence serve`` that must exit on its own (killed after 30 s if it does not)."""
    full = {**os.environ, **env, "EVIDENCE_HOST": "127.0.0.1", "EVIDENCE_PORT": str(free_port())}
    return subprocess.run(
        [str(EVIDENCE_CLI), "serve"],
        env=full,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_serve_in_production_exits_without_a_real_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    no_key = _serve({"EVIDENCE_MODE": "production", "EVIDENCE_DATA_DIR": str(data)})
    assert no_key.returncode == 2, no_key.stdout + no_key.stderr
    assert no_key.stderr.startswith("error: refusing to start in production mode: ")
    assert "no log signing key configured (EVIDENCE_LOG_KEY or EVIDENCE_LOG_KEY_FILE)" in (
        no_key.stderr
    )
    assert not (data / "log-dev.key").exists()  # no development key made on the way

    copied = tmp_path / "copied.key"
    copied.write_text(dev_key(tmp_path).read_text())
    copied.chmod(0o600)  # (a key file others may read is refused for that first)
    with_dev_key = _serve(
        {
            "EVIDENCE_MODE": "production",
            "EVIDENCE_DATA_DIR": str(data),
            "EVIDENCE_LOG_KEY_FILE": str(copied),
            "EVIDENCE_SECRETS_KEY": "11" * 32,
        }
    )
    assert with_dev_key.returncode == 2, with_dev_key.stdout + with_dev_key.stderr
    assert (
        with_dev_key.stderr == f"error: {copied} is a development key; refusing production mode\n"
    )
    assert with_dev_key.stdout == ""  # refused before announcing a server

    wrong_name = tmp_path / "wrong.key"
    write_key(wrong_name, "other.example/log")
    misnamed = _serve({"EVIDENCE_DATA_DIR": str(data), "EVIDENCE_LOG_KEY_FILE": str(wrong_name)})
    assert misnamed.returncode == 2
    assert misnamed.stderr == (
        "error: log key is named 'other.example/log' but EVIDENCE_LOG_ORIGIN is "
        "'evidence.local/log'\n"
    )


def test_serve_in_production_with_a_real_key_signs_with_it(tmp_path: Path) -> None:
    origin = "evidence.example.gov.cn/log"
    key = tmp_path / "log.key"
    signer = write_key(key, origin)
    env = {
        "EVIDENCE_MODE": "production",
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_LOG_KEY_FILE": str(key),
        "EVIDENCE_LOG_ORIGIN": origin,
        "EVIDENCE_SECRETS_KEY": "11" * 32,  # production needs one (webhook secrets at rest)
    }
    with serve_subprocess(env, tmp_path / "serve.log") as server:
        served = httpx.get(f"{server.base_url}/v1/log/key", timeout=5).text.strip()
    assert served == signer.verifier().to_text()
    assert not (tmp_path / "data" / "log-dev.key").exists()
