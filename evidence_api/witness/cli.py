"""``evidence witness``: ``keygen`` (a new witness key) and ``serve`` (the witness
process). Light at import: the server is imported by the command that runs it.
(Contract stub: filled in by the witness work.)"""

from __future__ import annotations

import typer

witness_app = typer.Typer(
    help="An independent witness (C2SP tlog-witness): its own key and state; cosigns "
    "checkpoints consistent with what it saw.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
