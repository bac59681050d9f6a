"""Submitted evidence packages, their files and idempotent answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base, OrderedChild


class Evidence(Base):
    """One submitted evidence package: its manifest and where its entry is."""

    __tablename__ = "evidence"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
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


class EvidenceFile(OrderedChild, Base):
    __tablename__ = "evidence_file"
    __table_args__ = (UniqueConstraint("evidence_seq", "name"),)

    evidence_seq: Mapped[int] = mapped_column(ForeignKey("evidence.seq"), index=True)
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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
