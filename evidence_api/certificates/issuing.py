"""Issuing 存证证书 in the background: every evidence item without a certificate gets one.
(Contract stub: filled in by the certificate work.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from evidence_api.core.runtime import Runtime

Step = Callable[[], object]


def start_issuing(runtime: Runtime) -> tuple[Sequence[Step], Callable[[float], None]]:
    """This process's issuing steps (one per tick) and how to stop them."""
    return [lambda: 0], lambda _timeout: None
