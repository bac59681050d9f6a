"""The public intake: what a form anyone may post (a complaint, a repair application) needs
before its feature sees it. Shared by :mod:`evidence_api.complaints` and
:mod:`evidence_api.repairs`; documented in docs/complaints.md §intake.

Three parts, used in this order by a public ``POST`` route:

1. **The rate limit** (:func:`client_key`, :func:`check_rate`, :func:`admit`). A client is
   the keyed hash of its address (HMAC-SHA256 under a key derived from the secrets key,
   :func:`client_key`): no address is stored. Each accepted submission leaves one
   ``public_submission`` row (client key, kind, the feature's reference, time). A client
   with ``public_rate_limit`` rows younger than ``public_rate_window`` seconds is refused
   with 429 and ``Retry-After`` = the seconds until its oldest counted row leaves the
   window (at least 1). The rows are in the database, so every process of a deployment
   counts the same submissions. :func:`check_rate` runs before a byte of the body is read
   (a throttled client uploads nothing); :func:`admit` counts again and inserts the row in
   the feature's own transaction, under a per-client lock on PostgreSQL, so concurrent
   requests cannot both take the last place.

2. **The bounded form** (:func:`receive_public_form`). The body may be at most
   :func:`form_limit` bytes: the text fields' maxima (4 bytes a character, plus 512 bytes
   of part headers each), plus ``public_max_attachments`` × (``public_max_attachment_bytes``
   + 1 KiB of part headers), plus 1 KiB. A declared ``Content-Length`` over it is refused
   (413) before anything is read; a body streaming past it is cut at that byte (413).
   It is parsed by the evidence intake's streaming parser
   (:mod:`evidence_api.intake.upload`: python-multipart driven by the same receiver, the
   files hashed and spooled as they arrive) with these rules:

   * text fields: only the names the route declares (:class:`TextField`), each at most
     once, never as a file part; UTF-8; no NUL (nor, in a one-line field, any other
     control character); at most ``max_chars`` characters; a required field not empty
     after trimming surrounding white space → 422 naming the field and the limit;
   * attachments: the part name ``files``; at most ``public_max_attachments`` of them
     (422), each at most ``public_max_attachment_bytes`` (413 as soon as it passes the
     limit), not empty (422); the file name is refused (never renamed) when it is empty,
     over 255 UTF-8 bytes, not UTF-8, contains ``/``, ``\\``, a NUL or another control
     character, or is ``.``/``..``, or repeats another attachment's name (422);
   * media types: the declared ``Content-Type`` of a file part must be one of
     :data:`MEDIA_TYPES` (415, naming them), and the content must be that type by its
     own bytes (:func:`sniff`; 415 ``content is not <type>``). A part that declares no
     type (none, or ``application/octet-stream``) takes the type its content shows, if
     that is one of :data:`MEDIA_TYPES` (415 otherwise); the evidence records that type.

   Errors are the API's problem documents: 400 (not multipart, malformed, truncated),
   413, 415, 422 (with the offending ``field``), 429. :func:`receive_public` is what a
   route calls: the client's key, :func:`check_rate`, then the bounded form.

3. **The attachments fixed as evidence** (:func:`fix_attachments`): each attachment
   becomes one evidence item through :func:`evidence_api.intake.submit.record_evidence`,
   exactly as an upload (stored under Object Lock first, one ``evidence`` log entry, a
   signed receipt), submitted by the *public intake identity* (:func:`public_principal`:
   one ``api_token`` row named ``public-intake`` whose hash can match no token and which
   is revoked, so it never authenticates; log entries name it ``token-<id>``). The
   manifest's ``case`` is the feature's reference (``cp-…``), its ``notes`` say
   ``public complaint attachment`` or the like, ``capture.tool`` is ``public-intake``.
   An attachment fixed before its submission failed (429 on the final count, a database
   error) stays as unlinked evidence: nothing acknowledged is ever lost, and an orphan
   costs nothing.

The submitter's **access token** (:func:`new_access_token`, :func:`access_token_matches`):
32 random bytes, URL-safe base64, shown once; only its SHA-256 (hex) is kept, and a token
presented is compared with it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import Integer, String, column, func, insert, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from anchoring.entries import utc_timestamp
from evidence_api.core import secretbox
from evidence_api.core.auth import Principal
from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction, UtcDateTime
from evidence_api.core.errors import (
    ApiError,
    BadRequestError,
    InvalidInputError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from evidence_api.core.models import ApiToken
from evidence_api.core.runtime import Runtime
from evidence_api.intake import submit
from evidence_api.intake.schemas import EvidenceCreated
from evidence_api.intake.upload import (
    FEED_BYTES,
    ReceivedFile,
    _feed,
    _Receiver,
    boundary_of,
)

#: Media types an attachment may have (declared and by content).
MEDIA_TYPES: tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/pdf",
    "text/plain",
    "video/mp4",
)
#: A part without a Content-Type (or with this one) declares no type: its content decides.
UNDECLARED = "application/octet-stream"
#: Bytes of part headers allowed per text field and per attachment, and for the rest.
FIELD_OVERHEAD = 512
FILE_OVERHEAD = 1024
FORM_OVERHEAD = 1024
#: The part name of attachments.
FILES_FIELD = "files"
#: ``api_token.name`` of the public intake identity; its ``token_hash`` is not hex, so no
#: token's SHA-256 can ever equal it.
PUBLIC_TOKEN_NAME = "public-intake"  # noqa: S105 - a name, not a secret
PUBLIC_TOKEN_HASH = "!public-intake: no token authenticates as this identity"  # noqa: S105
#: HMAC key label deriving the client-key key from the secrets key.
CLIENT_KEY_LABEL = b"evidence-anchor/public-client/v1"

_SUBMISSION = table(
    "public_submission",
    column("id", Integer),
    column("client_key", String),
    column("kind", String),
    column("ref", String),
    column("at", UtcDateTime()),
)


class TooManyRequestsError(ApiError):
    """429 with ``Retry-After``."""

    status = 429
    code = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


# --- the rate limit ------------------------------------------------------------------------


def client_key(settings: Settings, request: Request) -> str:
    """HMAC-SHA256 (hex) of the client's address under a key derived from the secrets key."""
    address = request.client.host if request.client else "unknown"
    return keyed_hash(settings, "client", address)


