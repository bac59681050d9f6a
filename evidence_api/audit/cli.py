"""``evidence audit``: the full audit (progress bar, resumable, ``--json``) and its
acknowledgement. Light at import.

Exit codes: 0 clean, 1 discrepancies found (or the run was stopped before its end), 3 the
audit could not run (no deployment, database unreadable, nothing to resume)."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from evidence_api.core.config import Settings
    from evidence_api.core.runtime import Runtime
    from evidence_api.core.storage import ObjectStore

audit_app = typer.Typer(
    help="Full audit: rebuild the tree from the stored entries, re-hash every object, check "
    "every anchor, cosignature and timestamp; report each discrepancy.",
    rich_markup_mode=None,
)

UNUSABLE = 3
#: findings printed without --json (all are stored; the API and console page them)
SHOWN = 50


def _runtime(*, chain: bool = True) -> Runtime:
    """What the audit reads, built here without the service's composition root: no
    migration, no background job, the log key never created; the chain only when it is a
    plain RPC (a managed or tester chain belongs to the serving process)."""
    from sqlalchemy.orm import sessionmaker  # noqa: PLC0415

    from evidence_api.core.config import ConfigurationError, get_settings  # noqa: PLC0415
    from evidence_api.core.db import make_engine  # noqa: PLC0415
    from evidence_api.core.keys import load_signer  # noqa: PLC0415
    from evidence_api.core.runtime import Runtime  # noqa: PLC0415

    settings = get_settings()
    configured = settings.log_key is not None or settings.log_key_file is not None
    if not configured and not settings.dev_key_path.exists():
        typer.echo(
            f"error: no deployment in {settings.data_dir.resolve()} (no log key there)", err=True
        )
        raise typer.Exit(UNUSABLE)
    try:
        signer = load_signer(settings, may_create=False)
        engine = make_engine(settings.resolved_database_url)
    except (ConfigurationError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(UNUSABLE) from exc
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        store=_store(settings),
        signer=signer,
    )
    if chain and settings.chain == "rpc":
        from evidence_api.core.chain_setup import open_chain  # noqa: PLC0415 - loads web3

        try:
            runtime.chain = open_chain(settings, engine)
        except Exception as exc:  # unreachable or refused: the anchors are "not checked"
            typer.echo(f"warning: the chain: {type(exc).__name__}: {exc}"[:300], err=True)
    return runtime


def _store(settings: Settings) -> ObjectStore:
    """The configured object store."""
    from evidence_api.core.storage.factory import store_for  # noqa: PLC0415

    return store_for(settings)


class _Progress:
    """A bar on a terminal (stderr), a line every ``every`` seconds otherwise."""

    def __init__(self, quiet: bool, every: float = 10.0) -> None:
        self.tty = sys.stderr.isatty() and not quiet
        self.quiet = quiet
        self.every = every
        self.last = 0.0
        self.phase = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            if total:
                filled = min(30, 30 * done // max(total, 1))
                bar = "#" * filled + "-" * (30 - filled)
                text = f"\r{phase:<12} [{bar}] {done}/{total}"
            else:
                text = f"\r{phase:<12} {done} checked"
            sys.stderr.write(text.ljust(70))
            sys.stderr.flush()
        elif phase != self.phase or now - self.last >= self.every:
            of = f"/{total}" if total else ""
            sys.stderr.write(f"audit: {phase}: {done}{of} checked\n")
            sys.stderr.flush()
            self.last = now
        self.phase = phase

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


@audit_app.callback(invoke_without_command=True)
def run_audit(
    ctx: typer.Context,
    resume: Annotated[
        bool, typer.Option("--resume", help="go on with the newest interrupted run")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the summary and findings as JSON")
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch", min=10, max=100_000, help="rows per batch")
    ] = 2000,
    stop_after: Annotated[
        int | None,
        typer.Option("--stop-after", min=1, hidden=True, help="stop after N batches (drills)"),
    ] = None,
) -> None:
    """Run the full audit (or ``ack`` a failed run)."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from evidence_api.audit.service import (  # noqa: PLC0415
        AuditContext,
        Auditor,
        AuditUnusableError,
        findings_of,
    )

    runtime = _runtime()
    progress = _Progress(quiet=as_json and not sys.stderr.isatty())
    try:
        auditor = Auditor(
            AuditContext.of(runtime, batch=batch), progress=progress, stop_after=stop_after
        )
        try:
            run_id = auditor.resumable() if resume else auditor.start()
            outcome = auditor.run(run_id)
        except AuditUnusableError as exc:
            progress.close()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(UNUSABLE) from exc
        except SQLAlchemyError as exc:
            progress.close()
            typer.echo(f"error: the database: {type(exc).__name__}: {exc}"[:500], err=True)
            raise typer.Exit(UNUSABLE) from exc
        progress.close()
        with runtime.session() as session:
            found = findings_of(session, outcome.run_id, limit=10_000 if as_json else SHOWN)
            items = [{"kind": f.kind, "location": f.location, "detail": f.detail} for f in found]
    finally:
        runtime.close()
    not_checked: dict[str, Any] = outcome.counts.pop("not_checked", {})
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": outcome.run_id,
                    "status": outcome.status,
                    "finding_count": outcome.findings,
                    "counts": outcome.counts,
                    "not_checked": not_checked,
                    "findings": items,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        typer.echo(f"audit run {outcome.run_id}: {outcome.status}, {outcome.findings} findings")
        typer.echo("checked: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items())))
        for phase, why in sorted(not_checked.items()):
            typer.echo(f"not checked: {phase}: {why}")
        for item in items:
            typer.echo(f"  {item['kind']:<12} {item['location']}: {item['detail']}")
        if outcome.findings > len(items):
            typer.echo(f"  ... {outcome.findings - len(items)} more (GET /v1/integrity/audits)")
        if outcome.status == "failed":
            typer.echo(
                f"/readyz is not ready until acknowledged: evidence audit ack {outcome.run_id} "
                "--by NAME"
            )
        if outcome.status == "interrupted":
            typer.echo("stopped before the end: evidence audit --resume goes on")
    raise typer.Exit(0 if outcome.status == "clean" else 1)


@audit_app.command("ack")
def ack(
    run_id: Annotated[int, typer.Argument(min=1, help="the failed run's id")],
    by: Annotated[str, typer.Option("--by", help="who acknowledges (name)")],
    note: Annotated[str | None, typer.Option("--note", help="what was done about it")] = None,
) -> None:
    """Acknowledge a failed run: ``/readyz`` is ready again (unless another one failed)."""
    from evidence_api.accounts import audit  # noqa: PLC0415
    from evidence_api.audit.service import acknowledge  # noqa: PLC0415
    from evidence_api.core.errors import ApiError  # noqa: PLC0415

    runtime = _runtime(chain=False)
    try:
        with runtime.session() as session:
            run = acknowledge(session, run_id, by, note)
            audit.record(
                session,
                "audit_acknowledged",
                actor="cli",
                subject=f"audit-{run_id}",
                detail=f"by {run.acknowledged_by}: {note or ''}",
            )
    except ApiError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    finally:
        runtime.close()
    typer.echo(f"audit run {run_id} acknowledged by {by.strip()}")
