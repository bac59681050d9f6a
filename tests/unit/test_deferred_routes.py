"""Routes that build their models where they are used (``evidence_api.core.routing``).

* a deferred route builds nothing when made (at import), and answering requests through
  the app builds none of the routers' own route models (FastAPI answers through its
  effective copies);
* a deferred route reads the same options as an ``APIRoute`` built from the same call,
  and builds the same models when asked;
* the roles and access checks read from the routes' signatures are the ones FastAPI's
  dependant of each route holds, for every route of the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.dependencies.models import Dependant
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from evidence_api.app import create_app
from evidence_api.core.config import Settings
from evidence_api.core.guard import GuardedRoute, route_access_check, route_roles
from evidence_api.core.routing import BUILT, DeferredRoute, dependency_calls
from tests.support.api import api_routes

PENDING = "_deferred_build"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data = tmp_path_factory.mktemp("deferred")
    return create_app(Settings(data_dir=Path(data), chain="tester", run_sealer=False))


def originals(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every route of the routers the app includes (not the app's own probes and docs)."""
    included = [route for route in app.routes if hasattr(route, "original_router")]
    return list(api_routes(included))


def test_serving_through_the_app_builds_none_of_the_routers_own_models(app: FastAPI) -> None:
    routes = originals(app)
    deferred = [route for _, route in routes if isinstance(route, DeferredRoute)]
    assert len(deferred) == len(routes) > 250
    # Route objects are the routers' and live as long as the process: another test in it
    # may have read a route's models on purpose (test_console_admin reads 15 dependants).
    pending = [route for route in deferred if PENDING in route.__dict__]
    assert len(pending) > 200
    with TestClient(app) as client:
        assert client.get("/v1/log/checkpoint").status_code in (200, 404)
        assert client.get("/console/login").status_code == 200
        assert client.post("/v1/evidence", json={}).status_code == 401
        assert client.get("/openapi.json").status_code == 200
    assert [route.path for route in pending if PENDING not in route.__dict__] == []


def test_the_apps_own_routes_are_built_when_first_matched(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, chain="tester", run_sealer=False))
    own = {route.path: route for route in app.routes if isinstance(route, APIRoute)}
    assert {"/healthz", "/readyz", "/docs", "/metrics", "/console"} <= set(own)
    assert all(isinstance(route, DeferredRoute) for route in own.values())
    assert all(PENDING in route.__dict__ for route in own.values())
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/docs").status_code == 200
        # A 405's Allow comes from the OpenAPI document, which reads the documented routes.
        assert client.post("/healthz").status_code == 405
    built = {path for path, route in own.items() if PENDING not in route.__dict__}
    assert built == {"/healthz", "/readyz", "/docs"}


class Item(BaseModel):
    name: str


class Code(IntEnum):
    CREATED = 201


def member(role: str) -> Callable[..., str]:
    def dependency(x_role: Annotated[str | None, Query()] = None) -> str:
        return role

    dependency.roles = (role,)  # type: ignore[attr-defined]
    return dependency


def checked() -> None:
    return None


def endpoints() -> Iterator[tuple[str, Callable[..., Any], dict[str, Any]]]:
    def create(item: Item, who: Annotated[str, Depends(member("officer"))]) -> Item:
        """Create one.

        \fnot documented"""
        return item

    def page() -> HTMLResponse:
        return HTMLResponse("<p>")

    def listed(limit: Annotated[int, Query(ge=1)] = 10) -> list[Item]:
        return []

    def text() -> str:
        return "x"

    yield "/items", create, {"methods": ["post"], "status_code": Code.CREATED}
    yield "/page", page, {"name": "the_page", "tags": ["pages"]}
    yield "/items/{item_id}", listed, {"operation_id": "list_items", "response_model": None}
    yield "/text", text, {"response_class": PlainTextResponse, "dependencies": [Depends(checked)]}


OPTIONS = (
    "path",
    "name",
    "methods",
    "path_format",
    "status_code",
    "tags",
    "summary",
    "description",
    "response_model",
    "response_class",
    "unique_id",
    "dependencies",
    "responses",
    "include_in_schema",
    "openapi_extra",
    "stream_item_type",
    "form_limits",
)


