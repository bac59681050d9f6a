"""信息公示 on PostgreSQL: publishing and withdrawing penalty decisions, the public read
API and pages without a token, writes refused, and the field allow-list.

One module-scoped stack (a fresh PostgreSQL database, local storage, the sealer every
0.1 s). The world holds people and things that must never leave through the public
side: an officer with a display name, a console user, their token pseudonyms, evidence
with a distinctive file name, notes on the case's history, a withdrawal's reason. The
crawl reads every public route (JSON and HTML) and holds every object to the allow-lists
of :mod:`evidence_api.disclosure.schemas`, and every body to "none of those strings".
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from evidence_api.core.auth import authenticate, create_token
from evidence_api.core.config import Settings
from evidence_api.core.models import ApiToken
from evidence_api.disclosure.schemas import (
    DRAWN_FIELDS,
    ENTRY_BODY_FIELDS,
    ITEM_FIELDS,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_QUERY,
    PAGE_FIELDS,
    PENALTY_DETAIL_FIELDS,
    PENALTY_FIELDS,
    PROOF_FIELDS,
    RECORD_FIELDS,
    REPRODUCE_FIELDS,
    RESULT_FIELDS,
    SPOTCHECK_DETAIL_FIELDS,
    SPOTCHECK_FIELDS,
    UNIT_FIELDS,
)
from tests.support.anvil import rpc
from tests.support.api import (
    VERIFY_CLI,
    Stack,
    auth_header,
    fresh_postgres_database,
    running_stack,
    submit,
)
from tests.support.console import make_user
from tests.support.disclosure import (
    RESULT_NOTE,
    USCC,
    PublishedPlan,
    add_unit,
    closed_case,
    decision,
    published_plan,
)
from tests.support.waiting import wait_until
from verifier.bundle import Anchor, Bundle, InclusionProof, load_bundle
from verifier.canonical import canonical_json
from verifier.models import Entry
from verifier.note import VerifierKey
from verifier.spotcheck import (
    Assignment,
    DrawPlan,
    DrawResult,
    PoolEntity,
    PoolOfficer,
    Recusal,
)
from verifier.verify import verify_bundle

pytestmark = pytest.mark.postgres

#: Strings that must appear in no public answer (filled by the world).
OFFICER_NAME = "执法人员 王秘密"
OFFICER_DISPLAY = "王秘密"
USER_DISPLAY = "李隐私"
FILE_NAME = "secret-listing-capture-7f3a.html"
CASE_NOTE = "内部备注：举报人赵某 13800000000"
WITHDRAW_REASON = "撤回理由：内部复核意见 9c1e"


@dataclass
class World:
    stack: Stack
    officer: dict[str, str]
    unit_id: int
    published: list[str] = field(default_factory=list)
    withdrawn: str = ""
    evidence_id: str = ""
    plan: PublishedPlan | None = None
    secrets: list[str] = field(default_factory=list)

    @property
    def client(self) -> Any:
        return self.stack.client


@pytest.fixture(scope="module")
def world(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("disclosure") / "data"
    with (
        fresh_postgres_database(postgres_url) as url,
        running_stack(
            Settings(
                database_url=url,
                data_dir=data,
                seal_interval=0.1,
                chain="anvil",
                run_anchorer=False,
            )
        ) as stack,
    ):
        with stack.runtime.session() as session:
            _, token = create_token(
                session, role="officer", name=OFFICER_NAME, display_name=OFFICER_DISPLAY
            )
        username, _ = make_user(stack.runtime, "officer", display_name=USER_DISPLAY)
        officer = auth_header(token)
        unit_id = add_unit(stack)
        w = World(stack, officer, unit_id)
        created = submit(stack, {FILE_NAME: b"<p>listing</p>"}, headers=officer)
        assert created.status_code == 201, created.text
        w.evidence_id = created.json()["evidence_id"]
        handled = closed_case(
            stack,
            officer,
            unit_id=unit_id,
            note=CASE_NOTE,
            steps=("filed", "investigating", "handling"),
        )
        linked = w.client.post(
            f"/v1/cases/{handled}/evidence", json={"evidence_ids": [w.evidence_id]}, headers=officer
        )
        assert linked.status_code == 200, linked.text
        closing = w.client.post(
            f"/v1/cases/{handled}/transition",
            json={"to": "closed", "outcome": "penalty", "note": CASE_NOTE},
            headers=officer,
        )
        assert closing.status_code == 200, closing.text
        cases = [
            handled,
            closed_case(stack, officer, unit_id=unit_id, shop_name="个体小店", uscc=None),
            closed_case(stack, officer, unit_id=unit_id, shop_name="已撤回旗舰店"),
        ]
        for case_id in cases:
            made = w.client.post(
                f"/v1/cases/{case_id}/publication", json=decision(), headers=officer
            )
            assert made.status_code == 201, made.text
            w.published.append(made.json()["id"])
        w.withdrawn = w.published.pop()
        gone = w.client.post(
            f"/v1/publications/{w.withdrawn}/withdraw",
            json={"reason": WITHDRAW_REASON},
            headers=officer,
        )
        assert gone.status_code == 200, gone.text
        w.plan = published_plan(stack)
        with stack.runtime.session() as session:
            pseudonym = authenticate(session, officer["Authorization"]).pseudonym
            admin = authenticate(session, stack.auth("admin")["Authorization"]).pseudonym
            user_token = session.query(ApiToken).filter(ApiToken.kind == "user").first()
            assert user_token is not None
        w.secrets = [
            OFFICER_NAME,
            OFFICER_DISPLAY,
            USER_DISPLAY,
            username,
            f'"{pseudonym}"',
            f'"token-{user_token.id}"',
            token,
            w.evidence_id,
            FILE_NAME,
            CASE_NOTE,
            WITHDRAW_REASON,
            "已撤回旗舰店",
            f'"{admin}"',  # who recorded the spot check's result and published it
            RESULT_NOTE,
            *w.plan.officer_names,
        ]
        yield w


# --- publishing -----------------------------------------------------------------------


def test_publish_answers_the_record_and_refuses_what_is_not_a_decision(world: World) -> None:
    client, officer = world.client, world.officer
    detail = client.get(f"/v1/publications/{world.published[0]}", headers=officer)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["status"] == "published"
    assert body["record"]["entity_name"] == "某某保健品旗舰店"
    assert body["record"]["entity_uscc"] == USCC
    assert body["record"]["deciding_unit"] == "泉州市丰泽区市场监督管理局"
    assert body["record_sha256"] == hashlib.sha256(canonical_json(body["record"])).hexdigest()

    def refused(case_id: int, status: int, words: str, **changes: Any) -> None:
        answer = client.post(
            f"/v1/cases/{case_id}/publication", json=decision(**changes), headers=officer
        )
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert words in answer.json()["detail"], answer.json()

    unit = world.unit_id
    open_case = closed_case(world.stack, officer, unit_id=unit, steps=("filed",))
    refused(open_case, 409, "is in filed (立案): only a closed (结案) case")
    not_opened = closed_case(world.stack, officer, unit_id=unit, steps=("closed",))
    refused(not_opened, 409, "closed as 不予立案")
    no_unit = closed_case(world.stack, officer, unit_id=None)
    refused(no_unit, 409, "belongs to no unit")
    case_of_first = body["case_id"]
    refused(case_of_first, 409, f"already published as {world.published[0]}")
    fresh = closed_case(world.stack, officer, unit_id=unit)
    refused(
        fresh, 409, "is already published as", decision_number=body["record"]["decision_number"]
    )
    refused(fresh, 422, "in the future", decision_date="2999-01-01")
    refused(fresh, 422, "decision_number", decision_number="x" * 65)
    refused(2**40, 404, "no case")
    extra = client.post(
        f"/v1/cases/{fresh}/publication", json=decision(officer="王秘密"), headers=officer
    )
    assert extra.status_code == 422, extra.text

    # Outside the caller's jurisdiction the case does not exist (404, not 403).
    other_unit = add_unit(world.stack, "泉州市鲤城区市场监督管理局")
    with world.stack.runtime.session() as session:
        row, other = create_token(session, role="officer", name="鲤城 officer")
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(unit_id=other_unit))
    answer = client.post(
        f"/v1/cases/{fresh}/publication", json=decision(), headers=auth_header(other)
    )
    assert answer.status_code == 404, answer.text
    assert (
        client.get(f"/v1/publications/{world.published[0]}", headers=auth_header(other)).status_code
        == 404
    )

    again = client.post(
        f"/v1/publications/{world.withdrawn}/withdraw", json={"reason": "x"}, headers=officer
    )
    assert again.status_code == 409, again.text
    assert again.json()["detail"] == f"publication {world.withdrawn} is already withdrawn"


# --- the public API -------------------------------------------------------------------


def listing(world: World, query: str) -> dict[str, Any]:
    answer = world.client.get(f"/v1/public/penalties{query}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_public_list_pages_searches_and_drops_withdrawn(world: World) -> None:
    everything = listing(world, "")
    ids = [item["id"] for item in everything["items"]]
    assert ids == world.published[::-1]  # newest first; the withdrawn one is gone
    assert everything["total"] == 2
    first, second = listing(world, "?limit=1"), listing(world, "?limit=1&offset=1")
    assert [first["items"][0]["id"], second["items"][0]["id"]] == ids
    assert listing(world, "?offset=2")["items"] == []
    assert [i["id"] for i in listing(world, "?q=保健品")["items"]] == [world.published[0]]
    assert [i["id"] for i in listing(world, f"?q={USCC.lower()}")["items"]] == [world.published[0]]
    assert [i["id"] for i in listing(world, "?q=个体")["items"]] == [world.published[1]]
    assert listing(world, "?q=已撤回")["items"] == []
    assert listing(world, "?q=100%25")["total"] == 0  # LIKE wildcards are literal
    assert listing(world, "?q=%20%20保健品%20")["q"] == "保健品"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"?q={'名' * (MAX_QUERY + 1)}", "q"),
        (f"?limit={MAX_LIMIT + 1}", "limit"),
        ("?limit=0", "limit"),
        (f"?offset={MAX_OFFSET + 1}", "offset"),
        ("?offset=-1", "offset"),
        ("?limit=abc", "limit"),
    ],
    ids=["q-too-long", "limit-over", "limit-zero", "offset-over", "offset-negative", "limit-text"],
)
def test_public_list_bounds(world: World, query: str, field: str) -> None:
    for base in ("/v1/public/penalties", "/v1/public/spot-checks"):
        answer = world.client.get(base + query)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in answer.text


def test_public_list_bounds_at_the_limit(world: World) -> None:
    at_limit = f"?q={'名' * MAX_QUERY}&limit={MAX_LIMIT}&offset={MAX_OFFSET}"
    for base in ("/v1/public/penalties", "/v1/public/spot-checks"):
        answer = world.client.get(base + at_limit)
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == []
    control = world.client.get("/v1/public/penalties?q=a%01b")
    assert control.status_code == 422 and "control characters" in control.json()["detail"]


def test_public_detail_unknown_withdrawn_and_malformed(world: World) -> None:
    client = world.client
    for pid in (world.withdrawn, "pub-" + "0" * 28):
        for suffix in ("", "/proof"):
            answer = client.get(f"/v1/public/penalties/{pid}{suffix}")
            assert answer.status_code == 404, answer.text
            assert answer.json()["detail"] == f"no published penalty decision {pid!r}"
    for bad in ("pub-1", "x" * 300, "pub-" + "G" * 28):
        assert client.get(f"/v1/public/penalties/{bad}").status_code == 422
    assert client.get("/v1/public/spot-checks/sc-" + "0" * 28).status_code == 404
    assert client.get("/v1/public/spot-checks/sc-1").status_code == 422


def test_every_public_get_works_without_a_token_and_writes_are_refused(world: World) -> None:
    pid = world.published[0]
    reads = [
        "/v1/public/penalties",
        f"/v1/public/penalties/{pid}",
        f"/v1/public/penalties/{pid}/proof",
        "/v1/public/spot-checks",
        "/public/penalties",
        f"/public/penalties/{pid}",
        "/public/spot-checks",
    ]
    for url in reads:
        answer = world.client.get(url)
        assert answer.status_code == 200, (url, answer.text)
    plan = "/v1/public/spot-checks/sc-" + "0" * 28
    for url in [*reads[:4], plan, f"{plan}/plan.json"]:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for headers in ({}, world.officer, world.stack.auth("admin")):
                answer = world.client.request(method, url, headers=headers, json={"x": 1})
                assert answer.status_code == 405, (method, url, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.headers["allow"] == "GET", (method, url)
    assert world.client.get(f"/v1/public/penalties/{pid}").headers.get("set-cookie") is None


# --- the bundle -----------------------------------------------------------------------


def test_the_bundle_verifies_and_commits_to_the_record(world: World) -> None:
    pid = world.published[0]
    vkey = VerifierKey.from_text(world.client.get("/v1/log/key").text.strip())

    def sealed() -> bool:
        return bool(
            world.client.get(f"/v1/public/penalties/{pid}").json()["proof_status"] != "pending"
        )

    wait_until(sealed, 30, "the publication's entry to be sealed")
    detail = world.client.get(f"/v1/public/penalties/{pid}").json()
    proof = world.client.get(f"/v1/public/penalties/{pid}/proof")
    assert proof.headers["content-disposition"] == f'attachment; filename="{pid}.proof.json"'
    assert proof.json() == detail["bundle"]
    bundle = load_bundle(proof.content)
    report = verify_bundle(bundle, log_keys=[vkey], through=4)
    statuses = {t.tier: t.status.value for t in report.tiers}
    assert statuses[3] == statuses[4] == "verified", report
    entry = bundle.entry
    assert (entry.kind, entry.id) == ("disclosure", detail["entry_id"])
    record = detail["record"]
    assert entry.body == {
        "action": "publish",
        "publication_id": pid,
        "case_number": record["case_number"],
        "entity_uscc": USCC,
        "decision_number": record["decision_number"],
        "record_sha256": hashlib.sha256(canonical_json(record)).hexdigest(),
    }
    assert detail["leaf_hash"] == report.leaf_hash
    assert detail["verify_url"] == "/verifier/verify"
    # A tampered record no longer matches the digest the log holds.
    assert (
        hashlib.sha256(canonical_json(record | {"penalty": "警告"})).hexdigest()
        != (entry.body["record_sha256"])
    )


# --- the allow-list ---------------------------------------------------------------------

#: The bodies of the log entries whose bundles are public: ours (by action) and the spot
#: checks' (by step, docs/inspections.md).
ENTRY_BODIES: dict[tuple[str, str], tuple[str, ...]] = {
    **{("disclosure", action): names for action, names in ENTRY_BODY_FIELDS.items()},
    ("spotcheck", "committed"): (
        "plan_id",
        "step",
        "plan_sha256",
        "chain_id",
        "seed_height",
        "algorithm",
        "entity_pool",
        "officer_pool",
        "recusals",
    ),
    ("spotcheck", "drawn"): (
        "plan_id",
        "step",
        "plan_sha256",
        "seed_height",
        "seed_block_hash",
        "result_sha256",
    ),
    ("spotcheck", "result"): (
        "plan_id",
        "step",
        "entity",
        "outcome",
        "officer",
        "note_sha256",
        "evidence_ids",
    ),
}
BUNDLE_SPEC: dict[str, Any] = {
    **dict.fromkeys(Bundle.model_fields),
    "entry": {**dict.fromkeys(Entry.model_fields), "body": "entry-body"},
    "inclusion": tuple(InclusionProof.model_fields),
    "anchor": tuple(Anchor.model_fields),
    "timestamps": [("tsa", "token")],
}
PENALTY_SPEC: dict[str, Any] = dict.fromkeys(PENALTY_FIELDS)
DETAIL_SPEC: dict[str, Any] = {
    **dict.fromkeys(PENALTY_DETAIL_FIELDS),
    "record": RECORD_FIELDS,
    "bundle": BUNDLE_SPEC,
}
PAGE_SPEC: dict[str, Any] = {**dict.fromkeys(PAGE_FIELDS), "items": [PENALTY_SPEC]}
SPOT_PAGE_SPEC: dict[str, Any] = {**dict.fromkeys(PAGE_FIELDS), "items": [SPOTCHECK_FIELDS]}
PLAN_SPEC: dict[str, Any] = {
    **dict.fromkeys(DrawPlan.model_fields),
    "entities": [tuple(PoolEntity.model_fields)],
    "officers": [tuple(PoolOfficer.model_fields)],
    "recusals": [tuple(Recusal.model_fields)],
}
DRAW_SPEC: dict[str, Any] = {
    **dict.fromkeys(DrawResult.model_fields),
    "assignments": [tuple(Assignment.model_fields)],
}
SPOT_DETAIL_SPEC: dict[str, Any] = {
    **dict.fromkeys(SPOTCHECK_DETAIL_FIELDS),
    "items": [ITEM_FIELDS],
    "plan": PLAN_SPEC,
    "draw": DRAW_SPEC,
    "drawn": [DRAWN_FIELDS],
    "units": [UNIT_FIELDS],
    "results": [RESULT_FIELDS],
    "reproduce": REPRODUCE_FIELDS,
    "proofs": [{**dict.fromkeys(PROOF_FIELDS), "bundle": BUNDLE_SPEC}],
}


def within(value: Any, spec: Any, where: str) -> None:
    """Every object in ``value`` has keys within ``spec`` (a tuple of names, or a dict of
    name → the spec of its value; ``[spec]``: a list of those)."""
    if spec is None:  # a scalar, or a list of scalars
        assert not isinstance(value, dict), where
        assert not isinstance(value, list) or all(not isinstance(v, dict | list) for v in value)
        return
    if value is None:
        return
    if spec == "entry-body":
        assert isinstance(value, dict), where
        key = str(value.get("action") or value.get("step"))
        allowed = set(ENTRY_BODIES[("disclosure" if "action" in value else "spotcheck", key)])
        assert set(value) <= allowed, (where, set(value) - allowed)
        return
    if isinstance(spec, list):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            within(item, spec[0], f"{where}[{i}]")
        return
    assert isinstance(value, dict), where
    names = spec if isinstance(spec, tuple) else tuple(spec)
    assert set(value) <= set(names), (where, set(value) - set(names))
    if isinstance(spec, dict):
        for key, sub in spec.items():
            if key in value:
                within(value[key], sub, f"{where}.{key}")


def test_allow_list_crawl(world: World) -> None:
    client = world.client
    bodies: list[str] = []
    page = client.get("/v1/public/penalties?limit=100")
    within(page.json(), PAGE_SPEC, "page")
    assert set(page.json()) == set(PAGE_FIELDS)
    bodies.append(page.text)
    for item in page.json()["items"]:
        assert set(item) == set(PENALTY_FIELDS)
        detail = client.get(item["url"])
        assert set(detail.json()) == set(PENALTY_DETAIL_FIELDS)
        within(detail.json(), DETAIL_SPEC, item["id"])
        proof = client.get(detail.json()["proof_url"])
        within(proof.json(), BUNDLE_SPEC, f"{item['id']}/proof")
        assert detail.json()["bundle"]["manifest"] is None
        bodies += [detail.text, proof.text]
        html = client.get(f"/public/penalties/{item['id']}")
        assert html.status_code == 200
        bodies.append(html.text)
    spot = client.get("/v1/public/spot-checks?limit=100")
    assert world.plan is not None
    within(spot.json(), SPOT_PAGE_SPEC, "spot page")
    assert [p["plan_id"] for p in spot.json()["items"]] == [world.plan.plan_id]
    bodies.append(spot.text)
    for item in spot.json()["items"]:
        assert set(item) == set(SPOTCHECK_FIELDS)
        detail = client.get(item["url"])
        assert set(detail.json()) == set(SPOTCHECK_DETAIL_FIELDS)
        within(detail.json(), SPOT_DETAIL_SPEC, item["plan_id"])
        steps = [p["step"] for p in detail.json()["proofs"]]
        assert steps == ["committed", "drawn", "result"]
        bodies += [detail.text, client.get(f"/public/spot-checks/{item['plan_id']}").text]
        for suffix in ("plan.json", "draw.json"):
            bodies.append(client.get(f"{item['url']}/{suffix}").text)
    for url in ("/public/penalties", "/public/spot-checks", "/public/penalties?q=保健品"):
        bodies.append(client.get(url).text)
    assert len(bodies) >= 15
    for body in bodies:
        for secret in world.secrets:
            assert secret not in body, secret
    # the plan's officers: their per-plan refs are public, their token pseudonyms never
    assert world.plan.officer_pseudonyms
    pseudonym = re.compile("|".join(rf"\b{p}(?![0-9])" for p in world.plan.officer_pseudonyms))
    for body in bodies:
        assert pseudonym.search(body) is None, pseudonym.search(body)
    refs = re.compile(r"\boff-[12](?![0-9])")  # the detail, plan.json, draw.json
    assert sum(refs.search(body) is not None for body in bodies) >= 3


# --- the pages ------------------------------------------------------------------------


def test_pages_list_search_and_show_the_proof(world: World) -> None:
    client = world.client
    first = client.get("/public", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/public/spot-checks")
    page = client.get("/public/penalties")
    assert page.status_code == 200
    assert "行政处罚决定公示" in page.text and 'aria-current="page">行政处罚' in page.text
    assert page.text.count('data-testid="penalty-row"') == 2
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    found = client.get(f"/public/penalties?q={USCC}")
    assert found.text.count('data-testid="penalty-row"') == 1 and "某某保健品旗舰店" in found.text
    none = client.get("/public/penalties?q=不存在的店")
    assert "没有与“不存在的店”相符的公示" in none.text
    too_long = client.get(f"/public/penalties?q={'名' * (MAX_QUERY + 1)}")
    assert too_long.status_code == 422 and "at most 64 characters" in too_long.text
    pid = world.published[0]
    detail = client.get(f"/public/penalties/{pid}")
    assert f'href="/v1/public/penalties/{pid}/proof" download' in detail.text
    assert 'href="/verifier/verify"' in detail.text
    assert "处罚依据" in detail.text and "《中华人民共和国反不正当竞争法》" in detail.text
    sha = re.search(r'data-testid="record-sha256">([0-9a-f]{64})<', detail.text)
    assert sha is not None
    assert sha.group(1) == client.get(f"/v1/public/penalties/{pid}").json()["record_sha256"]
    gone = client.get(f"/public/penalties/{world.withdrawn}")
    assert gone.status_code == 404 and "no published penalty decision" in gone.text
    assert json.loads(client.get("/v1/public/penalties").text)["total"] == 2


# --- spot checks ----------------------------------------------------------------------


def test_a_published_spot_check_reproduces_from_public_data(world: World, tmp_path: Path) -> None:
    assert world.plan is not None
    client, plan_id = world.client, world.plan.plan_id
    detail = client.get(f"/v1/public/spot-checks/{plan_id}").json()
    assert detail["seed_height"] == world.plan.seed_height
    plan = client.get(detail["plan_url"])
    assert plan.status_code == 200
    assert hashlib.sha256(plan.content).hexdigest() == world.plan.plan_sha256
    assert detail["reproduce"]["plan_sha256"] == world.plan.plan_sha256
    draw = client.get(detail["reproduce"]["draw_url"])
    assert draw.status_code == 200
    # The seed block's hash, read from the chain itself, is the one published.
    assert world.stack.runtime.chain is not None
    rpc_url = world.stack.runtime.chain.rpc_url
    assert rpc_url is not None
    block = rpc(rpc_url, "eth_getBlockByNumber", [hex(detail["seed_height"]), False])
    assert isinstance(block, dict) and block["hash"] == detail["seed_block_hash"]
    (tmp_path / f"{plan_id}.plan.json").write_bytes(plan.content)
    (tmp_path / f"{plan_id}.draw.json").write_bytes(draw.content)
    command = detail["reproduce"]["command"].split()
    assert command[:2] == ["evidence-verify", "spot-check"]
    done = subprocess.run(
        [str(VERIFY_CLI), *command[1:], "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Tampering with the published draw is caught by the same command.
    tampered = json.loads(draw.content)
    tampered["entities"] = ["ent-999999"]
    (tmp_path / f"{plan_id}.draw.json").write_text(json.dumps(tampered), "utf-8")
    failed = subprocess.run(
        [str(VERIFY_CLI), *command[1:]], cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    assert failed.returncode == 1, failed.stdout
    # Every step's bundle verifies through the verifier library.
    vkey = VerifierKey.from_text(client.get("/v1/log/key").text.strip())

    def sealed() -> bool:
        proofs = client.get(f"/v1/public/spot-checks/{plan_id}").json()["proofs"]
        return all(p["bundle"]["status"] != "pending" for p in proofs)

    wait_until(sealed, 30, "the spot check's entries to be sealed")
    for proof in client.get(f"/v1/public/spot-checks/{plan_id}").json()["proofs"]:
        report = verify_bundle(load_bundle(json.dumps(proof["bundle"])), log_keys=[vkey], through=4)
        statuses = {t.tier: t.status.value for t in report.tiers}
        assert statuses[3] == statuses[4] == "verified", (proof["step"], report)
        assert report.evidence_id == proof["entry_id"]


def test_spot_check_pages_and_search(world: World) -> None:
    assert world.plan is not None
    client, plan_id = world.client, world.plan.plan_id
    detail = client.get(f"/v1/public/spot-checks/{plan_id}").json()
    drawn = detail["drawn"][0]["name"]
    assert [
        p["plan_id"] for p in client.get(f"/v1/public/spot-checks?q={drawn}").json()["items"]
    ] == [plan_id]
    assert client.get("/v1/public/spot-checks?q=不存在的店").json()["total"] == 0
    page = client.get(f"/public/spot-checks/{plan_id}")
    assert page.status_code == 200
    assert detail["reproduce"]["command"] in page.text
    assert detail["seed_block_hash"] in page.text
    assert detail["results"][0]["outcome_label"] in page.text
    assert f'href="/v1/public/spot-checks/{plan_id}/plan.json" download' in page.text
    listing = client.get("/public/spot-checks")
    assert listing.text.count('data-testid="spot-check-row"') == 1
    gone = client.get("/public/spot-checks/sc-" + "0" * 28)
    assert gone.status_code == 404 and "no published spot-check plan" in gone.text
