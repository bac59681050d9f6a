"""The full audit's cost: ``python -m bench audit [--quick]``.

A log of 100,000 stamp entries (10,000 with ``--quick``) is built per backend (SQLite in
a scratch file, PostgreSQL in a throwaway database on ``127.0.0.1:5432``) through the
service's own sealer (``anchoring.sealer.seal_pending``, checkpoints every 5,000 entries),
then the audit's ``entries`` and ``tree`` phases run on it
(:class:`evidence_api.audit.service.Auditor`: every entry re-hashed and checked against its
row, the tree rebuilt from the entries level by level and every stored node and
checkpoint root compared). Beside it, in the same run, the time to SHA-256 the same bytes
(each entry's leaf data, read into memory beforehand): the ratio says how many times the
audit costs over merely hashing what it reads.

Checks: the audit is clean and counted every entry and leaf once.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from anchoring.entries import make_entry, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from anchoring.schema import log_entry
from anchoring.sealer import seal_pending
from bench.common import Progress, Row, format_table, gc_paused
from bench.databases import BACKENDS, scratch_engine
from evidence_api.audit.service import AuditContext, Auditor
from evidence_api.core.storage.local import LocalObjectStore
from verifier.merkle import leaf_hash
from verifier.note import SignerKey

FULL_ENTRIES = 100_000
QUICK_ENTRIES = 10_000
SEAL_BATCH = 5_000
ENQUEUE_CHUNK = 1_000
PHASES = ("entries", "tree")


@dataclass(frozen=True)
class AuditSettings:
    entries: int
    backends: tuple[str, ...] = BACKENDS

    @classmethod
    def make(cls, quick: bool) -> AuditSettings:
        return cls(QUICK_ENTRIES if quick else FULL_ENTRIES)


@dataclass
class AuditFigure:
    backend: str
    entries: int
    #: bytes of leaf data the audit read (the entries' canonical JSON)
    bytes: int
    build_s: float
    audit_s: float
    #: SHA-256 of each entry's leaf data, in memory
    sha256_s: float
    status: str
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.audit_s / self.sha256_s if self.sha256_s > 0 else float("inf")


@dataclass
class AuditResult:
    settings: AuditSettings
    figures: list[AuditFigure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def build_log(engine: Engine, count: int, signer: SignerKey) -> None:
    """``count`` stamps queued and sealed by the service's sealer."""
    at, received = utc_timestamp(), datetime.now(UTC)
    for begin in range(0, count, ENQUEUE_CHUNK):
        chunk = []
        for i in range(begin, min(begin + ENQUEUE_CHUNK, count)):
            digest = hashlib.sha256(b"audit bench stamp %d" % i).hexdigest()
            entry = make_entry("stamp", f"st-bench-{i:07d}", {"sha256": digest}, at=at)
            chunk.append(QueuedEntry(entry, leaf_hash(entry.leaf_data()), received, "(unread)"))
        with engine.begin() as conn:
            enqueue(conn, chunk)
    seal_pending(engine, signer, max_batch=SEAL_BATCH)


def sha256_time(engine: Engine) -> tuple[float, int]:
    """Seconds to SHA-256 every entry's leaf data (read first, not timed), and its bytes."""
    with engine.connect() as conn:
        data = [t.encode("utf-8") for t in conn.execute(select(log_entry.c.entry)).scalars()]
    sha256 = hashlib.sha256
    with gc_paused():
        start = time.perf_counter()
        for item in data:
            sha256(item).digest()
        took = time.perf_counter() - start
    return took, sum(len(d) for d in data)


def measure(backend: str, settings: AuditSettings, folder: Path, progress: Progress) -> AuditFigure:
    signer = SignerKey.generate("bench.local/audit")
    with scratch_engine(backend, folder / backend) as engine:
        start = time.perf_counter()
        build_log(engine, settings.entries, signer)
        built = time.perf_counter() - start
        progress(f"audit: {backend}: {settings.entries:,} entries sealed in {built:.1f} s")
        context = AuditContext(
            engine=engine, store=LocalObjectStore(folder / "objects"), log_key=signer.verifier()
        )
        auditor = Auditor(context, phases=PHASES)
        run_id = auditor.start()
        with gc_paused():
            start = time.perf_counter()
            outcome = auditor.run(run_id)
            took = time.perf_counter() - start
        hashed, size = sha256_time(engine)
        progress(
            f"audit: {backend}: entries and tree phases {took:.2f} s, SHA-256 of the same "
            f"{size:,} bytes {hashed:.3f} s"
        )
        return AuditFigure(
            backend, settings.entries, size, built, took, hashed, outcome.status, outcome.counts
        )


def run(settings: AuditSettings, progress: Progress) -> AuditResult:
    result = AuditResult(settings)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as scratch:
        for backend in settings.backends:
            figure = measure(backend, settings, Path(scratch), progress)
            result.figures.append(figure)
            if figure.status != "clean":
                result.problems.append(
                    f"{backend}: the audit of an untouched log is {figure.status}"
                )
            for name in ("entries", "leaves"):
                if figure.counts.get(name) != settings.entries:
                    result.problems.append(
                        f"{backend}: the audit counted {figure.counts.get(name)} {name}, "
                        f"not {settings.entries}"
                    )
    return result


def rows(result: AuditResult) -> list[Row]:
    return [
        Row(
            id=f"audit.{f.backend}.n={f.entries}.seconds",
            figure=f"audit entries+tree, {f.backend}, n={f.entries:,}",
            unit="s",
            ours=f.audit_s,
            baseline=f.sha256_s,
            baseline_name="SHA-256 of the same bytes",
            higher_is_better=True,  # the ratio printed is ours / baseline: times the hash
            note=f"{f.entries / f.audit_s:,.0f} entries/s" if f.audit_s > 0 else "",
        )
        for f in result.figures
    ]


def legend(result: AuditResult) -> str:
    sizes = ", ".join(f"{f.backend} {f.bytes:,} bytes" for f in result.figures)
    return (
        "The audit's entries and tree phases (every entry re-hashed and checked, the tree "
        "rebuilt and every stored node and checkpoint compared) on a log sealed by the "
        "service's sealer; baseline: SHA-256 of each entry's leaf data in memory, the same "
        f"run ({sizes}). ratio = audit time / hash time. Not judged: no target."
    )


def raw(result: AuditResult) -> dict[str, Any]:
    return {
        "settings": asdict(result.settings),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in result.figures],
        "problems": result.problems,
    }


TITLE = "Full audit (evidence audit), s: entries and tree phases beside SHA-256 of the bytes"


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv[1:]
    outcome = run(AuditSettings.make(quick), Progress())
    print(format_table(TITLE, rows(outcome), legend(outcome)))
    sys.exit(1 if outcome.problems else 0)
