"""Celery tasks ``seal``, ``anchor`` and ``confirm``, and their beat schedule.

Tasks take no arguments (they act on the database's current state), are
idempotent, and never wait on another task. They run against a context the
hosting process provides through :func:`configure` (``evidence worker`` does
this), so this module imports nothing from the service and connects to
nothing at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from sqlalchemy import Engine

from anchoring.anchorer import AnchorConfig, anchor_step, confirm_step
from anchoring.chain import ChainClient
from anchoring.sealer import seal_pending
from verifier.note import SignerKey

app = Celery("evidence_anchor")
app.conf.update(
    task_acks_late=True,  # a task killed mid-way (kill -9) is delivered again
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
)


@dataclass
class TaskContext:
    engine: Engine
    signer: SignerKey
    max_batch: int
    chain: ChainClient | None
    anchor_config: AnchorConfig | None


_factory: Callable[[], TaskContext] | None = None
_context: TaskContext | None = None


def configure(
    *,
    broker_url: str,
    result_backend: str,
    seal_interval: float,
    anchor_interval: float,
    context_factory: Callable[[], TaskContext],
) -> Celery:
    """Point the app at its broker, install the beat schedule and the context factory."""
    global _factory, _context
    _factory, _context = context_factory, None
    schedule: dict[str, dict[str, Any]] = {
        "seal": {"task": "evidence.seal", "schedule": seal_interval},
        "confirm": {"task": "evidence.confirm", "schedule": anchor_interval},
        "anchor": {"task": "evidence.anchor", "schedule": anchor_interval},
    }
    app.conf.update(
        broker_url=broker_url,
        result_backend=result_backend,
        beat_schedule=schedule,
        # A stale tick is worthless: the next one does the same work.
        task_default_expires=max(seal_interval, anchor_interval) * 10,
    )
    return app


def context() -> TaskContext:
    global _context  # noqa: PLW0603 - one lazily built context per process
    if _context is None:
        if _factory is None:
            raise RuntimeError("anchoring.tasks.configure() was not called in this process")
        _context = _factory()
    return _context


@app.task(name="evidence.seal")
def seal() -> int:
    ctx = context()
    return sum(r.count for r in seal_pending(ctx.engine, ctx.signer, max_batch=ctx.max_batch))


@app.task(name="evidence.anchor")
def anchor() -> str:
    ctx = context()
    if ctx.chain is None or ctx.anchor_config is None:
        return "no chain"
    return anchor_step(ctx.engine, ctx.chain, ctx.anchor_config)


@app.task(name="evidence.confirm")
def confirm() -> None:
    ctx = context()
    if ctx.chain is not None and ctx.anchor_config is not None:
        confirm_step(ctx.engine, ctx.chain, ctx.anchor_config)
