"""The published penalty record, its digest, the ``disclosure`` entry bodies and the
public search's inputs (docs/disclosure.md §2, §4, §5). Pure: no I/O.

The record is the decision as the public reads it; ``record_sha256`` is the SHA-256 of
its RFC 8785 canonical JSON (:func:`verifier.canonical.canonical_json`), so anyone
holding the record and the entry's proof bundle checks that the log committed to
exactly these words.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from evidence_api.core.errors import InvalidInputError
from evidence_api.disclosure.schemas import MAX_LIMIT, MAX_OFFSET, MAX_QUERY, RECORD_FIELDS
from evidence_api.registry.uscc import ALPHABET, LENGTH
from verifier.canonical import canonical_json

#: The log entry kind of a publication and of its withdrawal.
ENTRY_KIND = "disclosure"


def penalty_record(
    *,
    publication_id: str,
    case_number: str,
    decision_number: str,
    entity_name: str,
    entity_uscc: str | None,
    facts: str,
    legal_basis: str,
    penalty: str,
    decision_date: date,
    deciding_unit: str,
) -> dict[str, Any]:
    """The public record: :data:`RECORD_FIELDS`, the date as ``YYYY-MM-DD``."""
    record: dict[str, Any] = {
        "publication_id": publication_id,
        "case_number": case_number,
        "decision_number": decision_number,
        "entity_name": entity_name,
        "entity_uscc": entity_uscc,
        "facts": facts,
        "legal_basis": legal_basis,
        "penalty": penalty,
        "decision_date": decision_date.isoformat(),
        "deciding_unit": deciding_unit,
    }
    assert tuple(record) == RECORD_FIELDS
    return record


def record_sha256(record: dict[str, Any]) -> str:
    """SHA-256 (lowercase hex) of the record's RFC 8785 canonical JSON."""
    return hashlib.sha256(canonical_json(record)).hexdigest()


def publish_body(record: dict[str, Any], digest: str) -> dict[str, Any]:
    """The ``disclosure`` entry body of a publication (no USCC key for an individual)."""
    body: dict[str, Any] = {
        "action": "publish",
        "publication_id": record["publication_id"],
        "case_number": record["case_number"],
        "decision_number": record["decision_number"],
        "record_sha256": digest,
    }
    if record["entity_uscc"] is not None:
        body["entity_uscc"] = record["entity_uscc"]
    return body


def withdraw_body(record: dict[str, Any], reason: str) -> dict[str, Any]:
    """The ``disclosure`` entry body of a withdrawal: the reason only as its SHA-256."""
    return {
        "action": "withdraw",
        "publication_id": record["publication_id"],
        "case_number": record["case_number"],
        "decision_number": record["decision_number"],
        "reason_sha256": hashlib.sha256(reason.encode("utf-8")).hexdigest(),
    }


@dataclass(frozen=True)
class Search:
    """A public list's search and page, checked: ``text`` (None: everything), the
    ``uscc`` it may be, ``offset`` and ``limit``."""

    text: str | None
    uscc: str | None
    offset: int
    limit: int


def looks_like_uscc(text: str) -> bool:
    """Whether ``text`` has the shape of a 统一社会信用代码 (18 of its alphabet)."""
    return len(text) == LENGTH and all(ch in ALPHABET for ch in text)


def search(q: str | None, offset: int, limit: int) -> Search:
    """``q``, ``offset`` and ``limit`` checked (422 naming the field): ``q`` trimmed, at
    most :data:`MAX_QUERY` characters, no control characters; an empty ``q`` is no search;
    ``0 <= offset <= MAX_OFFSET``; ``1 <= limit <= MAX_LIMIT``."""
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInputError(f"offset: must be 0 to {MAX_OFFSET}", field="offset")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit: must be 1 to {MAX_LIMIT}", field="limit")
    text = (q or "").strip()
    if len(text) > MAX_QUERY:
        raise InvalidInputError(
            f"q: at most {MAX_QUERY} characters (an entity name or a 统一社会信用代码)", field="q"
        )
    if any(not ch.isprintable() for ch in text):
        raise InvalidInputError("q: must not contain control characters", field="q")
    if not text:
        return Search(None, None, offset, limit)
    upper = text.upper()
    return Search(text, upper if looks_like_uscc(upper) else None, offset, limit)
