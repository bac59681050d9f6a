"""Intake through the real API on each backend: SQLite + local folder, SQLite +
S3 (SeaweedFS with Object Lock) and PostgreSQL + S3.

A submission is answered with its digests and a signed receipt; the bytes in
the store hash to the manifest; within 2 s the bundle is sealed and the real
``evidence-verify`` accepts it through tier 4. On S3 the server itself refuses
to delete or overwrite what the service stored. Idempotent retries, custody
entries on every download, and listing with filters and cursors complete the
picture.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from anchoring.schema import log_entry
from evidence_api.core.auth import hash_token
from evidence_api.core.config import Settings
from evidence_api.core.db import make_engine
from evidence_api.core.models import ApiToken
from evidence_api.core.storage import content_key
from evidence_api.intake.models import Evidence, EvidenceFile
from tests.support.api import (
    Backend,
    Stack,
    assert_verifies,
    auth_header,
    evidence_form,
    metadata,
    open_backend,
    provision_tokens,
    run_verifier,
    running_stack,
    s3_settings,
    serve_subprocess,
    submit,
    table_counts,
    wait_for_bundle,
)
from tests.support.seaweed import SeaweedS3
from verifier.checkpoint import open_checkpoint
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.note import VerifierKey
from verifier.receipt import open_receipt


def sm3_hex(data: bytes) -> str:
    return hashlib.new("sm3", data).hexdigest()


@contextlib.contextmanager
def database(url: str) -> Iterator[Engine]:
    """An engine on the database a service subprocess uses, disposed of afterwards."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def evidence_files() -> dict[str, bytes]:
    """A page, a screenshot-sized binary and an empty file, with awkward names."""
    return {
        "商品页面.html": "<html><body>假冒商品 ¥99</body></html>".encode(),
        "screen shot #1.png": os.urandom(300_000),
        "empty.txt": b"",
    }


# --- a submission, end to end --------------------------------------------------------


def test_submission_is_stored_sealed_within_2s_and_verifies(
    backend: Backend, tmp_path: Path
) -> None:
    files = evidence_files()
    # The default seal interval (1 s): what a deployment gets.
    with running_stack(backend.settings.model_copy(update={"seal_interval": 1.0})) as stack:
        response = submit(stack, files)
        acknowledged = time.monotonic()  # the receipt's promise runs from here
        assert response.status_code == 201, response.text
        created = response.json()
        evidence_id = created["evidence_id"]

        # The answer lists each file with the digests of the bytes we sent.
        assert [f["name"] for f in created["files"]] == list(files)
        for listed in created["files"]:
            data = files[listed["name"]]
            assert listed["size"] == len(data)
            assert listed["sha256"] == hashlib.sha256(data).hexdigest()
            assert listed["sm3"] == sm3_hex(data)

        # The receipt is signed by the log key and commits to the entry's leaf.
        vkey = stack.client.get("/v1/log/key").text
        receipt = open_receipt(created["receipt"], [VerifierKey.from_text(vkey.strip())])
        assert receipt.leaf_hash.hex() == created["leaf_hash"]
        assert receipt.origin == backend.settings.log_origin

        # What the store holds hashes to the manifest, byte for byte.
        with stack.runtime.session() as session:
            row = session.execute(select(Evidence).where(Evidence.id == evidence_id)).scalar_one()
            stored = {f.name: f.storage_key for f in row.files}
            recorded = {f.name: f.storage_version for f in row.files}
            manifest_key, manifest_text = row.manifest_key, row.manifest
            manifest_version = row.manifest_version
        # The version each object was written as: S3 names one, a folder none.
        if backend.seaweed is None:
            assert set(recorded.values()) == {None}
            assert manifest_version is None
        else:
            client = backend.seaweed.client()
            bucket = backend.settings.s3_bucket
            for name, key in stored.items():
                assert recorded[name] == client.stat_object(bucket, key).version_id
            assert manifest_version == client.stat_object(bucket, manifest_key).version_id
            assert None not in (*recorded.values(), manifest_version)
        manifest = json.loads(manifest_text)
        for listed in manifest["files"]:
            key = stored[listed["name"]]
            assert key == content_key(listed["sha256"])
            data = backend.stored_bytes(key)
            assert data == files[listed["name"]]
            assert hashlib.sha256(data).hexdigest() == listed["sha256"]
            assert sm3_hex(data) == listed["sm3"]
        stored_manifest = backend.stored_bytes(manifest_key)
        assert stored_manifest == manifest_text.encode()
        assert hashlib.sha256(stored_manifest).hexdigest() == created["manifest"]["sha256"]
        assert sm3_hex(stored_manifest) == created["manifest"]["sm3"]

        # Sealed within 2 s of the submission, and the offline verifier agrees.
        bundle = wait_for_bundle(
            stack.client,
            evidence_id,
            stack.auth("officer"),
            status="sealed",
            timeout=2.0,
            started=acknowledged,
        )
        assert bundle["manifest"] == manifest
        assert bundle["leaf_hash"] == created["leaf_hash"]
        report = assert_verifies(bundle, files, vkey, tmp_path / "ok")
        assert report["evidence_id"] == evidence_id

        # The verifier is not a rubber stamp: one changed byte fails tier 1.
        forged = {**files, "商品页面.html": files["商品页面.html"].replace(b"99", b"98")}
        result = run_verifier(bundle, forged, vkey, tmp_path / "forged")
        assert result.returncode == 1, result.stdout
        tiers = {t["tier"]: t for t in json.loads(result.stdout)["tiers"]}
        assert tiers[1]["status"] == "failed"
        assert "商品页面.html" in tiers[1]["detail"]


