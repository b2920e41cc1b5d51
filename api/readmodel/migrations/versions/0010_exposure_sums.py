"""exposure sums: what each holder holds of each issuer's paper, kept by the projections

``exposures`` (issuer_id, holder_id) -> the value of live certificates of roots not yet
repaid. The indexer's concentration check reads the touched issuers' rows instead of
summing all their certificates after every batch. Filled here from the certificates
already indexed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    exposures = op.create_table(
        "exposures",
        sa.Column("issuer_id", sa.BigInteger(), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_id", "holder_id"),
    )
    certificates = sa.table(
        "certificates",
        sa.column("root_id"),
        sa.column("issuer_id"),
        sa.column("holder_id"),
        sa.column("value"),
    )
    roots = sa.table("certificate_roots", sa.column("id"), sa.column("repaid"))
    outstanding = (
        sa.select(
            certificates.c.issuer_id, certificates.c.holder_id, sa.func.sum(certificates.c.value)
        )
        .join(roots, roots.c.id == certificates.c.root_id)
        .where(certificates.c.value > 0, roots.c.repaid == sa.false())
        .group_by(certificates.c.issuer_id, certificates.c.holder_id)
    )
    op.execute(exposures.insert().from_select(["issuer_id", "holder_id", "value"], outstanding))


def downgrade() -> None:
    op.drop_table("exposures")