def keyed_hash(settings: Settings, purpose: str, value: str) -> str:
    """HMAC-SHA256 (hex) of ``value`` under ``HMAC(secrets key, label + purpose)``: the same
    value always gives the same key, and nobody without the secrets key can test a guess."""
    base = secretbox.load_key(settings)
    derived = hmac.new(base, CLIENT_KEY_LABEL + b"/" + purpose.encode(), hashlib.sha256).digest()
    return hmac.new(derived, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _wait(session: Session, settings: Settings, key: str, now: datetime) -> int | None:
    since = now - timedelta(seconds=settings.public_rate_window)
    count, oldest = session.execute(
        select(func.count(), func.min(_SUBMISSION.c.at)).where(
            _SUBMISSION.c.client_key == key, _SUBMISSION.c.at > since
        )
    ).one()
    if count < settings.public_rate_limit:
        return None
    left = (oldest + timedelta(seconds=settings.public_rate_window) - now).total_seconds()
    return max(1, int(left) + (0 if left == int(left) else 1))


def _refusal(settings: Settings, wait: int) -> TooManyRequestsError:
    return TooManyRequestsError(
        f"at most {settings.public_rate_limit} public submissions per "
        f"{settings.public_rate_window:g} s from one client; retry in {wait} s",
        wait,
    )


def check_rate(transaction: Transaction, settings: Settings, key: str, now: datetime) -> None:
    """429 (``Retry-After``) when ``key`` has used up its window; call before reading a body."""
    with transaction() as session:
        wait = _wait(session, settings, key, now)
    if wait is not None:
        raise _refusal(settings, wait)


def admit(
    session: Session, settings: Settings, key: str, *, kind: str, ref: str, now: datetime
) -> None:
    """Count again and record one accepted submission (``kind``: ``complaint``, ``repair``;
    ``ref`` the feature's id) in the caller's transaction; 429 if the window is full."""
    if session.get_bind().dialect.name == "postgresql":
        lock = int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
    wait = _wait(session, settings, key, now)
    if wait is not None:
        raise _refusal(settings, wait)
    session.execute(insert(_SUBMISSION).values(client_key=key, kind=kind, ref=ref, at=now))


# --- the bounded form ----------------------------------------------------------------------


@dataclass(frozen=True)
class TextField:
    """A text field a public form accepts: its name, its maximum in characters, whether it
    must be present and non-blank, and whether it may span lines."""

    name: str
    max_chars: int
    required: bool = False
    multiline: bool = False


@dataclass
class PublicForm:
    """A received public form: its text fields (trimmed; absent ones absent) and its
    attachments (spooled files; :meth:`cleanup` removes them)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)

    def cleanup(self) -> None:
        for f in self.files:
            f.path.unlink(missing_ok=True)


def form_limit(settings: Settings, fields: Sequence[TextField]) -> int:
    """The most bytes a public form's body may have (see the module's documentation)."""
    return (
        sum(4 * f.max_chars + FIELD_OVERHEAD for f in fields)
        + settings.public_max_attachments * (settings.public_max_attachment_bytes + FILE_OVERHEAD)
        + FORM_OVERHEAD
    )


class _PublicReceiver(_Receiver):
    """The upload receiver, taking declared text fields instead of ``metadata``."""

    def __init__(self, spool: Path, specs: Mapping[str, TextField], settings: Settings) -> None:
        super().__init__(
            spool,
            max_file_bytes=settings.public_max_attachment_bytes,
            max_files=settings.public_max_attachments,
            max_metadata_bytes=0,
        )
        self.specs = specs
        self.values: dict[str, bytes] = {}
        self._text_name = ""
        self._text = bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        raw = options.get(b"name", b"")
        name = raw.decode("utf-8", "replace")[:64]
        if raw == FILES_FIELD.encode():
            if self.max_files == 0:
                raise InvalidInputError("this form takes no attachments", field=FILES_FIELD)
            super().on_headers_finished()
            if self._media_type not in (*MEDIA_TYPES, UNDECLARED):
                raise UnsupportedMediaTypeError(
                    f"file {self._name!r}: type {self._media_type!r} is not accepted; "
                    f"allowed: {', '.join(MEDIA_TYPES)}",
                    field=FILES_FIELD,
                )
            return
        spec = self.specs.get(name)
        if spec is None:
            allowed = ", ".join([*self.specs, FILES_FIELD])
            raise InvalidInputError(
                f"unexpected form field {name!r} (expected: {allowed})", field=name or "body"
            )
        if b"filename" in options:
            raise InvalidInputError(f"field {name!r} must be text, not a file", field=name)
        if name in self.values:
            raise InvalidInputError(f"field {name!r} sent more than once", field=name)
        self._kind = "text"
        self._text_name = name
        self._text = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._kind != "text":
            super().on_part_data(data, start, end)
            return
        spec = self.specs[self._text_name]
        if len(self._text) + (end - start) > 4 * spec.max_chars:
            raise InvalidInputError(
                f"field {spec.name!r} exceeds {spec.max_chars} characters", field=spec.name
            )
        self._text += data[start:end]

    def on_part_end(self) -> None:
        if self._kind != "text":
            super().on_part_end()
            return
        self.values[self._text_name] = bytes(self._text)
        self._kind = None


def _text_value(spec: TextField, raw: bytes | None) -> str | None:
    if raw is None:
        value = ""
    else:
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"field {spec.name!r} is not UTF-8", field=spec.name) from exc
    if "\x00" in value:
        raise InvalidInputError(f"field {spec.name!r} contains a NUL character", field=spec.name)
    allowed = "\t\n\r" if spec.multiline else ""
    if any((ord(c) < 0x20 and c not in allowed) or ord(c) == 0x7F for c in value):
        raise InvalidInputError(
            f"field {spec.name!r} contains a control character", field=spec.name
        )
    value = value.strip()
    if len(value) > spec.max_chars:
        raise InvalidInputError(
            f"field {spec.name!r} exceeds {spec.max_chars} characters", field=spec.name
        )
    if not value:
        if spec.required:
            raise InvalidInputError(f"field {spec.name!r} is required", field=spec.name)
        return None
    return value


def sniff(head: bytes, path: Path) -> str | None:
    """The media type of :data:`MEDIA_TYPES` a file's own bytes show (None: none of them).
    ``head`` is its first bytes; plain text is judged on the whole file (UTF-8, no control
    characters but tab, line feed, form feed and carriage return)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    try:
        content = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 0x20 and c not in "\t\n\r\f" for c in content):
        return None
    return "text/plain"


