"""Who may call what: a role x endpoint matrix, derived from the OpenAPI schema.

Every operation the app publishes is either listed in :data:`PUBLIC` or in
:data:`POLICY` with the roles it admits; an operation in neither fails
:func:`test_every_route_is_classified`, and every operation not in
:data:`PUBLIC` must refuse a caller without a token, so a new route that
forgets its dependency fails :func:`test_role_matrix`.

Tokens come from ``evidence admin create-token``: shown once, stored only as
their SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from evidence_api.core.auth import ROLES, TOKEN_PREFIX, create_token
from evidence_api.core.config import Settings
from evidence_api.core.models import ApiToken
from tests.support.api import (
    EVIDENCE_CLI,
    Stack,
    auth_header,
    create_token_cli,
    evidence_form,
    published_document,
    running_stack,
    submit,
    wait_for_bundle,
)
from tests.support.audit_runs import audit_request
from tests.support.clues import clue_request
from tests.support.complaints import complaints_request
from tests.support.credit import credit_request
from tests.support.disclosure import disclosure_request
from tests.support.leniency import leniency_request
from tests.support.odr import odr_request
from tests.support.repairs import repairs_request
from tests.support.spotchecks import spotcheck_request
from tests.support.stats import stats_request
from tests.support.units import assign_order_request, units_request
from tests.support.violators import violators_request

SUBMITTERS = frozenset({"officer", "admin"})
READERS = frozenset({"officer", "admin", "appraiser"})

#: (method, path) -> roles admitted. The platform role has no route yet.
POLICY: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/evidence"): SUBMITTERS,
    ("POST", "/v1/stamps"): SUBMITTERS,
    ("GET", "/v1/evidence"): READERS,
    ("GET", "/v1/evidence/{evidence_id}"): READERS,
    ("GET", "/v1/evidence/{evidence_id}/files/{name}"): READERS,
    ("GET", "/v1/evidence/{evidence_id}/proof"): READERS,
    ("GET", "/v1/evidence/{evidence_id}/package"): READERS,
    ("GET", "/v1/evidence/{evidence_id}/certificate"): READERS,
}
#: The registries: admins manage platforms; officers and admins read them and keep
#: entities and cases; appraisers and platforms have no business there.
ADMINS = frozenset({"admin"})
POLICY |= {
    ("POST", "/v1/platforms"): ADMINS,
    ("GET", "/v1/platforms"): SUBMITTERS,
    ("GET", "/v1/platforms/{code}"): SUBMITTERS,
    ("PATCH", "/v1/platforms/{code}"): ADMINS,
    ("POST", "/v1/platforms/{code}/webhook-secret"): ADMINS,
    ("POST", "/v1/entities"): SUBMITTERS,
    ("GET", "/v1/entities"): SUBMITTERS,
    ("GET", "/v1/entities/{entity_id}"): SUBMITTERS,
    ("PATCH", "/v1/entities/{entity_id}"): SUBMITTERS,
    ("POST", "/v1/cases"): SUBMITTERS,
    ("GET", "/v1/cases"): SUBMITTERS,
    ("GET", "/v1/cases/{case_id}"): SUBMITTERS,
    ("PATCH", "/v1/cases/{case_id}"): SUBMITTERS,
    ("POST", "/v1/cases/{case_id}/transition"): SUBMITTERS,
    ("POST", "/v1/cases/{case_id}/evidence"): SUBMITTERS,
    ("GET", "/v1/cases/{case_id}/events"): SUBMITTERS,
}
#: Takedown orders: officers and admins issue and follow them; platform tokens alone use
#: the platform API (their own orders only, see test_api_takedowns.py for isolation).
PLATFORMS = frozenset({"platform"})
POLICY |= {
    ("POST", "/v1/takedowns"): SUBMITTERS,
    ("GET", "/v1/takedowns"): SUBMITTERS,
    ("GET", "/v1/takedowns/{order_id}"): SUBMITTERS,
    ("GET", "/v1/takedowns/{order_id}/proofs"): SUBMITTERS,
    ("GET", "/v1/platform/takedowns"): PLATFORMS,
    ("GET", "/v1/platform/takedowns/{order_id}"): PLATFORMS,
    ("GET", "/v1/platform/takedowns/{order_id}/proofs"): PLATFORMS,
    ("GET", "/v1/platform/takedowns/{order_id}/evidence/{evidence_id}"): PLATFORMS,
    ("GET", "/v1/platform/takedowns/{order_id}/evidence/{evidence_id}/files/{name}"): PLATFORMS,
    ("POST", "/v1/platform/takedowns/{order_id}/ack"): PLATFORMS,
    ("POST", "/v1/platform/takedowns/{order_id}/complete"): PLATFORMS,
    ("POST", "/v1/platform/takedowns/{order_id}/dispute"): PLATFORMS,
}
#: Server-side captures: officers and admins ask for them and follow them.
POLICY |= {
    ("POST", "/v1/captures"): SUBMITTERS,
    ("GET", "/v1/captures"): SUBMITTERS,
    ("GET", "/v1/captures/{capture_id}"): SUBMITTERS,
}
#: Monitoring (监测预警): officers and admins keep monitors, triage alerts, read statistics
#: and rule on disputed takedown orders.
POLICY |= {
    ("POST", "/v1/monitors"): SUBMITTERS,
    ("GET", "/v1/monitors"): SUBMITTERS,
    ("GET", "/v1/monitors/{monitor_id}"): SUBMITTERS,
    ("PATCH", "/v1/monitors/{monitor_id}"): SUBMITTERS,
    ("DELETE", "/v1/monitors/{monitor_id}"): SUBMITTERS,
    ("GET", "/v1/monitors/{monitor_id}/runs"): SUBMITTERS,
    ("POST", "/v1/monitors/{monitor_id}/run"): SUBMITTERS,
    ("GET", "/v1/alerts"): SUBMITTERS,
    ("GET", "/v1/alerts/stream"): SUBMITTERS,
    ("GET", "/v1/alerts/{alert_id}"): SUBMITTERS,
    ("GET", "/v1/alerts/{alert_id}/proofs"): SUBMITTERS,
    ("POST", "/v1/alerts/{alert_id}/dismiss"): SUBMITTERS,
    ("POST", "/v1/alerts/{alert_id}/convert"): SUBMITTERS,
    ("GET", "/v1/stats/monitoring"): SUBMITTERS,
    ("POST", "/v1/takedowns/{order_id}/ruling"): SUBMITTERS,
}
#: Accounts: users, tokens and the audit log are administrators' alone.
POLICY |= {
    ("GET", "/v1/users"): ADMINS,
    ("POST", "/v1/users"): ADMINS,
    ("GET", "/v1/users/{user_id}"): ADMINS,
    ("POST", "/v1/users/{user_id}/disable"): ADMINS,
    ("POST", "/v1/users/{user_id}/enable"): ADMINS,
    ("POST", "/v1/users/{user_id}/unlock"): ADMINS,
    ("POST", "/v1/users/{user_id}/password"): ADMINS,
    ("GET", "/v1/audit"): ADMINS,
    ("GET", "/v1/tokens"): ADMINS,
    ("POST", "/v1/tokens/{token_id}/revoke"): ADMINS,
}
#: Trust: the witnesses and what they cosigned, for officers and admins.
POLICY |= {("GET", "/v1/trust/witnesses"): SUBMITTERS}
#: Trust: the time-stamping authorities and what they stamped, for officers and admins.
POLICY |= {("GET", "/v1/trust/timestamps"): SUBMITTERS}
#: The full audit's runs: administrators' alone (tests/support/audit_runs.py).
POLICY |= dict.fromkeys(
    [
        ("GET", "/v1/integrity/audits"),
        ("POST", "/v1/integrity/audits"),
        ("GET", "/v1/integrity/audits/{run_id}"),
        ("POST", "/v1/integrity/audits/{run_id}/acknowledge"),
    ],
    ADMINS,
)
#: Units and jurisdiction (evidence_api/units): admins keep the tree; everyone who works
#: on evidence reads it (tests/support/units.py makes the valid requests). What each unit
#: sees of the other resources: tests/integration/test_jurisdiction.py.
POLICY |= {
    ("POST", "/v1/units"): ADMINS,
    ("GET", "/v1/units"): READERS,
    ("GET", "/v1/units/{code}"): READERS,
    ("PATCH", "/v1/units/{code}"): ADMINS,
    ("PATCH", "/v1/takedowns/{order_id}"): SUBMITTERS,
}
#: Clues and 协查 (evidence_api/clues): officers and admins; the platform's side of 协查
#: for platform tokens (tests/support/clues.py makes the valid requests).
POLICY |= dict.fromkeys(
    [
        ("POST", "/v1/clues"),
        ("GET", "/v1/clues"),
        ("GET", "/v1/clues/{clue_id}"),
        ("GET", "/v1/clues/{clue_id}/proofs"),
        ("POST", "/v1/clues/{clue_id}/transfers"),
        ("POST", "/v1/clues/{clue_id}/transfers/{transfer_id}/accept"),
        ("POST", "/v1/clues/{clue_id}/transfers/{transfer_id}/return"),
        ("POST", "/v1/assists"),
        ("GET", "/v1/assists"),
        ("GET", "/v1/assists/{assist_id}"),
        ("GET", "/v1/assists/{assist_id}/proofs"),
        ("POST", "/v1/assists/{assist_id}/reply"),
        ("POST", "/v1/assists/{assist_id}/close"),
    ],
    SUBMITTERS,
) | dict.fromkeys(
    [
        ("GET", "/v1/platform/assists"),
        ("GET", "/v1/platform/assists/{assist_id}"),
        ("POST", "/v1/platform/assists/{assist_id}/reply"),
    ],
    PLATFORMS,
)
#: 双随机、一公开 (evidence_api/spotcheck): the item list is written by admins; plans,
#: draws and results by officers and admins (tests/support/spotchecks.py).
POLICY |= {("GET", "/v1/inspection-items"): SUBMITTERS, ("POST", "/v1/inspection-items"): ADMINS}
POLICY |= dict.fromkeys(
    [
        ("GET", "/v1/spot-checks"),
        ("POST", "/v1/spot-checks"),
        ("GET", "/v1/spot-checks/{plan_id}"),
        ("GET", "/v1/spot-checks/{plan_id}/plan.json"),
        ("POST", "/v1/spot-checks/{plan_id}/draw"),
        ("POST", "/v1/spot-checks/{plan_id}/results"),
        ("POST", "/v1/spot-checks/{plan_id}/publish"),
    ],
    SUBMITTERS,
)
#: 信息公示 writes (evidence_api/disclosure): rows added by that feature.
POLICY |= {
    ("POST", "/v1/cases/{case_id}/publication"): SUBMITTERS,
    ("GET", "/v1/publications/{publication_id}"): SUBMITTERS,
    ("POST", "/v1/publications/{publication_id}/withdraw"): SUBMITTERS,
}
#: Credit grading (evidence_api/credit; tests/support/credit.py): appraisers read grades
#: and policies too (a grade is explained to be checked); admins install policies.
POLICY |= {
    ("GET", "/v1/entities/{entity_id}/credit"): READERS,
    ("GET", "/v1/credit/policies"): READERS,
    ("GET", "/v1/credit/policies/{version}"): READERS,
    ("POST", "/v1/credit/policies"): ADMINS,
    ("GET", "/v1/credit/entries/{entry_id}"): READERS,
}
#: 严重违法失信名单 (evidence_api/violators; tests/support/violators.py); its public reads.
POLICY |= {
    ("POST", "/v1/serious-violators"): ADMINS,
    ("GET", "/v1/serious-violators"): SUBMITTERS,
    ("GET", "/v1/serious-violators/{violation_id}"): SUBMITTERS,
    ("GET", "/v1/serious-violators/{violation_id}/proofs"): SUBMITTERS,
    ("POST", "/v1/serious-violators/{violation_id}/remove"): ADMINS,
    ("GET", "/v1/platform/serious-violators/feed"): PLATFORMS,
    ("POST", "/v1/platform/serious-violators/changes/{seq}/ack"): PLATFORMS,
}
PUBLIC_VIOLATORS: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/v1/public/serious-violators"),
        ("GET", "/v1/public/serious-violators/{violation_id}"),
    }
)
#: 信用修复 (evidence_api/repairs; tests/support/repairs.py); the public application.
POLICY |= {
    ("GET", "/v1/credit-repairs"): SUBMITTERS,
    ("GET", "/v1/credit-repairs/{repair_id}"): SUBMITTERS,
    ("POST", "/v1/credit-repairs/{repair_id}/decision"): SUBMITTERS,
}
PUBLIC_REPAIRS: frozenset[tuple[str, str]] = frozenset(
    {("POST", "/v1/public/credit-repairs"), ("GET", "/v1/public/credit-repairs/{repair_id}")}
)
#: 免罚清单 (evidence_api/leniency; tests/support/leniency.py): officers read it and dry-run
#: an item against a case; admins add, change and retire items.
POLICY |= {
    ("GET", "/v1/leniency-items"): SUBMITTERS,
    ("POST", "/v1/leniency-items"): ADMINS,
    ("GET", "/v1/leniency-items/{code}"): SUBMITTERS,
    ("PATCH", "/v1/leniency-items/{code}"): ADMINS,
    ("GET", "/v1/leniency-items/{code}/check"): SUBMITTERS,
}
#: 投诉举报 (evidence_api/complaints; tests/support/complaints.py); the public intake.
POLICY |= {
    ("GET", "/v1/complaints"): SUBMITTERS,
    ("GET", "/v1/complaints/{complaint_id}"): SUBMITTERS,
    ("POST", "/v1/complaints/{complaint_id}/triage"): SUBMITTERS,
    ("POST", "/v1/complaints/{complaint_id}/resolve"): SUBMITTERS,
}
PUBLIC_COMPLAINTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/public/complaints"),
        ("GET", "/v1/public/complaints/{complaint_id}"),
    }
)
#: ODR (evidence_api/odr; tests/support/odr.py); the consumer's public answers.
POLICY |= {
    ("GET", "/v1/odr"): SUBMITTERS,
    ("GET", "/v1/odr/{odr_id}"): SUBMITTERS,
    ("POST", "/v1/odr/{odr_id}/offers"): SUBMITTERS,
    ("POST", "/v1/odr/{odr_id}/accept"): SUBMITTERS,
    ("POST", "/v1/odr/{odr_id}/reject"): SUBMITTERS,
    ("POST", "/v1/odr/{odr_id}/fail"): SUBMITTERS,
    ("POST", "/v1/odr/{odr_id}/extend"): SUBMITTERS,
    ("POST", "/v1/odr/{odr_id}/notes"): SUBMITTERS,
    ("GET", "/v1/platform/odr"): PLATFORMS,
    ("GET", "/v1/platform/odr/{odr_id}"): PLATFORMS,
    ("POST", "/v1/platform/odr/{odr_id}/offers"): PLATFORMS,
    ("POST", "/v1/platform/odr/{odr_id}/respond"): PLATFORMS,
}
PUBLIC_ODR: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/v1/public/odr/{odr_id}"), ("POST", "/v1/public/odr/{odr_id}/respond")}
)
#: 示范区指标 (evidence_api/stats; tests/support/stats.py).
POLICY |= {
    ("GET", "/v1/stats/market"): SUBMITTERS,
    ("GET", "/v1/stats/market.csv"): SUBMITTERS,
}
#: 信息公示 (evidence_api/disclosure): its public reads, added to PUBLIC below.
PUBLIC_DISCLOSURE: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/v1/public/penalties"),
        ("GET", "/v1/public/penalties/{publication_id}"),
        ("GET", "/v1/public/penalties/{publication_id}/proof"),
        ("GET", "/v1/public/spot-checks"),
        ("GET", "/v1/public/spot-checks/{plan_id}"),
        ("GET", "/v1/public/spot-checks/{plan_id}/plan.json"),
        ("GET", "/v1/public/spot-checks/{plan_id}/draw.json"),
    }
)
#: Operations anyone may call: the log API (monitors, verifiers) and health checks.
PUBLIC: frozenset[tuple[str, str]] = (
    frozenset(
        {
            ("GET", "/v1/log/checkpoint"),
            ("GET", "/v1/log/key"),
            ("GET", "/v1/log/proof/inclusion"),
            ("GET", "/v1/log/proof/consistency"),
            ("GET", "/v1/log/lookup"),
            ("GET", "/tlog/checkpoint"),
            ("GET", "/tlog/tile/{level}/{index}"),
            ("GET", "/tlog/tile/entries/{index}"),
            ("GET", "/v1/trust/certificate-ca"),
            ("GET", "/healthz"),
            ("GET", "/readyz"),
        }
    )
    | PUBLIC_DISCLOSURE
    | PUBLIC_VIOLATORS
    | PUBLIC_REPAIRS
    | PUBLIC_COMPLAINTS
    | PUBLIC_ODR
)


def published_operations() -> list[tuple[str, str]]:
    """Every (method, path) in the app's OpenAPI schema; building the app connects to nothing."""
    schema = published_document()
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


