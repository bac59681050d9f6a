"""The request guard: who may send a body, and how big and how deep it may be.

Every API route is a :class:`GuardedRoute`. Before FastAPI reads a byte of the
body (it reads the body before it resolves dependencies):

1. a route that needs a bearer token gets it checked (401/403), and a client
   that keeps presenting bad tokens is refused with 429 and ``Retry-After``;
   without an ``Authorization`` header, a console session cookie (``ea_session``)
   authenticates instead, and an unsafe method must then carry the session's CSRF
   token in ``X-CSRF-Token`` (403 otherwise; see :mod:`evidence_api.core.sessions`);
2. a declared ``Content-Length`` over the route's limit is refused (413);
3. the body is counted while it streams, chunked or not, and cut at the limit
   (413): the upload route gets ``max_request_bytes``, every other route the
   small ``max_json_bytes``;
4. a JSON body is read whole (it is small), checked to be UTF-8 and nested at
   most ``max_json_depth`` levels, and only then handed to FastAPI's parser:
   ``[[[[…`` 100,000 deep is a 400, never a C-stack overflow.

The principal found in step 1 is left in ``request.state.principal`` so the
route's dependency does not look the token up twice. Routes that are not API
routes (unknown paths, the mounted verification service) never read a body
here; the verification service bounds its own.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request, Response, params
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive

from evidence_api.core import sessions
from evidence_api.core.auth import Principal, authenticate
from evidence_api.core.errors import (
    ApiError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from evidence_api.core.routing import DeferredRoute, built_copy, dependency_calls
from verifier.canonical import exceeds_depth

_F = TypeVar("_F", bound=Callable[..., Any])
logger = logging.getLogger(__name__)


class AuthFailures:
    """Bad tokens per client over a sliding window; past ``limit`` the client waits."""

    MAX_CLIENTS = 10_000

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.get(client)
        if times is None:
            times = self._seen[client] = deque()
            while len(self._seen) > self.MAX_CLIENTS:  # bounded memory under a spray
                self._seen.popitem(last=False)
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds ``client`` must wait, or None when it may try a token."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return None
            return max(1, int(times[0] + self.window - now) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client, time.monotonic()).append(time.monotonic())


def streamed_body(limit_setting: str) -> Callable[[_F], _F]:
    """Mark an endpoint that streams its own body (a multipart upload) and name the
    ``Settings`` field that bounds it; every other body is small JSON."""

    def mark(endpoint: _F) -> _F:
        endpoint.streamed_limit = limit_setting  # type: ignore[attr-defined]
        return endpoint

    return mark


def route_roles(route: APIRoute) -> tuple[str, ...] | None:
    """The roles a route's ``require(...)`` dependency admits (None: no token needed)."""
    return declared_roles(route.endpoint, route.dependencies)


def declared_roles(
    endpoint: Callable[..., Any], dependencies: Sequence[params.Depends] | None
) -> tuple[str, ...] | None:
    """The roles the ``require(...)`` dependency among an endpoint's admits (None: none)."""
    roles = _carried(endpoint, dependencies, "roles")
    return None if roles is None else tuple(roles)


#: A route's check of a credential other than a bearer token (a public route's access
#: token): called with the request before its body is read; raises an ``ApiError`` to refuse.
AccessCheck = Callable[[Request], None]


def route_access_check(route: APIRoute) -> AccessCheck | None:
    """The ``access_check`` a route's dependency carries (None: none)."""
    check: AccessCheck | None = _carried(route.endpoint, route.dependencies, "access_check")
    return check


def _carried(
    endpoint: Callable[..., Any], dependencies: Sequence[params.Depends] | None, name: str
) -> Any:
    """The first ``name`` attribute among the dependencies declared (None: none has one)."""
    for call in dependency_calls(endpoint, dependencies):
        value = getattr(call, name, None)
        if value is not None:
            return value
    return None


@dataclass(frozen=True)
class Policy:
    """What a route admits: the roles that may call it (None: public), the ``Settings``
    field bounding its body, whether that body is JSON to check before parsing, and the
    check of another credential (an access token) made before the body is read."""

    roles: tuple[str, ...] | None
    limit_setting: str
    json: bool
    access: AccessCheck | None = None


