"""The store checks itself: objects, manifests, rows and the tree against the log.

Bounded passes in the background (``/readyz`` is not ready while an incident is open), and
every download or export checked in full before its first byte leaves (docs/design.md §11.3).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, select, update

from anchoring.errors import LogError
from anchoring.log import MerkleLog
from anchoring.queue import EntryRecord, get_entry, latest_checkpoint
from anchoring.schema import log_checkpoint, log_entry
from anchoring.store.sql import SqlNodeStore
from evidence_api.core.db import Transaction
from evidence_api.core.errors import ApiError
from evidence_api.core.storage import (
    ObjectNotFoundError,
    ObjectStore,
    StorageIntegrityError,
    StorageUnavailableError,
    content_key,
)
from evidence_api.intake.models import Evidence
from evidence_api.integrity.models import IntegrityIncident
from verifier.canonical import parse_json
from verifier.checkpoint import open_checkpoint
from verifier.digests import DualHasher, sm3_hex
from verifier.errors import VerifierError
from verifier.merkle import leaf_hash, node_hash, verify_consistency, verify_inclusion
from verifier.models import Entry, Manifest, ManifestFile
from verifier.note import VerifierKey

if TYPE_CHECKING:
    from evidence_api.core.runtime import Runtime

log = logging.getLogger(__name__)

#: Largest manifest or entry text parsed (a manifest of 1,000 files is ~400 kB).
MAX_JSON_BYTES = 1 << 20
#: Open incidents named in ``/readyz`` (the rest are counted).
READYZ_ITEMS = 5


class IntegrityFailureError(ApiError):
    """The stored item is not what the log committed to; serving it is refused."""

    status = 409
    code = "integrity_failure"


@dataclass(frozen=True)
class Holdings:
    """What the checks read and where they record: the object store, the database (reads
    through ``engine``, incidents through ``transaction``), the log's key, and the pass
    sizes (newest items checked every pass, older ones sampled)."""

    store: ObjectStore
    engine: Engine
    transaction: Transaction
    log_key: VerifierKey
    recent: int = 0
    sample: int = 0

    @classmethod
    def of(cls, runtime: Runtime) -> Holdings:
        """The running service's holdings (built at the edge: routes and jobs)."""
        return cls(
            store=runtime.store,
            engine=runtime.engine,
            transaction=runtime.session,
            log_key=runtime.signer.verifier(),
            recent=runtime.settings.integrity_recent,
            sample=runtime.settings.integrity_sample,
        )


@dataclass(frozen=True)
class Finding:
    """One mismatch: the damaged ``item`` (``evidence:<id>``, ``leaf:<index>``,
    ``checkpoint:<size>``), what kind of damage, and the facts."""

    item: str
    kind: str
    detail: str


