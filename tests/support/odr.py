"""ODR test material: complaints made through the complaints feature's intake service,
mediations opened through ``odr.service.open_mediation``
as the complaint's triage opens them, and the auth matrix's valid request to each of
``/v1/odr``, ``/v1/platform/odr`` and ``/v1/public/odr`` (tests/integration/test_api_auth.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from evidence_api.complaints.models import Complaint
from evidence_api.odr import service
from evidence_api.odr import workflow as wf
from evidence_api.odr.models import OdrCase
from evidence_api.registry.models import TradingEntity
from tests.support.api import Stack, example_platform_id
from tests.support.complaints import make_complaint_with_token

#: The actor a test's triage names (an officer's pseudonym).
TRIAGE_ACTOR = "token-1"


def new_complaint(
    stack: Stack,
    *,
    entity_id: int | None,
    platform_id: int | None,
    unit_id: int | None,
) -> tuple[str, str]:
    """A complaint in triage (status ``received``) made by the complaints feature's own
    intake service, then placed on the given entity, platform and unit (a test's shortcut:
    the intake would resolve them from the form); ``(id, access token)``."""
    complaint_id, token = make_complaint_with_token(stack)
    with stack.runtime.session() as session:
        session.execute(
            update(Complaint)
            .where(Complaint.id == complaint_id)
            .values(entity_id=entity_id, platform_id=platform_id, unit_id=unit_id)
        )
    return complaint_id, token


def open_case(
    stack: Stack, complaint_id: str, *, days: int = 15, at: datetime | None = None
) -> str:
    """Triage ``complaint_id`` to ODR as the complaints feature does: open the mediation,
    store its id on the complaint, commit, nudge the sealer. The mediation's id."""
    runtime = stack.runtime
    with runtime.session() as session:
        complaint = session.execute(
            select(Complaint).where(Complaint.id == complaint_id)
        ).scalar_one()
        case = service.open_mediation(
            session,
            runtime.sign_receipt,
            complaint=complaint,
            actor=TRIAGE_ACTOR,
            at=at or datetime.now(UTC),
            days=days,
        )
        complaint.odr_id = case.id
        complaint.status = "odr"
        complaint.triaged_at = case.opened_at
        odr_id = case.id
    runtime.queued(1)
    return odr_id


def offer_body(who: str = "merchant", amount_fen: int = 19900, **extra: Any) -> dict[str, Any]:
    return {"who": who, "remedy": "refund", "amount_fen": amount_fen, "text": "全额退款"} | extra


def record(stack: Stack, odr_id: str, action: service.Action) -> None:
    """A step written through the service (no route), as a party's or mediator's would be."""
    ledger = service.ledger_of(stack.runtime)
    with ledger.transaction() as session:
        case = session.execute(
            select(OdrCase).where(OdrCase.id == odr_id).with_for_update()
        ).scalar_one()
        service.apply_action(session, ledger.sign_receipt, case, action, datetime.now(UTC))
    ledger.queued(1)


def merchant_offer(stack: Stack, odr_id: str) -> None:
    record(
        stack,
        odr_id,
        service.Action(
            wf.Kind.OFFER,
            wf.Party.MERCHANT,
            "token-2",
            remedy="refund",
            amount_fen=100,
            text="退款",
        ),
    )


def odr_request(stack: Stack, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to method path, given the auth headers to send with it: a fresh
    mediation of a top-level complaint (the matrix's tokens have no unit) about an entity
    of ``example-mall`` (the matrix's platform token), with the merchant's offer 1 open."""
    client = stack.client

    def send(headers: dict[str, str]) -> Any:
        with stack.runtime.session() as session:
            platform_id = example_platform_id(session)
            now = datetime.now(UTC)
            entity = TradingEntity(
                platform_id=platform_id, shop_name="矩阵测试店", created_at=now, updated_at=now
            )
            session.add(entity)
            session.flush()
            entity_id = entity.id
        complaint_id, token = new_complaint(
            stack, entity_id=entity_id, platform_id=platform_id, unit_id=None
        )
        odr_id = open_case(stack, complaint_id)
        merchant_offer(stack, odr_id)
        url = path.format(odr_id=odr_id)
        kwargs: dict[str, Any] = {}
        sent = dict(headers)
        if path.startswith("/v1/public/"):
            sent["X-Access-Token"] = token
        if path.endswith("/offers"):
            kwargs["json"] = offer_body("platform" if "/platform/" in path else "mediator")
        elif path.endswith("/accept"):
            kwargs["json"] = {"who": "consumer", "offer": 1}
        elif path.endswith("/reject"):
            kwargs["json"] = {"who": "consumer", "offer": 1, "reason": "金额不足"}
        elif path.endswith("/fail"):
            kwargs["json"] = {"who": "mediator", "reason": "auth matrix"}
        elif path.endswith("/extend"):
            kwargs["json"] = {"days": 3, "reason": "auth matrix"}
        elif path.endswith("/notes"):
            kwargs["json"] = {"text": "auth matrix"}
        elif path.endswith("/respond") and "/platform/" in path:
            kwargs["json"] = {"action": "refuse", "reason": "auth matrix"}
        elif path.endswith("/respond"):
            kwargs["json"] = {"action": "accept", "offer": 1}
        return client.request(method, url, headers=sent, **kwargs)

    return send
