"""What the console's forms share: reading fields, checking them with the API's own request
models, and turning a refusal into ``{form field: reason}`` for the template.

A refusal is either an :class:`~evidence_api.core.errors.ApiError` (a service said no, with
the field at fault) or a pydantic :class:`~pydantic.ValidationError` (the body failed the
API's model). Either way the reason is worded as the API words it, so an officer reads on
the page what a client of ``/v1`` reads in the 4xx answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from typing import Any, TypeVar

from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.web import FormErrors
from evidence_api.core.errors import ApiError, InvalidInputError
from evidence_api.registry import platforms
from evidence_api.registry.schemas import PlatformPublic
from verifier.service.problem import field_path

M = TypeVar("M", bound=BaseModel)


def trimmed(form: Mapping[str, str], *names: str) -> dict[str, str | None]:
    """The named fields, trimmed; an empty one is ``None`` (not given / cleared)."""
    return {name: (form.get(name) or "").strip() or None for name in names}


def typed_id(text: str | None) -> int | str | None:
    """A typed id: an int when it is digits (else as typed, for the API's model to refuse)."""
    return int(text) if text and text.isdigit() and len(text) < 20 else text


def refill(values: Mapping[str, Any], *hidden: str) -> dict[str, Any]:
    """``values`` as a form shows them again after a refusal: ``None`` as ``""``, the
    ``hidden`` fields (passwords, secrets) left out."""
    return {k: "" if v is None else v for k, v in values.items() if k not in hidden}


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """``data`` as the API's request ``model``; its first error worded as the API words
    it (``field: reason``) and attached to the form field it concerns (422)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error.get("loc") or ()
        reason = error.get("msg", "invalid")
        raise InvalidInputError(
            f"{field_path(loc)}: {reason}" if loc else reason, field=str(loc[0]) if loc else ""
        ) from exc


def form_field(path: str, fields: Mapping[str, str] | None) -> str:
    """The form field an API field path belongs to: ``fields``' entry for the longest
    prefix of ``path`` it has (``rules.price`` covers ``rules.price.min``), else the path."""
    for prefix in sorted(fields or {}, key=len, reverse=True):
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return (fields or {})[prefix]
    return path


def validation_errors(exc: ValidationError, fields: Mapping[str, str] | None = None) -> FormErrors:
    """A request body's validation errors as ``{form field: reason}``, each worded as the
    API's 422 words it (``path: message``); the first error of a field is kept."""
    errors = FormErrors()
    for error in exc.errors():
        path = field_path(("body", *error.get("loc", ())))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        errors.setdefault(form_field(path, fields), f"{path}: {message}")
    return errors


def api_errors(exc: ApiError, fields: Mapping[str, str] | None = None) -> FormErrors:
    """:meth:`FormErrors.of`, its field renamed to the form's through ``fields``."""
    return FormErrors({form_field(exc.field, fields) if exc.field else "": exc.detail})


def placed(errors: FormErrors, shown: Set[str]) -> FormErrors:
    """``errors`` with each naming a field the form does not show moved to ``""`` (the
    alert above the form), so no reason is lost."""
    out = FormErrors()
    for name, reason in errors.items():
        key = name if name in shown else ""
        out[key] = f"{out[key]} {reason}" if key in out else reason
    return out


def refusal(
    exc: ValidationError | ApiError, fields: Mapping[str, str] | None, shown: Set[str]
) -> tuple[FormErrors, int]:
    """A refused form's errors, each beside a field the form ``shown`` (else above it),
    and the status to answer: 422 for a body the model refused, else the service's own."""
    if isinstance(exc, ValidationError):
        return placed(validation_errors(exc, fields), shown), 422
    return placed(api_errors(exc, fields), shown), exc.status


async def reshow(
    page: Callable[..., Response], exc: ApiError, *args: Any, **kwargs: Any
) -> Response:
    """The form's page again after the refusal ``exc``: ``page(*args, **kwargs)`` with
    ``exc``'s reason beside its field and ``exc``'s status (built in a thread: pages read
    the database)."""
    return await run_in_threadpool(
        page, *args, errors=FormErrors.of(exc), status=exc.status, **kwargs
    )


def all_platforms(session: Session) -> list[PlatformPublic]:
    """Every registered platform, for a form's platform select."""
    return platforms.list_platforms(session, limit=platforms.MAX_PAGE, cursor=None).items
