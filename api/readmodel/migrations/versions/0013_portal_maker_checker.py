"""portal maker-checker: a member's switch, and the money-moving actions awaiting a checker

``portal_member_settings`` (per member: maker-checker on or off, who switched it last),
``portal_pending_actions`` (a money-moving REST call an operator (经办) prepared in the
portal: its exact method, path and body, the idempotency key fixed at preparation, its
maker; then its checker (复核), decision, and the API's answer).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_member_settings",
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("maker_checker", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_table(
        "portal_pending_actions",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("maker_id", sa.Integer(), nullable=False),
        sa.Column("prepared_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("checker_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(
        op.f("ix_portal_pending_actions_member_id"), "portal_pending_actions", ["member_id"]
    )


def downgrade() -> None:
    op.drop_table("portal_pending_actions")
    op.drop_table("portal_member_settings")
