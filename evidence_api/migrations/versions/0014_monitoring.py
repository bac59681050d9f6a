"""Monitoring: monitors, runs, alerts (with their history and deliveries), the per-host
start gate and slots, and the re-capture checks of completed takedown orders.

Revision ID: 0014_monitoring
Revises: 0013_captures
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_monitoring"
down_revision = "0013_captures"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("url_template", sa.String(2048), nullable=True),
        sa.Column("keyword", sa.String(256), nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(128), nullable=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=True),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("archive", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", Moment, nullable=False),
        sa.Column("last_run_at", Moment, nullable=True),
        sa.Column("baseline", sa.Text(), nullable=True),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column(
            "created_by_token_id", sa.Integer(), sa.ForeignKey("api_token.id"), nullable=False
        ),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.Column("deleted_at", Moment, nullable=True),
    )
    op.create_index("ix_monitor_due", "monitor", ["enabled", "next_run_at"])
    for column in ("host", "entity_id", "platform_id"):
        op.create_index(f"ix_monitor_{column}", "monitor", [column])

    op.create_table(
        "monitor_run",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("monitor_seq", BigId, sa.ForeignKey("monitor.seq"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scheduled_at", Moment, nullable=False),
        sa.Column("started_at", Moment, nullable=True),
        sa.Column("finished_at", Moment, nullable=True),
        sa.Column("heartbeat_at", Moment, nullable=True),
        sa.Column("owner", sa.String(160), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deferrals", sa.Integer(), nullable=False),
        sa.Column("observation", sa.Text(), nullable=True),
        sa.Column("fired", sa.Text(), nullable=True),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=True),
        sa.Column("entry_id", sa.String(128), nullable=True, unique=True),
        sa.Column("leaf_hash", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(1024), nullable=True),
    )
    op.create_index("ix_monitor_run_monitor_seq", "monitor_run", ["monitor_seq", "seq"])
    op.create_index("ix_monitor_run_status_scheduled", "monitor_run", ["status", "scheduled_at"])

    op.create_table(
        "alert",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("monitor_seq", BigId, sa.ForeignKey("monitor.seq"), nullable=True),
        sa.Column("run_seq", BigId, sa.ForeignKey("monitor_run.seq"), nullable=True),
        sa.Column("order_seq", BigId, sa.ForeignKey("takedown_order.seq"), nullable=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platform.id"), nullable=True),
        sa.Column("entity_id", BigId, sa.ForeignKey("trading_entity.id"), nullable=True),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("case_id", BigId, sa.ForeignKey("case_file.id"), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_index("ix_alert_status_seq", "alert", ["status", "seq"])
    for column in (
        "rule",
        "monitor_seq",
        "order_seq",
        "platform_id",
        "entity_id",
        "evidence_id",
        "recipient",
        "created_at",
    ):
        op.create_index(f"ix_alert_{column}", "alert", [column])

    op.create_table(
        "alert_event",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("alert_seq", BigId, sa.ForeignKey("alert.seq"), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("entry_id", sa.String(128), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_alert_event_alert_seq", "alert_event", ["alert_seq"])

    op.create_table(
        "alert_delivery",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("event_id", BigId, sa.ForeignKey("alert_event.id"), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Moment, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("delivered_at", Moment, nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
    )
    op.create_index("ix_alert_delivery_state_next", "alert_delivery", ["state", "next_attempt_at"])

    op.create_table(
        "monitor_host",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("next_start_at", Moment, nullable=False),
    )
    op.create_table(
        "monitor_host_slot",
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(160), nullable=True),
        sa.Column("held_until", Moment, nullable=True),
        sa.PrimaryKeyConstraint("host", "slot"),
    )

    op.create_table(
        "takedown_check",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_seq", BigId, sa.ForeignKey("takedown_order.seq"), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("due_at", Moment, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(160), nullable=True),
        sa.Column("started_at", Moment, nullable=True),
        sa.Column("finished_at", Moment, nullable=True),
        sa.Column("evidence_id", sa.String(64), sa.ForeignKey("evidence.id"), nullable=True),
        sa.Column("event_id", BigId, sa.ForeignKey("takedown_event.id"), nullable=True),
        sa.Column("reason", sa.String(1024), nullable=True),
    )
    op.create_index("ix_takedown_check_status_due", "takedown_check", ["status", "due_at"])
    op.create_index("ix_takedown_check_order_seq", "takedown_check", ["order_seq"])


def downgrade() -> None:
    op.drop_index("ix_takedown_check_order_seq", table_name="takedown_check")
    op.drop_index("ix_takedown_check_status_due", table_name="takedown_check")
    op.drop_table("takedown_check")
    op.drop_table("monitor_host_slot")
    op.drop_table("monitor_host")
    op.drop_index("ix_alert_delivery_state_next", table_name="alert_delivery")
    op.drop_table("alert_delivery")
    op.drop_index("ix_alert_event_alert_seq", table_name="alert_event")
    op.drop_table("alert_event")
    for column in (
        "rule",
        "monitor_seq",
        "order_seq",
        "platform_id",
        "entity_id",
        "evidence_id",
        "recipient",
        "created_at",
    ):
        op.drop_index(f"ix_alert_{column}", table_name="alert")
    op.drop_index("ix_alert_status_seq", table_name="alert")
    op.drop_table("alert")
    op.drop_index("ix_monitor_run_status_scheduled", table_name="monitor_run")
    op.drop_index("ix_monitor_run_monitor_seq", table_name="monitor_run")
    op.drop_table("monitor_run")
    for column in ("host", "entity_id", "platform_id"):
        op.drop_index(f"ix_monitor_{column}", table_name="monitor")
    op.drop_index("ix_monitor_due", table_name="monitor")
    op.drop_table("monitor")
