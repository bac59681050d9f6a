"""The stamps path's shortcuts give exactly what the general path gives: ``Entry.stamp``
the validated entry's bytes, ``sign_receipts`` each receipt ``Receipt.sign`` signs, the
batch ids and salts their single forms, SQLite's direct insert the rows SQLAlchemy's
insert writes, and the answer ``StampResponse``'s shape."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, insert, select

from anchoring.entries import make_entry, new_salts
from anchoring.queue import QueuedEntry, enqueue, get_entry
from anchoring.schema import log_entry
from evidence_api.core.ids import new_id, new_ids
from evidence_api.intake.schemas import StampResponse
from evidence_api.intake.submit import StampsIssued
from verifier.canonical import canonical_json
from verifier.errors import NoteFormatError
from verifier.merkle import leaf_hash
from verifier.models import Entry
from verifier.note import SignerKey
from verifier.receipt import Receipt, open_receipt, sign_receipts

SIGNER = SignerKey.generate("stamps.test/log")

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
times = st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z\Z")
salts = st.binary(min_size=16, max_size=32).map(bytes.hex)


@given(ids, hex64, times, salts)
def test_a_stamp_entry_is_the_validated_entry(
    entry_id: str, sha256: str, at: str, salt: str
) -> None:
    fast = Entry.stamp(entry_id, sha256, at, salt)
    slow = make_entry("stamp", entry_id, {"sha256": sha256}, at=at, salt=salt)
    assert fast.leaf_data() == slow.leaf_data() == canonical_json(slow.model_dump(mode="json"))
    assert fast.model_dump() == slow.model_dump()
    assert Entry.model_validate_json(fast.leaf_data()).leaf_data() == fast.leaf_data()


@pytest.mark.parametrize(
    ("entry_id", "sha256", "at", "salt"),
    [
        ("-st", "ab" * 32, "2026-12-04T10:00:00.000Z", "cd" * 16),  # id starts with '-'
        ("st-1\n", "ab" * 32, "2026-12-04T10:00:00.000Z", "cd" * 16),
        ("st-1", "AB" * 32, "2026-12-04T10:00:00.000Z", "cd" * 16),  # upper-case hex
        ("st-1", "ab" * 31, "2026-12-04T10:00:00.000Z", "cd" * 16),
        ("st-1", "ab" * 32, "2026-12-04T10:00:00.000+00:00", "cd" * 16),
        ("st-1", "ab" * 32, "2026-12-04T10:00:00.000Z", "cd" * 15),  # salt too short
        ("st-1", "ab" * 32, "2026-12-04T10:00:00.000Z", "c" * 33),  # odd length
        ("st-" + "x" * 128, "ab" * 32, "2026-12-04T10:00:00.000Z", "cd" * 16),
    ],
)
def test_a_stamp_entry_refuses_what_validation_refuses(
    entry_id: str, sha256: str, at: str, salt: str
) -> None:
    with pytest.raises(ValidationError):
        make_entry("stamp", entry_id, {"sha256": sha256}, at=at, salt=salt)
    with pytest.raises(ValueError):
        Entry.stamp(entry_id, sha256, at, salt)


def test_batch_receipts_are_the_receipts_signed_one_by_one() -> None:
    leaves = [hashlib.sha256(b"leaf %d" % n).digest() for n in range(50)]
    at = "2026-12-04T10:00:00.123Z"
    batch = sign_receipts(SIGNER, leaves, at, 60)
    assert batch == [Receipt(SIGNER.name, leaf, at, 60).sign(SIGNER) for leaf in leaves]
    for leaf, note in zip(leaves, batch, strict=True):
        assert open_receipt(note, [SIGNER.verifier()]).leaf_hash == leaf
    assert sign_receipts(SIGNER, [], at, 60) == []


def test_batch_receipts_check_every_leaf_and_the_shared_fields() -> None:
    leaf = bytes(32)
    with pytest.raises(NoteFormatError, match="32 bytes"):
        sign_receipts(SIGNER, [leaf, b"short"], "2026-12-04T10:00:00Z", 60)
    with pytest.raises(NoteFormatError, match="RFC 3339"):
        sign_receipts(SIGNER, [leaf], "2026-12-04 10:00:00", 60)
    with pytest.raises(NoteFormatError, match="merge delay"):
        sign_receipts(SIGNER, [leaf], "2026-12-04T10:00:00Z", 0)


def test_batch_ids_and_salts_have_the_single_forms() -> None:
    one = new_id("st")
    many = new_ids("st", 1000)
    form = re.compile(r"st-[0-9a-f]{12}[0-9a-f]{16}")
    assert form.fullmatch(one) and all(form.fullmatch(i) for i in many)
    assert len(set(many)) == 1000
    salts = new_salts(1000)
    assert len(set(salts)) == 1000 and all(re.fullmatch(r"[0-9a-f]{32}", s) for s in salts)
    assert new_ids("st", 0) == [] and new_salts(0) == []


def _queued(n: int, received: datetime) -> list[QueuedEntry]:
    out = []
    for i in range(n):
        digest = hashlib.sha256(b"%d" % i).hexdigest()
        entry = Entry.stamp(f"st-q-{i}", digest, "2026-12-04T10:00:00Z", "ab" * 16)
        out.append(QueuedEntry(entry, leaf_hash(entry.leaf_data()), received, f"receipt {i}"))
    return out


def test_sqlite_direct_insert_writes_what_sqlalchemy_writes(sqlite_engine: Engine) -> None:
    """Half the rows through enqueue (the driver's executemany), half through
    SQLAlchemy's own insert of the same values: the stored receive time is the same text
    and reads back the same, and every other column holds its item's value."""
    received = datetime(2026, 12, 4, 18, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    items = _queued(20, received)
    direct, reference = items[:10], items[10:]
    with sqlite_engine.begin() as conn:
        enqueue(conn, direct)
        conn.execute(
            insert(log_entry),
            [
                {
                    "entry_id": q.entry.id,
                    "kind": q.entry.kind,
                    "entry": q.entry.leaf_data().decode(),
                    "leaf_hash": q.leaf_hash,
                    "received_at": q.received_at,
                    "receipt": q.receipt,
                    "stamp_sha256": bytes.fromhex(q.entry.body["sha256"]),
                }
                for q in reference
            ],
        )
        rows = conn.execute(select(log_entry).order_by(log_entry.c.seq)).all()
        stored = conn.exec_driver_sql("SELECT received_at FROM log_entry ORDER BY seq").all()
        first = get_entry(conn, "st-q-0")
    assert len(rows) == 20 and len({text for (text,) in stored}) == 1
    assert len({row._mapping["received_at"] for row in rows}) == 1
    for row, item in zip(rows, items, strict=True):
        m = row._mapping
        assert (m["entry_id"], m["kind"], m["receipt"]) == (item.entry.id, "stamp", item.receipt)
        assert m["entry"] == item.entry.leaf_data().decode()
        assert bytes(m["leaf_hash"]) == item.leaf_hash
        assert bytes(m["stamp_sha256"]) == bytes.fromhex(item.entry.body["sha256"])
        assert m["leaf_index"] is None and m["sealed_at"] is None
    assert first is not None and first.received_at == rows[10]._mapping["received_at"]


def test_the_answer_has_the_documented_shape() -> None:
    leaf = leaf_hash(b"x")
    issued = StampsIssued(
        "2026-12-04T10:00:00.000Z",
        60,
        [{"digest": "ab" * 32, "entry_id": "st-1", "leaf_hash": leaf.hex(), "receipt": "r\n"}],
    )
    parsed = StampResponse.model_validate_json(issued.json())
    assert parsed.model_dump() == {
        "received_at": issued.received_at,
        "max_merge_delay": 60,
        "receipts": issued.receipts,
    }