@pytest.mark.s3
def test_stored_evidence_cannot_be_deleted_or_overwritten_through_s3(
    seaweed: SeaweedS3, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Object Lock is the server's promise, not the service's: try to break it directly."""
    data = os.urandom(64_000)
    with (
        open_backend(request, "sqlite-s3", tmp_path / "data", seal_interval=0.1) as backend,
        running_stack(backend.settings) as stack,
    ):
        response = submit(stack, {"page.html": data})
        assert response.status_code == 201, response.text
        bucket = backend.settings.s3_bucket
        key = content_key(hashlib.sha256(data).hexdigest())
        client = seaweed.client()
        version = client.stat_object(bucket, key).version_id
        assert version is not None

        retention = client.get_object_retention(bucket, key, version_id=version)
        assert retention is not None
        assert retention.mode == COMPLIANCE
        assert retention.retain_until_date > datetime.now(UTC) + timedelta(hours=23)

        with pytest.raises(S3Error) as refused:
            client.remove_object(bucket, key, version_id=version)
        assert refused.value.code == "AccessDenied", refused.value
        with pytest.raises(S3Error):
            client.set_object_retention(
                bucket,
                key,
                Retention(COMPLIANCE, datetime.now(UTC) + timedelta(minutes=5)),
                version_id=version,
            )

        # A second PUT may add a version on top, but the locked one is untouched.
        forged = b"forged" + data[6:]
        with contextlib.suppress(S3Error):  # refusing the write altogether would be fine too
            client.put_object(bucket, key, io.BytesIO(forged), len(forged))
        original = client.get_object(bucket, key, version_id=version)
        try:
            assert original.read() == data
        finally:
            original.close()
            original.release_conn()
        after = client.get_object_retention(bucket, key, version_id=version)
        assert after is not None
        assert (after.mode, after.retain_until_date) == (COMPLIANCE, retention.retain_until_date)
        assert client.stat_object(bucket, key, version_id=version).size == len(data)


@pytest.mark.s3
def test_downloads_read_the_recorded_version_whatever_is_put_over_the_key(
    seaweed: SeaweedS3, tmp_path: Path
) -> None:
    """S3 lets anyone with write access put a new version, or a delete marker, on top
    of a locked one. Downloads read the version recorded at intake, so a client of
    the real server still gets the evidence, complete, with a 200. A row recorded
    before versions were (``storage_version`` NULL) reads the newest: then the
    client gets a visibly broken download or a 503, never a complete 200 of the
    planted bytes (same size, so Content-Length cannot tell)."""
    data = os.urandom(2 * 1024 * 1024 + 123)  # three 1 MiB chunks on the way out
    s3 = s3_settings(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    bucket = s3["s3_bucket"]
    settings = Settings(data_dir=tmp_path / "data")
    token = provision_tokens(settings)["officer"]
    env = {
        "EVIDENCE_DATA_DIR": str(tmp_path / "data"),
        "EVIDENCE_STORAGE": "s3",
        "EVIDENCE_S3_ENDPOINT": seaweed.endpoint,
        "EVIDENCE_S3_ACCESS_KEY": seaweed.access_key,
        "EVIDENCE_S3_SECRET_KEY": seaweed.secret_key,
        "EVIDENCE_S3_BUCKET": bucket,
        "EVIDENCE_RETENTION_DAYS": "1",
    }
    s3_client = seaweed.client()
    with (
        database(settings.resolved_database_url) as engine,
        serve_subprocess(env, tmp_path / "serve.log") as server,
        httpx.Client(base_url=server.base_url, headers=auth_header(token), timeout=30) as client,
    ):

        def set_recorded_version(version: str | None) -> None:
            with engine.begin() as conn:
                conn.execute(update(EvidenceFile).values(storage_version=version))

        created = client.post("/v1/evidence", files=evidence_form({"page.bin": data}))
        assert created.status_code == 201, created.text
        evidence_id = created.json()["evidence_id"]
        url = f"/v1/evidence/{evidence_id}/files/page.bin"
        key = content_key(hashlib.sha256(data).hexdigest())

        # Intake recorded the versions it wrote: the file's and the manifest's.
        locked = s3_client.stat_object(bucket, key).version_id
        assert locked is not None
        with Session(engine) as session:
            row = session.execute(select(Evidence).where(Evidence.id == evidence_id)).scalar_one()
            assert [f.storage_version for f in row.files] == [locked]
            assert row.manifest_version is not None
            assert (
                row.manifest_version == s3_client.stat_object(bucket, row.manifest_key).version_id
            )

        def download(purpose: str) -> httpx.Response:
            return client.get(url, params={"purpose": purpose})

        assert download("before").content == data

        # A newer version of other bytes, same size.
        planted = os.urandom(len(data))
        s3_client.put_object(bucket, key, io.BytesIO(planted), len(planted))
        after_plant = download("after a planted version")
        assert after_plant.status_code == 200, after_plant.text
        assert after_plant.content == data
        assert after_plant.headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()

        # Recorded before versions were: the newest is read, hashed first, and refused
        # before the first byte (an integrity incident).
        set_recorded_version(None)
        planted_read = download("legacy row, planted version")
        assert planted_read.status_code == 409, planted_read.text
        assert planted_read.json()["title"] == "integrity_failure"
        set_recorded_version(locked)

        # A delete marker on top of both.
        s3_client.remove_object(bucket, key)
        with pytest.raises(S3Error, match="NoSuchKey"):
            s3_client.stat_object(bucket, key)
        after_delete = download("after a delete marker")
        assert after_delete.status_code == 200, after_delete.text
        assert after_delete.content == data

        set_recorded_version(None)
        hidden = download("legacy row, delete marker")
        assert hidden.status_code == 409, hidden.text  # the object it names is gone
        assert "is missing" in hidden.json()["detail"]
        assert client.get("/healthz").status_code == 200


# --- idempotent retries -------------------------------------------------------------


def test_idempotent_retry_replays_the_answer_and_records_one_entry(stack: Stack) -> None:
    files = {"a.html": b"<p>one</p>", "b.png": os.urandom(2000)}
    headers = {"Idempotency-Key": "retry-1f2e3d"}
    first = submit(stack, files, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    counts = table_counts(stack.runtime.engine, "log_entry", "evidence", "evidence_file")

    again = submit(stack, files, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # same evidence_id, receipt, digests, everything
    assert table_counts(stack.runtime.engine, "log_entry", "evidence", "evidence_file") == counts

    # The same key with another request is a conflict, and records nothing either.
    changed = submit(stack, {**files, "a.html": b"<p>two</p>"}, headers=headers)
    assert changed.status_code == 409, changed.text
    assert changed.json()["detail"] == "Idempotency-Key was already used for a different request"
    assert changed.json()["field"] == "Idempotency-Key"
    other_meta = submit(stack, files, metadata(case_ref="泉市监案〔2026〕2号"), headers=headers)
    assert other_meta.status_code == 409

    # Keys belong to a token: another officer's identical key is a new submission.
    admin = submit(stack, files, role="admin", headers=headers)
    assert admin.status_code == 201, admin.text
    assert "idempotent-replayed" not in admin.headers
    assert admin.json()["evidence_id"] != first.json()["evidence_id"]
    assert table_counts(stack.runtime.engine, "log_entry")["log_entry"] == (counts["log_entry"] + 1)


# --- custody -------------------------------------------------------------------------


def _token_id(stack: Stack, role: str) -> int:
    with stack.runtime.session() as session:
        return session.execute(
            select(ApiToken.id).where(ApiToken.token_hash == hash_token(stack.tokens[role]))
        ).scalar_one()


def _custody_entries(stack: Stack) -> list[tuple[dict[str, Any], bytes]]:
    """Every custody entry in the log (parsed) with its leaf hash, oldest first."""
    with stack.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(log_entry.c.entry, log_entry.c.leaf_hash)
            .where(log_entry.c.kind == "custody")
            .order_by(log_entry.c.seq)
        ).all()
    entries = []
    for row in rows:
        assert bytes(row.leaf_hash) == leaf_hash(row.entry.encode())
        entries.append((json.loads(row.entry), bytes(row.leaf_hash)))
    return entries


def test_download_streams_exact_bytes_and_records_custody(stack: Stack) -> None:
    files = {"证据 #1.html": "<p>页面</p>".encode(), "big.bin": os.urandom(3 * 1024 * 1024 + 17)}
    created = submit(stack, files).json()
    evidence_id = created["evidence_id"]
    purpose = "案件审查 case review 泉市监案〔2026〕1号"

    for role, name in (("officer", "证据 #1.html"), ("appraiser", "big.bin")):
        response = stack.client.get(
            f"/v1/evidence/{evidence_id}/files/{quote(name, safe='')}",
            params={"purpose": purpose},
            headers=stack.auth(role),
        )
        assert response.status_code == 200, response.text
        assert response.content == files[name]
        assert response.headers["X-Content-SHA256"] == hashlib.sha256(files[name]).hexdigest()
        assert response.headers["Content-Length"] == str(len(files[name]))
        assert response.headers["Content-Disposition"] == (
            f"attachment; filename*=UTF-8''{quote(name)}"
        )
        entry, custody_leaf = _custody_entries(stack)[-1]
        assert entry["id"] == response.headers["X-Custody-Entry"]
        assert entry["kind"] == "custody"
        assert entry["body"] == {
            "evidence_id": evidence_id,
            "action": "download",
            "reader": f"token-{_token_id(stack, role)}",
            "role": role,
            "purpose": purpose,
            "file": name,
        }
        # A pseudonym, never the token holder's name: entries may be shown to anyone.
        assert f"test {role}" not in json.dumps(entry, ensure_ascii=False)

    # Custody entries are log entries like any other: they get sealed and proven.
    vkey = VerifierKey.from_text(stack.client.get("/v1/log/key").text.strip())
    deadline = time.monotonic() + 5
    while True:
        proof = stack.client.get(
            "/v1/log/proof/inclusion", params={"leaf_hash": custody_leaf.hex()}
        )
        if proof.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert proof.status_code == 200, proof.text
    checkpoint = open_checkpoint(stack.client.get("/v1/log/checkpoint").text, [vkey])
    found = proof.json()
    verify_inclusion(
        custody_leaf,
        found["index"],
        checkpoint.size,
        [bytes.fromhex(h) for h in found["hashes"]],
        checkpoint.root,
    )


def test_download_without_purpose_or_of_a_missing_file_records_nothing(stack: Stack) -> None:
    evidence_id = submit(stack, {"a.html": b"<p>a</p>"}).json()["evidence_id"]
    url = f"/v1/evidence/{evidence_id}/files/a.html"
    before = len(_custody_entries(stack))

    missing = stack.client.get(url, headers=stack.auth("officer"))
    assert missing.status_code == 422, missing.text
    assert missing.json()["field"] == "purpose"
    assert missing.json()["detail"] == "purpose: Field required"

    empty = stack.client.get(url, params={"purpose": ""}, headers=stack.auth("officer"))
    assert empty.status_code == 422
    assert empty.json()["field"] == "purpose"

    too_long = stack.client.get(url, params={"purpose": "x" * 257}, headers=stack.auth("officer"))
    assert too_long.status_code == 422
    assert too_long.json()["field"] == "purpose"

    nothing = stack.client.get(
        f"/v1/evidence/{evidence_id}/files/b.html",
        params={"purpose": "review"},
        headers=stack.auth("officer"),
    )
    assert nothing.status_code == 404
    assert nothing.json()["detail"] == f"evidence {evidence_id!r} has no file 'b.html'"

    unknown = stack.client.get(
        "/v1/evidence/ev-0000000000000000000000000000/files/a.html",
        params={"purpose": "review"},
        headers=stack.auth("officer"),
    )
    assert unknown.status_code == 404
    assert len(_custody_entries(stack)) == before

    at_limit = stack.client.get(url, params={"purpose": "x" * 256}, headers=stack.auth("officer"))
    assert at_limit.status_code == 200
    assert len(_custody_entries(stack)) == before + 1


# --- listing -------------------------------------------------------------------------


def _list(stack: Stack, **params: Any) -> dict[str, Any]:
    response = stack.client.get("/v1/evidence", params=params, headers=stack.auth("appraiser"))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["evidence_id"] for item in page["items"]]


def _all_pages(stack: Stack, limit: int, cursor: str | None = None, **params: Any) -> list[str]:
    """Every id from ``cursor`` (default: the start) on, following ``next_cursor``."""
    seen: list[str] = []
    for _ in range(100):
        page = _list(stack, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit
        seen += _ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination does not end")


def test_listing_filters_and_cursor_pagination(stack: Stack) -> None:
    plan = [
        ("C1", "mall-a", "shop-1"),
        ("C1", "mall-b", "shop-2"),
        ("C2", "mall-a", "shop-1"),
        (None, "mall-b", None),
        ("C2", "mall-a", "shop-3"),
        ("C1", "mall-a", "shop-1"),
        (None, "mall-c", "shop-2"),
    ]
    ids: list[str] = []
    moments: list[datetime] = []
    for n, (case, platform, entity) in enumerate(plan):
        moments.append(datetime.now(UTC))
        time.sleep(0.01)  # distinct receive times either side of each moment
        meta = metadata(case_ref=case, platform=platform, entity=entity)
        response = submit(stack, {f"f{n}.html": f"<p>{n}</p>".encode()}, meta)
        assert response.status_code == 201, response.text
        ids.append(response.json()["evidence_id"])
    newest_first = ids[::-1]

    everything = _list(stack)
    assert _ids(everything) == newest_first
    assert everything["next_cursor"] is None
    item = everything["items"][-1]
    assert (item["case_ref"], item["platform"], item["entity"]) == plan[0]
    assert datetime.fromisoformat(item["created_at"]).tzinfo is not None

    def expect(**where: str) -> list[str]:
        keys = {"case": 0, "platform": 1, "entity": 2}
        return [
            ids[n]
            for n in reversed(range(len(plan)))
            if all(plan[n][keys[k]] == v for k, v in where.items())
        ]

    for where in (
        {"case": "C1"},
        {"case": "C2"},
        {"platform": "mall-a"},
        {"entity": "shop-1"},
        {"case": "C1", "platform": "mall-a"},
        {"platform": "mall-b", "entity": "shop-2"},
    ):
        assert _ids(_list(stack, **where)) == expect(**where), where
    assert _ids(_list(stack, case="C9")) == []

    # since is inclusive, until exclusive; the same instant in any zone means the same.
    t3, t5 = moments[3], moments[5]
    assert _ids(_list(stack, since=t3.isoformat())) == newest_first[: len(plan) - 3]
    assert _ids(_list(stack, until=t3.isoformat())) == newest_first[len(plan) - 3 :]
    window = _ids(_list(stack, since=t3.isoformat(), until=t5.isoformat()))
    assert window == [ids[4], ids[3]]
    beijing = timezone(timedelta(hours=8))
    new_york = timezone(timedelta(hours=-5))
    assert (
        _ids(
            _list(
                stack,
                since=t3.astimezone(beijing).isoformat(),
                until=t5.astimezone(new_york).isoformat(),
            )
        )
        == window
    )
    naive = stack.client.get(
        "/v1/evidence",
        params={"since": t3.replace(tzinfo=None).isoformat()},
        headers=stack.auth("appraiser"),
    )
    assert naive.status_code == 422
    assert naive.json()["field"] == "since"

    # Pages of every size tile the list exactly: no duplicates, no gaps.
    for limit in (1, 2, 3, 7, 8):
        assert _all_pages(stack, limit) == newest_first, limit
    assert _all_pages(stack, 2, platform="mall-a") == expect(platform="mall-a")

    # Newer submissions arriving between pages do not shift the pages being read.
    first = _list(stack, limit=3)
    late = submit(stack, {"late.html": b"<p>late</p>"}).json()["evidence_id"]
    rest = _all_pages(stack, 3, cursor=first["next_cursor"])
    assert _ids(first) + rest == newest_first
    assert late not in rest
    assert _ids(_list(stack, limit=1)) == [late]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor!"}, "cursor"),
        ({"cursor": "eDEy"}, "cursor"),  # base64 of "x12": well formed, not ours
        ({"cursor": "cy0x"}, "cursor"),  # base64 of "s-1"
        ({"cursor": "c" * 65}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"case": "x" * 257}, "case"),
    ],
)
def test_listing_refuses_bad_parameters(
    sqlite_stack: Stack, params: dict[str, Any], field: str
) -> None:
    response = sqlite_stack.client.get(
        "/v1/evidence", params=params, headers=sqlite_stack.auth("officer")
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    if field == "cursor" and len(params["cursor"]) <= 64:
        assert response.json()["detail"] == "cursor is not one this API issued"
