"""The log's side of witnessing: each new checkpoint submitted to the configured
witnesses (C2SP ``tlog-witness`` ``add-checkpoint``), their cosignatures checked and
stored in ``checkpoint_cosignature``. (Contract stub: filled in by the witness work.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from evidence_api.core.runtime import Runtime

Step = Callable[[], object]


def start_witnessing(runtime: Runtime) -> tuple[Sequence[Step], Callable[[float], None]]:
    """This process's witnessing steps (one per tick) and how to stop them."""
    return [lambda: 0], lambda _timeout: None
