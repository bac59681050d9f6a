"""The ``evidence`` command: administration of an Evidence Anchor deployment.

Building the command tree imports only typer: each command imports what it uses (settings,
database, runtime, keys) when it runs, so ``--help`` starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evidence_api.audit.cli import audit_app
from evidence_api.units.cli import app as units_app
from evidence_api.witness.cli import witness_app

if TYPE_CHECKING:  # the runtime pulls in the whole service: loaded by commands that use it
    import socket

    from fastapi import FastAPI

    from evidence_api.core.config import Settings
    from evidence_api.runtime import Runtime


def get_settings() -> Settings:
    """The settings (pydantic-settings), imported when a command first needs them."""
    from evidence_api.core.config import get_settings as settings  # noqa: PLC0415

    return settings()


def _configuration_error() -> type[Exception]:
    from evidence_api.core.config import ConfigurationError  # noqa: PLC0415

    return ConfigurationError


# Help is click's plain text, not rich's panels: rendering it with rich costs more than the
# rest of `evidence admin create-token --help` together.
app = typer.Typer(
    help="Evidence Anchor: blockchain-anchored electronic evidence (区块链电子取证).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
db_app = typer.Typer(
    help="Database schema (one Alembic migration history).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
admin_app = typer.Typer(
    help="Administration: users, tokens, platforms.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
keys_app = typer.Typer(
    help="Log signing keys (Ed25519, C2SP signed-note form).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(admin_app, name="admin")
verifier_app = typer.Typer(
    help="The verification service (read-only).", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(verifier_app, name="verifier")
chain_app = typer.Typer(
    help="The anchoring chain: status, rebind.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(chain_app, name="chain")
app.add_typer(witness_app, name="witness")
app.add_typer(audit_app, name="audit")
app.add_typer(units_app, name="units")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="listen address (EVIDENCE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (EVIDENCE_PORT)")] = None,
    init: Annotated[
        bool, typer.Option("--init", help="sign an existing log with a new key (key lost)")
    ] = False,
) -> None:
    """Start the HTTP service (embedded defaults: SQLite, ./data, in-process sealing)."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from evidence_api.core.observability import (  # noqa: PLC0415
        StartupLogs,
        configure_logging,
    )
    from evidence_api.core.server import freeze_startup_heap, serve_options  # noqa: PLC0415

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    # One handler for ours and uvicorn's (JSON or text); what the start logs is held
    # until it succeeds, so that a refused start is its one error line.
    startup = StartupLogs(configure_logging(settings))
    try:
        runtime, api, portal = _service(settings, init=init, host=host, port=port)
    except typer.Exit:
        startup.drop()
        raise

    def started(_chain: object = None) -> None:
        """The start succeeded (its chain bound, if any): its logs, then the banner."""
        startup.release()
        _banner(runtime, f"http://{host}:{port}", portal)

    server = _listening_server(
        uvicorn.Config(
            api,
            host=host,
            port=port,
            **serve_options(settings),  # connection limits, logging, graceful shutdown
        )
    )
    if runtime.binding is None:
        started()
    else:  # bound in the background once the socket listens; a failure stops the server
        runtime.binding.on_bound.append(started)
        runtime.binding.on_failed.append(server.refuse)
        server.listening = [runtime.binding.start]
    workers = _start_workers(settings, host, port)  # EVIDENCE_WORKERS - 1 more processes
    freeze_startup_heap()
    try:
        # The app closes the runtime at shutdown (uvicorn re-raises SIGTERM once it has
        # shut down, so nothing after this call runs then); closing again is harmless.
        server.run(sockets=workers.sockets)
    finally:
        workers.stop()  # they also get SIGTERM when this process ends any other way
        runtime.close()
    if server.refused:  # the chain refused or misconfigured: the start's one error line, last
        startup.drop()
        typer.echo(f"error: {_refusal(server.refused[0])}", err=True)
        raise typer.Exit(2)
    if not server.started:  # e.g. the API's port taken: uvicorn logged why
        startup.release()
        raise typer.Exit(3)