def _check_content(files: list[ReceivedFile]) -> None:
    for f in files:
        if f.digest.size == 0:
            raise InvalidInputError(f"file {f.name!r} is empty", field=FILES_FIELD)
        with f.path.open("rb") as fh:
            head = fh.read(64)
        found = sniff(head, f.path)
        if f.media_type == UNDECLARED:  # no type declared: the content names it
            if found is None:
                raise UnsupportedMediaTypeError(
                    f"file {f.name!r}: content is none of {', '.join(MEDIA_TYPES)}",
                    field=FILES_FIELD,
                )
            f.media_type = found
            continue
        if found != f.media_type:
            raise UnsupportedMediaTypeError(
                f"file {f.name!r}: content is not {f.media_type}"
                + (f" (it looks like {found})" if found else ""),
                field=FILES_FIELD,
            )


async def receive_public_form(
    request: Request, settings: Settings, fields: Sequence[TextField], *, spool: Path
) -> PublicForm:
    """Read and check a public ``multipart/form-data`` body (module documentation, part 2);
    on any refusal no spooled file is left behind."""
    specs = {f.name: f for f in fields}
    limit = form_limit(settings, fields)
    raw_length = request.headers.get("content-length", "")
    if raw_length:
        if not raw_length.isdigit() or len(raw_length) > 19:
            raise BadRequestError("Content-Length must be a decimal number of bytes")
        if int(raw_length) > limit:
            raise PayloadTooLargeError(
                f"request body of {raw_length} bytes exceeds this form's limit of {limit} bytes"
                f" (at most {settings.public_max_attachments} attachments of "
                f"{settings.public_max_attachment_bytes} bytes)"
            )
    boundary = boundary_of(request.headers.get("content-type"))
    receiver = _PublicReceiver(spool, specs, settings)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
        },
    )
    received = 0
    try:
        batch: list[bytes] = []
        batched = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLargeError(
                    f"request body exceeds this form's limit of {limit} bytes"
                )
            batch.append(chunk)
            batched += len(chunk)
            if batched >= FEED_BYTES:
                await run_in_threadpool(_feed, parser, batch)
                batch, batched = [], 0
        if batch:
            await run_in_threadpool(_feed, parser, batch)
        parser.finalize()
        if receiver._kind is not None:
            raise BadRequestError("multipart body is truncated")
        form = PublicForm(files=list(receiver.form.files))
        for spec in fields:
            value = _text_value(spec, receiver.values.get(spec.name))
            if value is not None:
                form.fields[spec.name] = value
        await run_in_threadpool(_check_content, form.files)
    except BaseException as exc:
        receiver.abort()
        if isinstance(exc, ApiError) or not isinstance(exc, Exception):
            raise
        raise BadRequestError(f"malformed multipart body: {type(exc).__name__}") from exc
    return form


