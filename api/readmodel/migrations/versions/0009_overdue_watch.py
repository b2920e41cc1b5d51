"""overdue watch: the indexer raises ``overdue`` once chain time passes maturity + grace

``certificate_roots`` gains ``overdue_alerted`` (its ``overdue`` alert is raised) and an
index on (``repaid``, ``overdue_alerted``, ``maturity``): each indexed batch looks up only
the unpaid roots past their deadline whose alert is still to raise. Roots whose alert was
raised already (by ``RootOverdue`` since 0008) are marked so here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "ix_certificate_roots_overdue_watch"


def upgrade() -> None:
    with op.batch_alter_table("certificate_roots") as batch:
        batch.add_column(
            sa.Column("overdue_alerted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index(INDEX, ["repaid", "overdue_alerted", "maturity"], unique=False)
    roots = sa.table("certificate_roots", sa.column("id"), sa.column("overdue_alerted"))
    alerts = sa.table("alerts", sa.column("dedupe_key"))
    raised = sa.exists().where(
        alerts.c.dedupe_key == sa.literal("overdue:") + sa.cast(roots.c.id, sa.String)
    )
    op.execute(roots.update().where(raised).values(overdue_alerted=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("certificate_roots") as batch:
        batch.drop_index(INDEX)
        batch.drop_column("overdue_alerted")
