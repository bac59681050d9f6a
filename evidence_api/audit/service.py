"""The full audit: every stored entry, node, checkpoint, object, anchor, cosignature and
timestamp checked, in phases, in batches, each batch's findings and the cursor saved
together (an interrupted run resumes where it stopped).

Phases, in order (docs/audit.md):

- ``entries``: every log entry row (by ``seq``) hashes, as an RFC 9162 leaf, to its
  ``leaf_hash`` column and names its ``entry_id`` and ``kind``;
- ``tree``: the tree rebuilt from the sealed entries' leaf data in leaf order, level by
  level with only the right border in memory; every stored node (``merkle_tile``) and
  every checkpoint row's root compared with it;
- ``checkpoints``: every checkpoint row's note verifies with the log key and says the
  row's size and root;
- ``objects``: every evidence item's manifest against its log entry
  (:func:`~evidence_api.integrity.service.logged_manifest`), its row against the manifest,
  every stored object re-hashed (SHA-256 and SM3) against the manifest;
- ``anchors``: each confirmed ``anchor_tx`` against the checkpoint of its size and, with a
  chain, against the contract's record;
- ``cosignatures``: each stored cosignature against the configured witness keys;
- ``timestamps``: each stored RFC 3161 token against its authority's certificates.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from anchoring.layout import fold
from anchoring.schema import (
    TILE_WIDTH,
    anchor_tx,
    checkpoint_cosignature,
    checkpoint_timestamp,
    log_checkpoint,
    log_entry,
    merkle_log,
    merkle_tile,
)
from anchoring.store.sql import LEVEL_SHIFT, tile_id
from evidence_api.audit.models import AuditFinding, AuditRun
from evidence_api.core.errors import ApiError, InvalidInputError, NotFoundError
from evidence_api.core.storage import ObjectStore, StorageUnavailableError, content_key
from evidence_api.intake.models import Evidence
from evidence_api.integrity.service import (
    DamagedError,
    Holdings,
    _checkpoint_finding,
    logged_manifest,
    row_findings,
    verify_object,
)
from verifier.digests import sm3_hex
from verifier.errors import VerifierError
from verifier.merkle import HASH_SIZE, leaf_hash, node_hash
from verifier.models import ManifestFile
from verifier.note import VerifierKey, parse_note

if TYPE_CHECKING:
    from evidence_api.core.runtime import Runtime

log = logging.getLogger(__name__)

PHASES = ("entries", "tree", "checkpoints", "objects", "anchors", "cosignatures", "timestamps")
#: leaves (entry rows, checkpoints, anchors...) per batch; evidence items per objects batch
BATCH = 2000
OBJECT_BATCH = 20
MIN_BATCH, MAX_BATCH = 10, 100_000
#: findings stored per run; beyond, they are counted (``counts["unrecorded"]``) only
MAX_FINDINGS = 10_000
DETAIL_CHARS = 2000

Progress = Callable[[str, int, int], None]


class AuditUnusableError(Exception):
    """The audit cannot run (nothing to resume, the database unreadable): exit 3."""


class RunNotFoundError(NotFoundError):
    code = "audit_run_not_found"


class AuditBusyError(ApiError):
    status = 409
    code = "audit_running"


class NotAcknowledgeableError(ApiError):
    status = 409
    code = "audit_not_acknowledgeable"


@dataclass(frozen=True)
class ChainView:
    """The chain's record of an anchored root: ``(size, block)`` or None (not there).
    ``reason`` says why anchors are not checked on chain when ``lookup`` is None."""

    lookup: Callable[[bytes], tuple[int, int] | None] | None
    reason: str = ""


@dataclass(frozen=True)
class AuditContext:
    """What the audit reads: the database, the object store, the log key, the witness
    keys and the time-stamping authorities' certificates, the chain (if any)."""

    engine: Engine
    store: ObjectStore
    log_key: VerifierKey
    #: vkey texts of the configured witnesses
    witnesses: tuple[str, ...] = ()
    #: (name, PEM/DER certificate file) of the configured authorities
    tsas: tuple[tuple[str, Path], ...] = ()
    chain: ChainView = field(default_factory=lambda: ChainView(None, "no chain configured"))
    batch: int = BATCH

    @classmethod
    def of(cls, runtime: Runtime, *, batch: int = BATCH) -> AuditContext:
        return cls(
            engine=runtime.engine,
            store=runtime.store,
            log_key=runtime.signer.verifier(),
            witnesses=tuple(w.vkey for w in runtime.settings.witnesses),
            tsas=tuple((t.name, t.cert_file) for t in runtime.settings.tsas),
            chain=chain_view(runtime),
            batch=batch,
        )


