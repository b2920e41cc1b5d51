"""trust terms: an invoice's canonical identity, a financing request's accepted rate

``invoices.invoice_code`` / ``invoice_number``: the canonical identity the ledger derived the
key from (``InvoiceRegistered`` carries it). ``financing_requests.max_rate_bps``: the highest
discount rate the requester accepts (``FinancingRequested``). Rows indexed before these
columns existed keep them empty (NULL): the events of the contracts before issue 21 carry
neither.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("invoice_code", sa.String(12), nullable=True))
        batch.add_column(sa.Column("invoice_number", sa.String(20), nullable=True))
    with op.batch_alter_table("financing_requests") as batch:
        batch.add_column(sa.Column("max_rate_bps", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("financing_requests") as batch:
        batch.drop_column("max_rate_bps")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("invoice_number")
        batch.drop_column("invoice_code")
