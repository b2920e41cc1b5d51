"""anonymous operations: Idempotency-Key on POSTs without a member

An anonymous POST (an application to join) is kept with no member, its key only as a
SHA-256 (unique among anonymous rows: NULL member ids never collide in the pair
constraint) and its response body sealed under the key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ANONYMOUS = sa.text("member_id IS NULL")


def upgrade() -> None:
    # batch: SQLite changes a column's nullability only by copying the table
    with op.batch_alter_table("operations") as batch:
        batch.alter_column("member_id", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(
            sa.Column("response_sealed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        "uq_operations_anonymous_key",
        "operations",
        ["idempotency_key"],
        unique=True,
        sqlite_where=_ANONYMOUS,
        postgresql_where=_ANONYMOUS,
    )


def downgrade() -> None:
    op.drop_index("uq_operations_anonymous_key", table_name="operations")
    op.execute(sa.text("DELETE FROM operations WHERE member_id IS NULL"))
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("response_sealed")
        batch.alter_column("member_id", existing_type=sa.BigInteger(), nullable=False)
