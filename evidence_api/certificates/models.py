"""The evidence certificates issued (one per evidence item)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class EvidenceCertificate(Base):
    """The signed 存证证书 PDF of one evidence item, kept in the object store under
    ``object_key`` (its SHA-256 and size recorded here, checked on every download)."""

    __tablename__ = "evidence_certificate"

    evidence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    size: Mapped[int] = mapped_column(BigInteger)
    #: the signing certificate's subject (RFC 4514) and SHA-256 fingerprint (hex)
    signer: Mapped[str] = mapped_column(String(512))
    signer_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
