"""RFC 3161 timestamps on anchored checkpoints: every ``timestamp_every``-th anchored
checkpoint is sent to each configured authority; each token is checked and stored in
``checkpoint_timestamp``.

Which checkpoints: the anchored ones are the distinct sizes of the confirmed
``anchor_tx`` rows, in order of size; numbering them 1, 2, 3, … the 1st, the
(N+1)-th, the (2N+1)-th, … are stamped (N = ``timestamp_every``; N = 1: every one).
Each tick, for each authority, at most :data:`MAX_PER_TICK` of the due checkpoints it
has not stamped yet are sent, newest first (a new authority catches up a few a tick).

The query (``application/timestamp-query``) carries the SHA-256 of the checkpoint's
note body (:func:`verifier.tsa.imprint_of` of :func:`verifier.note.parse_note`'s
text), a random nonce, and ``certReq`` true (the token carries the TSA's certificate).
The answer (at most :data:`MAX_RESPONSE_BYTES`, within ``tsa_timeout``) must be a
granted response with our nonce and imprint, whose token verifies with
:func:`verifier.tsa.check_token` against the authority's ``cert_file``; only then is
(size, authority name, DER token, genTime) stored, idempotently. One failing authority
does not stop the others; failures are logged once per change of state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import urllib3
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from anchoring.periodic import FailureState, failure_reason
from anchoring.schema import anchor_tx, checkpoint_timestamp, log_checkpoint
from evidence_api.core.config import TimestampAuthority
from evidence_api.core.runtime import Runtime
from verifier.errors import VerifierError
from verifier.note import parse_note
from verifier.tsa import (
    MAX_TOKEN_BYTES,
    check_token,
    decode_response,
    imprint_of,
    load_certificates,
)

log = logging.getLogger(__name__)

Step = Callable[[], object]

#: Largest answer read from an authority.
MAX_RESPONSE_BYTES = MAX_TOKEN_BYTES + (4 << 10)
#: Most checkpoints sent to one authority in one tick.
MAX_PER_TICK = 4
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TimestampError(Exception):
    """An authority did not give a token we could store (one line, English)."""


@dataclass(frozen=True)
class AuthorityStatus:
    """What this process knows of one authority (for ``GET /v1/trust/timestamps``)."""

    name: str
    url: str
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None


_STATUS: dict[str, AuthorityStatus] = {}
_STATUS_LOCK = threading.Lock()


def authority_status(name: str) -> AuthorityStatus | None:
    """This process's view of the authority ``name`` (None: it has not run here)."""
    with _STATUS_LOCK:
        return _STATUS.get(name)


def _set_status(name: str, **changes: object) -> None:
    with _STATUS_LOCK:
        _STATUS[name] = replace(_STATUS[name], **changes)  # type: ignore[arg-type]


# --- which checkpoints --------------------------------------------------------------


def anchored_sizes(conn: Connection) -> list[int]:
    """The sizes of the anchored (confirmed) checkpoints, in order."""
    rows = conn.execute(
        select(anchor_tx.c.size)
        .where(anchor_tx.c.state == "confirmed")
        .distinct()
        .order_by(anchor_tx.c.size)
    )
    return [int(size) for (size,) in rows]


def due_sizes(anchored: Sequence[int], every: int) -> list[int]:
    """The 1st, (N+1)-th, (2N+1)-th, … of the anchored sizes (in order of size)."""
    return list(anchored[::every])


def stamped_sizes(conn: Connection, tsa: str) -> set[int]:
    rows = conn.execute(
        select(checkpoint_timestamp.c.size).where(checkpoint_timestamp.c.tsa == tsa)
    )
    return {int(size) for (size,) in rows}


def to_stamp(conn: Connection, tsa: str, every: int, limit: int = MAX_PER_TICK) -> list[int]:
    """The due sizes ``tsa`` has not stamped yet, newest first, at most ``limit``."""
    done = stamped_sizes(conn, tsa)
    todo = [size for size in due_sizes(anchored_sizes(conn), every) if size not in done]
    return todo[::-1][:limit]


def note_body(conn: Connection, size: int) -> str:
    """The note body (text without signature lines) of the checkpoint of ``size``."""
    note = conn.execute(
        select(log_checkpoint.c.note).where(log_checkpoint.c.size == size)
    ).scalar_one_or_none()
    if note is None:
        raise TimestampError(f"no stored checkpoint of size {size}")
    return parse_note(note).text


def store_token(conn: Connection, size: int, tsa: str, token: bytes, gen_time: datetime) -> None:
    """Store one token; a second insert of the same (size, tsa) does nothing."""
    values = {
        "size": size,
        "tsa": tsa,
        "token": token,
        "gen_time": gen_time,
        "created_at": datetime.now(UTC),
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(checkpoint_timestamp).values(values).on_conflict_do_nothing())


# --- one authority ------------------------------------------------------------------


