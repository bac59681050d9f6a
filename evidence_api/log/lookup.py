"""The public lookup: proof bundles of public entries, by entry id, SHA-256 or leaf hash.

Anyone may ask (no token), so it answers only what an entry already shows to
whoever holds its proof: the entry, the receipt, the inclusion proof, the
checkpoint and the anchor — never the manifest, which holds non-public
metadata (submitter, case, notes, source URL). A caller who has the file can
still prove the link from file to evidence with the evidence package.

By SHA-256 it finds evidence having a file with that digest (through the
indexed ``evidence_file.sha256``) and stamps of that digest (through the
indexed ``log_entry.stamp_sha256``): two index seeks, whatever the log's size.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, select

from anchoring.proofs import bundle_for
from anchoring.queue import EntryRecord, find_by_leaf_hash, get_entry
from anchoring.schema import log_entry
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.intake.models import Evidence, EvidenceFile
from verifier.bundle import Bundle

#: Matches answered at most (evidence first, oldest first; then stamps).
MAX_MATCHES = 20
#: Entries whose proofs are public: evidence (``ev-``) and stamps (``st-``).
ENTRY_ID = re.compile(r"^(?:ev|st)-[0-9a-f]{28}$")
PUBLIC_KINDS = ("evidence", "stamp")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def lookup(
    conn: Connection,
    origin: str,
    *,
    evidence_id: str | None,
    sha256: str | None,
    leaf_hash: str | None = None,
) -> list[Bundle]:
    """Manifest-less bundles for ``evidence_id``, ``sha256`` or ``leaf_hash`` (exactly one)."""
    if sum(v is not None for v in (evidence_id, sha256, leaf_hash)) != 1:
        raise InvalidInputError(
            "give exactly one of evidence_id, sha256 and leaf_hash", field="evidence_id"
        )
    if evidence_id is not None:
        if not ENTRY_ID.fullmatch(evidence_id):
            raise InvalidInputError(
                "evidence_id: must be ev-… or st-… followed by 28 lower-case hex digits",
                field="evidence_id",
            )
        found = [get_entry(conn, evidence_id)]
        what = f"evidence_id {evidence_id}"
    elif sha256 is not None:
        digest = _hex32(sha256, "sha256")
        found = list(by_digest(conn, digest))
        what = f"sha256 {digest}"
    else:
        assert leaf_hash is not None
        leaf = _hex32(leaf_hash, "leaf_hash")
        # Indexed; only sealed leaves (a pending entry is looked up by its id).
        found = [find_by_leaf_hash(conn, bytes.fromhex(leaf))]
        what = f"sealed leaf_hash {leaf}"
    records = [r for r in found if r is not None and r.kind in PUBLIC_KINDS]
    if not records:
        raise NotFoundError(f"no public entry with {what}")
    return [bundle_for(conn, r, origin=origin) for r in records]


def _hex32(value: str, name: str) -> str:
    digest = value.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise InvalidInputError(f"{name}: must be a SHA-256 hash of 64 hex digits", field=name)
    return digest


def by_digest(conn: Connection, digest: str) -> list[EntryRecord]:
    """Evidence entries having a file of SHA-256 ``digest``, then stamps of ``digest``."""
    holders = (
        select(Evidence.id)
        .join(EvidenceFile, EvidenceFile.evidence_seq == Evidence.seq)
        .where(EvidenceFile.sha256 == digest)
    )
    ids = list(
        conn.execute(
            select(log_entry.c.entry_id)
            .where(log_entry.c.kind == "evidence", log_entry.c.entry_id.in_(holders))
            .order_by(log_entry.c.seq)
            .limit(MAX_MATCHES)
        ).scalars()
    )
    if len(ids) < MAX_MATCHES:
        ids += conn.execute(
            select(log_entry.c.entry_id)
            .where(log_entry.c.stamp_sha256 == bytes.fromhex(digest))
            .order_by(log_entry.c.seq)
            .limit(MAX_MATCHES - len(ids))
        ).scalars()
    records = [get_entry(conn, entry_id) for entry_id in ids]
    return [r for r in records if r is not None]