class DamagedError(Exception):
    """Raised by the chain checks with the first :class:`Finding` that broke the chain."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.detail)
        self.finding = finding


# --- evidence: entry -> manifest -> row and objects ---------------------------------


def _item(evidence_id: str) -> str:
    return f"evidence:{evidence_id}"


def logged_manifest(conn: Connection, row: Evidence, record: EntryRecord | None = None) -> Manifest:
    """The manifest of ``row``, shown to agree with its log entry (``DamagedError`` if not).

    ``record`` is the entry if the caller already fetched it. Checks: the entry
    hashes to its leaf hash, which is the row's and (once sealed) the tree's
    leaf; the entry is this evidence's; the manifest text hashes to the
    entry's SHA-256 and SM3 and names this evidence.
    """
    item = _item(row.id)
    record = record if record is not None else get_entry(conn, row.id)
    if record is None:
        raise DamagedError(Finding(item, "entry", f"no log entry for evidence {row.id}"))
    _check_entry_record(item, record)
    if record.leaf_index is not None:
        try:
            in_tree = MerkleLog(SqlNodeStore(conn)).leaf_hash(record.leaf_index)
        except LogError as exc:
            raise DamagedError(Finding(item, "tree", f"leaf {record.leaf_index}: {exc}")) from exc
        if in_tree != record.leaf_hash:
            raise DamagedError(
                Finding(
                    item,
                    "tree",
                    f"tree leaf {record.leaf_index} is {in_tree.hex()}, the log entry's "
                    f"{record.leaf_hash.hex()}",
                )
            )
    if record.leaf_hash.hex() != row.leaf_hash:
        raise DamagedError(
            Finding(
                item,
                "row",
                f"evidence row says leaf hash {row.leaf_hash}, its log entry "
                f"{record.leaf_hash.hex()}",
            )
        )
    try:
        entry = Entry.model_validate(parse_json(record.entry_json, max_bytes=MAX_JSON_BYTES))
    except (VerifierError, ValueError) as exc:
        raise DamagedError(Finding(item, "entry", f"log entry is unreadable: {exc}"[:500])) from exc
    if entry.kind != "evidence" or entry.id != row.id:
        raise DamagedError(
            Finding(item, "entry", f"log entry is {entry.kind} {entry.id}, not evidence {row.id}")
        )
    text = row.manifest.encode("utf-8")
    sha, sm3 = hashlib.sha256(text).hexdigest(), sm3_hex(text)
    want_sha, want_sm3 = entry.body.get("manifest_sha256"), entry.body.get("manifest_sm3")
    if (sha, sm3) != (want_sha, want_sm3):
        raise DamagedError(
            Finding(
                item,
                "manifest",
                f"manifest in the database hashes to sha256 {sha}, sm3 {sm3}; "
                f"the log entry says sha256 {want_sha}, sm3 {want_sm3}",
            )
        )
    try:
        manifest = Manifest.model_validate(parse_json(text, max_bytes=MAX_JSON_BYTES))
    except (VerifierError, ValueError) as exc:  # pragma: no cover - it hashed to the entry
        raise DamagedError(
            Finding(item, "manifest", f"manifest is unreadable: {exc}"[:500])
        ) from exc
    if manifest.evidence_id != row.id:  # pragma: no cover - the entry names the row's id
        raise DamagedError(Finding(item, "manifest", f"manifest is of {manifest.evidence_id}"))
    return manifest


def _check_entry_record(item: str, record: EntryRecord) -> None:
    """The stored entry hashes to its leaf hash, which (once sealed) is the tree's leaf."""
    computed = leaf_hash(record.entry_json.encode("utf-8"))
    if computed != record.leaf_hash:
        raise DamagedError(
            Finding(
                item,
                "entry",
                f"log entry {record.entry_id} hashes to leaf {computed.hex()}, "
                f"stored as {record.leaf_hash.hex()}",
            )
        )


def row_findings(row: Evidence, manifest: Manifest) -> list[Finding]:
    """Where the database row says something other than the logged manifest."""
    item = _item(row.id)
    differ: list[str] = []
    for name, stored, logged in (
        ("source_url", row.source_url, manifest.source.url),
        ("platform", row.platform, manifest.source.platform),
        ("entity", row.entity, manifest.source.entity),
        ("case_ref", row.case_ref, manifest.case),
        ("captured_at", row.captured_at, manifest.captured_at),
    ):
        if stored != logged:
            differ.append(f"{name} is {stored!r}, the manifest says {logged!r}")
    files = list(row.files)
    if [f.name for f in files] != [f.name for f in manifest.files]:
        differ.append(
            f"files are {[f.name for f in files]}, the manifest lists "
            f"{[f.name for f in manifest.files]}"
        )
    else:
        for f, m in zip(files, manifest.files, strict=True):
            pairs: tuple[tuple[str, object, object], ...] = (
                ("media_type", f.media_type, m.media_type),
                ("size", f.size, m.size),
                ("sha256", f.sha256, m.sha256),
                ("sm3", f.sm3, m.sm3),
                ("storage_key", f.storage_key, content_key(m.sha256)),
            )
            for field, value, want in pairs:
                if value != want:
                    differ.append(f"file {f.name!r}: {field} is {value!r}, not {want!r}")
    if differ:
        return [
            Finding(item, "row", "database row differs from its manifest: " + "; ".join(differ))
        ]
    return []