def _check_workers(settings: Settings) -> None:
    """More than one server process needs a chain reached over RPC (or none): the managed
    anvil and eth-tester live inside the first process."""
    from evidence_api.core.config import ConfigurationError  # noqa: PLC0415

    if settings.resolved_workers > 1 and settings.chain in ("anvil", "tester"):
        raise ConfigurationError(
            f"EVIDENCE_WORKERS={settings.resolved_workers} needs EVIDENCE_CHAIN=rpc or none: "
            f"the {settings.chain} chain runs inside one process"
        )


def _start_workers(settings: Settings, host: str, port: int) -> Any:
    """The socket this process shares with ``EVIDENCE_WORKERS - 1`` worker processes, and
    those processes (:func:`evidence_api.core.server.start_workers`)."""
    from evidence_api.core.server import start_workers  # noqa: PLC0415

    command = [sys.executable, "-c", "from evidence_api.cli import main; main()"]
    command += ["serve-worker", "--host", host, "--port", str(port)]
    return start_workers(settings.resolved_workers, host, port, command)


@app.command("serve-worker", hidden=True)
def serve_worker(
    listen_fd: Annotated[int, typer.Option("--listen-fd", help="the inherited socket")],
    host: Annotated[str | None, typer.Option(help="the address serve listens on")] = None,
    port: Annotated[int | None, typer.Option(help="the port serve listens on")] = None,
) -> None:
    """One of EVIDENCE_WORKERS, started by ``evidence serve``: the API on the inherited
    socket, no in-process timers (``serve`` runs them), the chain reached over RPC if any."""
    from evidence_api.app import create_app  # noqa: PLC0415
    from evidence_api.core import server  # noqa: PLC0415
    from evidence_api.core.observability import configure_logging  # noqa: PLC0415
    from evidence_api.runtime import NO_TIMERS, build_runtime  # noqa: PLC0415
    from evidence_api.verifier_mount import api_base_url, mount_verifier  # noqa: PLC0415

    settings = get_settings()
    configure_logging(settings)
    sock = server.inherited_socket(listen_fd)
    timers = {name: off for name, off in NO_TIMERS.items() if name != "start_captures"}
    # Its own captures run here (EVIDENCE_RUN_CAPTURES), as in the first process.
    runtime = build_runtime(settings, **timers, connect_chain=settings.chain == "rpc")
    api = create_app(runtime=runtime, close_runtime=True)
    mount_verifier(api, runtime, api_base_url(host or settings.host, port or settings.port))
    try:
        server.serve(api, sock, settings)
    finally:
        runtime.close()


def _service(
    settings: Settings, *, init: bool, host: str, port: int
) -> tuple[Runtime, FastAPI, str | None]:
    """The runtime (the chain's node launched, not yet bound), the app, the portal's URL.

    The key, the database and the chain's node come before the server starts: a refused
    key, lock or port is one ``error:`` line and exit 2, not a traceback from the app's
    startup. The chain is bound once the server listens (``/readyz`` says "starting")."""
    from evidence_api.app import create_app  # noqa: PLC0415
    from evidence_api.core.config import ConfigurationError, check_production  # noqa: PLC0415
    from evidence_api.runtime import build_runtime  # noqa: PLC0415
    from evidence_api.verifier_mount import (  # noqa: PLC0415
        api_base_url,
        mount_prefix,
        mount_verifier,
    )

    try:
        check_production(settings)
        _check_workers(settings)
        mount_prefix(settings.verifier_mount)
        runtime = build_runtime(settings, init=init, bind_later=True)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    api = create_app(runtime=runtime, close_runtime=True)
    try:  # the portal trusts exactly this runtime's key and chain
        portal = mount_verifier(api, runtime, api_base_url(host, port))
    except ConfigurationError as exc:
        runtime.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return runtime, api, portal


