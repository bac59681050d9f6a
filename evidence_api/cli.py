"""The ``evidence`` command: administration of an Evidence Anchor deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evidence_api.db import upgrade
from verifier.errors import VerifierError
from verifier.note import SignerKey

app = typer.Typer(
    help="Evidence Anchor: blockchain-anchored electronic evidence (区块链电子取证).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema (one Alembic migration history).", no_args_is_help=True)
keys_app = typer.Typer(
    help="Log signing keys (Ed25519, C2SP signed-note form).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")


@db_app.command("upgrade")
def db_upgrade(
    url: Annotated[
        str, typer.Option("--url", envvar="EVIDENCE_DATABASE_URL", help="SQLAlchemy URL")
    ],
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Create or migrate the schema at URL to REVISION."""
    upgrade(url, revision)
    typer.echo(f"database at revision {revision}")


@keys_app.command("generate")
def keys_generate(
    origin: Annotated[str, typer.Argument(help="log origin, e.g. evidence.example.gov.cn/log")],
    out: Annotated[Path, typer.Option("--out", help="private key file to create (mode 0600)")],
) -> None:
    """Generate the log's Ed25519 signing key; prints the public verifier key (vkey)."""
    if out.exists():
        typer.echo(f"error: {out} exists; refusing to overwrite a signing key", err=True)
        raise typer.Exit(2)
    signer = SignerKey.generate(origin)
    out.touch(mode=0o600)
    out.write_text(signer.to_text() + "\n", encoding="utf-8")
    typer.echo(signer.verifier().to_text())


@keys_app.command("public")
def keys_public(
    key_file: Annotated[Path, typer.Argument(help="private key file")],
) -> None:
    """Print the verifier key (vkey) of a signing key file."""
    try:
        signer = SignerKey.from_text(key_file.read_text(encoding="utf-8"))
    except (OSError, VerifierError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(signer.verifier().to_text())


def main() -> None:
    app()