class GuardedRoute(DeferredRoute):
    """An ``APIRoute`` whose handler runs the guard before FastAPI reads the body.

    Needs ``app.state.runtime`` (settings, sessions) and ``app.state.auth_failures``.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if declared_roles(endpoint, options.get("dependencies")) is not None:
            # documented: the bearer scheme and its refusals
            extra = options.get("openapi_extra") or {}
            options["openapi_extra"] = {"security": [{"bearer": []}], **extra}
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        streamed = getattr(self.endpoint, "streamed_limit", None)
        policy = Policy(
            route_roles(self),
            limit_setting=streamed or "max_json_bytes",
            json=streamed is None and built_copy(self).body_field is not None,
            access=route_access_check(self),
        )

        async def guarded(request: Request) -> Response:
            await guard_request(request, policy)
            return await handler(request)

        return guarded


async def guard_request(request: Request, policy: Policy) -> None:
    """Authenticate, then bound (and for JSON, check) the body; raises :class:`ApiError`."""
    runtime = request.app.state.runtime
    settings = runtime.settings
    limit: int = getattr(settings, policy.limit_setting)
    declared = _declared_length(request)
    if policy.roles is not None:
        await _authorise(request, policy.roles)
    if policy.access is not None:
        await _check_access(request, policy.access)
    if declared is not None and declared > limit:
        raise PayloadTooLargeError(f"request body of {declared} bytes exceeds the limit of {limit}")
    if policy.json and request.method in ("POST", "PUT", "PATCH"):
        body = await _read_bounded(request.receive, limit)
        _check_json(body, settings.max_json_depth)
        request._body = body  # FastAPI's body read returns this; nothing more is read
    else:
        request._receive = _counting(request.receive, limit)


async def _authorise(request: Request, roles: tuple[str, ...]) -> None:
    failures: AuthFailures = request.app.state.auth_failures
    authorization = request.headers.get("authorization", "")
    client = request.client.host if request.client else "unknown"
    cookie = request.cookies.get(sessions.COOKIE)
    if not authorization and cookie:  # a console session (a bearer token wins)
        request.state.principal = await _session_principal(request, cookie, roles)
        return
    if authorization:
        wait = failures.retry_after(client)
        if wait is not None:
            raise _TooManyFailuresError(
                f"too many invalid tokens from this client; retry in {wait} s", wait
            )
    runtime = request.app.state.runtime

    def check() -> Any:
        with runtime.session() as session:
            principal = authenticate(session, authorization or None)
        touch, audit = sessions.TOKEN_USE.due(principal.token_id)
        if touch or audit:  # at most once a minute per token: its own small transaction
            try:
                with runtime.session() as session:
                    sessions.note_token_use(
                        session,
                        principal,
                        client=client,
                        now=datetime.now(UTC),
                        touch=touch,
                        audit=audit,
                    )
            except SQLAlchemyError as exc:  # bookkeeping never fails the request it notes
                logger.warning("token use of %s not recorded: %s", principal.pseudonym, exc)
        return principal

    try:
        principal = await run_in_threadpool(check)
    except UnauthorizedError:
        if authorization:
            failures.failed(client)
        raise
    if principal.role not in roles:
        raise ForbiddenError(
            f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}"
        )
    request.state.principal = principal


async def _check_access(request: Request, check: AccessCheck) -> None:
    """Run a route's access-token check; a token that is not the resource's (404) counts
    as a failed credential towards the client's limit, as a bad bearer token does; a
    missing or malformed one (401) does not, as a missing bearer token does not."""
    failures: AuthFailures = request.app.state.auth_failures
    client = request.client.host if request.client else "unknown"
    wait = failures.retry_after(client)
    if wait is not None:
        raise _TooManyFailuresError(
            f"too many invalid tokens from this client; retry in {wait} s", wait
        )
    try:
        await run_in_threadpool(check, request)
    except NotFoundError:
        failures.failed(client)
        raise


async def _session_principal(request: Request, cookie: str, roles: tuple[str, ...]) -> Principal:
    """The principal of a live console session; an unsafe method must carry the session's
    CSRF token in ``X-CSRF-Token`` (403 before a byte of the body is read)."""
    runtime = request.app.state.runtime

    def resolve() -> sessions.SessionInfo | None:
        with runtime.session() as session:
            return sessions.resolve(session, cookie, runtime.settings, datetime.now(UTC))

    info = await run_in_threadpool(resolve)
    if info is None:
        raise UnauthorizedError("session ended; log in again")
    if request.method in sessions.UNSAFE_METHODS:
        sent = request.headers.get(sessions.CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), info.csrf_token.encode()):
            raise ForbiddenError("missing or wrong CSRF token")
    if info.role not in roles:
        raise ForbiddenError(f"role {info.role!r} may not do this; allowed: {', '.join(roles)}")
    return info.principal


def _check_json(body: bytes, depth: int) -> None:
    if not body:
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadJsonError(f"body: is not valid UTF-8 (byte {exc.start})") from exc
    if exceeds_depth(text, depth):
        raise _BadJsonError(f"body: JSON nests deeper than {depth} levels")


class _BadJsonError(ApiError):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="body")


class _TooManyFailuresError(ApiError):
    status = 429
    code = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise BadRequestError("Content-Length must be a decimal number of bytes")
    return int(raw)


async def _read_bounded(receive: Receive, limit: int) -> bytes:
    """The whole body, refused (413) past ``limit`` bytes as it arrives."""
    counted, body = _counting(receive, limit), bytearray()
    while True:
        message = await counted()
        if message["type"] == "http.disconnect":
            raise _DisconnectedError()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


class _DisconnectedError(ApiError):
    status = 400
    code = "bad_request"

    def __init__(self) -> None:
        super().__init__("the client went away before its body was complete")


def _counting(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses (413) as soon as more than ``limit`` bytes arrived."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLargeError(
                    f"request body exceeds this route's limit of {limit} bytes"
                )
        return message

    return counted
