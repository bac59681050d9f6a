"""The store checks itself (issue 10, item 5), and the local folder's permissions (item 6).

Each reproduction from the issue: with the service stopped, one thing in the
database or the object folder is changed by hand; at the next start the
integrity pass finds it, ``/readyz`` is not ready naming the item, an incident
is recorded, reads of the item are refused with 409 before the first byte, and
nothing answers 500. Real SQLite and a real local folder (PostgreSQL too for
the database edits).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from anchoring.schema import log_entry, merkle_tile
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine
from evidence_api.core.storage import content_key
from evidence_api.core.storage.local import LocalObjectStore
from evidence_api.intake.models import Evidence, EvidenceFile
from evidence_api.integrity.models import IntegrityIncident
from evidence_api.integrity.service import Holdings, IntegrityChecker
from tests.support.api import (
    Stack,
    fresh_postgres_database,
    metadata,
    running_stack,
    submit,
    wait_for_bundle,
)
from verifier.digests import sm3_hex
from verifier.merkle import leaf_hash

PAGE = b"<html><body>counterfeit handbag, 199 yuan</body></html>"
SHOT = os.urandom(300_000)
ORIGINAL_URL = metadata()["source_url"]


def settings_for(data_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, chain="none", seal_interval=0.1)


def integrity_state(stack: Stack, timeout: float = 60.0) -> tuple[int, dict[str, str]]:
    """``/readyz`` once the first integrity pass has finished (status, checks)."""
    deadline = time.monotonic() + timeout
    while True:
        response = stack.client.get("/readyz")
        checks: dict[str, str] = response.json()["checks"]
        if not checks["integrity"].startswith("checking"):
            return response.status_code, checks
        assert time.monotonic() < deadline, checks
        time.sleep(0.05)


@contextmanager
def stored_evidence(data_dir: Path, database_url: str | None = None) -> Iterator[tuple[str, Stack]]:
    """Start, submit one evidence item (two files), wait until sealed, check that all
    is well; yield its id and the stopped stack (its settings and tokens)."""
    settings = settings_for(data_dir, database_url)
    with running_stack(settings) as stack:
        created = submit(stack, {"page.html": PAGE, "shot.png": SHOT})
        assert created.status_code == 201, created.text
        evidence_id = created.json()["evidence_id"]
        wait_for_bundle(stack.client, evidence_id, stack.auth("officer"), timeout=30)
        status, checks = integrity_state(stack)
        assert (status, checks["integrity"]) == (200, "ok"), checks
    yield evidence_id, stack


@dataclass
class Stopped:
    """The data of a stopped service: its settings and a bare database engine."""

    settings: Settings
    engine: Engine


@contextmanager
def stopped(stack: Stack) -> Iterator[Stopped]:
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        yield Stopped(stack.settings, engine)
    finally:
        engine.dispose()


def object_path(where: Stopped | Stack, data: bytes) -> Path:
    store = LocalObjectStore(where.settings.resolved_storage_dir)
    return store.path_of(content_key(hashlib.sha256(data).hexdigest()))


def rewrite(path: Path, data: bytes) -> None:
    """Replace a read-only object's bytes in place (as root, or its owner after chmod)."""
    path.chmod(0o600)
    path.write_bytes(data)
    path.chmod(0o400)


def edit_source_url(where: Stopped, evidence_id: str) -> None:
    with where.engine.begin() as conn:
        conn.execute(
            update(Evidence)
            .where(Evidence.id == evidence_id)
            .values(source_url="https://elsewhere.example/fake")
        )


def substitute_file(where: Stopped, evidence_id: str) -> None:
    """Other bytes in the object, and the row's digests changed to match them."""
    other = os.urandom(len(SHOT))
    rewrite(object_path(where, SHOT), other)
    with where.engine.begin() as conn:
        conn.execute(
            update(EvidenceFile)
            .where(EvidenceFile.name == "shot.png")
            .values(sha256=hashlib.sha256(other).hexdigest(), sm3=sm3_hex(other))
        )


