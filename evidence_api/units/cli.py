"""``evidence units``: the organisation tree from the command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The organisation tree (units) and who belongs to which unit.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
