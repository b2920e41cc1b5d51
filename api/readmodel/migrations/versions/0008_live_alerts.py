"""live alerts: raised by the indexer, placed in the event feed, seen by their audience

``alerts`` gains ``condition`` (what is found; one open alert per condition), ``severity``,
``cleared_at`` (the condition ended), the alert's place in the event feed
(``block_number``, ``log_index``: alerts raised before 0008 have none and are not streamed)
and the ``transaction_hash`` whose event raised it. ``alert_audience`` lists the members who
may see each alert; alerts raised before are seen, as they were, by the member they are about.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# the severity of each kind raised before 0008
SEVERITY = {"duplicate_invoice": "high", "circular_transfer": "medium", "concentration": "medium"}


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("condition", sa.String(200), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("severity", sa.String(16), nullable=False, server_default="medium")
        )
        batch.add_column(sa.Column("cleared_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("block_number", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("transaction_hash", sa.String(66), nullable=True))
        batch.create_index("ix_alerts_condition", ["condition"], unique=False)
        batch.create_unique_constraint(
            "uq_alerts_block_number_log_index", ["block_number", "log_index"]
        )
    # before 0008 an alert was raised once per condition: its dedupe key names it
    op.execute("UPDATE alerts SET condition = dedupe_key")
    for kind, severity in SEVERITY.items():
        op.execute(
            sa.text("UPDATE alerts SET severity = :severity WHERE kind = :kind").bindparams(
                severity=severity, kind=kind
            )
        )
    op.create_table(
        "alert_audience",
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", "member_id"),
    )
    op.create_index(
        op.f("ix_alert_audience_member_id"), "alert_audience", ["member_id"], unique=False
    )
    op.execute(
        "INSERT INTO alert_audience (alert_id, member_id) "
        "SELECT id, member_id FROM alerts WHERE member_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_audience_member_id"), table_name="alert_audience")
    op.drop_table("alert_audience")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("uq_alerts_block_number_log_index", type_="unique")
        batch.drop_index("ix_alerts_condition")
        batch.drop_column("transaction_hash")
        batch.drop_column("log_index")
        batch.drop_column("block_number")
        batch.drop_column("cleared_at")
        batch.drop_column("severity")
        batch.drop_column("condition")
