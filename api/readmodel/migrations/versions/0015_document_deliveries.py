"""document deliveries: the outbox of documents on their way to other institutions' nodes

``document_deliveries`` (per document record, party and receiving node: the node's
document URL and certificate fingerprint, pending / delivered / refused, attempts, when
to try next, the last error).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 18:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "document_deliveries",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("document_id", SERIAL, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("node_id", sa.String(66), nullable=False),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("certificate", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(512), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["member_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "member_id", "node_id"),
    )
    op.create_index("ix_document_deliveries_document_id", "document_deliveries", ["document_id"])
    op.create_index("ix_document_deliveries_state", "document_deliveries", ["state"])


def downgrade() -> None:
    op.drop_index("ix_document_deliveries_state", "document_deliveries")
    op.drop_index("ix_document_deliveries_document_id", "document_deliveries")
    op.drop_table("document_deliveries")