def verify_object(
    holdings: Holdings, item: str, key: str, version: str | None, expected: ManifestFile
) -> Finding | None:
    """Hash the object in full (SHA-256 and SM3) and compare it with ``expected``.

    ``None`` if it matches; a finding if it differs or is missing. Raises
    ``StorageUnavailableError`` when the store cannot be read (not a finding:
    nothing is known about the object then).
    """
    hasher = DualHasher()
    try:
        for chunk in holdings.store.open_stream(key, version_id=version):
            hasher.update(chunk)
    except ObjectNotFoundError:
        return Finding(item, "object_missing", f"object {key} of {expected.name!r} is missing")
    except StorageIntegrityError as exc:
        return Finding(item, "object", f"object {key} of {expected.name!r}: {exc}")
    got = hasher.result(expected.name)
    if (got.size, got.sha256, got.sm3) != (expected.size, expected.sha256, expected.sm3):
        return Finding(
            item,
            "object",
            f"object {key} of {expected.name!r} is {got.size} bytes, sha256 {got.sha256}, "
            f"sm3 {got.sm3}; the manifest says {expected.size} bytes, sha256 "
            f"{expected.sha256}, sm3 {expected.sm3}",
        )
    return None


def object_findings(
    holdings: Holdings, row: Evidence, manifest: Manifest, names: Iterable[str] | None = None
) -> list[Finding]:
    """The manifest object and each file object (or only ``names``) against the manifest."""
    item = _item(row.id)
    found: list[Finding] = []
    canonical = manifest.canonical()
    as_file = ManifestFile(
        name="manifest.json",
        media_type="application/json",
        size=len(canonical),
        sha256=hashlib.sha256(canonical).hexdigest(),
        sm3=sm3_hex(canonical),
    )
    wanted = set(names) if names is not None else None
    if wanted is None:  # the stored manifest object too
        stored = verify_object(holdings, item, row.manifest_key, row.manifest_version, as_file)
        if stored is not None:
            found.append(stored)
    versions = {f.name: f.storage_version for f in row.files}
    for m in manifest.files:
        if wanted is not None and m.name not in wanted:
            continue
        key = content_key(m.sha256)  # the manifest's address, not the row's copy
        if (bad := verify_object(holdings, item, key, versions.get(m.name), m)) is not None:
            found.append(bad)
    return found


def check_evidence(holdings: Holdings, row: Evidence) -> list[Finding]:
    """Every check of one evidence item: chain, row, objects."""
    try:
        with holdings.engine.connect() as conn:
            manifest = logged_manifest(conn, row)
    except DamagedError as damaged:
        return [damaged.finding]
    return row_findings(row, manifest) + object_findings(holdings, row, manifest)


# --- the tree: entries and tiles against the newest checkpoint ----------------------


def check_tree(
    holdings: Holdings, indices: Iterable[int], older: Iterable[int] = ()
) -> tuple[list[Finding], int]:
    """The newest checkpoint against the key and the tree; each leaf of ``indices``
    (below its size) against its entry and, by inclusion, against the root; each
    older checkpoint whose size is in ``older`` against the newest by consistency.

    The consistency checks matter: the sealer builds on the stored nodes, so a node
    changed before the next seal is in the next checkpoint's root; only the older,
    signed roots still tell.

    Returns the findings and the newest checkpoint's size (0: no checkpoint yet).
    """
    with holdings.engine.connect() as conn:
        record = latest_checkpoint(conn)
        if record is None:
            return [], 0
        size = int(record.size)
        bad = _checkpoint_finding(holdings, record.note, size, record.root)
        if bad is not None:
            return [bad], size
        tree = MerkleLog(SqlNodeStore(conn))
        item = f"checkpoint:{size}"
        try:
            root = tree.root(size)
        except LogError as exc:
            return [Finding(item, "tree", f"tree cannot give the root at {size}: {exc}")], size
        if root != record.root:
            return [
                Finding(
                    item,
                    "tree",
                    f"tree root at size {size} is {root.hex()}, the signed checkpoint's "
                    f"{record.root.hex()}",
                )
            ], size
        findings = []
        for old in conn.execute(
            select(log_checkpoint).where(
                log_checkpoint.c.size.in_(sorted({s for s in older if 0 < s < size}))
            )
        ).all():
            old_root = bytes(old.root)
            finding = _checkpoint_finding(holdings, old.note, int(old.size), old_root)
            if finding is None:
                try:
                    proof = tree.consistency_proof(int(old.size), size)
                    verify_consistency(int(old.size), size, old_root, record.root, proof)
                except (LogError, VerifierError) as exc:
                    finding = Finding(
                        f"checkpoint:{old.size}",
                        "tree",
                        f"the tree at {size} does not extend checkpoint {old.size}: {exc}",
                    )
            if finding is not None:
                findings.append(finding)
        for index in sorted({i for i in indices if 0 <= i < size}):
            finding = _check_leaf(conn, tree, index, size, record.root)
            if finding is not None:
                findings.append(finding)
        return findings, size


