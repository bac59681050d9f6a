"""Load for the scale-out stack: concurrent clients spreading evidence submissions and
stamps over the replicas, and the checks that nothing acknowledged is lost or doubled.

CONTRACT (filled in by the stack's implementation; the signatures are fixed:
``tests/e2e/test_scale_*.py`` and ``bench/scale.py`` call them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine


@dataclass(frozen=True)
class Ack:
    """One acknowledged item: a receipt the service issued."""

    kind: str  # "evidence" | "stamp"
    #: the log entry's id (``entry_id`` in the receipt)
    entry_id: str
    #: the evidence id or the stamp id
    item_id: str
    #: which replica answered (its base URL)
    replica: str
    #: monotonic time of the answer
    at: float


@dataclass
class LoadResult:
    acks: list[Ack] = field(default_factory=list)
    #: answers that were not acknowledgements, by reason ("503", "connect", ...): each was
    #: retried on the next replica, so no item is missing from ``acks`` because of them
    refusals: dict[str, int] = field(default_factory=dict)
    #: every signed checkpoint note a client saw (receipts, ``GET /v1/log/checkpoint``)
    checkpoints: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def rate(self) -> float:
        return len(self.acks) / self.seconds if self.seconds else 0.0


class Load:
    """``clients`` threads sending ``total`` items (``stamp_share`` of them stamp
    requests of ``stamp_batch`` digests each, the rest 1 KB evidence uploads) to the URLs
    ``urls()`` returns at each request, round-robin; a refused or broken request goes to
    the next replica after ``retry_pause`` seconds (a 503's ``Retry-After`` capped by it),
    until acknowledged."""

    def __init__(
        self,
        urls: Callable[[], list[str]],
        token: str,
        *,
        clients: int = 64,
        total: int = 20_000,
        stamp_share: float = 0.5,
        stamp_batch: int = 1,
        retry_pause: float = 0.2,
    ) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def done(self) -> int:
        """Items acknowledged so far."""
        raise NotImplementedError

    def join(self, timeout: float) -> LoadResult:
        raise NotImplementedError


@dataclass
class LogCheck:
    log_size: int
    entries: int
    duplicates: list[str]
    missing: list[str]


def check_log(engine: Engine, acks: list[Ack]) -> LogCheck:
    """The log after the load is sealed: every acknowledged entry present and sealed once;
    the number of entries of the load's kinds equals the receipts issued."""
    raise NotImplementedError


def check_checkpoints(notes: list[str], vkey: str, base_url: str) -> int:
    """Every pair of the signed checkpoints seen is consistent (one history: each verified
    against ``vkey``, sorted by size, same size → same root, and a consistency proof from
    the service verified between neighbours and to the newest); returns how many distinct
    sizes were checked. Raises ``AssertionError`` naming a fork."""
    raise NotImplementedError
