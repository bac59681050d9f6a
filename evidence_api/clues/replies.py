"""Receiving a 协查 reply (multipart: a ``metadata`` part ``{"text": "…"}`` and up to
:data:`MAX_REPLY_FILES` ``files``), shared by the unit's and the platform's route.

The request guard has authenticated the caller and bounds the body
(``max_request_bytes``) before this runs; the request is checked (exists for the
caller, the caller is the one asked, it is not closed) before a byte of the body is
read, and each file is bounded while it streams (``max_file_bytes``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from evidence_api.clues import assists
from evidence_api.clues.schemas import AssistDetail, ReplyText
from evidence_api.clues.steps import ledger_of
from evidence_api.core.auth import Principal
from evidence_api.core.errors import InvalidInputError
from evidence_api.core.runtime import Runtime
from evidence_api.intake.submit import recorder_of
from evidence_api.intake.upload import receive_form
from verifier.canonical import parse_json
from verifier.errors import JSONFormatError

#: Files one reply may carry.
MAX_REPLY_FILES = 20
#: Bytes of the ``metadata`` part (a text of at most 2,000 characters, as JSON).
MAX_REPLY_METADATA = 16 * 1024

REPLY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["metadata"],
                    "additionalProperties": False,
                    "properties": {
                        "metadata": {
                            "type": "string",
                            "description": 'JSON {"text": "回复内容"} (1..2000 characters)',
                            "example": '{"text": "经营者实名信息及订单记录见附件"}',
                        },
                        "files": {
                            "type": "array",
                            "maxItems": MAX_REPLY_FILES,
                            "items": {"type": "string", "format": "binary"},
                            "description": "files fixed as evidence, one evidence item each",
                        },
                    },
                }
            }
        },
    }
}


def reply_text(raw: bytes | None) -> str:
    """The reply's text from its ``metadata`` part (422 naming the field otherwise)."""
    if raw is None:
        raise InvalidInputError("metadata part is missing", field="metadata")
    try:
        value = ReplyText.model_validate(
            parse_json(raw, max_bytes=MAX_REPLY_METADATA, what="metadata")
        )
    except JSONFormatError as exc:
        raise InvalidInputError(str(exc), field="metadata") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(["metadata", *(str(p) for p in err["loc"])])
        raise InvalidInputError(f"{where}: {err['msg']}", field=where) from exc
    return value.text


async def receive_reply(
    request: Request, runtime: Runtime, principal: Principal, assist_id: str
) -> AssistDetail:
    """Check, receive and record one reply (see the module's docstring)."""
    ledger = ledger_of(runtime)
    await run_in_threadpool(assists.check_reply, ledger, principal, assist_id)
    settings = runtime.settings
    form = await receive_form(
        request.stream(),
        request.headers.get("content-type"),
        spool=await run_in_threadpool(runtime.store.spool_dir, settings.resolved_spool_dir),
        max_file_bytes=settings.max_file_bytes,
        max_files=min(settings.max_files, MAX_REPLY_FILES),
        max_metadata_bytes=MAX_REPLY_METADATA,
    )
    try:
        text = reply_text(form.metadata)
        return await run_in_threadpool(
            assists.reply,
            ledger,
            recorder_of(runtime),
            principal,
            assist_id,
            text,
            form.files,
        )
    finally:
        form.cleanup()