def _refusal(exc: BaseException) -> str:
    """One line for a start refused after the server began to listen: the settings' own
    message, or why the chain could not be bound (an RPC that does not answer, a
    deployment that failed)."""
    if isinstance(exc, _configuration_error()):
        return str(exc)
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return f"the chain could not be bound: {type(exc).__name__}: {text}"


def _banner(runtime: Runtime, url: str, portal: str | None) -> None:
    """Where the service listens, its portal, and the trust roots for tier 5."""
    from evidence_api.trust.roots import runtime_trust_roots  # noqa: PLC0415

    settings = runtime.settings
    typer.echo(
        f"Evidence Anchor on {url} (mode {settings.mode}, data "
        f"{settings.data_dir.resolve()}); API docs at /docs"
        + (f"; verification portal at {portal}" if portal else "")
    )
    typer.echo("Trust roots for verifiers (tier 5; give them out of band):")
    typer.echo("\n".join("  " + line for line in runtime_trust_roots(runtime).lines()))
    typer.echo(f"Console (web pages for officers, platforms, administrators): {url}/console")
    if not _any_user(runtime):
        typer.echo(
            "  no console user yet; create the first administrator with:\n"
            "  evidence admin create-user --username admin --display-name 管理员 --role admin"
        )


def _any_user(runtime: Runtime) -> bool:
    from sqlalchemy import select  # noqa: PLC0415

    from evidence_api.core.models import User  # noqa: PLC0415

    try:
        with runtime.session() as session:
            return session.execute(select(User.id).limit(1)).first() is not None
    except Exception:  # the banner never stops the start; the hint is then shown
        return False


def _listening_server(config: Any) -> Any:
    """uvicorn's server, calling its ``listening`` once the socket listens; its ``refuse``
    stops it and records why (a start refused after it began to listen)."""
    import uvicorn  # noqa: PLC0415

    class ListeningServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            #: called once the socket listens
            self.listening: list[Callable[[], None]] = []
            self.refused: list[BaseException] = []

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and not self.should_exit:
                for then in self.listening:
                    then()

        def refuse(self, exc: BaseException) -> None:
            self.refused.append(exc)
            self.should_exit = True  # the main loop stops serving within 0.1 s

    return ListeningServer(config)


@app.command("worker")
def worker(
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
    queues: Annotated[
        str,
        typer.Option(
            help="comma-separated queues to consume: celery (the background jobs), capture "
            "(server-side captures; a host with Chromium)"
        ),
    ] = "celery",
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="tasks run at once; default EVIDENCE_CAPTURE_CONCURRENCY with the capture "
            "queue, else 1",
        ),
    ] = None,
) -> None:
    """Run a Celery worker (EVIDENCE_BROKER_URL): the seal, anchor and confirm tasks, or
    with --queues capture the server-side captures."""
    from evidence_api.worker import run_worker  # noqa: PLC0415 - only this command needs Celery

    run_worker(get_settings(), loglevel=loglevel, queues=queues, concurrency=concurrency)


@app.command("beat")
def beat(loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO") -> None:
    """Run Celery beat: seal every EVIDENCE_SEAL_INTERVAL, anchor every EVIDENCE_ANCHOR_INTERVAL."""
    from evidence_api.worker import run_beat  # noqa: PLC0415

    run_beat(get_settings(), loglevel=loglevel)


@chain_app.command("rebind")
def chain_rebind(
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm: anchor again on the new chain")
    ] = False,
) -> None:
    """Bind the log to the configured chain/contract after a chain change, and re-anchor.

    Anchors on the old chain stop counting; the newest checkpoint is anchored
    again on the new one. Refused without --yes.
    """
    from evidence_api.runtime import NO_TIMERS, build_runtime  # noqa: PLC0415

    if not yes:
        typer.echo("error: rebinding re-anchors the log on another chain; pass --yes", err=True)
        raise typer.Exit(2)
    runtime = build_runtime(get_settings(), **NO_TIMERS, rebind_chain=True)
    try:
        if runtime.chain is None:
            typer.echo("error: EVIDENCE_CHAIN=none; nothing to bind", err=True)
            raise typer.Exit(2)
        client = runtime.chain.client
        typer.echo(f"bound to chain {client.chain_id()} contract {client.address}")
    finally:
        runtime.close()


