"""Tamper drills for the full audit (issue 16, deliverable 4).

A real runtime (embedded: local folder store, SQLite, the in-process tester chain) seals
and anchors evidence and stamps; its data folder is then copied once per drill and one
thing changed by hand in the copy: an entry row, a stored object, a checkpoint, an anchor
record. Each is found by ``evidence audit`` (the CLI in a subprocess, ``--json`` parsed,
or the service in process) with its kind and location; the untouched store audits clean
(the anchors checked on the live chain too); a failed run keeps ``/readyz`` not ready
until ``evidence audit ack``; an interrupted run resumes from its cursor. One pass on
PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from anchoring.schema import anchor_tx, checkpoint_timestamp, log_checkpoint, log_entry
from evidence_api.audit.models import AuditFinding, AuditRun
from evidence_api.audit.service import AuditContext, Auditor
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine
from evidence_api.core.storage import content_key
from evidence_api.core.storage.local import LocalObjectStore
from evidence_api.runtime import NO_TIMERS, build_runtime
from tests.support.api import (
    EVIDENCE_CLI,
    Stack,
    anchoring_stack,
    evidence_form,
    fresh_postgres_database,
    running_stack,
    submit,
    wait_for_bundle,
)
from tests.support.tsa import make_authority, token_over
from tests.support.waiting import wait_until
from verifier.note import parse_note

PAGE = b"<html><body>counterfeit watch, 99 yuan</body></html>"
SHOT = os.urandom(50_000)
STAMPS = 30


def fill(stack: Stack, *, anchored: bool) -> str:
    """Two evidence items and ``STAMPS`` stamps, sealed (and anchored); the first id."""
    first = submit(stack, {"page.html": PAGE, "shot.png": SHOT})
    assert first.status_code == 201, first.text
    # sealed alone first: the log has at least two checkpoints (1, then the rest)
    wait_for_bundle(stack.client, first.json()["evidence_id"], stack.auth("officer"), timeout=60)
    for start in range(0, STAMPS, 10):
        digests = [
            hashlib.sha256(f"stamp {i}".encode()).hexdigest() for i in range(start, start + 10)
        ]
        made = stack.client.post(
            "/v1/stamps", json={"digests": digests}, headers=stack.auth("officer")
        )
        assert made.status_code in (200, 201), made.text
    second = submit(stack, {"other.html": b"<p>second</p>"})
    assert second.status_code == 201, second.text
    evidence_id: str = first.json()["evidence_id"]
    for eid in (evidence_id, second.json()["evidence_id"]):
        wait_for_bundle(
            stack.client,
            eid,
            stack.auth("officer"),
            status="anchored" if anchored else "sealed",
            timeout=120,
        )
    return evidence_id


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A sealed and anchored data folder (the runtime stopped) and the first evidence id.
    While it runs, the untouched store audits clean with the anchors checked on chain."""
    data = tmp_path_factory.mktemp("audit") / "data"
    settings = Settings(
        data_dir=data, chain="tester", seal_interval=0.1, anchor_interval=0.2, run_integrity=False
    )
    with running_stack(settings) as stack:
        evidence_id = fill(stack, anchored=True)
        with stack.runtime.engine.connect() as conn:
            assert conn.execute(
                select(anchor_tx.c.id).where(anchor_tx.c.state == "confirmed")
            ).first()
        outcome = Auditor(AuditContext.of(stack.runtime)).run(
            Auditor(AuditContext.of(stack.runtime)).start()
        )
        assert (outcome.status, outcome.findings) == ("clean", 0), outcome
        assert outcome.counts["anchors_on_chain"] >= 1, outcome.counts
        assert "anchors" not in outcome.counts.get("not_checked", {}), outcome.counts
        assert outcome.counts["leaves"] == STAMPS + 2
        assert outcome.counts["objects"] >= 5  # two manifests, three files
    yield data, evidence_id


