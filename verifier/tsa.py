"""RFC 3161 time-stamp tokens on checkpoints (a second clock beside the chain's).

A token in a bundle's ``timestamps`` stamps the bundle's checkpoint: its message imprint
is SHA-256 of the checkpoint's note body (the text up to and including its last line's
newline, no signature lines). A verifier checks, against the TSA certificates it trusts
(``evidence-verify --tsa-cert PEM``): the imprint, the CMS signature, the signer's
certificate chain up to a trusted certificate and its validity at ``genTime``, and the
``timeStamping`` extended key usage. (Contract stub: filled in by the timestamp work.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


def imprint_of(checkpoint_text: str) -> bytes:
    """The message imprint a token on this checkpoint carries: SHA-256 of its note body."""
    return hashlib.sha256(checkpoint_text.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenCheck:
    """One token's verdict: ``ok``, or why not (``detail``, one line, English); the
    authority's time (``gen_time``, UTC) and signer subject when the token could be read."""

    tsa: str
    ok: bool
    detail: str
    gen_time: datetime | None = None
    signer: str | None = None
    serial: int | None = None


def check_token(
    tsa: str, token: bytes, checkpoint_text: str, trusted: Sequence[bytes]
) -> TokenCheck:
    """Check the DER ``token`` (a CMS ``TimeStampToken``) named ``tsa`` against the
    checkpoint text and the ``trusted`` certificates (each PEM or DER). Never raises for
    a bad token: the reason is in the verdict."""
    raise NotImplementedError


def load_certificates(data: bytes) -> list[bytes]:
    """The DER certificates in a PEM file (one or more blocks) or a DER file; raises
    :class:`~verifier.errors.VerifierError` with a one-line reason if there are none."""
    raise NotImplementedError