@chain_app.command("status")
def chain_status() -> None:
    """Show the chain binding, the trust roots for tier 5 (RPC URL, chain id, contract,
    log key id) and the newest anchors."""
    from evidence_api.trust.roots import (  # noqa: PLC0415
        StatusUnavailableError,
        chain_status_lines,
    )

    try:  # no database yet, or unreachable: one line, not a traceback
        lines = chain_status_lines(get_settings())
    except StatusUnavailableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo("\n".join(lines))


@verifier_app.command("serve")
def verifier_serve(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8100,
) -> None:
    """Start the read-only verification service and portal (no database; trust roots from
    VERIFIER_LOG_KEYS, VERIFIER_RPC_URLS, VERIFIER_CONTRACT, VERIFIER_CHAIN_ID; lookup via
    VERIFIER_LOG_URL; see verifier.service.config for every VERIFIER_* setting)."""
    import uvicorn  # noqa: PLC0415

    from verifier.errors import VerifierError  # noqa: PLC0415
    from verifier.service.app import ServiceConfig, create_verifier_app  # noqa: PLC0415

    try:  # a bad VERIFIER_* value is one line, not a traceback
        config = ServiceConfig.from_env()
    except VerifierError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"Verification service on http://{host}:{port}; portal at /verify, docs at /docs")
    typer.echo("\n".join("  " + line for line in config.describe()))
    from evidence_api.core.server import uvicorn_options  # noqa: PLC0415

    uvicorn.run(
        create_verifier_app(config),
        host=host,
        port=port,
        log_level="info",
        **uvicorn_options(get_settings()),  # the same connection limits as the API
    )


def _say_data_dir() -> None:
    """One line on stderr naming the data folder (and database) this command acts on:
    run from another directory, ``data`` would be another, empty, deployment."""
    settings = get_settings()
    where = f"data folder {settings.data_dir.resolve()}"
    if settings.database_url is not None:
        where += " (database from EVIDENCE_DATABASE_URL)"
    typer.echo(where, err=True)


def _acting() -> bool:
    """False when the command line asks for help (eager: the subcommand only prints it and
    acts on no data folder, so its settings need not be read)."""
    return "--help" not in sys.argv[1:]


@admin_app.callback()
def _admin_callback() -> None:
    if _acting():
        _say_data_dir()


@keys_app.callback()
def _keys_callback() -> None:
    if _acting():
        _say_data_dir()


@chain_app.callback()
def _chain_callback() -> None:
    if _acting():
        _say_data_dir()


INIT_HELP = "create a new deployment (database and log key) if there is none in the data folder"


def _admin_runtime(*, init: bool = False) -> Runtime:
    """A runtime for a one-shot admin command: no chain, no background timers; a bad
    configuration is one ``error:`` line and exit 2.

    Without ``init``, a data folder with no log key (and none configured) is refused
    rather than silently made into a second, empty deployment."""
    from evidence_api.core.config import ConfigurationError  # noqa: PLC0415
    from evidence_api.runtime import NO_TIMERS, build_runtime  # noqa: PLC0415

    settings = get_settings()
    configured = settings.log_key is not None or settings.log_key_file is not None
    if not init and not configured and not settings.dev_key_path.exists():
        typer.echo(
            f"error: no deployment in {settings.data_dir.resolve()} (no log key there); run "
            "from the deployment's folder or set EVIDENCE_DATA_DIR, or pass --init to create one",
            err=True,
        )
        raise typer.Exit(2)
    try:
        return build_runtime(settings, **NO_TIMERS, connect_chain=False, init=init)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    """An ApiError inside becomes one ``error: <reason>`` line on stderr and exit 2."""
    from evidence_api.core.errors import ApiError  # noqa: PLC0415

    try:
        yield
    except ApiError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc


@contextlib.contextmanager
def _admin_session(*, init: bool = False) -> Iterator[Any]:
    """One transaction of a one-shot admin runtime (:func:`_admin_runtime`, closed after);
    an ApiError inside rolls it back and becomes one ``error:`` line and exit 2."""
    runtime = _admin_runtime(init=init)
    try:
        with _refused(), runtime.session() as session:
            yield session
    finally:
        runtime.close()


@admin_app.command("create-token")
def create_token_cmd(
    role: Annotated[str, typer.Option(help="admin | officer | appraiser | platform")],
    name: Annotated[str, typer.Option(help="who holds the token, e.g. 'officer Zhang'")],
    platform: Annotated[
        str | None, typer.Option(help="platform code (platform tokens only)")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(help="lifetime (90d, 12h, 30m) or last day/instant (ISO 8601, UTC)"),
    ] = None,
    display_name: Annotated[
        str | None, typer.Option(help="the holder as shown in reports, e.g. 张三")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            help="the holder's unit: a unit code of the tree (evidence units list; the holder "
            "then acts in its jurisdiction), or a free-text label, e.g. 泉州市市场监督管理局"
        ),
    ] = None,
    init: Annotated[bool, typer.Option("--init", help=INIT_HELP)] = False,
) -> None:
    """Create a bearer token. It is printed once and stored only as a hash."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from evidence_api.core.auth import check_token_request, create_token, parse_expiry  # noqa: PLC0415

    with _refused():  # refuse bad arguments before touching the database
        check_token_request(role, name, platform, display_name=display_name, unit=unit)
        expires_at = parse_expiry(expires, datetime.now(UTC)) if expires is not None else None
    with _admin_session(init=init) as session:
        row, plaintext = create_token(
            session,
            role=role,
            name=name,
            platform=platform,
            expires_at=expires_at,
            display_name=display_name,
            unit=unit,
        )
        token_id = row.id
        _audit(session, "token_created", f"token-{row.id}", f"{name} ({role})")
    typer.echo(plaintext)
    until = f", valid until {expires_at.isoformat()}" if expires_at is not None else ""
    typer.echo(f"token {token_id} ({role}) created{until}; it is shown only once", err=True)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@admin_app.command("list-tokens")
def list_tokens_cmd() -> None:
    """List every token (never its secret: only its hash is stored)."""
    from evidence_api.core.auth import is_expired, list_tokens  # noqa: PLC0415

    with _admin_session() as session:
        rows = list_tokens(session)
    now = datetime.now(UTC)
    header = ("id", "name", "display name", "unit", "role", "platform", "created")
    table = [(*header, "expires", "revoked", "kind", "last used")]
    for row in rows:
        revoked = _when(row.revoked_at) if row.revoked_at is not None else "-"
        expires = _when(row.expires_at) + (" (expired)" if is_expired(row, now) else "")
        table.append(
            (
                str(row.id),
                row.name,
                row.display_name or "-",
                row.unit or "-",
                row.role,
                row.platform or "-",
                _when(row.created_at),
                expires,
                revoked,
                row.kind,
                _when(row.last_used_at),
            )
        )
    _print_table(table)


def _print_table(table: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        typer.echo("  ".join(cells).rstrip())


def _audit(session: Any, kind: str, subject: str, detail: str | None = None) -> None:
    """An audit event of an administration command (actor ``cli``)."""
    from evidence_api.accounts import audit  # noqa: PLC0415

    audit.record(session, kind, actor="cli", subject=subject, detail=detail)


@admin_app.command("revoke-token")
def revoke_token_cmd(
    token_id: Annotated[int, typer.Argument(help="the token's id (evidence admin list-tokens)")],
) -> None:
    """Revoke a token: refused from its next request on."""
    from evidence_api.core.auth import revoke_token  # noqa: PLC0415

    with _admin_session() as session:
        row = revoke_token(session, token_id)
        when = _when(row.revoked_at)
        _audit(session, "token_revoked", f"token-{row.id}", row.name)
    typer.echo(f"token {token_id} revoked at {when}", err=True)


def _read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin (``--password-stdin``), else typed twice at a
    hidden prompt. Never a command-line argument (it would sit in shell history and ps)."""
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