def edit_manifest_in_database(where: Stopped, evidence_id: str) -> None:
    """The manifest text and the row's copy of its digests, consistently edited."""
    with where.engine.begin() as conn:
        manifest = conn.execute(
            select(Evidence.manifest).where(Evidence.id == evidence_id)
        ).scalar_one()
        edited = manifest.replace(ORIGINAL_URL, "https://elsewhere.example/fake").encode()
        assert edited != manifest.encode()
        conn.execute(
            update(Evidence)
            .where(Evidence.id == evidence_id)
            .values(
                manifest=edited.decode(),
                manifest_sha256=hashlib.sha256(edited).hexdigest(),
                manifest_sm3=sm3_hex(edited),
                source_url="https://elsewhere.example/fake",
            )
        )


def edit_manifest_object(where: Stopped, evidence_id: str) -> None:
    with where.engine.begin() as conn:
        key = conn.execute(
            select(Evidence.manifest_key).where(Evidence.id == evidence_id)
        ).scalar_one()
    path = LocalObjectStore(where.settings.resolved_storage_dir).path_of(key)
    data = path.read_bytes()
    rewrite(path, data.replace(ORIGINAL_URL.encode(), b"https://elsewhere.example/fak"))


def edit_log_entry(where: Stopped, evidence_id: str) -> None:
    """The entry's JSON and its stored leaf hash, consistently edited (the tree is not)."""
    with where.engine.begin() as conn:
        entry = conn.execute(
            select(log_entry.c.entry).where(log_entry.c.entry_id == evidence_id)
        ).scalar_one()
        edited = entry.replace('"kind":"evidence"', '"kind":"evidence" ').replace(
            '"at":"', '"at":"1'
        )
        assert edited != entry
        conn.execute(
            update(log_entry)
            .where(log_entry.c.entry_id == evidence_id)
            .values(entry=edited, leaf_hash=leaf_hash(edited.encode()))
        )


def edit_log_entry_text(where: Stopped, evidence_id: str) -> None:
    """Only the entry's JSON: it no longer hashes to its stored leaf hash."""
    with where.engine.begin() as conn:
        entry = conn.execute(
            select(log_entry.c.entry).where(log_entry.c.entry_id == evidence_id)
        ).scalar_one()
        edited = entry.replace('"at":"', '"at":"1')
        assert edited != entry
        conn.execute(
            update(log_entry).where(log_entry.c.entry_id == evidence_id).values(entry=edited)
        )


def edit_tile(where: Stopped, evidence_id: str) -> None:
    """One bit of the level-0 tile (the leaves)."""
    with where.engine.begin() as conn:
        hashes = bytearray(
            conn.execute(select(merkle_tile.c.hashes).where(merkle_tile.c.id == 0)).scalar_one()
        )
        hashes[0] ^= 0x01
        conn.execute(update(merkle_tile).where(merkle_tile.c.id == 0).values(hashes=bytes(hashes)))


def flip_object_byte(where: Stopped, evidence_id: str) -> None:
    path = object_path(where, SHOT)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    rewrite(path, bytes(data))


def delete_object(where: Stopped, evidence_id: str) -> None:
    path = object_path(where, SHOT)
    path.parent.chmod(0o700)
    path.unlink()
    path.parent.chmod(0o500)


#: reproduction -> (what it does, the incident kinds it must raise, reads refused?)
REPRODUCTIONS: dict[str, tuple[Callable[[Stopped, str], None], set[str], bool]] = {
    "edited-source-url": (edit_source_url, {"row"}, False),
    "substituted-file": (substitute_file, {"row", "object"}, True),
    "edited-manifest-in-database": (edit_manifest_in_database, {"manifest"}, True),
    "edited-manifest-object": (edit_manifest_object, {"object"}, False),
    "edited-log-entry": (edit_log_entry, {"tree"}, True),
    "edited-log-entry-text": (edit_log_entry_text, {"entry"}, True),
    "edited-tile": (edit_tile, {"tree"}, False),
    "flipped-object-byte": (flip_object_byte, {"object"}, True),
    "deleted-object": (delete_object, {"object_missing"}, True),
}


