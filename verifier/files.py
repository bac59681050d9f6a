"""Reading a small trust input (a key, a certificate, a PDF) from a file, bounded.

Every front end (the CLI, the verification service's settings, the API's signing
material) reads such files the same way: at most ``limit`` bytes, and a one-line reason
when it cannot, which the caller prefixes with the option or setting that named the file.
"""

from __future__ import annotations

from pathlib import Path

from verifier.errors import VerifierError


class BoundedReadError(VerifierError):
    """The file cannot be read, or holds more than the limit (the message says which)."""


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The file's bytes, at most ``limit`` of them."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise BoundedReadError(f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise BoundedReadError(f"larger than {limit} bytes")
    return data
