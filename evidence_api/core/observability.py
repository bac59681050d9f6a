"""Logs and request context: one line per event, a request id on every line.

* :func:`configure_logging` (called by ``evidence serve``) sends every logger —
  the service's, uvicorn's and uvicorn's access log — through one stderr handler:
  one JSON object per line (``EVIDENCE_LOG_FORMAT=json``: ``ts``, ``level``,
  ``logger``, ``message``, ``request_id`` and any extra fields) or one plain text line.
* :class:`RequestContext` is a pure ASGI middleware (it never buffers a body, so
  uploads and downloads keep streaming). It takes the request id from an incoming
  ``X-Request-ID`` when that is 1-128 characters of ``[A-Za-z0-9._-]`` and makes one up
  otherwise, echoes it in the ``X-Request-ID`` response header, and keeps it in a
  context variable that :class:`RequestIdFilter` writes on every log record (also
  from routes run in the thread pool: starlette copies the context into the thread).
  It also counts the request in the app's :mod:`evidence_api.core.metrics`.

:func:`instrument` wraps an app's whole middleware stack, outside even starlette's
error handler: requests refused by the guard and requests that end in a 500 are
counted and carry their id too.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evidence_api.core.config import Settings
from evidence_api.core.metrics import Metrics, add_metrics_route

#: The id of the request being handled in this context (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("evidence_request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID}}}")
#: Methods kept as a metric label; anything else is counted as OTHER (bounded labels).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request no route matched (an unknown path).
UNMATCHED = "unmatched"
#: Loggers that uvicorn configures on its own; they are routed to the root handler.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def request_id_from(raw: str | None) -> str:
    """The incoming id when it is safe to log and echo, else a new random one."""
    if raw is not None and _REQUEST_ID.fullmatch(raw):
        return raw
    return uuid.uuid4().hex


# --- logging ----------------------------------------------------------------------------

#: Attributes every LogRecord has; anything else on a record is an "extra" field.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "color_message", "taskName"}
)
#: uvicorn's access log passes these as its record's arguments, in this order.
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class RequestIdFilter(logging.Filter):
    """Writes the current request id (or None) on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if (
            record.name == "uvicorn.access"
            and isinstance(record.args, tuple)
            and len(record.args) == len(_ACCESS_FIELDS)
        ):
            out.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``, for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler :func:`configure_logging` installs (found again by its type)."""


def log_format(settings: Settings) -> str:
    """``json`` or ``text``: as configured, else JSON in production and text in embedded."""
    if settings.log_format is not None:
        return settings.log_format
    return "json" if settings.mode == "production" else "text"


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """Route every log record (the service's and uvicorn's) through one handler on
    ``stream`` (stderr) in the configured format and level. Calling it again replaces
    the handler, it does not add a second one."""
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format(settings) == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in UVICORN_LOGGERS:  # uvicorn's own handlers would print a second copy
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the configured level rules (a uvicorn.Config may
        # have set its own, e.g. log_level="warning", on these loggers in this process)
    return handler


class StartupLogs:
    """Records logged while the service starts, held back from ``handler``: written
    once the start succeeds (:meth:`release`), dropped when it is refused
    (:meth:`drop`), so that a refused start prints its one error line alone."""

    def __init__(self, handler: logging.Handler, capacity: int = 100_000) -> None:
        self.handler = handler
        self.held = logging.handlers.MemoryHandler(
            capacity, flushLevel=logging.CRITICAL + 1, target=handler, flushOnClose=False
        )
        root = logging.getLogger()
        root.removeHandler(handler)
        root.addHandler(self.held)

    def _restore(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.held)
        root.addHandler(self.handler)

    def release(self) -> None:
        self.held.flush()
        self._restore()
        self.held.close()

    def drop(self) -> None:
        self.held.buffer.clear()
        self._restore()
        self.held.close()


# --- the request context middleware -----------------------------------------------------


def route_template(scope: Scope, original: Scope) -> str:
    """The template of the route that handled (or would have handled) the request:
    ``/v1/evidence/{evidence_id}``, never the raw path; :data:`UNMATCHED` for none.

    ``scope`` is the request's scope after the app ran (the router left its route
    there); ``original`` a copy taken before, to look the route up when the request
    was refused before the router saw it."""
    route = scope.get("route")
    prefix = scope.get("root_path", "")[len(original.get("root_path", "")) :]
    if route is None:  # refused before routing (the guard): look it up
        app = original.get("app")
        prefix = ""
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(dict(original))
            if match is not Match.NONE:
                route = candidate
                break
        if route is None:
            return UNMATCHED
        if isinstance(route, Mount):
            prefix = route.path
    if isinstance(route, Mount):  # a mounted app without routes of its own
        return f"{prefix}/{{path}}"
    path = getattr(route, "path", None)
    return f"{prefix}{path}" if isinstance(path, str) else UNMATCHED


class RequestContext:
    """Request id, request log context and request metrics (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = None
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                raw = value.decode("latin-1")
                break
        request_id = request_id_from(raw)
        original = dict(scope)
        started = time.perf_counter()
        status = 0
        body = 0

        async def counting_receive() -> Message:
            nonlocal body
            message = await receive()
            if message["type"] == "http.request":
                body += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, counting_receive, tagging_send)
        except BaseException:
            # Left set: the server logs the traceback after this returns, in this
            # request's own task, and that line should carry the id too.
            self._observe(scope, original, status or 500, started, body)
            raise
        self._observe(scope, original, status, started, body)
        REQUEST_ID.reset(token)

    def _observe(
        self, scope: Scope, original: Scope, status: int, started: float, body: int
    ) -> None:
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        route = route_template(scope, original)
        self.metrics.observe(method, route, status, time.perf_counter() - started, body)


def instrument(app: FastAPI) -> Metrics:
    """Give ``app`` its metrics (``GET /metrics``) and wrap its whole middleware stack —
    starlette's error handler included — in :class:`RequestContext`."""
    metrics = Metrics(lambda: getattr(app.state, "runtime", None))
    app.state.metrics = metrics
    add_metrics_route(app, metrics)
    build: Callable[[], ASGIApp] = app.build_middleware_stack

    def build_wrapped() -> ASGIApp:
        return RequestContext(build(), metrics)

    app.build_middleware_stack = build_wrapped  # type: ignore[method-assign]
    return metrics
