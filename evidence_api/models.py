"""SQLAlchemy 2 ORM models of the service (the log's own tables live in
:mod:`anchoring.schema`). One Alembic history creates both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from anchoring.schema import BigId


class Base(DeclarativeBase):
    metadata = MetaData()


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. Shown once at creation."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: After this instant the token is refused (None: no expiry).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The holder as shown to people (case histories, custody, reports); log entries
    #: carry only the pseudonym ``token-<id>``.
    display_name: Mapped[str | None] = mapped_column(String(128))
    #: The holder's unit (organisation), e.g. 泉州市市场监督管理局.
    unit: Mapped[str | None] = mapped_column(String(256))


class Evidence(Base):
    """One submitted evidence package: its manifest and where its entry is."""

    __tablename__ = "evidence"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    submitter_token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"))
    case_ref: Mapped[str | None] = mapped_column(String(256), index=True)
    platform: Mapped[str | None] = mapped_column(String(256), index=True)
    entity: Mapped[str | None] = mapped_column(String(256), index=True)
    source_url: Mapped[str | None] = mapped_column(String(2048))
    captured_at: Mapped[str] = mapped_column(String(40))
    manifest: Mapped[str] = mapped_column(Text)  # RFC 8785 canonical JSON
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    manifest_sm3: Mapped[str] = mapped_column(String(64))
    manifest_key: Mapped[str] = mapped_column(String(80))
    #: The S3 version written for ``manifest_key`` (None: local store, or recorded
    #: before versions were; read the newest then).
    manifest_version: Mapped[str | None] = mapped_column(String(1024))
    leaf_hash: Mapped[str] = mapped_column(String(64))

    files: Mapped[list[EvidenceFile]] = relationship(
        back_populates="evidence", order_by="EvidenceFile.position", lazy="selectin"
    )


class EvidenceFile(Base):
    __tablename__ = "evidence_file"
    __table_args__ = (UniqueConstraint("evidence_seq", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    evidence_seq: Mapped[int] = mapped_column(ForeignKey("evidence.seq"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    sm3: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(80))
    #: The S3 version written for ``storage_key``; downloads read exactly it, so a
    #: version or delete marker put over the key later is never what is served.
    #: None: local store, or recorded before versions were (the newest is read).
    storage_version: Mapped[str | None] = mapped_column(String(1024))

    evidence: Mapped[Evidence] = relationship(back_populates="files")


class IdempotencyRecord(Base):
    """The answer given to (token, Idempotency-Key): a retry gets it again."""

    __tablename__ = "idempotency"
    __table_args__ = (
        UniqueConstraint("token_id", "key"),
        Index("ix_idempotency_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntegrityIncident(Base):
    """A mismatch the store's integrity check (or a read) found: an object, a row, a
    manifest, a log entry or the tree is not what the log committed to.

    ``item`` names what is damaged (``evidence:<id>``, ``leaf:<index>``,
    ``entry:<id>``, ``checkpoint:<size>``); every check re-examines the items of
    open incidents, and closes an incident (``resolved_at``) once its item passes.
    """

    __tablename__ = "integrity_incident"
    __table_args__ = (Index("ix_integrity_incident_open", "resolved_at", "item"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    item: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