def chain_view(runtime: Runtime) -> ChainView:
    """The runtime's chain as the anchors phase reads it (contract ``checkpointOf``)."""
    chain = runtime.chain
    if chain is None:
        why = "no chain configured" if runtime.settings.chain == "none" else "chain not connected"
        return ChainView(None, why)
    client, log_id = chain.client, chain.config.log_id

    def lookup(root: bytes) -> tuple[int, int] | None:
        found = client.checkpoint_of(log_id, root)
        return None if found is None else (found.size, found.block_number)

    return ChainView(lookup)


@dataclass
class Found:
    kind: str
    location: str
    detail: str


@dataclass
class _State:
    """A run's position: the phase, the position in it, the tree's right border (each
    node's hash and whether it already differs because of a reported finding)."""

    phase: str = PHASES[0]
    pos: int = 0
    border: list[tuple[bytes, bool]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def cursor(self) -> str:
        return json.dumps(
            {
                "phase": self.phase,
                "pos": self.pos,
                "border": [[h.hex(), t] for h, t in self.border],
            }
        )

    @classmethod
    def load(cls, cursor: str | None, counts: str | None) -> _State:
        state = cls(counts=json.loads(counts) if counts else {})
        if cursor:
            raw = json.loads(cursor)
            state.phase, state.pos = str(raw["phase"]), int(raw["pos"])
            state.border = [(bytes.fromhex(h), bool(t)) for h, t in raw["border"]]
        if state.phase not in PHASES and state.phase != "done":
            raise AuditUnusableError(f"the run's cursor names no phase: {state.phase!r}")
        return state

    def add(self, name: str, count: int = 1) -> None:
        self.counts[name] = int(self.counts.get(name, 0)) + count


@dataclass
class Outcome:
    run_id: int
    status: str
    findings: int
    counts: dict[str, Any]


class Auditor:
    """One run of the audit over ``context``; ``stop_after`` batches (a test's stop hook)
    then ``interrupted``; ``progress(phase, done, total)`` after every batch."""

    def __init__(
        self,
        context: AuditContext,
        *,
        progress: Progress | None = None,
        stop_after: int | None = None,
        phases: Sequence[str] = PHASES,
    ) -> None:
        unknown = set(phases) - set(PHASES)
        if unknown:
            raise ValueError(f"unknown audit phases: {sorted(unknown)}")
        self.phases = tuple(phases)
        self.ctx = context
        self.sessions = sessionmaker(context.engine, expire_on_commit=False)
        self.progress = progress or (lambda _phase, _done, _total: None)
        self.stop_after = stop_after
        self.batches = 0
        self.holdings = Holdings(
            store=context.store,
            engine=context.engine,
            transaction=self._transaction,
            log_key=context.log_key,
        )

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    # --- runs ------------------------------------------------------------------------

    def start(self) -> int:
        with self._transaction() as session:
            run = AuditRun(started_at=datetime.now(UTC), status="running", findings=0)
            session.add(run)
            session.flush()
            return int(run.id)

    def resumable(self) -> int:
        """The newest interrupted run (``AuditUnusableError`` if there is none)."""
        with self._transaction() as session:
            found = session.execute(
                select(AuditRun.id)
                .where(AuditRun.status == "interrupted")
                .order_by(AuditRun.id.desc())
                .limit(1)
            ).scalar()
        if found is None:
            raise AuditUnusableError("no interrupted audit run to resume")
        return int(found)

    def run(self, run_id: int) -> Outcome:
        """Run (or go on with) ``run_id`` to its end, or until the stop hook."""
        with self._transaction() as session:
            run = session.get(AuditRun, run_id)
            if run is None:
                raise AuditUnusableError(f"no audit run {run_id}")
            state = _State.load(run.cursor, run.counts)
            found = int(run.findings)
            run.status = "running"
        try:
            while state.phase != "done":
                if state.phase not in self.phases:  # left out (the bench's entries and tree)
                    state.phase, state.pos, state.border = _next(state.phase), 0, []
                    continue
                if self._stop_now():
                    return self._finish(run_id, "interrupted", found, state)
                phase = state.phase
                batch, more = self._step(state)
                if not more:
                    state.phase, state.pos, state.border = _next(state.phase), 0, []
                found = self._save(run_id, state, batch, found, phase)
                self.batches += 1
        except BaseException:  # Ctrl-C, a crash: the last saved batch is where --resume goes on
            with self._transaction() as session:
                session.execute(
                    update(AuditRun).where(AuditRun.id == run_id).values(status="interrupted")
                )
            raise
        return self._finish(run_id, "failed" if found else "clean", found, state)

    def _stop_now(self) -> bool:
        return self.stop_after is not None and self.batches >= self.stop_after

    def _save(
        self, run_id: int, state: _State, batch: Sequence[Found], found: int, phase: str
    ) -> int:
        """The batch's findings and the cursor, in one transaction."""
        now = datetime.now(UTC)
        with self._transaction() as session:
            for f in batch:
                if found >= MAX_FINDINGS:
                    state.add("unrecorded")
                else:
                    session.add(
                        AuditFinding(
                            run_id=run_id,
                            kind=f.kind,
                            location=f.location[:300],
                            detail=f.detail[:DETAIL_CHARS],
                            found_at=now,
                        )
                    )
                found += 1
            session.execute(
                update(AuditRun)
                .where(AuditRun.id == run_id)
                .values(cursor=state.cursor(), counts=json.dumps(state.counts), findings=found)
            )
        if batch:
            first = batch[0]
            log.error(
                "audit run %d, %s: %d findings in this batch, first %s at %s: %s",
                run_id,
                phase,
                len(batch),
                first.kind,
                first.location,
                first.detail,
            )
        return found

    def _finish(self, run_id: int, status: str, found: int, state: _State) -> Outcome:
        with self._transaction() as session:
            session.execute(
                update(AuditRun)
                .where(AuditRun.id == run_id)
                .values(
                    status=status,
                    finished_at=datetime.now(UTC) if status != "interrupted" else None,
                    findings=found,
                )
            )
        log.info("audit run %d %s: %d findings", run_id, status, found)
        return Outcome(run_id, status, found, dict(state.counts))

    # --- phases ----------------------------------------------------------------------

    def _step(self, state: _State) -> tuple[list[Found], bool]:
        """One batch of the current phase: its findings, and whether the phase goes on."""
        step: Callable[[Connection, _State], tuple[list[Found], bool]] = getattr(
            self, f"_{state.phase}"
        )
        with self.ctx.engine.connect() as conn:
            return step(conn, state)

    def _entries(self, conn: Connection, state: _State) -> tuple[list[Found], bool]:
        total = conn.execute(select(func.count()).select_from(log_entry)).scalar() or 0
        rows = conn.execute(
            select(
                log_entry.c.seq,
                log_entry.c.entry_id,
                log_entry.c.kind,
                log_entry.c.entry,
                log_entry.c.leaf_hash,
            )
            .where(log_entry.c.seq > state.pos)
            .order_by(log_entry.c.seq)
            .limit(self.ctx.batch)
        ).all()
        found: list[Found] = []
        for row in rows:
            data = row.entry.encode("utf-8")
            computed = leaf_hash(data)
            where = f"entry:{row.entry_id}"
            if computed != bytes(row.leaf_hash):
                found.append(
                    Found(
                        "entry",
                        where,
                        f"log entry {row.entry_id} (seq {row.seq}) hashes to leaf "
                        f"{computed.hex()}, its leaf_hash column says {bytes(row.leaf_hash).hex()}",
                    )
                )
            else:
                try:
                    parsed = json.loads(row.entry)
                    named = (parsed.get("id"), parsed.get("kind"))
                except (ValueError, AttributeError):
                    named = (None, None)
                if named != (row.entry_id, row.kind):
                    found.append(
                        Found(
                            "entry",
                            where,
                            f"log entry at seq {row.seq} names {named[0]!r} ({named[1]!r}), "
                            f"its row {row.entry_id!r} ({row.kind!r})",
                        )
                    )
        state.add("entries", len(rows))
        if rows:
            state.pos = int(rows[-1].seq)
        self.progress("entries", int(state.counts.get("entries", 0)), int(total))
        return found, len(rows) == self.ctx.batch

    def _tree(self, conn: Connection, state: _State) -> tuple[list[Found], bool]:
        size = int(conn.execute(select(merkle_log.c.size)).scalar() or 0)
        start, end = state.pos, min(state.pos + self.ctx.batch, size)
        found: list[Found] = []
        if start == 0:
            for beyond in conn.execute(
                select(log_entry.c.entry_id, log_entry.c.leaf_index).where(
                    log_entry.c.leaf_index >= size
                )
            ).all():
                found.append(
                    Found(
                        "entry",
                        f"entry:{beyond.entry_id}",
                        f"log entry {beyond.entry_id} says leaf {beyond.leaf_index}, the tree has "
                        f"{size} leaves",
                    )
                )
        if start >= size:
            found += self._checkpoints_beyond(conn, size)
            return found, False
        rows = conn.execute(
            select(
                log_entry.c.entry_id,
                log_entry.c.entry,
                log_entry.c.leaf_hash,
                log_entry.c.leaf_index,
            )
            .where(log_entry.c.leaf_index >= start, log_entry.c.leaf_index < end)
            .order_by(log_entry.c.leaf_index)
        ).all()
        stored = _stored_nodes(conn, start, end)
        checkpoints = dict(
            conn.execute(
                select(log_checkpoint.c.size, log_checkpoint.c.root).where(
                    log_checkpoint.c.size >= start if start == 0 else log_checkpoint.c.size > start,
                    log_checkpoint.c.size <= end,
                )
            ).all()
        )
        by_index = {int(r.leaf_index): r for r in rows}
        border = state.border
        if start == 0 and 0 in checkpoints:
            found += _compare_root(0, fold([]), bytes(checkpoints[0]), False)
        for index in range(start, end):
            row = by_index.get(index)
            have = stored.get((0, index))
            if row is None:
                found.append(Found("entry", f"leaf:{index}", f"no log entry at leaf {index}"))
                value, tainted = (have or bytes(HASH_SIZE)), True
            else:
                value = leaf_hash(row.entry.encode("utf-8"))
                # an entry that does not hash to its column was reported by ``entries``
                tainted = value != bytes(row.leaf_hash)
                if have != value and not tainted:
                    found.append(
                        Found(
                            "node",
                            f"leaf:{index}",
                            f"stored leaf {index} is {_hex(have)}; entry {row.entry_id} "
                            f"hashes to {value.hex()}",
                        )
                    )
                tainted = tainted or have != value
            level, position = 0, index
            while position & 1:
                left, left_tainted = border.pop()
                value = node_hash(left, value)
                level, position = level + 1, position >> 1
                have = stored.get((level, position))
                child_tainted = left_tainted or tainted
                if have != value and not child_tainted:
                    found.append(
                        Found(
                            "node",
                            f"node:{level}/{position}",
                            f"stored node ({level}, {position}) is {_hex(have)}; the entries "
                            f"below it give {value.hex()}",
                        )
                    )
                tainted = child_tainted or have != value
            border.append((value, tainted))
            if (want := checkpoints.get(index + 1)) is not None:
                found += _compare_root(
                    index + 1,
                    fold([h for h, _ in border]),
                    bytes(want),
                    any(t for _, t in border),
                )
        state.pos = end
        state.add("leaves", end - start)
        self.progress("tree", end, size)
        if end >= size:
            found += self._checkpoints_beyond(conn, size)
            return found, False
        return found, True

    @staticmethod
    def _checkpoints_beyond(conn: Connection, size: int) -> list[Found]:
        return [
            Found(
                "checkpoint",
                f"checkpoint:{s}",
                f"checkpoint of size {s} is beyond the stored tree ({size} leaves)",
            )
            for s in conn.execute(
                select(log_checkpoint.c.size).where(log_checkpoint.c.size > size)
            ).scalars()
        ]

    def _checkpoints(self, conn: Connection, state: _State) -> tuple[list[Found], bool]:
        total = conn.execute(select(func.count()).select_from(log_checkpoint)).scalar() or 0
        rows = conn.execute(
            select(log_checkpoint.c.size, log_checkpoint.c.root, log_checkpoint.c.note)
            .where(log_checkpoint.c.size >= state.pos)
            .order_by(log_checkpoint.c.size)
            .limit(self.ctx.batch)
        ).all()
        found: list[Found] = []
        for row in rows:
            bad = _checkpoint_finding(self.holdings, row.note, int(row.size), bytes(row.root))
            if bad is not None:
                found.append(Found("checkpoint", bad.item, bad.detail))
        state.add("checkpoints", len(rows))
        if rows:
            state.pos = int(rows[-1].size) + 1
        self.progress("checkpoints", int(state.counts.get("checkpoints", 0)), int(total))
        return found, len(rows) == self.ctx.batch

    def _objects(self, conn: Connection, state: _State) -> tuple[list[Found], bool]:
        with self._transaction() as session:
            total = session.execute(select(func.count()).select_from(Evidence)).scalar() or 0
            rows = list(
                session.execute(
                    select(Evidence)
                    .where(Evidence.seq > state.pos)
                    .order_by(Evidence.seq)
                    .limit(OBJECT_BATCH)
                ).scalars()
            )
            for row in rows:
                _ = row.files  # loaded while the session is open
        found: list[Found] = []
        for row in rows:
            found += self._evidence(conn, row, state)
        state.add("evidence", len(rows))
        if rows:
            state.pos = int(rows[-1].seq)
        self.progress("objects", int(state.counts.get("evidence", 0)), int(total))
        return found, len(rows) == OBJECT_BATCH

    def _evidence(self, conn: Connection, row: Evidence, state: _State) -> list[Found]:
        where = f"evidence:{row.id}"
        try:
            manifest = logged_manifest(conn, row)
        except DamagedError as damaged:
            kind = {"tree": "node", "row": "row"}.get(damaged.finding.kind, damaged.finding.kind)
            return [Found(kind, where, damaged.finding.detail)]
        found = [Found("row", where, f.detail) for f in row_findings(row, manifest)]
        canonical = manifest.canonical()
        checks: list[tuple[str, str | None, ManifestFile]] = [
            (
                row.manifest_key,
                row.manifest_version,
                ManifestFile(
                    name="manifest.json",
                    media_type="application/json",
                    size=len(canonical),
                    sha256=_sha256(canonical),
                    sm3=sm3_hex(canonical),
                ),
            )
        ]
        versions = {f.name: f.storage_version for f in row.files}
        checks += [(content_key(m.sha256), versions.get(m.name), m) for m in manifest.files]
        for key, version, expected in checks:
            try:
                bad = verify_object(self.holdings, where, key, version, expected)
            except StorageUnavailableError as exc:
                state.counts.setdefault("not_checked", {})["objects"] = f"storage: {exc}"[:300]
                state.add("objects_unreadable")
                continue
            state.add("objects")
            if bad is not None:
                found.append(Found("object", f"object:{key}", f"evidence {row.id}: {bad.detail}"))
        return found

    def _anchors(self, conn: Connection, state: _State) -> tuple[list[Found], bool]:
        rows = conn.execute(
            select(anchor_tx)
            .where(anchor_tx.c.id > state.pos, anchor_tx.c.state == "confirmed")
            .order_by(anchor_tx.c.id)
            .limit(self.ctx.batch)
        ).all()
        roots = dict(
            conn.execute(
                select(log_checkpoint.c.size, log_checkpoint.c.root).where(
                    log_checkpoint.c.size.in_({int(r.size) for r in rows})
                )
            ).all()
        )
        chain = self.ctx.chain
        found: list[Found] = []
        for row in rows:
            where, size, root = f"anchor:{row.size}", int(row.size), bytes(row.root)
            ours = roots.get(size)
            if ours is None:
                found.append(
                    Found("anchor", where, f"anchor {row.tx_hash} names size {size}: no checkpoint")
                )
            elif bytes(ours) != root:
                found.append(
                    Found(
                        "anchor",
                        where,
                        f"anchor {row.tx_hash} records root {root.hex()} at size {size}; the "
                        f"checkpoint's root is {bytes(ours).hex()}",
                    )
                )
            if chain.lookup is None:
                state.counts.setdefault("not_checked", {})["anchors"] = f"on chain: {chain.reason}"
                continue
            try:
                on_chain = chain.lookup(bytes(ours) if ours is not None else root)
            except Exception as exc:  # the chain unreachable: not a finding
                state.counts.setdefault("not_checked", {})["anchors"] = (
                    f"on chain: unreachable ({type(exc).__name__})"
                )
                continue
            state.add("anchors_on_chain")
            if on_chain is None:
                found.append(
                    Found("anchor", where, f"the contract holds no anchor of root {root.hex()}")
                )
            elif (on_chain[0], on_chain[1]) != (size, row.block_number):
                found.append(
                    Found(
                        "anchor",
                        where,
                        f"the contract records this root at size {on_chain[0]} in block "
                        f"{on_chain[1]}; anchor {row.tx_hash} says size {size}, block "
                        f"{row.block_number}",
                    )
                )
        state.add("anchors", len(rows))
        if rows:
            state.pos = int(rows[-1].id)
        self.progress("anchors", int(state.counts.get("anchors", 0)), 0)
        return found, len(rows) == self.ctx.batch

    def _cosignatures(self, conn: Connection, state: _State) -> tuple[list[Found], bool]:
        from verifier.cosignature import Cosignature, WitnessKey  # noqa: PLC0415

        keys = {}
        for text in self.ctx.witnesses:
            known = WitnessKey.from_text(text)
            keys[(known.name, known.key_id)] = known
        rows = conn.execute(
            select(checkpoint_cosignature, log_checkpoint.c.note)
            .select_from(
                checkpoint_cosignature.outerjoin(
                    log_checkpoint, log_checkpoint.c.size == checkpoint_cosignature.c.size
                )
            )
            .where(checkpoint_cosignature.c.size >= state.pos)
            .order_by(checkpoint_cosignature.c.size)
            .limit(self.ctx.batch)
        ).all()
        rows, more = _whole_sizes(rows, self.ctx.batch)
        found: list[Found] = []
        for row in rows:
            where = f"cosignature:{row.size}/{row.witness}"
            key = keys.get((row.witness, bytes(row.key_id)))
            if key is None:
                state.add("cosignatures_unknown_witness")
                state.counts.setdefault("not_checked", {})["cosignatures"] = (
                    "some by witnesses not in the settings"
                )
                continue
            if row.note is None:
                found.append(Found("cosignature", where, f"no checkpoint of size {row.size}"))
                continue
            try:
                cosig = Cosignature(
                    row.witness, bytes(row.key_id), int(row.timestamp), bytes(row.signature)
                )
                ok = key.verify(cosig, parse_note(row.note).text)
            except VerifierError as exc:
                ok, why = False, str(exc)
            else:
                why = "the signature does not verify over the stored checkpoint"
            state.add("cosignatures")
            if not ok:
                found.append(Found("cosignature", where, f"witness {row.witness}: {why}"))
        if rows:
            state.pos = int(rows[-1].size) + 1
        self.progress("cosignatures", int(state.counts.get("cosignatures", 0)), 0)
        return found, more

    def _timestamps(self, conn: Connection, state: _State) -> tuple[list[Found], bool]:
        from verifier import tsa  # noqa: PLC0415

        rows = conn.execute(
            select(checkpoint_timestamp, log_checkpoint.c.note)
            .select_from(
                checkpoint_timestamp.outerjoin(
                    log_checkpoint, log_checkpoint.c.size == checkpoint_timestamp.c.size
                )
            )
            .where(checkpoint_timestamp.c.size >= state.pos)
            .order_by(checkpoint_timestamp.c.size)
            .limit(self.ctx.batch)
        ).all()
        rows, more = _whole_sizes(rows, self.ctx.batch)
        trusted = dict(self.ctx.tsas)
        certs: dict[str, list[bytes]] = {}
        found: list[Found] = []
        for row in rows:
            where = f"timestamp:{row.size}/{row.tsa}"
            cert_file = trusted.get(row.tsa)
            if cert_file is None:
                state.counts.setdefault("not_checked", {})["timestamps"] = (
                    f"authority {row.tsa} not in the settings"
                )
                continue
            if row.note is None:
                found.append(Found("timestamp", where, f"no checkpoint of size {row.size}"))
                continue
            try:
                if row.tsa not in certs:
                    certs[row.tsa] = tsa.load_certificates(cert_file.read_bytes())
                verdict = tsa.check_token(
                    row.tsa, bytes(row.token), parse_note(row.note).text, certs[row.tsa]
                )
            except (NotImplementedError, OSError, VerifierError) as exc:
                state.counts.setdefault("not_checked", {})["timestamps"] = (
                    f"{type(exc).__name__}: {exc}"[:300]
                )
                continue
            state.add("timestamps")
            if not verdict.ok:
                found.append(Found("timestamp", where, f"{row.tsa}: {verdict.detail}"))
        if rows:
            state.pos = int(rows[-1].size) + 1
        self.progress("timestamps", int(state.counts.get("timestamps", 0)), 0)
        return found, more


def _next(phase: str) -> str:
    index = PHASES.index(phase) + 1
    return PHASES[index] if index < len(PHASES) else "done"


def _whole_sizes(rows: Sequence[Any], batch: int) -> tuple[list[Any], bool]:
    """A full batch loses its last size's rows (read again whole by the next batch);
    whether a next batch is needed."""
    if len(rows) < batch:
        return list(rows), False
    last = rows[-1].size
    kept = [r for r in rows if r.size != last]
    return (kept, True) if kept else (list(rows), True)


def _sha256(data: bytes) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(data).hexdigest()


def _hex(value: bytes | None) -> str:
    return "missing" if value is None else value.hex()


def _compare_root(size: int, rebuilt: bytes, stored: bytes, tainted: bool) -> list[Found]:
    if rebuilt == stored:
        return []
    because = " (follows from a finding below it)" if tainted else ""
    return [
        Found(
            "checkpoint",
            f"checkpoint:{size}",
            f"the tree rebuilt from the entries has root {rebuilt.hex()} at size {size}; the "
            f"checkpoint row says {stored.hex()}{because}",
        )
    ]


def _stored_nodes(conn: Connection, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """Every stored node whose subtree ends in leaves ``[start, end)``: one read of the tiles
    covering them (about two tiles per 64 leaves)."""
    keys: set[int] = set()
    level = 0
    while (end - 1) >> level >= 0 and (1 << level) <= end:
        low, high = start >> level, (end - 1) >> level
        keys.update(range(tile_id(level, low), tile_id(level, high) + 1))
        level += 1
    rows = conn.execute(
        select(merkle_tile.c.id, merkle_tile.c.hashes).where(merkle_tile.c.id.in_(sorted(keys)))
    ).all()
    out: dict[tuple[int, int], bytes] = {}
    for key, blob in rows:
        lvl, tile = int(key) >> LEVEL_SHIFT, int(key) & ((1 << LEVEL_SHIFT) - 1)
        data = bytes(blob)
        for offset in range(0, len(data) - HASH_SIZE + 1, HASH_SIZE):
            out[(lvl, tile * TILE_WIDTH + offset // HASH_SIZE)] = data[offset : offset + HASH_SIZE]
    return out


# --- a run in the background of the service ------------------------------------------

#: held while this process runs an audit in the background (one at a time)
_BACKGROUND = threading.Lock()


def start_background(runtime: Runtime) -> int:
    """Start a full run in a thread of this process (``POST /v1/integrity/audits``);
    returns its id. 409 while this process already runs one."""
    if not _BACKGROUND.acquire(blocking=False):
        raise AuditBusyError("an audit is already running in this process")
    try:
        auditor = Auditor(AuditContext.of(runtime))
        run_id = auditor.start()
    except BaseException:
        _BACKGROUND.release()
        raise

    def work() -> None:
        try:
            auditor.run(run_id)
        except Exception:  # the run is left interrupted: evidence audit --resume
            log.exception("audit run %d stopped", run_id)
        finally:
            _BACKGROUND.release()

    threading.Thread(target=work, name=f"audit-{run_id}", daemon=True).start()
    return run_id


# --- reading runs, acknowledging, readiness -------------------------------------------


def findings_of(
    session: Session, run_id: int, *, after: int = 0, limit: int = 100
) -> list[AuditFinding]:
    return list(
        session.execute(
            select(AuditFinding)
            .where(AuditFinding.run_id == run_id, AuditFinding.id > after)
            .order_by(AuditFinding.id)
            .limit(limit)
        ).scalars()
    )


def acknowledge(session: Session, run_id: int, by: str, note: str | None) -> AuditRun:
    """Mark the failed run ``run_id`` acknowledged by ``by`` (404 none, 409 not failed or
    already acknowledged)."""
    by = by.strip()
    if not by or len(by) > 160:
        raise InvalidInputError("the acknowledger's name must be 1..160 characters", field="by")
    if note is not None and len(note) > 4000:
        raise InvalidInputError("the note is at most 4000 characters", field="note")
    run = session.get(AuditRun, run_id)
    if run is None:
        raise RunNotFoundError(f"no audit run {run_id}")
    if run.status != "failed":
        raise NotAcknowledgeableError(f"audit run {run_id} is {run.status}, not failed")
    if run.acknowledged_at is not None:
        raise NotAcknowledgeableError(
            f"audit run {run_id} was acknowledged by {run.acknowledged_by}"
        )
    run.acknowledged_at = datetime.now(UTC)
    run.acknowledged_by = by
    run.acknowledge_note = note
    session.flush()
    return run


def unacknowledged(conn: Connection) -> list[tuple[int, int]]:
    """(run id, findings) of the failed runs nobody has acknowledged, newest first."""
    rows = conn.execute(
        select(AuditRun.id, AuditRun.findings)
        .where(AuditRun.status == "failed", AuditRun.acknowledged_at.is_(None))
        .order_by(AuditRun.id.desc())
    ).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def readiness_check(engine: Engine) -> Callable[[], str]:
    """``/readyz``'s ``audit`` check: not ready while a failed run is not acknowledged.
    It reads the database, so a run by the CLI in another process is seen."""

    def check() -> str:
        with engine.connect() as conn:
            failed = unacknowledged(conn)
        if not failed:
            return "ok"
        run_id, count = failed[0]
        more = f" (and {len(failed) - 1} more runs)" if len(failed) > 1 else ""
        return (
            f"failed: audit run {run_id} found {count} discrepancies{more}; acknowledge it "
            f"with `evidence audit ack {run_id} --by NAME`"
        )

    return check
