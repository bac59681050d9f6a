"""Grading policies (信用分级规则): versions stored as their canonical JSON, one active.

The active policy is the highest version whose row is ``active``. Until an administrator
uploads one, the built-in ``data/policy-v1.json`` is installed the first time a grade is
needed: the row and its ``credit_policy`` log entry (stating the version and the
document's SHA-256) in the caller's transaction. Installing is race-safe: the version is
the primary key and the row is inserted with ``ON CONFLICT DO NOTHING``, so two
processes installing at once make one row and one entry (docs/credit.md §6).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.ledger import SignReceipt, record_entry
from evidence_api.credit.models import CreditPolicy
from verifier.credit import Policy, PolicyError, load_policy

#: The policy installed when none is stored yet.
DEFAULT_POLICY = Path(__file__).parent / "data" / "policy-v1.json"
#: The log entry of a policy version, and its id prefix.
POLICY_ENTRY_KIND = "credit_policy"
POLICY_ENTRY_PREFIX = "crp"
#: Who installed the built-in policy.
SYSTEM_ACTOR = "system"
#: The largest policy document accepted (bytes); load_policy has its own bound too.
MAX_POLICY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ActivePolicy:
    """A stored policy version, parsed."""

    version: int
    sha256: str
    policy: Policy
    entry_id: str
    created_at: datetime
    created_by: str
    active: bool


@lru_cache(maxsize=16)
def parsed(document: bytes) -> Policy:
    """A stored (already validated) document, parsed once per process."""
    return load_policy(document)


def _of(row: CreditPolicy) -> ActivePolicy:
    return ActivePolicy(
        version=row.version,
        sha256=row.sha256,
        policy=parsed(row.document.encode("utf-8")),
        entry_id=row.entry_id,
        created_at=row.created_at,
        created_by=row.created_by,
        active=row.active,
    )


def _insert_row(
    session: Session,
    sign_receipt: SignReceipt,
    policy: Policy,
    *,
    actor: str,
    at: datetime,
    active: bool,
) -> bool:
    """Insert the version (its entry in the same transaction); False if it existed."""
    document = policy.document.decode("utf-8")
    digest = hashlib.sha256(policy.document).hexdigest()
    conn = session.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    table = CreditPolicy.__table__
    assert isinstance(table, Table)
    inserted = conn.execute(
        dialect.insert(table)
        .values(
            version=policy.version,
            document=document,
            sha256=digest,
            active=active,
            created_by=actor,
            created_at=at,
            entry_id="",
        )
        .on_conflict_do_nothing(index_elements=["version"])
        .returning(table.c.version)
    ).scalar_one_or_none()
    if inserted is None:
        return False
    entry, _ = record_entry(
        session,
        sign_receipt,
        POLICY_ENTRY_KIND,
        POLICY_ENTRY_PREFIX,
        {"version": policy.version, "sha256": digest, "actor": actor},
        at,
    )
    conn.execute(update(table).where(table.c.version == policy.version).values(entry_id=entry.id))
    session.expire_all()
    return True


def active_policy(session: Session, sign_receipt: SignReceipt, at: datetime) -> ActivePolicy:
    """The active policy; the built-in one installed first when none is stored."""
    row = _active_row(session)
    if row is None:
        default = load_policy(DEFAULT_POLICY.read_bytes())
        _insert_row(session, sign_receipt, default, actor=SYSTEM_ACTOR, at=at, active=True)
        row = _active_row(session)
        assert row is not None, "the built-in policy was not installed"
    return _of(row)


def _active_row(session: Session) -> CreditPolicy | None:
    return session.execute(
        select(CreditPolicy)
        .where(CreditPolicy.active.is_(True))
        .order_by(CreditPolicy.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def install_policy(
    session: Session, sign_receipt: SignReceipt, data: bytes, *, actor: str, at: datetime
) -> ActivePolicy:
    """A new policy version, checked by :func:`verifier.credit.load_policy` (422 with its
    message), newer than every stored one (409 otherwise), made the active one. The
    caller regrades (:func:`evidence_api.credit.grading.regrade_all`)."""
    if len(data) > MAX_POLICY_BYTES:
        raise InvalidInputError(f"policy: larger than {MAX_POLICY_BYTES} bytes", field="policy")
    try:
        policy = load_policy(data)
    except PolicyError as exc:
        raise InvalidInputError(f"policy: {exc}", field="policy") from exc
    except (TypeError, ValueError, KeyError, RecursionError) as exc:
        # a shape load_policy does not name (an array or object where a name belongs):
        # still the caller's document, never a 500
        raise InvalidInputError(
            f"policy: malformed document ({type(exc).__name__}: {exc})", field="policy"
        ) from exc
    active_policy(session, sign_receipt, at)  # the built-in one is version 1 of the history
    newest = session.execute(select(func.max(CreditPolicy.version))).scalar_one_or_none()
    if newest is not None and policy.version <= newest:
        raise ConflictError(
            f"policy version {policy.version} is not newer than the newest stored version {newest}",
            field="version",
        )
    if not _insert_row(session, sign_receipt, policy, actor=actor, at=at, active=True):
        raise ConflictError(f"policy version {policy.version} exists", field="version")
    session.execute(
        update(CreditPolicy)
        .where(CreditPolicy.active.is_(True), CreditPolicy.version != policy.version)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return get_policy(session, policy.version)


def list_policies(session: Session, sign_receipt: SignReceipt, at: datetime) -> list[ActivePolicy]:
    """Every stored version, newest first (the built-in one installed if none is)."""
    active_policy(session, sign_receipt, at)
    rows = session.execute(select(CreditPolicy).order_by(CreditPolicy.version.desc())).scalars()
    return [_of(row) for row in rows]


def get_policy(session: Session, version: int) -> ActivePolicy:
    row = session.get(CreditPolicy, version) if 0 < version < 2**31 else None
    if row is None:
        raise NotFoundError(f"no credit policy version {version}")
    return _of(row)
