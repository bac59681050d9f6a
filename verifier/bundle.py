"""The proof bundle, format ``evidence-proof/v1``.

Consensus-critical: changing a field's meaning needs a new format version.
A bundle carries everything needed to verify one log entry offline: the
entry, optionally its manifest, the receipt, the inclusion proof, the signed
checkpoint and the on-chain anchor record. It is validated in full when
loaded; an unknown format version is refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from verifier.canonical import parse_json
from verifier.checkpoint import parse_signed_checkpoint
from verifier.errors import BundleFormatError, UnknownFormatVersionError
from verifier.merkle import MAX_PROOF_HASHES, MAX_TREE_SIZE
from verifier.models import Entry, Hex32, Manifest
from verifier.note import MAX_NOTE_BYTES

FORMAT_V1 = "evidence-proof/v1"
MAX_BUNDLE_BYTES = 1024 * 1024

Hex0x32 = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
NoteText = Annotated[str, Field(min_length=1, max_length=MAX_NOTE_BYTES)]
Uint64 = Annotated[int, Field(ge=0, le=MAX_TREE_SIZE)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class InclusionProof(_Strict):
    index: Uint64
    tree_size: Annotated[int, Field(ge=1, le=MAX_TREE_SIZE)]
    hashes: Annotated[list[Hex32], Field(max_length=MAX_PROOF_HASHES)]

    @model_validator(mode="after")
    def _index_in_range(self) -> InclusionProof:
        if self.index >= self.tree_size:
            raise ValueError(f"index {self.index} is not below tree_size {self.tree_size}")
        return self

    def hash_bytes(self) -> list[bytes]:
        return [bytes.fromhex(h) for h in self.hashes]


class Anchor(_Strict):
    """Where the checkpoint (size, root) was recorded on chain (docs/design.md §4)."""

    chain_id: Annotated[int, Field(ge=1, le=2**53 - 1)]
    contract: Address
    log_id: Hex0x32
    tx_hash: Hex0x32
    block_number: Annotated[int, Field(ge=0, le=2**53 - 1)]
    block_hash: Hex0x32
    block_timestamp: Annotated[int, Field(ge=0, le=2**53 - 1)]
    size: Uint64
    root: Hex32


#: A DER time-stamp token is a few KB; 64 KiB of base64 is far beyond any real one.
MAX_TOKEN_CHARS = 64 * 1024
MAX_TIMESTAMPS = 8


class TimestampToken(_Strict):
    """An RFC 3161 time-stamp token on the bundle's checkpoint: its message imprint is
    SHA-256 of the checkpoint's note body (docs/proof-format.md)."""

    #: the authority's name (the operator's label; the verifier trusts certificates,
    #: never this name)
    tsa: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    #: base64 (standard, padded) of the DER ``TimeStampToken`` (a CMS ``ContentInfo``)
    token: Annotated[
        str, Field(min_length=4, max_length=MAX_TOKEN_CHARS, pattern=r"^[A-Za-z0-9+/]+=*$")
    ]


Timestamps = Annotated[list[TimestampToken], Field(min_length=1, max_length=MAX_TIMESTAMPS)]


class Bundle(_Strict):
    format: Literal["evidence-proof/v1"]
    status: Literal["pending", "sealed", "anchored"]
    log_origin: Annotated[str, Field(min_length=1, max_length=256)]
    entry: Entry
    leaf_hash: Hex32
    manifest: Manifest | None = None
    receipt: NoteText | None = None
    inclusion: InclusionProof | None = None
    checkpoint: NoteText | None = None
    anchor: Anchor | None = None
    #: RFC 3161 tokens on the checkpoint; absent (not ``null``) when there are none
    timestamps: Timestamps | None = None

    @model_validator(mode="after")
    def _fields_match_status(self) -> Bundle:
        sealed = self.inclusion is not None and self.checkpoint is not None
        if self.status == "pending":
            if self.receipt is None:
                raise ValueError("a pending bundle needs its receipt")
            if self.inclusion or self.checkpoint or self.anchor:
                raise ValueError("a pending bundle has no inclusion, checkpoint or anchor")
        elif not sealed:
            raise ValueError(f"a {self.status} bundle needs inclusion and checkpoint")
        if self.timestamps is not None and self.checkpoint is None:
            raise ValueError("timestamps need the checkpoint they are on")
        if self.status == "sealed" and self.anchor is not None:
            raise ValueError("a sealed bundle has no anchor; its status would be 'anchored'")
        if self.status == "anchored" and self.anchor is None:
            raise ValueError("an anchored bundle needs its anchor record")
        if self.anchor is not None and self.checkpoint is not None:
            # The anchor must record the very tree head the inclusion proof is against.
            checkpoint = parse_signed_checkpoint(self.checkpoint)
            if (self.anchor.size, self.anchor.root) != (checkpoint.size, checkpoint.root.hex()):
                raise ValueError("anchor (size, root) differs from the checkpoint's")
        return self

    def to_json(self) -> str:
        """Indented JSON; absent parts are written as ``null``.

        Never drop ``None`` values here: a manifest's ``null`` fields are part of
        the bytes its digest covers. The one exception is ``timestamps``, written only
        when there are some (a bundle without them is byte for byte what it was before
        the field existed).
        """
        return self.model_dump_json(indent=2)

    @model_serializer(mode="wrap")
    def _omit_absent_timestamps(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Every dump (JSON, dict, an API answer) leaves ``timestamps`` out when there are
        none: such a bundle is byte for byte what it was before the field existed."""
        data = handler(self)
        if self.timestamps is None and isinstance(data, dict):
            data.pop("timestamps", None)
        return data


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    # repr() keeps a hostile key (say, one holding a newline) on one line.
    loc = (
        ".".join(str(part) if str(part).isprintable() else repr(part) for part in err["loc"])
        or "bundle"
    )
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {err['msg']}{more}"


def bundle_from_obj(obj: Any) -> Bundle:
    if not isinstance(obj, dict):
        raise BundleFormatError("bundle must be a JSON object")
    fmt = obj.get("format")
    if fmt != FORMAT_V1:
        if isinstance(fmt, str) and fmt.startswith("evidence-proof/"):
            raise UnknownFormatVersionError(
                f"unknown bundle format {fmt[:40]!r}; this verifier reads {FORMAT_V1}"
            )
        raise BundleFormatError(f"not an evidence proof bundle (format must be {FORMAT_V1!r})")
    try:
        return Bundle.model_validate(obj)
    except ValidationError as exc:
        raise BundleFormatError(f"invalid bundle: {_first_error(exc)}") from exc


def load_bundle(data: bytes | str) -> Bundle:
    """Parse and validate a bundle; raises a :class:`BundleFormatError` subclass or
    :class:`JSONFormatError` with a one-line reason."""
    return bundle_from_obj(parse_json(data, max_bytes=MAX_BUNDLE_BYTES, what="bundle"))
