"""operation requests: what a ?wait=false operation needs to run after a restart

``operation_requests`` (one row per operation accepted with ``?wait=false`` and not yet
done): its query, headers (never the credentials), body (sealed with the node's data key
where the node has one) and how its member authenticated (the API key's SHA-256, the
client certificate). The node's operations worker runs it, and after a restart resumes
it; the row goes when the operation's answer is stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operation_requests",
        sa.Column("operation_id", sa.String(length=36), nullable=False),
        sa.Column("query_string", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sealed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=True),
        sa.Column("client_certificate", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("operation_id"),
    )


def downgrade() -> None:
    op.drop_table("operation_requests")
