"""Administrator page ``/console/admin/trust``: the witnesses (each one's newest cosigned
checkpoint, last error) and the time-stamping authorities (newest stamped checkpoint, its
TSA time beside the block time), and the certificate that signs 存证证书 (development CA
or configured). Read only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from anchoring.schema import anchor_tx, checkpoint_timestamp
from evidence_api.console.listing import when
from evidence_api.console.web import Viewer, render, runtime_of, viewer
from evidence_api.core.routing import page_router
from evidence_api.core.runtime import Runtime
from evidence_api.trust.cosigning import WitnessView, witness_views

router = page_router("/console/admin/trust")
Admin = Annotated[Viewer, Depends(viewer("admin"))]


@dataclass(frozen=True)
class AuthorityView:
    """One configured RFC 3161 authority and the newest checkpoint it stamped."""

    name: str
    url: str
    newest_size: int | None
    gen_time: str
    block_time: str


@dataclass(frozen=True)
class TrustFacts:
    latest_size: int | None
    witnesses: list[WitnessView]
    authorities: list[AuthorityView]
    #: the configured certificate file signing 存证证书 (None: the development CA)
    certificate_file: str | None


def _authorities(runtime: Runtime) -> list[AuthorityView]:
    out = []
    with runtime.engine.connect() as conn:
        for tsa in runtime.settings.tsas:
            row = conn.execute(
                select(checkpoint_timestamp.c.size, checkpoint_timestamp.c.gen_time)
                .where(checkpoint_timestamp.c.tsa == tsa.name)
                .order_by(checkpoint_timestamp.c.size.desc())
                .limit(1)
            ).first()
            block = None
            if row is not None:
                block = conn.execute(
                    select(anchor_tx.c.block_timestamp)
                    .where(anchor_tx.c.size == row.size, anchor_tx.c.block_timestamp.is_not(None))
                    .order_by(anchor_tx.c.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
            out.append(
                AuthorityView(
                    name=tsa.name,
                    url=tsa.url,
                    newest_size=int(row.size) if row is not None else None,
                    gen_time=when(row.gen_time if row is not None else None, missing="—"),
                    block_time=when(
                        datetime.fromtimestamp(int(block), UTC) if block is not None else None,
                        missing="—",
                    ),
                )
            )
    return out


def trust_facts(runtime: Runtime) -> TrustFacts:
    latest, witnesses = witness_views(runtime)
    cert = runtime.settings.certificate_cert_file
    return TrustFacts(latest, witnesses, _authorities(runtime), str(cert) if cert else None)


@router.get("", response_class=HTMLResponse)
def trust(request: Request, who: Admin) -> Response:
    """见证与时间戳: each witness (newest cosigned checkpoint, its time, how far behind,
    last error), each time-stamping authority (newest stamped checkpoint, TSA time beside
    the block time), and who signs 存证证书."""
    facts = trust_facts(runtime_of(request))
    return render(request, who, "trust/trust.html", status=200, facts=facts, when=when)
