"""A transaction the chain node forgot because it restarted is sent again at once.

A restarted anvil comes back from its last state dump without its pool: a
transaction submitted before the restart and unknown to the node will never be
mined. Waiting ``drop_after`` (30 s by default) for it would hold anchoring back
well past the 10 s the supervised node promises; a transaction merely slow to
appear, with no restart since it was sent, still gets the full wait.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select

from anchoring.anchorer import AnchorConfig, confirm_step
from anchoring.chain import Receipt
from anchoring.schema import anchor_tx

TX = "0x" + "11" * 32


class ForgetfulNode:
    """The chain as a restarted node answers: no receipt, the transaction unknown."""

    def head(self) -> int:
        return 7

    def receipt(self, tx_hash: str) -> Receipt | None:
        return None

    def tx_known(self, tx_hash: str) -> bool:
        return False


def _submitted(engine: Engine, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(anchor_tx).values(
                size=5,
                root=b"\x00" * 32,
                prev_size=0,
                state="submitted",
                tx_hash=TX,
                nonce=1,
                submitted_at=at,
                updated_at=at,
            )
        )


def _state(engine: Engine) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(anchor_tx.c.state, anchor_tx.c.detail)).one()
    return row.state, row.detail


CFG = AnchorConfig(b"\x01" * 32, drop_after=30.0)


def test_a_young_unknown_transaction_waits_when_the_node_did_not_restart(
    sqlite_engine: Engine,
) -> None:
    _submitted(sqlite_engine, datetime.now(UTC) - timedelta(seconds=3))
    confirm_step(sqlite_engine, ForgetfulNode(), CFG)  # type: ignore[arg-type]
    assert _state(sqlite_engine) == ("submitted", None)
    # A restart *before* it was sent says nothing about it either.
    before = datetime.now(UTC) - timedelta(seconds=10)
    confirm_step(sqlite_engine, ForgetfulNode(), CFG, node_restarted_at=before)  # type: ignore[arg-type]
    assert _state(sqlite_engine) == ("submitted", None)


def test_an_unknown_transaction_sent_before_the_node_restarted_is_dropped_at_once(
    sqlite_engine: Engine,
) -> None:
    sent = datetime.now(UTC) - timedelta(seconds=3)
    _submitted(sqlite_engine, sent)
    confirm_step(
        sqlite_engine,
        ForgetfulNode(),  # type: ignore[arg-type]
        CFG,
        node_restarted_at=sent + timedelta(seconds=1),
    )
    assert _state(sqlite_engine) == ("dropped", "unknown to the node")


def test_an_old_unknown_transaction_is_dropped_after_drop_after(sqlite_engine: Engine) -> None:
    _submitted(sqlite_engine, datetime.now(UTC) - timedelta(seconds=31))
    confirm_step(sqlite_engine, ForgetfulNode(), CFG)  # type: ignore[arg-type]
    assert _state(sqlite_engine) == ("dropped", "unknown to the node")
