"""TOTP second factor (RFC 6238, 30 s steps, 6 digits, SHA-1: what authenticator apps use).

The secret is sealed at rest by :mod:`evidence_api.core.secretbox` (context
``user-totp/<username>``), and each code is accepted at most once: the step it belongs
to must be later than the last step accepted (``totp_last_step``), so a code seen over a
shoulder or replayed within its 30 s is refused."""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp

from evidence_api.core import secretbox
from evidence_api.core.config import Settings

ISSUER = "Evidence Anchor"
STEP = 30
#: Steps either side of now accepted (clock drift of the phone).
DRIFT = 1
_CODE = re.compile(r"[0-9]{6}")
_SECRET = re.compile(r"[A-Z2-7]{32}")


def new_secret() -> str:
    """32 base32 characters (160 bits)."""
    return pyotp.random_base32()


def is_secret(text: str) -> bool:
    return bool(_SECRET.fullmatch(text))


def context(username: str) -> str:
    return f"user-totp/{username}"


def seal(settings: Settings, username: str, secret: str) -> str:
    return secretbox.seal(secretbox.load_key(settings), secret, context(username))


def unseal(settings: Settings, username: str, stored: str) -> str:
    return secretbox.open_sealed(secretbox.load_key(settings), stored, context(username))


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP


def accepted_step(secret: str, code: str, last_step: int | None, now: datetime) -> int | None:
    """The time step ``code`` belongs to (now ± :data:`DRIFT`), if it is later than
    ``last_step``; else None (wrong, malformed, or already used)."""
    code = code.strip().replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = step_of(now)
    found = None
    for step in range(current - DRIFT, current + DRIFT + 1):
        # every candidate is compared (no early exit): the time does not tell which matched
        if hmac.compare_digest(totp.at(step * STEP), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def qr_svg(uri: str) -> str | None:
    """The URI as a QR code, an inline ``<svg>`` of plain ``<rect>`` cells (no script and
    no ``style`` attribute: the console's CSP admits neither), or None if reportlab's
    encoder fails (the page shows the secret and URI as text anyway)."""
    try:
        from verifier.report.qr import qr_modules  # noqa: PLC0415 - reportlab, on this page only

        modules = qr_modules(uri)
    except Exception:  # a convenience: the text secret is what matters
        return None
    count = len(modules)
    cells = [
        f'<rect x="{col + 4}" y="{row + 4}" width="1" height="1"/>'
        for row, line in enumerate(modules)
        for col, dark in enumerate(line)
        if dark
    ]
    side = count + 8  # the quiet zone of 4 cells on each side
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" width="200" '
        f'height="200" role="img" aria-labelledby="totp-qr-title" shape-rendering="crispEdges">'
        f'<title id="totp-qr-title">QR</title><rect width="{side}" height="{side}" fill="#fff"/>'
        f'<g fill="#000">{"".join(cells)}</g></svg>'
    )