def copy_of(pristine: tuple[Path, str], tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(pristine[0], data)
    return data


def engine_of(data: Path) -> Engine:
    return make_engine(Settings(data_dir=data).resolved_database_url)


def audit_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return subprocess.run(
        [str(EVIDENCE_CLI), "audit", *args],
        env={**clean, "EVIDENCE_DATA_DIR": str(data), "EVIDENCE_CHAIN": "none"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def audit_in_process(data: Path, **settings: Any) -> tuple[str, list[tuple[str, str]]]:
    runtime = build_runtime(Settings(data_dir=data, chain="none", **settings), **NO_TIMERS)
    try:
        auditor = Auditor(AuditContext.of(runtime))
        outcome = auditor.run(auditor.start())
        with runtime.session() as session:
            found = session.execute(
                select(AuditFinding.kind, AuditFinding.location).where(
                    AuditFinding.run_id == outcome.run_id
                )
            ).all()
        return outcome.status, [(k, loc) for k, loc in found]
    finally:
        runtime.close()


# --- the tampers -------------------------------------------------------------------------


def edit_entry(engine: Engine, evidence_id: str) -> tuple[str, str]:
    with engine.begin() as conn:
        entry = conn.execute(
            select(log_entry.c.entry).where(log_entry.c.entry_id == evidence_id)
        ).scalar_one()
        edited = entry.replace('"at":"', '"at":"1')
        assert edited != entry
        conn.execute(
            update(log_entry).where(log_entry.c.entry_id == evidence_id).values(entry=edited)
        )
    return "entry", f"entry:{evidence_id}"


def flip_object(engine: Engine, data: Path) -> tuple[str, str]:
    key = content_key(hashlib.sha256(SHOT).hexdigest())
    path = LocalObjectStore(Settings(data_dir=data).resolved_storage_dir).path_of(key)
    path.chmod(0o600)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    path.chmod(0o400)
    return "object", f"object:{key}"


def edit_checkpoint(engine: Engine) -> tuple[str, str]:
    with engine.begin() as conn:
        size = (
            conn.execute(select(log_checkpoint.c.size).order_by(log_checkpoint.c.size))
            .scalars()
            .all()[0]
        )
        conn.execute(
            update(log_checkpoint).where(log_checkpoint.c.size == size).values(root=os.urandom(32))
        )
    return "checkpoint", f"checkpoint:{size}"


def edit_anchor(engine: Engine) -> tuple[str, str]:
    with engine.begin() as conn:
        row = conn.execute(
            select(anchor_tx.c.id, anchor_tx.c.size).where(anchor_tx.c.state == "confirmed")
        ).first()
        assert row is not None
        conn.execute(update(anchor_tx).where(anchor_tx.c.id == row.id).values(root=os.urandom(32)))
    return "anchor", f"anchor:{row.size}"


TAMPERS: dict[str, Callable[[Engine, Path, str], tuple[str, str]]] = {
    "entry-row": lambda engine, _data, eid: edit_entry(engine, eid),
    "stored-object": lambda engine, data, _eid: flip_object(engine, data),
    "checkpoint": lambda engine, _data, _eid: edit_checkpoint(engine),
    "anchor-record": lambda engine, _data, _eid: edit_anchor(engine),
}


def tamper(data: Path, name: str, evidence_id: str) -> tuple[str, str]:
    engine = engine_of(data)
    try:
        return TAMPERS[name](engine, data, evidence_id)
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", list(TAMPERS))
def test_each_tamper_is_found_with_its_kind_and_location(
    pristine: tuple[Path, str], tmp_path: Path, name: str
) -> None:
    data = copy_of(pristine, tmp_path)
    assert audit_in_process(data) == ("clean", [])
    kind, location = tamper(data, name, pristine[1])
    status, found = audit_in_process(data)
    assert status == "failed"
    assert (kind, location) in found, found


def test_cli_json_finds_an_edited_entry_and_readyz_waits_for_the_ack(
    pristine: tuple[Path, str], tmp_path: Path
) -> None:
    data = copy_of(pristine, tmp_path)
    clean = audit_cli(data, "--json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["status"] == "clean"

    kind, location = tamper(data, "anchor-record", pristine[1])
    # the anchor record is beyond the store's own background checks: only the audit sees it
    failed = audit_cli(data, "--json")
    assert failed.returncode == 1, failed.stderr
    report = json.loads(failed.stdout)
    assert report["status"] == "failed" and report["finding_count"] >= 1
    assert {"kind": kind, "location": location} in [
        {"kind": f["kind"], "location": f["location"]} for f in report["findings"]
    ], report
    assert "anchors" in report["not_checked"]  # no chain configured here: said so
    run_id = report["run_id"]

    settings = Settings(data_dir=data, chain="none", seal_interval=0.1)
    with running_stack(settings) as stack:

        def audit_check() -> tuple[int, str]:
            answer = stack.client.get("/readyz")
            return answer.status_code, answer.json()["checks"].get("audit", "")

        wait_until(lambda: audit_check()[1].startswith("failed"), 60, "the audit check to fail")
        assert audit_check()[0] == 503
        assert f"evidence audit ack {run_id}" in audit_check()[1]
        listed = stack.client.get("/v1/integrity/audits", headers=stack.auth("admin"))
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"][0]["id"] == run_id

        acked = audit_cli(
            data, "ack", str(run_id), "--by", "张三", "--note", "restored from backup"
        )
        assert acked.returncode == 0, acked.stderr
        wait_until(lambda: audit_check() == (200, "ok"), 60, "readyz after the ack")
        again = audit_cli(data, "ack", str(run_id), "--by", "张三")
        assert again.returncode == 2 and "acknowledged" in again.stderr


def test_an_interrupted_run_resumes_from_its_cursor(
    pristine: tuple[Path, str], tmp_path: Path
) -> None:
    data = copy_of(pristine, tmp_path)
    runtime = build_runtime(Settings(data_dir=data, chain="none"), **NO_TIMERS)
    try:
        first = Auditor(AuditContext.of(runtime, batch=10), stop_after=2)
        run_id = first.start()
        stopped = first.run(run_id)
        assert stopped.status == "interrupted"
        assert stopped.counts["entries"] == 20  # two batches of ten
        with runtime.session() as session:
            row = session.get(AuditRun, run_id)
            assert row is not None and row.cursor is not None
            assert json.loads(row.cursor)["phase"] == "entries"
        # entries tampered behind the cursor are not read again: the run goes on from it
        later = Auditor(AuditContext.of(runtime, batch=10))
        assert later.resumable() == run_id
        done = later.run(run_id)
        assert done.status == "clean", done
        with runtime.engine.connect() as conn:
            total = len(conn.execute(select(log_entry.c.seq)).all())
        assert done.counts["entries"] == total  # each entry read once over both parts
        assert done.counts["leaves"] == total
    finally:
        runtime.close()
    resumed = audit_cli(data, "--resume")
    assert resumed.returncode == 3 and "no interrupted audit run" in resumed.stderr

    # the same through the CLI: stopped after three batches, then --resume to the end
    stopped_cli = audit_cli(data, "--json", "--batch", "10", "--stop-after", "3")
    assert stopped_cli.returncode == 1, stopped_cli.stderr
    part = json.loads(stopped_cli.stdout)
    assert part["status"] == "interrupted" and part["counts"]["entries"] == 30
    rest = audit_cli(data, "--json", "--resume", "--batch", "10")
    assert rest.returncode == 0, rest.stderr
    whole = json.loads(rest.stdout)
    assert whole["run_id"] == part["run_id"] and whole["status"] == "clean"
    assert whole["counts"]["entries"] == whole["counts"]["leaves"] == total


@pytest.mark.postgres
def test_postgresql_entry_and_checkpoint_tampers(postgres_url: str, tmp_path: Path) -> None:
    with fresh_postgres_database(postgres_url) as url:
        settings = Settings(
            data_dir=tmp_path / "data", database_url=url, chain="none", seal_interval=0.1
        )
        with running_stack(settings) as stack:
            evidence_id = fill(stack, anchored=False)
        assert audit_in_process(tmp_path / "data", database_url=url) == ("clean", [])
        engine = make_engine(url)
        try:
            expected = [edit_entry(engine, evidence_id), edit_checkpoint(engine)]
        finally:
            engine.dispose()
        status, found = audit_in_process(tmp_path / "data", database_url=url)
        assert status == "failed"
        for want in expected:
            assert want in found, found


def test_timestamps_are_checked_against_the_authority_certificate(
    pristine: tuple[Path, str], tmp_path: Path
) -> None:
    """Tokens of a real ``openssl ts`` authority on each checkpoint audit clean against its
    CA; a token moved to another checkpoint is found, named by size and authority."""
    data = copy_of(pristine, tmp_path)
    authority = make_authority(tmp_path / "tsa")
    engine = engine_of(data)
    try:
        with engine.begin() as conn:
            notes = conn.execute(select(log_checkpoint.c.size, log_checkpoint.c.note)).all()
            for size, note in notes:
                conn.execute(
                    insert(checkpoint_timestamp).values(
                        size=size,
                        tsa="ntsc",
                        token=token_over(authority, parse_note(note).text),
                        gen_time=datetime.now(UTC),
                        created_at=datetime.now(UTC),
                    )
                )
        tsas = [{"name": "ntsc", "url": "http://127.0.0.1:9/", "cert_file": authority.ca_pem}]
        assert audit_in_process(data, tsas=tsas) == ("clean", [])
        assert len(notes) >= 2
        (first, _), (second, _) = notes[0], notes[1]
        with engine.begin() as conn:
            token = conn.execute(
                select(checkpoint_timestamp.c.token).where(checkpoint_timestamp.c.size == first)
            ).scalar_one()
            conn.execute(
                update(checkpoint_timestamp)
                .where(checkpoint_timestamp.c.size == second)
                .values(token=token)
            )
    finally:
        engine.dispose()
    status, found = audit_in_process(data, tsas=tsas)
    assert (status, found) == ("failed", [("timestamp", f"timestamp:{second}/ntsc")])
    other = [{"name": "ntsc", "url": "http://127.0.0.1:9/", "cert_file": authority.other_ca_pem}]
    status, found = audit_in_process(data, tsas=other)
    assert status == "failed"
    assert {loc for _, loc in found} == {f"timestamp:{size}/ntsc" for size, _ in notes}


def test_the_cli_checks_anchors_on_an_rpc_chain(tmp_path: Path) -> None:
    """anvil and ``evidence serve`` on ``EVIDENCE_CHAIN=rpc``: ``evidence audit`` (same
    settings) reads each anchor back from the contract; an anchor record whose block
    differs from the chain's is found (only the chain can tell)."""
    with anchoring_stack(tmp_path / "stack", celery=False) as deployment:
        with deployment.client() as client:
            made = client.post("/v1/evidence", files=evidence_form({"page.html": PAGE}))
            assert made.status_code == 201, made.text
            wait_for_bundle(
                client,
                made.json()["evidence_id"],
                deployment.headers(),
                status="anchored",
                timeout=120,
            )

        def audit(*args: str) -> subprocess.CompletedProcess[str]:
            clean = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
            return subprocess.run(
                [str(EVIDENCE_CLI), "audit", "--json", *args],
                env={**clean, **deployment.env, "EVIDENCE_RUN_SEALER": "false"},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )

        good = audit()
        assert good.returncode == 0, good.stdout + good.stderr
        report = json.loads(good.stdout)
        assert report["counts"]["anchors_on_chain"] >= 1 and "anchors" not in report["not_checked"]
        with deployment.engine.begin() as conn:
            row = conn.execute(
                select(anchor_tx.c.id, anchor_tx.c.size).where(anchor_tx.c.state == "confirmed")
            ).first()
            assert row is not None
            conn.execute(
                update(anchor_tx)
                .where(anchor_tx.c.id == row.id)
                .values(block_number=anchor_tx.c.block_number + 1000)
            )
        bad = audit()
        assert bad.returncode == 1, bad.stdout + bad.stderr
        found = json.loads(bad.stdout)["findings"]
        assert [(f["kind"], f["location"]) for f in found] == [("anchor", f"anchor:{row.size}")]
        assert "the contract records this root" in found[0]["detail"]
