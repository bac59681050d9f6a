"""The witness's side of C2SP ``tlog-witness`` ``add-checkpoint``: the request's grammar
and the checks that decide whether a checkpoint may be cosigned. Pure: no I/O.

A request body is::

    old <size>\\n
    <base64 hash>\\n            (0..63 consistency proof lines)
    \\n
    <signed checkpoint note>

The checks, in the spec's order, each with its HTTP status (docs/witnesses.md):

* 400 the body is malformed (grammar, too many proof lines, a proof with old size 0);
* 404 the checkpoint's origin is not a log this witness knows;
* 403 no signature verifies against a key trusted for that origin (or one of them fails);
* 400 the old size exceeds the checkpoint's size (a rollback: the witness saw more);
* 409 the old size is not the size this witness last cosigned (``text/x.tlog.size``);
* 422 the consistency proof from the recorded (size, root) does not verify;
* 409 the old size equals the checkpoint's size but the roots differ (a split view).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from verifier.checkpoint import Checkpoint, open_checkpoint
from verifier.errors import MerkleError, NoteFormatError, SignatureError
from verifier.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from verifier.note import VerifierKey, b64decode_strict, parse_note

#: The spec's limit on consistency proof lines.
MAX_PROOF_LINES = 63
#: A whole request: the old size line, 63 proof lines of 45 bytes, and a signed
#: checkpoint with a handful of signatures fit in well under this.
MAX_BODY_BYTES = 16 * 1024
#: A signed checkpoint in a request (its text and every signature line).
MAX_NOTE_BYTES = MAX_BODY_BYTES - 64

_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


class Refusal(Exception):  # noqa: N818 - the witness's answer, not a fault
    """A request the witness refuses: the HTTP status and a one-line reason (English).

    ``size`` is set on the 409 that answers with the witness's recorded size."""

    def __init__(self, status: int, detail: str, *, size: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.size = size


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed ``add-checkpoint`` request (the note's signatures not yet checked)."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str
    #: the note's body: what the log's signature and a cosignature cover
    text: str
    checkpoint: Checkpoint


@dataclass(frozen=True)
class LogState:
    """What a witness recorded of one log: the checkpoint it last cosigned."""

    origin: str
    size: int
    root: bytes
    #: the signed checkpoint note as submitted (evidence of what the log said)
    note: str
    #: POSIX seconds of the cosignature that recorded it
    updated: int


def parse_request(body: bytes) -> AddCheckpoint:
    """Parse an ``add-checkpoint`` body; :class:`Refusal` (400/413) if it is malformed."""
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(400, "request body is not UTF-8") from exc
    head, sep, rest = text.partition("\n")
    if not sep:
        raise Refusal(400, "request body must start with an 'old <size>' line")
    match = _OLD.fullmatch(head)
    if match is None:
        raise Refusal(400, "first line must be 'old <size>' (decimal, no leading zeros)")
    old_size = int(match[1])
    if old_size > 2**64 - 1:
        raise Refusal(400, "old size is outside 0..2^64-1")
    proof: list[bytes] = []
    while True:
        line, sep, rest = rest.partition("\n")
        if not sep:
            raise Refusal(400, "missing the empty line before the checkpoint")
        if line == "":
            break
        if len(proof) == MAX_PROOF_LINES:
            raise Refusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            value = b64decode_strict(line, "consistency proof line")
        except NoteFormatError as exc:
            raise Refusal(400, str(exc)) from exc
        if len(value) != HASH_SIZE:
            raise Refusal(400, f"consistency proof line {len(proof) + 1} is not a 32-byte hash")
        proof.append(value)
    if old_size == 0 and proof:
        raise Refusal(400, "the consistency proof must be empty when the old size is 0")
    try:
        note = parse_note(rest)
        checkpoint = Checkpoint.from_text(note.text)
    except NoteFormatError as exc:
        raise Refusal(400, f"not a signed checkpoint: {exc}") from exc
    return AddCheckpoint(old_size, tuple(proof), rest, note.text, checkpoint)


def check(
    request: AddCheckpoint,
    log_keys: Mapping[str, Sequence[VerifierKey]],
    state: LogState | None,
) -> Checkpoint:
    """The checkpoint to cosign if ``request`` passes every check against the witness's
    ``state`` of its log (None: never cosigned one); else :class:`Refusal`."""
    checkpoint = request.checkpoint
    keys = log_keys.get(checkpoint.origin)
    if not keys:
        raise Refusal(404, f"unknown log origin {checkpoint.origin!r}")
    try:
        open_checkpoint(request.note, keys)
    except (SignatureError, NoteFormatError) as exc:
        raise Refusal(403, f"checkpoint is not signed by a known key of its log: {exc}") from exc
    if request.old_size > checkpoint.size:
        raise Refusal(
            400, f"old size {request.old_size} exceeds the checkpoint's size {checkpoint.size}"
        )
    recorded = state.size if state is not None else 0
    if request.old_size != recorded:
        raise Refusal(
            409,
            f"old size {request.old_size} is not the size last cosigned, {recorded}",
            size=recorded,
        )
    old_root = state.root if state is not None else EMPTY_ROOT
    if state is None:
        return checkpoint  # first contact: nothing to be consistent with (the proof is empty)
    if request.old_size == checkpoint.size:
        if checkpoint.root != old_root:
            raise Refusal(
                409,
                f"a different root for size {checkpoint.size} than the one cosigned (a split view)",
            )
        if request.proof:
            raise Refusal(422, "the consistency proof between equal sizes must be empty")
        return checkpoint
    try:
        verify_consistency(
            request.old_size, checkpoint.size, old_root, checkpoint.root, request.proof
        )
    except MerkleError as exc:
        raise Refusal(
            422,
            f"consistency proof from size {request.old_size} to {checkpoint.size} "
            f"does not verify: {exc}",
        ) from exc
    return checkpoint
