"""``evidence witness``: ``keygen`` (a new witness key) and ``serve`` (the witness
process). Light at import: the server is imported by the command that runs it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

witness_app = typer.Typer(
    help="An independent witness (C2SP tlog-witness): its own key and state; cosigns "
    "checkpoints consistent with what it saw.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(1)


def _write_new(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


@witness_app.command()
def keygen(
    name: Annotated[
        str,
        typer.Option(
            help="the witness's name, e.g. court.example.cn/witness: it is in every "
            "cosignature line and its key ID"
        ),
    ],
    out: Annotated[Path, typer.Option(help="where to write the PRIVATE+KEY file (mode 0600)")],
    vkey_out: Annotated[
        Path | None, typer.Option(help="also write the public verifier key (vkey) here")
    ] = None,
    keep_existing: Annotated[
        bool,
        typer.Option(
            help="if OUT exists (with the same name), keep it and print its vkey; "
            "without this an existing OUT is an error"
        ),
    ] = False,
) -> None:
    """Generate a witness's Ed25519 cosigning key; print its verifier key (vkey).

    Give the vkey to the log operator (EVIDENCE_WITNESSES) and to verifiers
    (evidence-verify --witness VKEY). Keep OUT secret: whoever holds it can cosign."""
    from verifier.cosignature import WitnessSigner  # noqa: PLC0415
    from verifier.errors import VerifierError  # noqa: PLC0415

    try:
        if out.exists():
            if not keep_existing:
                raise _fail(f"{out} exists; refusing to overwrite a witness key")
            signer = WitnessSigner.from_text(out.read_text(encoding="utf-8"))
            if signer.name != name:
                raise _fail(f"{out} holds the key of {signer.name!r}, not {name!r}")
        else:
            signer = WitnessSigner.generate(name)
            _write_new(out, signer.to_text() + "\n", 0o600)
    except (VerifierError, OSError) as exc:
        raise _fail(str(exc)) from exc
    vkey = signer.key().to_text()
    if vkey_out is not None:
        vkey_out.parent.mkdir(parents=True, exist_ok=True)
        vkey_out.write_text(vkey + "\n", encoding="utf-8")
        vkey_out.chmod(0o644)
    sys.stdout.write(vkey + "\n")


@witness_app.command()
def serve(
    key_file: Annotated[
        Path, typer.Option(help="the witness's PRIVATE+KEY file (evidence witness keygen)")
    ],
    state_dir: Annotated[
        Path,
        typer.Option(
            help="the witness's own state: per log, the checkpoint it last cosigned "
            "(one process per folder)"
        ),
    ],
    log_key: Annotated[
        list[str],
        typer.Option(
            help="a log's verifier key (<origin>+<hex id>+<base64>); repeat for more logs "
            "or keys. Checkpoints of other origins get 404"
        ),
    ],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8300,
    body_timeout: Annotated[
        float, typer.Option(help="seconds a client has to send a request's body", min=0.1)
    ] = 10.0,
    header_timeout: Annotated[
        float, typer.Option(help="seconds a client has to send a request's headers", min=0.1)
    ] = 10.0,
) -> None:
    """Serve the C2SP tlog-witness protocol: POST /add-checkpoint cosigns a checkpoint of a
    known log when it is consistent with the one this witness last cosigned; GET / shows
    the witness's key and state; GET /healthz."""
    import logging  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from evidence_api.core.server import protocol_class  # noqa: PLC0415
    from evidence_api.witness.server import Witness, create_app, log_keys_by_origin  # noqa: PLC0415
    from evidence_api.witness.state import StateError, StateStore  # noqa: PLC0415
    from verifier.cosignature import WitnessSigner  # noqa: PLC0415
    from verifier.errors import VerifierError  # noqa: PLC0415

    try:
        signer = WitnessSigner.from_text(key_file.read_text(encoding="utf-8"))
        keys = log_keys_by_origin(log_key)
    except (VerifierError, OSError) as exc:
        raise _fail(str(exc)) from exc
    try:
        store = StateStore(state_dir)
    except (StateError, OSError) as exc:
        raise _fail(str(exc)) from exc
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    witness = Witness(signer, keys, store, body_timeout=body_timeout)
    sys.stdout.write(
        f"witness {signer.name} on http://{host}:{port}\n"
        f"  vkey   {signer.key().to_text()}\n"
        + "".join(f"  log    {origin}\n" for origin in sorted(keys))
        + "".join(f"  state  {s.origin} size {s.size}\n" for s in store.all())
    )
    sys.stdout.flush()
    try:
        uvicorn.run(
            create_app(witness),
            host=host,
            port=port,
            http=protocol_class(header_timeout=header_timeout, max_per_client=32),
            timeout_keep_alive=30,
            limit_concurrency=256,
            h11_max_incomplete_event_size=16 * 1024,
            access_log=False,
            log_level="info",
        )
    finally:
        store.close()
