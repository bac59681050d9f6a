"""The public side of 双随机抽查: published plans from :mod:`evidence_api.spotcheck.public`,
passed through the allow-lists of :mod:`evidence_api.disclosure.schemas`, with the proof
bundle of every step and how to redraw the plan (docs/disclosure.md §3.3).

The committed plan and the draw are validated against :mod:`verifier.spotcheck`'s
strict types (no field beyond theirs) before they are shown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from evidence_api.core.errors import NotFoundError
from evidence_api.disclosure import record as rec
from evidence_api.disclosure.schemas import (
    DRAWN_FIELDS,
    ITEM_FIELDS,
    PAGE_FIELDS,
    PROOF_FIELDS,
    REPRODUCE_FIELDS,
    RESULT_FIELDS,
    SPOTCHECK_DETAIL_FIELDS,
    SPOTCHECK_FIELDS,
    UNIT_FIELDS,
    PublicSpotCheck,
    PublicSpotCheckDetail,
    PublicSpotCheckPage,
    allowed,
)
from evidence_api.disclosure.service import entry_bundle
from evidence_api.spotcheck import public
from verifier.canonical import canonical_json
from verifier.spotcheck import DrawPlan, DrawResult, plan_bytes

PUBLIC_API = "/v1/public/spot-checks"


def plan_url(plan_id: str) -> str:
    return f"{PUBLIC_API}/{plan_id}/plan.json"


def draw_url(plan_id: str) -> str:
    return f"{PUBLIC_API}/{plan_id}/draw.json"


def reproduce_command(plan_id: str, plan_sha256: str, seed_block_hash: str | None) -> str:
    """The command that redraws the plan from its published JSON and the seed block's
    hash, and checks both the log's commitment and the published draw (the files are
    :func:`plan_url` and :func:`draw_url`, saved under their download names)."""
    seed = seed_block_hash or "<seed block hash>"
    return (
        f"evidence-verify spot-check {plan_id}.plan.json --block-hash {seed} "
        f"--plan-sha256 {plan_sha256} --draw {plan_id}.draw.json"
    )


def public_spot_checks(
    session: Session, q: str | None, offset: int, limit: int
) -> PublicSpotCheckPage:
    """Published plans, newest first; ``q``: a drawn entity's name or exact USCC."""
    search = rec.search(q, offset, limit)
    found, total = public.published_plans(
        session, query=search.text, offset=search.offset, limit=search.limit
    )
    items = [
        PublicSpotCheck(**allowed(p | {"url": f"{PUBLIC_API}/{p['plan_id']}"}, SPOTCHECK_FIELDS))
        for p in found
    ]
    page = {"items": items, "total": total, "offset": offset, "limit": limit, "q": search.text}
    return PublicSpotCheckPage(**allowed(page, PAGE_FIELDS))


def _view(session: Session, plan_id: str) -> dict[str, Any]:
    view = public.published_plan(session, plan_id)
    if view is None:
        raise NotFoundError(f"no published spot-check plan {plan_id!r}")
    return view


def plan_json(session: Session, plan_id: str) -> bytes:
    """The committed plan's canonical bytes (their SHA-256 is the plan's ``plan_sha256``)."""
    return plan_bytes(DrawPlan.model_validate_json(canonical_json(_view(session, plan_id)["plan"])))


def draw_json(session: Session, plan_id: str) -> bytes:
    """The draw's canonical JSON (what ``--draw`` compares); 404 before the draw."""
    draw = _view(session, plan_id)["draw"]
    if draw is None:
        raise NotFoundError(f"spot-check plan {plan_id!r} is not drawn yet")
    return canonical_json(
        DrawResult.model_validate_json(canonical_json(draw)).model_dump(mode="json")
    )


def _proofs(session: Session, origin: str, view: dict[str, Any]) -> list[dict[str, Any]]:
    entries = view["entries"]
    steps = [("committed", entries["committed"]), ("drawn", entries["drawn"])]
    steps += [("result", entry_id) for entry_id in entries["results"]]
    conn = session.connection()
    return [
        allowed(
            {
                "step": step,
                "entry_id": entry_id,
                "bundle": entry_bundle(conn, origin, entry_id).model_dump(mode="json"),
            },
            PROOF_FIELDS,
        )
        for step, entry_id in steps
        if entry_id is not None
    ]


def public_spot_check(session: Session, origin: str, plan_id: str) -> PublicSpotCheckDetail:
    """One published plan with its proofs and the reproduce section; 404 otherwise."""
    view = _view(session, plan_id)
    plan = DrawPlan.model_validate_json(canonical_json(view["plan"]))
    draw = None
    if view["draw"] is not None:
        draw = DrawResult.model_validate_json(canonical_json(view["draw"])).model_dump(mode="json")
    reproduce = {
        "command": reproduce_command(plan_id, view["plan_sha256"], view["seed_block_hash"]),
        "plan_url": plan_url(plan_id),
        "draw_url": None if draw is None else draw_url(plan_id),
        "plan_sha256": view["plan_sha256"],
        "chain_id": view["chain_id"],
        "seed_height": view["seed_height"],
        "seed_block_hash": view["seed_block_hash"],
        "algorithm": plan.algorithm,
    }
    source = view | {
        "items": [allowed(i, ITEM_FIELDS) for i in view["items"]],
        "plan": plan.model_dump(mode="json"),
        "draw": draw,
        "drawn": [allowed(d, DRAWN_FIELDS) for d in view["drawn"]],
        "units": [
            allowed({"code": code, "name": name}, UNIT_FIELDS)
            for code, name in sorted(view["units"].items())
        ],
        "results": [allowed(r, RESULT_FIELDS) for r in view["results"]],
        "url": f"{PUBLIC_API}/{plan_id}",
        "plan_url": plan_url(plan_id),
        "reproduce": allowed(reproduce, REPRODUCE_FIELDS),
        "proofs": _proofs(session, origin, view),
    }
    return PublicSpotCheckDetail(**allowed(source, SPOTCHECK_DETAIL_FIELDS))