def _checkpoint_finding(holdings: Holdings, note: str, size: int, root: bytes) -> Finding | None:
    """The checkpoint row's note is signed by the log key and says the row's size and root."""
    item = f"checkpoint:{size}"
    try:
        signed = open_checkpoint(note, [holdings.log_key])
    except VerifierError as exc:
        return Finding(item, "checkpoint", f"checkpoint signature: {exc}")
    if (signed.size, signed.root) != (size, root):
        return Finding(item, "checkpoint", "checkpoint row differs from its signed note")
    return None


def checkpoint_sample(holdings: Holdings, size: int, count: int) -> set[int]:
    """The checkpoint before the newest and up to ``count`` random older ones (sizes)."""
    picked: set[int] = set()
    with holdings.engine.connect() as conn:
        previous = conn.execute(
            select(func.max(log_checkpoint.c.size)).where(log_checkpoint.c.size < size)
        ).scalar()
        if previous is not None:
            picked.add(int(previous))
        for low in _sample(1, size, count):
            found = conn.execute(
                select(func.min(log_checkpoint.c.size)).where(log_checkpoint.c.size >= low)
            ).scalar()
            if found is not None and found < size:
                picked.add(int(found))
    return picked


def _check_leaf(
    conn: Connection, tree: MerkleLog, index: int, size: int, root: bytes
) -> Finding | None:
    item = f"leaf:{index}"
    row = conn.execute(
        select(
            log_entry.c.seq,
            log_entry.c.entry_id,
            log_entry.c.kind,
            log_entry.c.entry,
            log_entry.c.leaf_hash,
            log_entry.c.received_at,
            log_entry.c.receipt,
            log_entry.c.leaf_index,
        ).where(log_entry.c.leaf_index == index)
    ).first()
    if row is None:
        return Finding(item, "entry", f"no log entry at leaf {index}")
    record = EntryRecord(
        row.seq,
        row.entry_id,
        row.kind,
        row.entry,
        bytes(row.leaf_hash),
        row.received_at,
        row.receipt,
        row.leaf_index,
    )
    try:
        _check_entry_record(item, record)
        stored = tree.leaf_hash(index)
        if stored != record.leaf_hash:
            return Finding(
                item,
                "tree",
                f"tree leaf {index} is {stored.hex()}, entry {record.entry_id}'s "
                f"{record.leaf_hash.hex()}",
            )
        proof = tree.inclusion_proof(index, size)
        verify_inclusion(stored, index, size, proof, root)
        path = _path_finding(tree, index, size, stored, proof)
    except DamagedError as damaged:
        return damaged.finding
    except (LogError, VerifierError) as exc:
        return Finding(
            item, "tree", f"leaf {index} ({record.entry_id}) is not in checkpoint {size}: {exc}"
        )
    return path


