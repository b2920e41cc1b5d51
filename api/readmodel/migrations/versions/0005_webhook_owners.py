"""webhook owners: a row per member that one member's registrations lock in turn

Registering a webhook counted the member's webhooks and looked for the URL, then
inserted: concurrent registrations all passed the check (60 at once made 25 webhooks
against a limit of 20). Each registration now first updates its member's row here, so
they take turns per member, on SQLite and PostgreSQL alike.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_owners",
        sa.Column("member_id", sa.BigInteger(), primary_key=True),
        sa.Column("registrations", sa.BigInteger(), nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO webhook_owners (member_id, registrations) "
            "SELECT member_id, COUNT(*) FROM webhooks GROUP BY member_id"
        )
    )


def downgrade() -> None:
    op.drop_table("webhook_owners")