OPERATIONS = published_operations()
MALFORMED = {
    "empty": "",
    "scheme-only": "Bearer",
    "basic": "Basic dXNlcjpwYXNzd29yZA==",
    "token-scheme": f"Token {TOKEN_PREFIX}{'A' * 43}",
    "short": "Bearer ea_short",
    "unknown": f"Bearer {TOKEN_PREFIX}{'A' * 43}",
    "no-prefix": f"Bearer {'A' * 46}",
}
UNAUTHORIZED = {
    "empty": "missing bearer token (Authorization: Bearer <token>)",
    "scheme-only": "authorization must be 'Bearer <token>'",
    "basic": "authorization must be 'Bearer <token>'",
    "token-scheme": "authorization must be 'Bearer <token>'",
    "short": "invalid or revoked token",
    "unknown": "invalid or revoked token",
    "no-prefix": "invalid or revoked token",
}


@dataclass
class World:
    """A running stack with one token per role and one sealed evidence item to read."""

    stack: Stack
    evidence_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("auth") / "data"
    # The matrix presents bad tokens on every route on purpose: the 429 that repeated bad
    # tokens earn (tests/integration/test_request_guard.py) would answer in their place.
    # Captures may target loopback; no browser is there, so each one fails at once.
    settings = Settings(
        data_dir=data,
        seal_interval=0.1,
        auth_failure_limit=100_000,
        capture_allow="127.0.0.1",
        capture_chromium=data.parent / "no-chromium",
    )
    with running_stack(settings) as stack:
        created = submit(stack, {"page.html": b"<p>page</p>"}).json()
        wait_for_bundle(stack.client, created["evidence_id"], stack.auth("officer"))
        yield World(stack, created["evidence_id"])


