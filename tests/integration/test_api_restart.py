"""A restart loses nothing: evidence is still served, the log continues from its
old size (provably: a consistency proof between the two signed checkpoints),
and every bundle issued before the restart still verifies. Entries that were
acknowledged but not yet sealed when the service stopped, or was killed, are
sealed after it comes back.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from anchoring.schema import log_entry
from evidence_api.core.config import Settings
from tests.support.api import (
    Backend,
    assert_verifies,
    auth_header,
    backend_params,
    evidence_form,
    open_backend,
    provision_tokens,
    running_stack,
    serve_subprocess,
    submit,
    wait_for_bundle,
)
from verifier.checkpoint import open_checkpoint
from verifier.merkle import verify_consistency
from verifier.note import VerifierKey


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with open_backend(request, request.param, tmp_path / "data", seal_interval=0.1) as found:
        yield found


def leaf_indices(engine: Engine) -> list[int | None]:
    """Each entry's leaf index, in receive order (``None`` while pending)."""
    with engine.connect() as conn:
        return list(
            conn.execute(select(log_entry.c.leaf_index).order_by(log_entry.c.seq)).scalars()
        )


def test_restart_keeps_evidence_continues_the_log_and_old_bundles_verify(
    backend: Backend, tmp_path: Path
) -> None:
    before: dict[str, tuple[dict[str, bytes], dict[str, Any]]] = {}
    with running_stack(backend.settings) as stack:
        tokens = stack.tokens
        for n in range(3):
            files = {f"page-{n}.html": f"<p>{n}</p>".encode(), "shot.png": os.urandom(5000)}
            created = submit(stack, files).json()
            bundle = wait_for_bundle(stack.client, created["evidence_id"], stack.auth("officer"))
            before[created["evidence_id"]] = (files, bundle)
        vkey_text = stack.client.get("/v1/log/key").text
        old_note = stack.client.get("/v1/log/checkpoint").text

    with running_stack(backend.settings, tokens) as stack:
        vkey = VerifierKey.from_text(vkey_text.strip())
        assert stack.client.get("/v1/log/key").text == vkey_text  # the same log key
        assert stack.client.get("/v1/log/checkpoint").text == old_note  # nothing new yet
        old = open_checkpoint(old_note, [vkey])
        assert old.size == 3

        for n, (evidence_id, (files, bundle)) in enumerate(before.items()):
            # Still served: the record, every file byte for byte, a fresh bundle.
            shown = stack.client.get(f"/v1/evidence/{evidence_id}", headers=stack.auth("appraiser"))
            assert shown.status_code == 200
            assert [f["name"] for f in shown.json()["files"]] == list(files)
            for name, data in files.items():
                download = stack.client.get(
                    f"/v1/evidence/{evidence_id}/files/{name}",
                    params={"purpose": "after restart"},
                    headers=stack.auth("appraiser"),
                )
                assert download.status_code == 200
                assert download.content == data
            # The bundle issued before the restart verifies as it is, and so does a fresh one.
            assert_verifies(bundle, files, vkey_text, tmp_path / f"old-{n}")
            fresh = wait_for_bundle(stack.client, evidence_id, stack.auth("officer"))
            assert fresh["entry"] == bundle["entry"]
            assert fresh["inclusion"]["index"] == bundle["inclusion"]["index"]
            assert_verifies(fresh, files, vkey_text, tmp_path / f"fresh-{n}")

        # New entries (two submissions, six custody entries) go on from the old size.
        new_ids = [submit(stack, {f"new-{n}.html": b"<p>new</p>"}).json() for n in range(2)]
        for created in new_ids:
            bundle = wait_for_bundle(stack.client, created["evidence_id"], stack.auth("officer"))
            assert bundle["inclusion"]["index"] >= old.size
        new_note = stack.client.get("/v1/log/checkpoint").text
        new = open_checkpoint(new_note, [vkey])
        assert new.size == old.size + 2 + 6
        proof = stack.client.get(
            "/v1/log/proof/consistency", params={"from": old.size, "to": new.size}
        ).json()
        verify_consistency(
            old.size, new.size, old.root, new.root, [bytes.fromhex(h) for h in proof["hashes"]]
        )
        assert leaf_indices(stack.runtime.engine) == list(range(new.size))


def test_entries_pending_at_shutdown_are_sealed_after_restart(
    backend: Backend, tmp_path: Path
) -> None:
    files = {"page.html": b"<p>pending</p>"}
    quiet = backend.settings.model_copy(update={"run_sealer": False})
    with running_stack(quiet) as stack:
        tokens = stack.tokens
        created = submit(stack, files).json()
        stamped = stack.client.post(
            "/v1/stamps",
            json={"digests": [hashlib.sha256(b"x").hexdigest()]},
            headers=stack.auth("officer"),
        ).json()
        pending = stack.client.get(
            f"/v1/evidence/{created['evidence_id']}/proof", headers=stack.auth("officer")
        ).json()
        assert pending["status"] == "pending"
        assert leaf_indices(stack.runtime.engine) == [None, None]

    with running_stack(backend.settings, tokens) as stack:
        bundle = wait_for_bundle(stack.client, created["evidence_id"], stack.auth("officer"))
        assert bundle["receipt"] == created["receipt"]  # the promise made before the restart
        vkey = stack.client.get("/v1/log/key").text
        assert_verifies(bundle, files, vkey, tmp_path / "verify")
        leaf = stamped["receipts"][0]["leaf_hash"]
        proof = stack.client.get("/v1/log/proof/inclusion", params={"leaf_hash": leaf})
        assert proof.status_code == 200
        assert proof.json()["index"] == 1


def test_acknowledged_entries_survive_a_killed_server(tmp_path: Path) -> None:
    """SIGKILL right after the 201s, long before any seal: nothing acknowledged is lost."""
    data = tmp_path / "data"
    token = provision_tokens(Settings(data_dir=data))["officer"]
    env = {"EVIDENCE_DATA_DIR": str(data), "EVIDENCE_SEAL_INTERVAL": "3600"}
    files = {"page.html": b"<p>killed</p>"}
    with serve_subprocess(env, tmp_path / "first.log") as server:
        answered = [
            httpx.post(
                f"{server.base_url}/v1/evidence",
                files=evidence_form(files),
                headers=auth_header(token),
                timeout=10,
            )
            for _ in range(3)
        ]
        assert [r.status_code for r in answered] == [201, 201, 201]
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)

    env["EVIDENCE_SEAL_INTERVAL"] = "0.1"
    with serve_subprocess(env, tmp_path / "second.log") as server:
        client = httpx.Client(base_url=server.base_url, timeout=10)
        vkey = client.get("/v1/log/key").text
        for n, response in enumerate(answered):
            created = response.json()
            bundle = wait_for_bundle(client, created["evidence_id"], auth_header(token))
            assert bundle["receipt"] == created["receipt"]
            assert_verifies(bundle, files, vkey, tmp_path / f"verify-{n}")
        client.close()