def incidents(stack: Stack) -> list[tuple[str, str]]:
    with stack.runtime.session() as session:
        rows = session.execute(
            select(IntegrityIncident).where(IntegrityIncident.resolved_at.is_(None))
        ).scalars()
        return sorted({(r.item, r.kind) for r in rows})


def check_found(stack: Stack, evidence_id: str, kinds: set[str], refused: bool) -> None:
    status, checks = integrity_state(stack)
    assert status == 503, checks
    assert checks["integrity"].startswith("failed: integrity incident for "), checks
    found = incidents(stack)
    assert kinds <= {kind for _, kind in found}, found
    named = {item for item, _ in found}
    # The item itself, its leaf, or (a one-leaf tree's root is its leaf) the checkpoint.
    assert named & {f"evidence:{evidence_id}", "leaf:0", "checkpoint:1"}, found
    assert any(item in checks["integrity"] for item in named)

    headers = stack.auth("officer")
    detail = stack.client.get(f"/v1/evidence/{evidence_id}", headers=headers)
    listing = stack.client.get("/v1/evidence", headers=headers)
    download = stack.client.get(
        f"/v1/evidence/{evidence_id}/files/shot.png",
        params={"purpose": "integrity test"},
        headers=headers,
    )
    package = stack.client.get(
        f"/v1/evidence/{evidence_id}/package",
        params={"purpose": "integrity test"},
        headers=headers,
    )
    for response in (detail, listing, download, package):
        assert response.status_code != 500, response.text
    if refused:
        for response in (download, package):
            assert response.status_code == 409, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["title"] == "integrity_failure"
            assert SHOT[:1000] not in response.content  # refused before the first byte
    if detail.status_code == 200:  # values covered by the log come from the manifest
        assert detail.json()["source_url"] == ORIGINAL_URL
        assert detail.json()["files"][1]["sha256"] == hashlib.sha256(SHOT).hexdigest()
    else:
        assert detail.status_code == 409, detail.text


@pytest.mark.parametrize("defect", list(REPRODUCTIONS))
def test_tampering_while_stopped_is_found_at_start(tmp_path: Path, defect: str) -> None:
    tamper, kinds, refused = REPRODUCTIONS[defect]
    with stored_evidence(tmp_path / "data") as (evidence_id, first):
        with stopped(first) as where:
            tamper(where, evidence_id)
        with running_stack(first.settings, first.tokens) as stack:
            check_found(stack, evidence_id, kinds, refused)


@pytest.mark.postgres
@pytest.mark.parametrize("defect", ["edited-source-url", "edited-log-entry", "edited-tile"])
def test_tampering_in_postgresql_is_found_at_start(
    postgres_url: str, tmp_path: Path, defect: str
) -> None:
    tamper, kinds, refused = REPRODUCTIONS[defect]
    with (
        fresh_postgres_database(postgres_url) as url,
        stored_evidence(tmp_path / "data", url) as (evidence_id, first),
    ):
        with stopped(first) as where:
            tamper(where, evidence_id)
        with running_stack(first.settings, first.tokens) as stack:
            check_found(stack, evidence_id, kinds, refused)


