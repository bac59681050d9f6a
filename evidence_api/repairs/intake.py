"""Receiving a public application (``POST /v1/public/credit-repairs`` and the public page's
form): the public intake's rate limit, bounded form and evidence fixing
(:mod:`evidence_api.intake.public`), then :func:`evidence_api.repairs.service.apply`.

Order: the client's window is checked before a byte of the body is read; the form is read
and bounded; the application is parsed and checked against the database *before* any
attachment is fixed (a refused application leaves no evidence behind); the attachments are
fixed as evidence (each its own log entry and receipt); then one transaction counts the
client again (:func:`~evidence_api.intake.public.admit`), checks the application again and
records it with its ``applied`` step.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from evidence_api.core.errors import InvalidInputError
from evidence_api.core.runtime import Runtime
from evidence_api.intake.public import (
    FILES_FIELD,
    PublicForm,
    TextField,
    admit,
    fix_attachments,
    new_access_token,
    receive_public,
)
from evidence_api.intake.submit import recorder_of
from evidence_api.repairs import service
from evidence_api.repairs.schemas import (
    MAX_STATEMENT,
    STATUS_LABELS,
    AttachmentReceipt,
    RepairReceipt,
)

#: The public form's text fields (the attachments are the ``files`` parts).
FIELDS = (
    TextField("uscc", 32),
    TextField("shop_name", 256),
    TextField("platform", 64),
    TextField("violation_id", 64),
    TextField("record_refs", 600),
    TextField("applicant_name", 64, required=True),
    TextField("applicant_contact", 128, required=True),
    TextField("statement", MAX_STATEMENT, required=True, multiline=True),
    TextField("pledge", 8, required=True),
)
#: The ``kind`` of a repair's ``public_submission`` row.
SUBMISSION_KIND = "repair"
NOTES = "信用修复整改材料 (credit repair attachment)"


async def receive_application(request: Request, runtime: Runtime) -> RepairReceipt:
    """Check, receive and record one application (see the module's docstring)."""
    key, form = await receive_public(request, runtime, FIELDS)
    try:
        return await run_in_threadpool(record, runtime, key, form)
    finally:
        form.cleanup()


def record(runtime: Runtime, key: str, form: PublicForm) -> RepairReceipt:
    """Parse, check and record a received application (blocking: a worker thread)."""
    settings = runtime.settings
    app = service.parse_application(form.fields)
    if settings.public_max_attachments > 0 and not form.files:
        raise InvalidInputError(
            "files: attach the rectification material (整改材料), at least one file",
            field=FILES_FIELD,
        )
    with runtime.session() as session:  # refused before any attachment is fixed
        entity = service.resolve_entity(session, app)
        service.check_targets(session, entity, app.violation_id, app.record_refs, datetime.now(UTC))
        entity_name = entity.shop_name
    repair_id = service.new_repair_id()
    fixed = fix_attachments(
        recorder_of(runtime), form.files, ref=repair_id, notes=NOTES, entity=entity_name
    )
    token, digest = new_access_token()
    sign, entries = service.counting(runtime.sign_receipt)
    now = datetime.now(UTC)
    with runtime.session() as session:
        admit(session, settings, key, kind=SUBMISSION_KIND, ref=repair_id, now=now)
        repair, step = service.apply(
            session,
            sign,
            app,
            repair_id=repair_id,
            token_sha256=digest,
            attachments=[service.Fixed(f.name, f.evidence_id) for f in fixed],
            now=now,
        )
        answer = RepairReceipt(
            repair_id=repair.id,
            access_token=token,
            status=repair.status,
            status_label=STATUS_LABELS[repair.status],
            entity_name=entity_name,
            violation_id=repair.violation_id,
            record_refs=list(app.record_refs),
            entry_id=step.entry_id,
            leaf_hash=step.leaf_hash,
            attachments=[
                AttachmentReceipt(
                    name=f.name,
                    evidence_id=f.evidence_id,
                    sha256=f.created.files[0].sha256,
                    leaf_hash=f.created.leaf_hash,
                    receipt=f.created.receipt,
                    proof_url=f.created.proof_url,
                )
                for f in fixed
            ],
            created_at=now,
        )
    runtime.queued(entries())
    return answer