PASSWORD_STDIN_HELP = "read the password from the first line of stdin instead of a prompt"  # noqa: S105


@admin_app.command("create-user")
def create_user_cmd(
    username: Annotated[str, typer.Option(help="login name: a-z 0-9 . _ - (at most 64)")],
    display_name: Annotated[str, typer.Option(help="the person as shown in reports, e.g. 张三")],
    role: Annotated[str, typer.Option(help="admin | officer | appraiser | platform")],
    unit: Annotated[
        str | None,
        typer.Option(
            help="the person's unit: a unit code of the tree (evidence units list; the person "
            "then acts in its jurisdiction), or a free-text label, e.g. 泉州市市场监督管理局"
        ),
    ] = None,
    platform: Annotated[
        str | None, typer.Option(help="platform code (platform users only)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help=PASSWORD_STDIN_HELP)
    ] = False,
    init: Annotated[bool, typer.Option("--init", help=INIT_HELP)] = False,
) -> None:
    """Create a console user (asks for the password; it is stored only as an Argon2id hash)."""
    from evidence_api.accounts import passwords, service  # noqa: PLC0415
    from evidence_api.core.auth import check_token_request  # noqa: PLC0415

    with _refused():  # refuse bad arguments before asking for a password
        service.check_username(username)
        check_token_request(
            role, f"user:{username}", platform, display_name=display_name, unit=unit
        )
        password = _read_password(password_stdin)
        passwords.check_policy(password, username)
    with _admin_session(init=init) as session:
        user = service.create_user(
            session,
            username=username,
            password=password,
            display_name=display_name,
            role=role,
            unit=unit,
            platform=platform,
            actor="cli",
        )
        user_id = user.id
    typer.echo(f"user {user_id} {username!r} ({role}) created; log in at /console/login", err=True)


@admin_app.command("list-users")
def list_users_cmd() -> None:
    """List console users: role, unit, and whether each is disabled or locked."""
    from evidence_api.accounts import service  # noqa: PLC0415

    with _admin_session() as session:
        users = service.list_users(session)
    now = datetime.now(UTC)
    table = [("id", "username", "display name", "unit", "role", "platform", "totp", "state")]
    for user in users:
        state = "active"
        if user.disabled_at is not None:
            state = f"disabled {_when(user.disabled_at)}"
        elif user.locked_until is not None and user.locked_until > now:
            state = f"locked until {_when(user.locked_until)}"
        table.append(
            (
                str(user.id),
                user.username,
                user.display_name,
                user.unit or "-",
                user.role,
                user.platform or "-",
                "on" if user.totp_secret else "off",
                state,
            )
        )
    _print_table(table)


def _user_command(username: str, act: Callable[[Any, int], object], done: str) -> None:
    """Run ``act(session, user_id)`` on the user named ``username``; one line on stderr."""
    from evidence_api.accounts import service  # noqa: PLC0415

    with _admin_session() as session:
        act(session, service.user_by_name(session, username).id)
    typer.echo(f"user {username!r} {done}", err=True)


UsernameArg = Annotated[str, typer.Argument(help="the user's login name")]


@admin_app.command("disable-user")
def disable_user_cmd(username: UsernameArg) -> None:
    """Disable a user: its sessions end at once and it can no longer log in."""
    from evidence_api.accounts import service  # noqa: PLC0415

    _user_command(
        username, lambda s, uid: service.set_disabled(s, uid, True, actor="cli"), "disabled"
    )


@admin_app.command("enable-user")
def enable_user_cmd(username: UsernameArg) -> None:
    """Enable a disabled user again."""
    from evidence_api.accounts import service  # noqa: PLC0415

    _user_command(
        username, lambda s, uid: service.set_disabled(s, uid, False, actor="cli"), "enabled"
    )


@admin_app.command("unlock-user")
def unlock_user_cmd(username: UsernameArg) -> None:
    """Clear a lockout after repeated failed logins."""
    from evidence_api.accounts import service  # noqa: PLC0415

    _user_command(username, lambda s, uid: service.unlock(s, uid, actor="cli"), "unlocked")


@admin_app.command("reset-password")
def reset_password_cmd(
    username: UsernameArg,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help=PASSWORD_STDIN_HELP)
    ] = False,
) -> None:
    """Set a user's password (asks for it); ends the user's sessions."""
    from evidence_api.accounts import passwords, service  # noqa: PLC0415

    with _refused():
        password = _read_password(password_stdin)
        passwords.check_policy(password, username)
    _user_command(
        username,
        lambda s, uid: service.reset_password(s, uid, password, actor="cli"),
        "has a new password; its sessions ended",
    )