def test_a_byte_flipped_while_running_is_refused_before_the_first_byte(tmp_path: Path) -> None:
    """No restart: the download itself hashes the object first; the incident it
    records turns /readyz not ready at once."""
    with running_stack(settings_for(tmp_path / "data")) as stack:
        created = submit(stack, {"page.html": PAGE, "shot.png": SHOT})
        evidence_id = created.json()["evidence_id"]
        assert integrity_state(stack)[1]["integrity"] == "ok"
        flip_object_byte(Stopped(stack.settings, stack.runtime.engine), evidence_id)
        url = f"/v1/evidence/{evidence_id}/files/shot.png"
        with stack.client.stream(
            "GET", url, params={"purpose": "review"}, headers=stack.auth("officer")
        ) as response:
            assert response.status_code == 409
            body = response.read()
        assert b"integrity_failure" in body
        assert (
            f"evidence:{evidence_id}" in stack.client.get("/readyz").json()["checks"]["integrity"]
        )
        # The intact file of the same item is still served.
        ok = stack.client.get(
            f"/v1/evidence/{evidence_id}/files/page.html",
            params={"purpose": "review"},
            headers=stack.auth("officer"),
        )
        assert ok.status_code == 200 and ok.content == PAGE


def test_a_repaired_item_closes_its_incident(tmp_path: Path) -> None:
    """Open incidents are re-checked by every pass, sampled or not; once the item is
    intact again (restored from a backup), the incident closes and /readyz is ready."""
    with stored_evidence(tmp_path / "data") as (evidence_id, first):
        path = object_path(first, SHOT)
        with stopped(first) as where:
            flip_object_byte(where, evidence_id)
        with running_stack(first.settings, first.tokens) as stack:
            assert integrity_state(stack)[0] == 503
            rewrite(path, SHOT)
            assert IntegrityChecker(Holdings.of(stack.runtime)).run_pass() == []
            assert incidents(stack) == []
            assert stack.client.get("/readyz").json()["checks"]["integrity"] == "ok"


# --- item 6: permissions ----------------------------------------------------------


def test_data_folder_database_and_objects_are_private(tmp_path: Path) -> None:
    with stored_evidence(tmp_path / "data") as (_, first):
        settings = first.settings
        assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(settings.resolved_spool_dir.stat().st_mode) == 0o700
        database = settings.data_dir / "evidence.db"
        assert stat.S_IMODE(database.stat().st_mode) & 0o077 == 0
        for path in settings.resolved_storage_dir.rglob("*"):
            assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, path
        shot = object_path(first, SHOT)
        assert stat.S_IMODE(shot.stat().st_mode) == 0o400
        assert stat.S_IMODE(shot.parent.stat().st_mode) == 0o500


def test_an_existing_world_readable_data_folder_loses_others_access(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    with running_stack(settings_for(data)):
        pass
    assert stat.S_IMODE(data.stat().st_mode) == 0o750


def test_partial_uploads_left_by_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    spool = settings.resolved_spool_dir
    spool.mkdir(parents=True)
    stale, fresh, other = spool / "upload-crashed", spool / "upload-live", spool / "notes.txt"
    for path in (stale, fresh, other):
        path.write_bytes(b"x" * 1000)
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    os.utime(other, (hours_ago, hours_ago))
    with running_stack(settings):
        assert not stale.exists()
        assert fresh.exists()  # another process may still be writing it
        assert other.exists()  # not ours


def test_sealed_directories_refuse_removal_by_the_store_owner(tmp_path: Path) -> None:
    """What the modes mean, shown as an unprivileged user (``nobody``) owning the
    store: ``rm`` of a stored object fails (root would ignore the modes)."""
    nobody = pwd.getpwnam("nobody")
    setpriv = shutil.which("setpriv")
    assert setpriv is not None and os.geteuid() == 0, "needs root and setpriv (util-linux)"
    store = LocalObjectStore(tmp_path / "objects")
    stored = store.put_bytes(b"kept", "application/octet-stream")
    target = store.path_of(stored.key)
    for path in [store.root, *store.root.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
    tmp_path.chmod(0o755)
    drop = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    removed = subprocess.run(
        [*drop, "rm", "-f", str(target)], capture_output=True, text=True, check=False
    )
    assert removed.returncode != 0
    assert "Permission denied" in removed.stderr
    moved = subprocess.run(
        [*drop, "mv", str(target), str(target) + ".x"], capture_output=True, text=True, check=False
    )
    assert moved.returncode != 0
    assert target.read_bytes() == b"kept"