def registry_request(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid registry request; what it needs (a platform, an entity, a fresh case to
    move) is made through the API as an admin, before the request under test."""
    client, admin = world.stack.client, world.stack.auth("admin")

    def made(url: str, body: dict[str, Any]) -> Any:
        response = client.post(url, json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()

    def send(headers: dict[str, str]) -> Any:
        code = made("/v1/platforms", {"code": f"m-{uuid.uuid4().hex[:8]}", "name": "m"})["code"]
        entity = made("/v1/entities", {"platform": code, "shop_name": "shop"})["id"]
        case = made("/v1/cases", {"number": uuid.uuid4().hex, "title": "t"})["id"]
        url = path.format(code=code, entity_id=entity, case_id=case)
        body: dict[str, Any] | None = {
            ("POST", "/v1/platforms"): {"code": f"m-{uuid.uuid4().hex[:8]}", "name": "m"},
            ("PATCH", "/v1/platforms/{code}"): {"name": "renamed"},
            ("POST", "/v1/entities"): {"platform": code, "shop_name": "shop"},
            ("PATCH", "/v1/entities/{entity_id}"): {"risk_class": "食品"},
            ("POST", "/v1/cases"): {"number": uuid.uuid4().hex, "title": "t"},
            ("PATCH", "/v1/cases/{case_id}"): {"title": "t2"},
            ("POST", "/v1/cases/{case_id}/transition"): {"to": "filed"},
            ("POST", "/v1/cases/{case_id}/evidence"): {"evidence_ids": [world.evidence_id]},
        }.get((method, path))
        return client.request(method, url, headers=headers, json=body)

    return send


def takedown_request(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid takedown request: a fresh order to the platform tokens' platform
    (``example-mall``) citing the world's evidence, acknowledged first for ``complete``."""
    client, officer = world.stack.client, world.stack.auth("officer")
    order_body = {
        "platform": "example-mall",
        "listing_urls": ["https://example-mall.example/item/1"],
        "legal_basis": "《电子商务法》第三十八条",
        "reason": "auth matrix",
        "evidence_ids": [world.evidence_id],
        "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "grant_files": True,
    }

    def send(headers: dict[str, str]) -> Any:
        if client.get("/v1/platforms/example-mall", headers=officer).status_code == 404:
            made = client.post(
                "/v1/platforms",
                json={"code": "example-mall", "name": "Example Mall"},
                headers=world.stack.auth("admin"),
            )
            assert made.status_code == 201, made.text
        issued = client.post("/v1/takedowns", json=order_body, headers=officer)
        assert issued.status_code == 201, issued.text
        order = issued.json()["order_id"]
        if path.endswith("/complete"):
            acked = client.post(
                f"/v1/platform/takedowns/{order}/ack", headers=world.stack.auth("platform")
            )
            assert acked.status_code == 200, acked.text
        url = path.format(order_id=order, evidence_id=world.evidence_id, name="page.html")
        body: dict[str, Any] | None = {
            "/v1/takedowns": order_body,
            "/v1/platform/takedowns/{order_id}/complete": {
                "note": "removed",
                "removed_at": datetime.now(UTC).isoformat(),
            },
            "/v1/platform/takedowns/{order_id}/dispute": {"reason": "not ours"},
        }.get(path)
        return client.request(method, url, headers=headers, json=body if method == "POST" else None)

    return send


def capture_request(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid capture request; for one capture's status, a capture made by an officer."""
    client = world.stack.client
    body = {"url": "http://127.0.0.1:9/auth-matrix"}

    def send(headers: dict[str, str]) -> Any:
        url = path
        if "{capture_id}" in path:
            made = client.post("/v1/captures", json=body, headers=world.stack.auth("officer"))
            assert made.status_code == 202, made.text
            url = path.format(capture_id=made.json()["capture_id"])
        return client.request(method, url, headers=headers, json=body if method == "POST" else None)

    return send


def monitor_request(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid monitor request; for one monitor's routes, a fresh monitor made by an officer
    (enabled only for "run now": its run fails at once, there is no browser here)."""
    client = world.stack.client
    body = {
        "name": "auth matrix",
        "target": {"kind": "listing", "url": "http://127.0.0.1:9/auth-matrix"},
        "schedule": {"interval_seconds": 3600},
        "enabled": path.endswith("/run"),
    }

    def send(headers: dict[str, str]) -> Any:
        url = path
        if "{monitor_id}" in path:
            made = client.post("/v1/monitors", json=body, headers=world.stack.auth("officer"))
            assert made.status_code == 201, made.text
            url = path.format(monitor_id=made.json()["id"])
        payload = {"/v1/monitors": body, "/v1/monitors/{monitor_id}": {"name": "renamed"}}.get(path)
        return client.request(method, url, headers=headers, json=payload)

    return send


def alert_request(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid alert request; for one alert's routes, a fresh open alert citing the world's
    evidence, opened as the runs engine opens them (alert_log.open_alert)."""
    from evidence_api.monitoring.alert_log import AlertDraft, ledger_of, open_alert  # noqa: PLC0415
    from evidence_api.monitoring.stream import StreamGate  # noqa: PLC0415

    stack = world.stack
    # A stream stays open for minutes; here it ends after half a second.
    stack.client.app.state.alert_streams = StreamGate(lifetime=0.5)  # type: ignore[attr-defined]

    def send(headers: dict[str, str]) -> Any:
        url, params, body = path, {}, None
        if "{alert_id}" in path:
            ledger = ledger_of(stack.runtime)
            with ledger.transaction() as session:
                alert = open_alert(
                    ledger,
                    session,
                    AlertDraft(
                        rule="price_changed",
                        reason="价格变动 auth matrix",
                        recipient="token-1",
                        evidence_id=world.evidence_id,
                    ),
                )
                url = path.format(alert_id=alert.id)
            ledger.queued(1)
        if path == "/v1/alerts/stream":
            params = {"after": 0}
        elif path.endswith("/dismiss"):
            body = {"reason": "auth matrix"}
        elif path.endswith("/convert"):
            body = {"title": "auth matrix"}
        return stack.client.request(method, url, headers=headers, params=params, json=body)

    return send


def ruling_request(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A ruling on a fresh order that the platform disputed."""
    client = world.stack.client
    issue = takedown_request(world, "POST", "/v1/takedowns")

    def send(headers: dict[str, str]) -> Any:
        order = issue(world.stack.auth("officer")).json()["order_id"]
        disputed = client.post(
            f"/v1/platform/takedowns/{order}/dispute",
            json={"reason": "not ours"},
            headers=world.stack.auth("platform"),
        )
        assert disputed.status_code == 200, disputed.text
        body = {"decision": "withdraw", "reason": "auth matrix"}
        return client.request(method, path.format(order_id=order), headers=headers, json=body)

    return send


def accounts_request(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """Users, tokens, the audit log: each call acts on a user or token of its own."""
    from tests.support.console import make_user  # noqa: PLC0415 - the accounts tests' helper

    stack = world.stack

    def send(headers: dict[str, str]) -> Any:
        url, body = path, None
        if "{user_id}" in path:
            username, _ = make_user(stack.runtime, "officer")
            found = stack.client.get("/v1/users", headers=stack.auth("admin")).json()["items"]
            user_id = next(u["id"] for u in found if u["username"] == username)
            url = path.format(user_id=user_id)
        elif "{token_id}" in path:
            with stack.runtime.session() as session:
                row, _ = create_token(session, role="officer", name=f"matrix {uuid.uuid4()}")
                url = path.format(token_id=row.id)
        if (method, path) == ("POST", "/v1/users"):
            body = {
                "username": f"matrix-{uuid.uuid4().hex[:12]}",
                "password": "a long enough password",
                "display_name": "矩阵测试",
                "role": "officer",
            }
        elif path.endswith("/password"):
            body = {"password": "another long password"}
        return stack.client.request(method, url, headers=headers, json=body)

    return send


#: The credit-supervision features' routes, by path prefix -> their valid requests.
FEATURE_REQUESTS: tuple[
    tuple[tuple[str, ...], Callable[[Stack, str, str], Callable[[dict[str, str]], Any]]], ...
] = (
    (("/v1/entities/{entity_id}/credit", "/v1/credit/"), credit_request),
    (
        (
            "/v1/serious-violators",
            "/v1/platform/serious-violators",
            "/v1/public/serious-violators",
        ),
        violators_request,
    ),
    (("/v1/credit-repairs", "/v1/public/credit-repairs"), repairs_request),
    (("/v1/leniency-items",), leniency_request),
    (("/v1/complaints", "/v1/public/complaints"), complaints_request),
    (("/v1/odr", "/v1/platform/odr", "/v1/public/odr"), odr_request),
    (("/v1/stats/market",), stats_request),
)


def request_for(world: World, method: str, path: str) -> Callable[[dict[str, str]], Any]:
    """A valid request to the operation, given the auth headers to send with it."""
    for prefixes, feature_request in FEATURE_REQUESTS:
        if path.startswith(prefixes):
            return feature_request(world.stack, method, path)
    if path.startswith("/v1/integrity/audits"):
        return audit_request(world.stack, method, path)
    if path.startswith(("/v1/users", "/v1/tokens", "/v1/audit")):
        return accounts_request(world, method, path)
    if path.startswith(("/v1/public/", "/v1/publications")) or path.endswith("/publication"):
        return disclosure_request(world.stack, method, path)
    if path.startswith("/v1/units"):
        return units_request(world.stack, method, path)
    if (method, path) == ("PATCH", "/v1/takedowns/{order_id}"):
        return assign_order_request(world.stack, method, path)
    if path.startswith(("/v1/clues", "/v1/assists", "/v1/platform/assists")):
        return clue_request(world.stack, method, path)
    if path.startswith(("/v1/spot-checks", "/v1/inspection-items")):
        return spotcheck_request(world.stack, method, path)
    if path.startswith(("/v1/platforms", "/v1/entities", "/v1/cases")):
        return registry_request(world, method, path)
    if path.startswith("/v1/captures"):
        return capture_request(world, method, path)
    if path.startswith("/v1/monitors"):
        return monitor_request(world, method, path)
    if path.startswith(("/v1/alerts", "/v1/stats/")):
        return alert_request(world, method, path)
    if path.endswith("/ruling"):
        return ruling_request(world, method, path)
    if path.startswith(("/v1/takedowns", "/v1/platform/")):
        return takedown_request(world, method, path)
    url = path.replace("{evidence_id}", world.evidence_id).replace("{name}", "page.html")
    url = re.sub(r"\{[^}]+\}", "x", url)  # a route added later: any value will do for 401
    url = {  # the log holds one sealed entry: the partial tiles of width 1 exist
        "/tlog/tile/{level}/{index}": "/tlog/tile/0/000.p/1",
        "/tlog/tile/entries/{index}": "/tlog/tile/entries/000.p/1",
    }.get(path, url)
    kwargs: dict[str, Any] = {}
    if (method, path) == ("POST", "/v1/evidence"):
        kwargs["files"] = evidence_form({"p.html": os.urandom(16)})
    elif (method, path) == ("POST", "/v1/stamps"):
        kwargs["json"] = {"digests": [hashlib.sha256(os.urandom(8)).hexdigest()]}
    elif path.endswith(("/files/{name}", "/package")):
        kwargs["params"] = {"purpose": "auth matrix"}
    elif path == "/v1/log/proof/inclusion":
        kwargs["params"] = {"index": 0}
    elif path == "/v1/log/proof/consistency":
        kwargs["params"] = {"from": 1}
    elif path == "/v1/log/lookup":
        kwargs["params"] = {"evidence_id": world.evidence_id}

    def send(headers: dict[str, str]) -> Any:
        return world.stack.client.request(method, url, headers=headers, **kwargs)

    return send


def test_every_route_is_classified() -> None:
    published = set(OPERATIONS)
    unknown = published - set(POLICY) - PUBLIC
    assert not unknown, f"new routes: add them to POLICY (with their roles) or PUBLIC: {unknown}"
    assert set(POLICY) | PUBLIC == published, "POLICY or PUBLIC lists a route the app lacks"
    assert {"POST", "GET"} <= {method for method, _ in published}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_role_matrix(world: World, method: str, path: str) -> None:
    stack = world.stack
    send = request_for(world, method, path)
    if (method, path) in PUBLIC:
        response = send({})
        # 201: a public submission (a complaint, a repair application) creates what it sends.
        assert response.status_code in (200, 201), response.text
        return

    response = send({})
    assert response.status_code == 401, f"{method} {path} answers without a token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="evidence"'
    assert response.json()["detail"] == UNAUTHORIZED["empty"]
    for label, value in MALFORMED.items():
        response = send({"Authorization": value})
        assert response.status_code == 401, label
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="evidence"', label
        assert response.json()["detail"] == UNAUTHORIZED[label], label

    allowed = POLICY.get((method, path), frozenset())
    for role in ROLES:
        response = send(stack.auth(role))
        if role in allowed:
            assert response.status_code in (200, 201, 202, 204), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["detail"] == (
                f"role {role!r} may not do this; allowed: "
                + ", ".join(
                    r for r in ("officer", "admin", "appraiser", "platform") if r in allowed
                )
            )


def test_revoked_token_is_refused(world: World) -> None:
    stack = world.stack
    with stack.runtime.session() as session:
        _, token = create_token(session, role="officer", name="leaving officer")
    assert stack.client.get("/v1/evidence", headers=auth_header(token)).status_code == 200
    with stack.runtime.session() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.name == "leaving officer")
            .values(revoked_at=datetime.now(UTC))
        )
    response = stack.client.get("/v1/evidence", headers=auth_header(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid or revoked token"


# --- tokens from the command line ------------------------------------------------------


def test_create_token_prints_it_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"EVIDENCE_DATA_DIR": str(data)}
    result = create_token_cli(env, "officer", "officer Zhang 张三", None, "--init")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0]
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) == len(TOKEN_PREFIX) + 43
    assert result.stderr.splitlines() == [
        f"data folder {data.resolve()}",
        "token 1 (officer) created; it is shown only once",
    ]

    second = create_token_cli(env, "appraiser", "appraiser Li")
    assert second.returncode == 0, second.stderr
    appraiser = second.stdout.strip()
    assert appraiser != token

    with running_stack(Settings(data_dir=data, seal_interval=0.1), tokens={"officer": token}) as s:
        created = submit(s, {"a.html": b"<p>a</p>"})
        assert created.status_code == 201, created.text
        listed = s.client.get("/v1/evidence", headers=auth_header(appraiser))
        assert listed.status_code == 200
        assert [i["evidence_id"] for i in listed.json()["items"]] == [created.json()["evidence_id"]]
        refused = s.client.post(
            "/v1/evidence", files=evidence_form({"b.html": b"b"}), headers=auth_header(appraiser)
        )
        assert refused.status_code == 403
        with s.runtime.session() as session:
            rows = session.execute(select(ApiToken).order_by(ApiToken.id)).scalars().all()
            stored = [(r.role, r.name, r.token_hash) for r in rows]

    assert stored == [
        ("officer", "officer Zhang 张三", hashlib.sha256(token.encode()).hexdigest()),
        ("appraiser", "appraiser Li", hashlib.sha256(appraiser.encode()).hexdigest()),
    ]
    # Neither token, nor its random part, is anywhere in the database files.
    db_files = sorted(data.glob("evidence.db*"))
    assert db_files
    for path in db_files:
        raw = path.read_bytes()
        for plaintext in (token, appraiser):
            assert plaintext.encode() not in raw, path
            assert plaintext[len(TOKEN_PREFIX) :].encode() not in raw, path


def test_create_token_refuses_bad_roles_and_platform_bindings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"EVIDENCE_DATA_DIR": str(data)}
    cases: list[tuple[tuple[str, str, str | None], str]] = [
        (
            ("platform", "mall operator", None),
            "error: a platform token needs --platform CODE (lowercase letters, digits, - or _)",
        ),
        (
            ("platform", "mall operator", "Bad Code"),
            "error: a platform token needs --platform CODE (lowercase letters, digits, - or _)",
        ),
        (
            ("officer", "officer Wang", "example-mall"),
            "error: only platform tokens are bound to a platform",
        ),
        (("root", "root", None), "error: role must be one of admin, officer, appraiser, platform"),
    ]
    for (role, name, platform), message in cases:
        result = create_token_cli(env, role, name, platform)
        assert result.returncode == 2, (role, platform, result.stdout)
        assert result.stdout == ""
        assert result.stderr.splitlines() == [f"data folder {data.resolve()}", message]

    # A platform the registry does not know is refused; once registered, it binds.
    unknown = create_token_cli(env, "platform", "mall operator", "example-mall", "--init")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr.splitlines()[-1] == (
        "error: no platform 'example-mall' in the registry; register it first "
        "(evidence admin create-platform)"
    )
    registered = subprocess.run(
        [str(EVIDENCE_CLI), "admin", "create-platform", "--code", "example-mall", "--name", "示例"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert registered.returncode == 0, registered.stderr
    made = create_token_cli(env, "platform", "mall operator", "example-mall")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    with running_stack(Settings(data_dir=data), tokens={"platform": token}) as s:
        with s.runtime.session() as session:
            row = session.execute(select(ApiToken)).scalar_one()
            assert (row.role, row.platform) == ("platform", "example-mall")
        # A platform sees only its own takedown orders; none of the evidence routes.
        response = s.client.get("/v1/evidence", headers=auth_header(token))
        assert response.status_code == 403
        assert response.json()["detail"] == (
            "role 'platform' may not do this; allowed: officer, admin, appraiser"
        )