async def receive_public(
    request: Request, runtime: Runtime, fields: Sequence[TextField]
) -> tuple[str, PublicForm]:
    """The client's key (its window checked before a byte of the body is read) and the
    bounded form; the caller records it, then removes its spooled files (``form.cleanup()``)."""
    settings = runtime.settings
    key = client_key(settings, request)
    await run_in_threadpool(check_rate, runtime.session, settings, key, datetime.now(UTC))
    spool = await run_in_threadpool(runtime.store.spool_dir, settings.resolved_spool_dir)
    return key, await receive_public_form(request, settings, fields, spool=spool)


# --- access tokens --------------------------------------------------------------------------


def new_access_token() -> tuple[str, str]:
    """A fresh access token (shown once, to whoever submitted) and its SHA-256 (hex), the
    one kept."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode("utf-8")).hexdigest()


def access_token_matches(token: str, token_sha256: str) -> bool:
    """Whether ``token`` is the access token whose SHA-256 (hex) was kept (compared in
    constant time)."""
    given = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return hmac.compare_digest(given, token_sha256)


# --- attachments fixed as evidence ---------------------------------------------------------


def public_principal(transaction: Transaction) -> Principal:
    """The public intake identity (made on first use; see the module's documentation)."""
    for _ in range(2):
        with transaction() as session:
            row = session.execute(
                select(ApiToken).where(ApiToken.token_hash == PUBLIC_TOKEN_HASH)
            ).scalar_one_or_none()
            if row is not None:
                return Principal(row.id, row.name, row.role, None)
        now = datetime.now(UTC)
        try:
            with transaction() as session:
                session.add(
                    ApiToken(
                        name=PUBLIC_TOKEN_NAME,
                        role="appraiser",
                        token_hash=PUBLIC_TOKEN_HASH,
                        created_at=now,
                        revoked_at=now,
                        display_name="公众提交",
                        kind="api",
                    )
                )
        except IntegrityError:  # another process made it first
            continue
    raise RuntimeError("the public intake identity could not be made")  # pragma: no cover


@dataclass(frozen=True)
class FixedAttachment:
    """One attachment fixed as evidence: its name, the evidence's id and its answer (with
    the signed receipt)."""

    name: str
    evidence_id: str
    created: EvidenceCreated


def fix_attachments(
    recorder: submit.Recorder,
    files: list[ReceivedFile],
    *,
    ref: str,
    notes: str,
    source_url: str | None = None,
    platform: str | None = None,
    entity: str | None = None,
) -> list[FixedAttachment]:
    """Each attachment as one evidence item (module documentation, part 3); blocking: call
    it in a worker thread."""
    if not files:
        return []
    principal = public_principal(recorder.transaction)
    fixed = []
    for f in files:
        item = submit.Intake(
            source_url=source_url,
            platform=platform,
            entity=entity,
            captured_at=utc_timestamp(datetime.now(UTC)),
            case_ref=ref,
            notes=notes,
            capture_tool="public-intake",
            capture_environment={submit.RECORDED_BY: "public"},
        )
        created = submit.record_evidence(recorder, principal, item, [f])
        fixed.append(FixedAttachment(f.name, created.evidence_id, created))
    return fixed
