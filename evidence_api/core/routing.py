"""Routes whose parameter and response models are built once, where they are used.

FastAPI (0.16x) answers a request through an included router with an *effective copy*
of each of that router's routes, which it builds (dependant, body and response models,
handler) at the first request through the router. The route object that a router's
decorator made at import is only the copy's source: FastAPI reads its options (path,
methods, response model, tags, ...) and never its models. A plain ``APIRoute`` builds
those models anyway, at import: for this app's ~300 routes that was ~0.9 s of every
process's import, built a second time at the first request.

:class:`DeferredRoute` keeps the options at import and builds its own models only if
something asks for them (a route used directly, not through an included router; a
test reading ``route.dependant``): reading one of :data:`BUILT` builds the route as
``APIRoute`` would, then answers.

:func:`dependency_calls` walks the dependencies a route declares (its endpoint's
parameters and its router's ``dependencies``) from their signatures, without
building FastAPI's dependant; the request guard finds a route's roles with it.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import IntEnum
from functools import cache
from typing import Any

import fastapi.routing
from fastapi import params
from fastapi._form_limits import _validate_form_limits
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.utils import get_typed_return_annotation, get_typed_signature
from fastapi.routing import APIRoute, APIRouter
from starlette.responses import Response
from starlette.routing import compile_path, get_name

#: ``APIRoute``'s keyword defaults, so a deferred route reads the same options.
_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(APIRoute.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}

#: Options stored as given (``APIRoute`` does the same).
_AS_GIVEN = (
    "summary",
    "response_description",
    "deprecated",
    "operation_id",
    "response_model_include",
    "response_model_exclude",
    "response_model_by_alias",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
    "include_in_schema",
    "response_class",
    "dependency_overrides_provider",
    "callbacks",
    "openapi_extra",
    "generate_unique_id_function",
    "strict_content_type",
    "max_body_size",
)

#: What ``APIRoute`` builds beyond its options: a deferred route builds these on first read.
BUILT = frozenset(
    {
        "dependant",
        "body_field",
        "_embed_body_fields",
        "response_field",
        "response_fields",
        "stream_item_field",
        "is_sse_stream",
        "is_json_stream",
        "app",
    }
)

_PENDING = "_deferred_build"
_BUILD_LOCK = threading.Lock()


def _streams(endpoint: Callable[..., Any]) -> bool:
    call = inspect.unwrap(endpoint)
    return inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call)


class DeferredRoute(APIRoute):
    """An ``APIRoute`` that keeps its options at import and builds its models on demand."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if _streams(endpoint):  # FastAPI derives streamed items' models: build as it does
            super().__init__(path, endpoint, **options)
            return
        self.__dict__[_PENDING] = (path, endpoint, options)
        given = {**_DEFAULTS, **options}
        for name in _AS_GIVEN:
            setattr(self, name, given[name])
        self.path = path
        self.endpoint = endpoint
        self.stream_item_type = None
        self.form_limits = _validate_form_limits(given["form_limits"])
        self.tags = list(given["tags"] or [])
        self.responses = dict(given["responses"] or {})
        self.dependencies = list(given["dependencies"] or [])
        self.name = get_name(endpoint) if given["name"] is None else given["name"]
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.methods = {method.upper() for method in given["methods"] or ["GET"]}
        status_code = given["status_code"]
        self.status_code = int(status_code) if isinstance(status_code, IntEnum) else status_code
        description = given["description"] or inspect.cleandoc(endpoint.__doc__ or "")
        self.description = description.split("\f")[0].strip()
        response_model = given["response_model"]
        if isinstance(response_model, DefaultPlaceholder):
            annotation = get_typed_return_annotation(endpoint)
            is_response = inspect.isclass(annotation) and issubclass(annotation, Response)
            response_model = None if is_response else annotation
        self.response_model = response_model
        unique_id = self.generate_unique_id_function
        if isinstance(unique_id, DefaultPlaceholder):
            unique_id = unique_id.value
        self.unique_id = self.operation_id or unique_id(self)

    def __getattr__(self, name: str) -> Any:
        # Only for attributes not set at import; a probe for any other is answered as usual.
        if name not in BUILT or _PENDING not in self.__dict__:
            raise AttributeError(name)
        with _BUILD_LOCK:
            pending = self.__dict__.pop(_PENDING, None)
            if pending is not None:
                path, endpoint, options = pending
                APIRoute.__init__(self, path, endpoint, **options)
        return getattr(self, name)


def dependency_calls(
    endpoint: Callable[..., Any], dependencies: Sequence[params.Depends] | None = None
) -> Iterator[Callable[..., Any]]:
    """Every dependency a route declares, depth first: its router's ``dependencies``,
    its endpoint's ``Depends`` parameters (a default, or in ``Annotated``), theirs in turn."""
    stack = list(reversed(_declared(endpoint)))  # popped from the end: the router's first
    stack += [d.dependency for d in reversed(dependencies or ()) if d.dependency is not None]
    seen: set[int] = set()
    while stack:
        call = stack.pop()
        if id(call) not in seen:
            seen.add(id(call))
            yield call
            stack += reversed(_declared(call))


def built_copy(route: APIRoute) -> Any:
    """The effective copy of ``route`` whose handler FastAPI is building (the module's
    doc), else ``route`` itself: the one whose models the handler will use."""
    variable = getattr(fastapi.routing, "_effective_route_context_var", None)
    context = variable.get() if variable is not None else None
    return context if getattr(context, "original_route", None) is route else route


def _declared(call: Callable[..., Any]) -> tuple[Callable[..., Any], ...]:
    """The dependencies ``call``'s own parameters declare (remembered per callable)."""
    try:
        hash(call)
    except TypeError:  # e.g. an instance of a class that defines __eq__ only
        return _scan(call)
    return _scan_once(call)


def _scan(call: Callable[..., Any]) -> tuple[Callable[..., Any], ...]:
    try:
        signature = get_typed_signature(call)
    except (TypeError, ValueError):  # a builtin or a class without a signature
        return ()
    found: list[Callable[..., Any]] = []
    for parameter in signature.parameters.values():
        markers = [*getattr(parameter.annotation, "__metadata__", ()), parameter.default]
        depends = [m for m in markers if isinstance(m, params.Depends)]
        if not depends:
            continue
        dependency = depends[-1].dependency
        if dependency is None:  # ``Depends()``: the annotated type is the dependency
            dependency = getattr(parameter.annotation, "__origin__", parameter.annotation)
        if callable(dependency):
            found.append(dependency)
    return tuple(found)


_scan_once = cache(_scan)


def declared_routes(routes: Iterable[object], prefix: str = "") -> Iterator[tuple[str, object]]:
    """(full path, route) of every route, an included router's routes one by one, read off
    the routers as declared: nothing is built (FastAPI keeps an included router as one
    entry and builds its routes' copies at its first request)."""
    for route in routes:
        router = getattr(route, "original_router", None)  # an included router (FastAPI 0.16x)
        if router is not None:
            context = getattr(route, "include_context", None)
            yield from declared_routes(router.routes, prefix + str(getattr(context, "prefix", "")))
        else:
            yield prefix + str(getattr(route, "path", "")), route


def page_router(prefix: str) -> APIRouter:
    """A router of HTML pages (the console's, the public site's): not in the API's schema."""
    return APIRouter(prefix=prefix, include_in_schema=False, route_class=DeferredRoute)
