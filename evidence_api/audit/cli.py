"""``evidence audit``: the full audit (progress bar, resumable, ``--json``) and its
acknowledgement. Light at import. (Contract stub: filled in by the audit work.)"""

from __future__ import annotations

import typer

audit_app = typer.Typer(
    help="Full audit: rebuild the tree from the stored entries, re-hash every object, check "
    "every anchor, cosignature and timestamp; report each discrepancy.",
    rich_markup_mode=None,
)