@admin_app.command("create-platform")
def create_platform_cmd(
    code: Annotated[str, typer.Option(help="platform code (what platform tokens bind to)")],
    name: Annotated[str, typer.Option(help="display name, e.g. 某某商城")],
    webhook_url: Annotated[
        str | None, typer.Option(help="http(s) endpoint for signed deliveries")
    ] = None,
    init: Annotated[bool, typer.Option("--init", help=INIT_HELP)] = False,
) -> None:
    """Register a platform; prints its generated webhook secret, shown only once."""
    from pydantic import ValidationError  # noqa: PLC0415

    from evidence_api.registry.platforms import create_platform  # noqa: PLC0415
    from evidence_api.registry.schemas import PlatformCreate  # noqa: PLC0415

    try:  # refuse bad arguments before touching the database
        body = PlatformCreate(code=code, name=name, webhook_url=webhook_url)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]).replace("_", "-")
        typer.echo(f"error: --{where}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    runtime = _admin_runtime(init=init)
    try:
        with _refused(), runtime.session() as session:
            created = create_platform(session, runtime.settings, body)
    finally:
        runtime.close()
    typer.echo(created.webhook_secret)
    typer.echo(
        f"platform {created.code!r} created; its webhook secret is shown only once", err=True
    )


@db_app.command("upgrade")
def db_upgrade(
    url: Annotated[
        str, typer.Option("--url", envvar="EVIDENCE_DATABASE_URL", help="SQLAlchemy URL")
    ],
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Create or migrate the schema at URL to REVISION."""
    from evidence_api.core.db import upgrade  # noqa: PLC0415

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
    from verifier.note import SignerKey  # noqa: PLC0415

    signer = SignerKey.generate(origin)
    out.touch(mode=0o600)
    out.write_text(signer.to_text() + "\n", encoding="utf-8")
    typer.echo(signer.verifier().to_text())


@keys_app.command("public")
def keys_public(
    key_file: Annotated[Path, typer.Argument(help="private key file")],
) -> None:
    """Print the verifier key (vkey) of a signing key file."""
    from verifier.errors import VerifierError  # noqa: PLC0415
    from verifier.note import SignerKey  # noqa: PLC0415

    try:
        signer = SignerKey.from_text(key_file.read_text(encoding="utf-8"))
    except (OSError, VerifierError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(signer.verifier().to_text())


def _show_version(value: bool) -> None:
    if value:
        from verifier.cli import package_version  # noqa: PLC0415

        typer.echo(f"evidence {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Evidence Anchor: blockchain-anchored electronic evidence (区块链电子取证)."""


def main() -> None:
    try:
        app()  # click already turns a reader gone mid-command (`| head`) into a quiet exit 1
    except BrokenPipeError:
        from verifier.cli import quiet_broken_pipe  # noqa: PLC0415

        quiet_broken_pipe()
    except Exception as exc:
        if not isinstance(exc, _configuration_error()):
            raise
        # a bad EVIDENCE_* value anywhere: one line, exit 2
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