def _path_finding(
    tree: MerkleLog, index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> Finding | None:
    """The stored ancestors of the leaf (whole subtrees) equal what its proof rebuilds.

    The inclusion proof reads only siblings; a changed node on the leaf's own path
    would show in another leaf's proof, and is caught here without one.
    """
    running, level, position = leaf, 0, index
    for sibling in proof:
        start = (position ^ 1) << level  # the sibling's first leaf
        if start + (1 << level) > size:
            break  # past the last whole subtree: the rest folds the right border
        running = node_hash(sibling, running) if position & 1 else node_hash(running, sibling)
        level, position = level + 1, position >> 1
        stored = tree.store.get_nodes([(level, position)])[0]
        if stored != running:
            return Finding(
                f"leaf:{index}",
                "tree",
                f"stored node ({level}, {position}) is {stored.hex()}, its children give "
                f"{running.hex()}",
            )
    return None


# --- incidents ----------------------------------------------------------------------


def record_incidents(holdings: Holdings, findings: Sequence[Finding]) -> None:
    """Store each finding as an open incident (once per item and kind) and log it."""
    if not findings:
        return
    now = datetime.now(UTC)
    with holdings.transaction() as session:
        open_now = {
            (i.item, i.kind)
            for i in session.execute(
                select(IntegrityIncident).where(
                    IntegrityIncident.resolved_at.is_(None),
                    IntegrityIncident.item.in_({f.item for f in findings}),
                )
            ).scalars()
        }
        for f in findings:
            if (f.item, f.kind) in open_now:
                continue
            open_now.add((f.item, f.kind))
            log.error("integrity incident: %s (%s): %s", f.item, f.kind, f.detail)
            session.add(
                IntegrityIncident(found_at=now, item=f.item, kind=f.kind, detail=f.detail[:4000])
            )


def open_items(holdings: Holdings) -> list[str]:
    """The items of open incidents, oldest first."""
    with holdings.transaction() as session:
        rows = session.execute(
            select(IntegrityIncident.item)
            .where(IntegrityIncident.resolved_at.is_(None))
            .order_by(IntegrityIncident.id)
        ).scalars()
        return list(dict.fromkeys(rows))


def _resolve(holdings: Holdings, items: Iterable[str]) -> None:
    items = list(items)
    if not items:
        return
    with holdings.transaction() as session:
        session.execute(
            update(IntegrityIncident)
            .where(IntegrityIncident.resolved_at.is_(None), IntegrityIncident.item.in_(items))
            .values(resolved_at=datetime.now(UTC))
        )
    log.warning("integrity incidents closed: %s intact again", ", ".join(items))


def refuse(holdings: Holdings, findings: Sequence[Finding]) -> IntegrityFailureError:
    """Record ``findings`` and build the 409 that refuses to serve the item."""
    record_incidents(holdings, findings)
    return IntegrityFailureError(
        "the stored evidence is not what the log committed to; it is not served and an "
        "integrity incident is recorded: " + "; ".join(f.detail for f in findings)[:1500]
    )


# --- reads --------------------------------------------------------------------------


def verified_manifest(holdings: Holdings, row: Evidence) -> Manifest:
    """The logged manifest of ``row`` for a read (409 and an incident if the chain breaks)."""
    try:
        with holdings.engine.connect() as conn:
            return logged_manifest(conn, row)
    except DamagedError as damaged:
        raise refuse(holdings, [damaged.finding]) from None


def verified_manifests(holdings: Holdings, rows: Sequence[Evidence]) -> list[Manifest]:
    """:func:`verified_manifest` of many rows with one entry query."""
    if not rows:
        return []
    with holdings.engine.connect() as conn:
        found = conn.execute(
            select(log_entry).where(log_entry.c.entry_id.in_([r.id for r in rows]))
        ).all()
        records = {
            r.entry_id: EntryRecord(
                r.seq,
                r.entry_id,
                r.kind,
                r.entry,
                bytes(r.leaf_hash),
                r.received_at,
                r.receipt,
                r.leaf_index,
            )
            for r in found
        }
        out, damaged = [], []
        for row in rows:
            record = records.get(row.id)
            try:
                if record is None:
                    raise DamagedError(
                        Finding(_item(row.id), "entry", f"no log entry for {row.id}")
                    )
                out.append(logged_manifest(conn, row, record))
            except DamagedError as exc:
                damaged.append(exc.finding)
    if damaged:
        raise refuse(holdings, damaged)
    return out


def verified_evidence(
    holdings: Holdings, row: Evidence, names: Iterable[str] | None = None
) -> Manifest:
    """Before serving files of ``row``: its chain to the log, and every object (or those
    of ``names``) hashed in full against the manifest. 409 and an incident on a
    mismatch; ``StorageUnavailableError`` (503) if the store cannot be read."""
    manifest = verified_manifest(holdings, row)
    findings = object_findings(holdings, row, manifest, names)
    if findings:
        raise refuse(holdings, findings)
    return manifest


# --- the check itself ---------------------------------------------------------------


def _sample(low: int, high: int, count: int) -> set[int]:
    """Up to ``count`` distinct random integers in ``[low, high)``."""
    if high <= low or count <= 0:
        return set()
    if high - low <= count:
        return set(range(low, high))
    return set(random.sample(range(low, high), count))


class IntegrityChecker:
    """Runs bounded passes; answers ``/readyz``'s ``integrity`` check."""

    def __init__(self, holdings: Holdings) -> None:
        self.holdings = holdings
        self._first_done = threading.Event()
        self._pass_lock = threading.Lock()
        self.last_pass: datetime | None = None

    def readiness(self) -> str:
        if not self._first_done.is_set():
            return "checking: the first integrity pass has not finished"
        items = open_items(self.holdings)
        if not items:
            return "ok"
        named = ", ".join(items[:READYZ_ITEMS])
        more = f" and {len(items) - READYZ_ITEMS} more" if len(items) > READYZ_ITEMS else ""
        return f"failed: integrity incident for {named}{more}"

    def mark_done(self) -> None:
        """Count the first pass as done without running it (checks switched off)."""
        self._first_done.set()

    def run_pass(self) -> list[Finding]:
        """One bounded pass; returns what it found (also recorded as incidents)."""
        with self._pass_lock:
            try:
                return self._run_pass()
            except StorageUnavailableError as exc:
                log.warning("integrity pass skipped objects: storage unavailable: %s", exc)
                return []
            finally:
                self.last_pass = datetime.now(UTC)
                self._first_done.set()

    def _run_pass(self) -> list[Finding]:
        recent, sample = self.holdings.recent, self.holdings.sample
        reopened = open_items(self.holdings)
        evidence_ids = {i.removeprefix("evidence:") for i in reopened if i.startswith("evidence:")}
        leaves = {int(i.removeprefix("leaf:")) for i in reopened if i.startswith("leaf:")}
        with self.holdings.transaction() as session:
            top = session.execute(select(func.max(Evidence.seq))).scalar() or 0
            low = session.execute(select(func.min(Evidence.seq))).scalar() or 0
            seqs = set(range(max(low, top - recent + 1), top + 1)) if top else set()
            seqs |= _sample(low, max(low, top - recent + 1), sample)
            rows = list(
                session.execute(
                    select(Evidence).where(
                        Evidence.seq.in_(sorted(seqs)) | Evidence.id.in_(sorted(evidence_ids))
                    )
                ).scalars()
            )
            for row in rows:
                _ = row.files  # loaded while the session is open
        findings: list[Finding] = []
        for row in rows:
            findings += check_evidence(self.holdings, row)
        with self.holdings.engine.connect() as conn:
            size = MerkleLog(SqlNodeStore(conn)).size
        leaves |= set(range(max(0, size - recent), size)) | _sample(
            0, max(0, size - recent), sample
        )
        older = checkpoint_sample(self.holdings, size, sample)
        older |= {
            int(i.removeprefix("checkpoint:")) for i in reopened if i.startswith("checkpoint:")
        }
        tree_findings, newest = check_tree(self.holdings, leaves, older)
        findings += tree_findings
        record_incidents(self.holdings, findings)
        damaged = {f.item for f in findings}
        checked = {_item(r.id) for r in rows} | {f"leaf:{i}" for i in leaves}
        checked |= {f"checkpoint:{s}" for s in older | {newest}}
        _resolve(self.holdings, [i for i in reopened if i in checked and i not in damaged])
        log.info(
            "integrity pass: %d evidence items, %d leaves checked; %d findings",
            len(rows),
            len(leaves),
            len(findings),
        )
        return findings