@pytest.mark.parametrize(("path", "endpoint", "options"), list(endpoints()))
def test_a_deferred_route_reads_and_builds_what_an_api_route_does(
    path: str, endpoint: Callable[..., Any], options: dict[str, Any]
) -> None:
    eager = APIRoute(path, endpoint, **options)
    lazy = DeferredRoute(path, endpoint, **options)
    assert PENDING in lazy.__dict__
    for option in OPTIONS:
        assert getattr(lazy, option) == getattr(eager, option), option
    assert PENDING in lazy.__dict__, "reading an option built the route"
    assert (lazy.body_field is None) == (eager.body_field is None)
    assert PENDING not in lazy.__dict__
    assert [p.name for p in lazy.dependant.query_params] == [
        p.name for p in eager.dependant.query_params
    ]
    assert (lazy.response_field is None) == (eager.response_field is None)
    assert callable(lazy.app)
    assert set(eager.__dict__) == set(lazy.__dict__), "an attribute neither set nor built"


def test_what_a_deferred_route_builds_is_all_an_api_route_sets_beyond_the_options() -> None:
    path, endpoint, options = next(endpoints())
    eager = APIRoute(path, endpoint, **options)
    lazy = DeferredRoute(path, endpoint, **options)
    assert set(eager.__dict__) - set(lazy.__dict__) == BUILT


def test_an_app_of_deferred_routes_documents_and_answers_as_one_of_api_routes() -> None:
    def build(route_class: type[APIRoute]) -> FastAPI:
        router = APIRouter(prefix="/v1", route_class=route_class)
        for path, endpoint, options in endpoints():
            router.add_api_route(path, endpoint, **options)
        app = FastAPI()
        app.include_router(router)
        return app

    eager, lazy = build(APIRoute), build(DeferredRoute)
    assert lazy.openapi() == eager.openapi()
    for app in (eager, lazy):
        client = TestClient(app)
        created = client.post("/v1/items", json={"name": "a"})
        assert (created.status_code, created.json()) == (201, {"name": "a"})
        assert client.post("/v1/items", json={}).status_code == 422
        assert client.get("/v1/items/1?limit=0").status_code == 422
        assert client.get("/v1/text").text == "x"


def dependant_walk(dependant: Dependant, attribute: str) -> Any:
    """The first ``attribute`` among the dependant's calls, as the guard read it before."""
    stack = [dependant]
    while stack:
        current = stack.pop()
        found = getattr(current.call, attribute, None)
        if found is not None:
            return found
        stack.extend(current.dependencies)
    return None


def test_roles_from_signatures_are_the_dependants_for_every_route(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, chain="tester", run_sealer=False))
    routes = originals(app)
    guarded = [route for _, route in routes if isinstance(route, GuardedRoute)]
    assert len(guarded) > 150
    public = secured = 0
    for route in guarded:
        roles, check = route_roles(route), route_access_check(route)
        expected = dependant_walk(route.dependant, "roles")  # builds the route
        assert roles == (None if expected is None else tuple(expected)), route.path
        assert check is dependant_walk(route.dependant, "access_check"), route.path
        documented = (route.openapi_extra or {}).get("security")
        assert (documented is not None) == (roles is not None), route.path
        secured += roles is not None
        public += roles is None
    assert secured > 100 and public > 10


class Gate:
    """A callable dependency whose instances are unhashable (as with ``__eq__`` alone)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles

    def __call__(self) -> str:
        return "gate"


GATE = Gate(("admin",))
PLATFORM = member("platform")


def nested(who: Annotated[str, Depends(PLATFORM)]) -> str:
    return who


def gated(
    x: Annotated[str, Depends(GATE)], y: str = Depends(nested), z: None = Depends(checked)
) -> str:
    return x


def test_dependencies_are_walked_through_unhashable_callables_and_router_dependencies() -> None:
    calls = list(dependency_calls(gated, [Depends(checked)]))
    # the router's first, then the endpoint's in order, each one's own depth first; once each
    assert calls == [checked, GATE, nested, PLATFORM]
    route = GuardedRoute("/gated", gated, dependencies=[Depends(checked)])
    assert route_roles(route) == ("admin",)
    assert route.openapi_extra == {"security": [{"bearer": []}]}