@dataclass
class AuthorityClient:
    """Sends queries to one authority and checks what it answers."""

    authority: TimestampAuthority
    timeout: float
    pool: urllib3.PoolManager
    failures: FailureState = field(init=False)

    def __post_init__(self) -> None:
        self.failures = FailureState(f"timestamp authority {self.authority.name}")

    def trusted(self) -> list[bytes]:
        try:
            return load_certificates(self.authority.cert_file.read_bytes())
        except (OSError, VerifierError) as exc:
            raise TimestampError(
                f"cert_file {self.authority.cert_file}: {failure_reason(exc)}"
            ) from exc

    def post(self, query: bytes) -> bytes:
        url = self.authority.url
        try:
            answer = self.pool.request(
                "POST",
                url,
                body=query,
                headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
                timeout=urllib3.Timeout(total=self.timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise TimestampError(f"{url}: {failure_reason(exc)}") from exc
        try:
            data = answer.read(MAX_RESPONSE_BYTES + 1)
        except urllib3.exceptions.HTTPError as exc:
            raise TimestampError(f"{url}: {failure_reason(exc)}") from exc
        finally:
            answer.release_conn()
        if answer.status != 200:
            raise TimestampError(f"{url}: HTTP {answer.status}")
        if len(data) > MAX_RESPONSE_BYTES:
            raise TimestampError(f"{url}: answer exceeds {MAX_RESPONSE_BYTES} bytes")
        kind = (answer.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != REPLY_TYPE:
            raise TimestampError(f"{url}: answer is {kind or 'untyped'}, not {REPLY_TYPE}")
        return data

    def stamp(self, text: str) -> tuple[bytes, datetime]:
        """A checked token on the note body ``text``: (DER token, genTime)."""
        from rfc3161_client import (  # noqa: PLC0415
            HashAlgorithm,
            PKIStatus,
            TimestampRequestBuilder,
        )

        trusted = self.trusted()
        request = (
            TimestampRequestBuilder()
            .data(text.encode("utf-8"))
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        data = self.post(request.as_bytes())
        try:
            response = decode_response(data)
            status = int(response.status)
        except ValueError as exc:
            raise TimestampError(f"not an RFC 3161 response: {failure_reason(exc)}") from exc
        if status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            said = "; ".join(response.status_string)[:200]
            raise TimestampError(f"refused: PKIStatus {status}{': ' + said if said else ''}")
        try:
            info = response.tst_info
            nonce, imprint = info.nonce, info.message_imprint.message
            token = response.time_stamp_token()
        except ValueError as exc:
            raise TimestampError(f"unreadable token: {failure_reason(exc)}") from exc
        if nonce != request.nonce:
            raise TimestampError("the token's nonce is not the query's")
        if imprint != imprint_of(text):
            raise TimestampError("the token's message imprint is not the query's")
        verdict = check_token(self.authority.name, token, text, trusted)
        if not verdict.ok or verdict.gen_time is None:
            raise TimestampError(f"token refused: {verdict.detail}")
        return token, verdict.gen_time


# --- the job ------------------------------------------------------------------------


class Timestamping:
    """This process's timestamping: one step stamps what is due at every authority."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.every = settings.timestamp_every
        self.pool = urllib3.PoolManager(num_pools=max(1, len(settings.tsas)), maxsize=1)
        self.clients = [AuthorityClient(a, settings.tsa_timeout, self.pool) for a in settings.tsas]
        with _STATUS_LOCK:
            for client in self.clients:
                name = client.authority.name
                _STATUS[name] = AuthorityStatus(name, client.authority.url)

    def step(self) -> int:
        """Stamp the due checkpoints at each authority; how many tokens were stored."""
        return sum(self.stamp_at(client) for client in self.clients)

    def stamp_at(self, client: AuthorityClient) -> int:
        name = client.authority.name
        stored = 0
        try:
            with self.runtime.engine.connect() as conn:
                sizes = to_stamp(conn, name, self.every)
                texts = [(size, note_body(conn, size)) for size in sizes]
            for size, text in texts:
                token, gen_time = client.stamp(text)
                with self.runtime.engine.begin() as conn:
                    store_token(conn, size, name, token, gen_time)
                stored += 1
        except Exception as exc:  # one authority's failure must not stop the others
            reason = failure_reason(exc)
            previous = authority_status(name)
            line = client.failures.failed(exc, time.monotonic())
            if line is None and previous is not None and previous.last_error != reason:
                line = f"{client.failures.name} failing differently: {reason}"
            if line is not None:
                log.warning(line)
            log.debug("timestamp authority %s failed", name, exc_info=True)
            _set_status(name, last_error=reason, last_error_at=datetime.now(UTC))
            return stored
        line = client.failures.succeeded(time.monotonic())
        if line is not None:
            log.info(line)
        if stored:
            _set_status(name, last_error=None, last_success_at=datetime.now(UTC))
        else:
            _set_status(name, last_error=None)
        return stored

    def stop(self, _timeout: float) -> None:
        self.pool.clear()


def start_timestamping(runtime: Runtime) -> tuple[Sequence[Step], Callable[[float], None]]:
    """This process's timestamping steps (one per tick) and how to stop them."""
    timestamping = Timestamping(runtime)
    return [timestamping.step], timestamping.stop
