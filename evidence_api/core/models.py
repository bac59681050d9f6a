"""The declarative base every service table shares (one Alembic history creates them
and the log's own tables of :mod:`anchoring.schema`), and the API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData()


class OrderedChild:
    """Mixin: a child row with its own surrogate key and its place among its parent's rows
    (a file of an evidence package, the evidence an order cites)."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    position: Mapped[int] = mapped_column(Integer)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. Shown once at creation."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: After this instant the token is refused (None: no expiry).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The holder as shown to people (case histories, custody, reports); log entries
    #: carry only the pseudonym ``token-<id>``.
    display_name: Mapped[str | None] = mapped_column(String(128))
    #: The holder's unit (organisation), e.g. 泉州市市场监督管理局.
    unit: Mapped[str | None] = mapped_column(String(256))
