"""Building log entries and proof bundles (the issuing side of :mod:`verifier`)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from anchoring.issuing import issue_checkpoint
from anchoring.log import MerkleLog
from verifier.bundle import FORMAT_V1, Bundle
from verifier.digests import sm3_hex
from verifier.merkle import leaf_hash
from verifier.models import Entry, Manifest
from verifier.note import SignerKey


def utc_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-26T06:00:00.123Z``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_salt() -> str:
    """16 random bytes, hex: keeps a proof from revealing neighbouring entries."""
    return secrets.token_hex(16)


def new_salts(count: int) -> list[str]:
    """``count`` salts as :func:`new_salt` makes them, from one read of randomness."""
    noise = secrets.token_hex(16 * count)
    return [noise[32 * n : 32 * n + 32] for n in range(count)]


def make_entry(
    kind: str,
    entry_id: str,
    body: dict[str, Any],
    *,
    at: str | None = None,
    salt: str | None = None,
) -> Entry:
    return Entry(
        v=1,
        kind=kind,
        id=entry_id,
        at=at or utc_timestamp(),
        body=body,
        salt=salt or new_salt(),
    )


def evidence_entry(manifest: Manifest, *, at: str | None = None, salt: str | None = None) -> Entry:
    """The ``evidence`` entry committing to ``manifest`` by SHA-256 and SM3."""
    data = manifest.canonical()
    body = {"manifest_sha256": hashlib.sha256(data).hexdigest(), "manifest_sm3": sm3_hex(data)}
    return make_entry("evidence", manifest.evidence_id, body, at=at, salt=salt)


def sign_checkpoint(log: MerkleLog, signer: SignerKey, size: int | None = None) -> str:
    """Signed C2SP checkpoint of ``log`` at ``size`` (default: its current size)."""
    size = log.size if size is None else size
    return issue_checkpoint(signer, size, log.root(size))


def _bundle(
    status: str,
    entry: Entry,
    *,
    origin: str,
    manifest: Manifest | None,
    receipt: str | None,
    inclusion: dict[str, Any] | None = None,
    checkpoint: str | None = None,
    anchor: dict[str, Any] | None = None,
    timestamps: list[dict[str, str]] | None = None,
) -> Bundle:
    extra: dict[str, Any] = {"timestamps": timestamps} if timestamps else {}
    return Bundle.model_validate(
        {
            **extra,
            "format": FORMAT_V1,
            "status": status,
            "log_origin": origin,
            "entry": entry.model_dump(mode="json"),
            "leaf_hash": leaf_hash(entry.leaf_data()).hex(),
            "manifest": manifest.model_dump(mode="json") if manifest else None,
            "receipt": receipt,
            "inclusion": inclusion,
            "checkpoint": checkpoint,
            "anchor": anchor,
        }
    )


def pending_bundle(
    entry: Entry, receipt: str, *, origin: str, manifest: Manifest | None = None
) -> Bundle:
    """The ``pending`` bundle: the entry and its receipt, before any seal."""
    return _bundle("pending", entry, origin=origin, manifest=manifest, receipt=receipt)


def sealed_bundle(
    log: MerkleLog,
    entry: Entry,
    index: int,
    checkpoint_note: str,
    tree_size: int,
    *,
    origin: str,
    manifest: Manifest | None = None,
    receipt: str | None = None,
    anchor: dict[str, Any] | None = None,
    timestamps: list[dict[str, str]] | None = None,
) -> Bundle:
    """The bundle of the entry at ``index`` against a checkpoint of ``tree_size``:
    ``sealed``, or ``anchored`` when the ``anchor`` record of that checkpoint is given.
    ``timestamps``: RFC 3161 tokens on that checkpoint (``{"tsa", "token"}``)."""
    leaf = leaf_hash(entry.leaf_data())
    stored = log.leaf_hash(index)
    if stored != leaf:
        raise ValueError(
            f"leaf {index} in the log is {stored.hex()}, not this entry's {leaf.hex()}"
        )
    inclusion = {
        "index": index,
        "tree_size": tree_size,
        "hashes": [h.hex() for h in log.inclusion_proof(index, tree_size)],
    }
    return _bundle(
        "sealed" if anchor is None else "anchored",
        entry,
        origin=origin,
        manifest=manifest,
        receipt=receipt,
        inclusion=inclusion,
        checkpoint=checkpoint_note,
        anchor=anchor,
        timestamps=timestamps,
    )
