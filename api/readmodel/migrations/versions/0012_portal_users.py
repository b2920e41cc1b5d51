"""portal users: a member's staff who sign in to the member portal, their sessions, audit

``portal_users`` (argon2id password hashes, the hash of the one-time invitation code a
user sets its password with, optional TOTP secret, role inside the member),
``portal_sessions`` (the SHA-256 of each browser's session token, its CSRF token, when it
began and was last seen), ``portal_audit`` (who did what through the portal).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_users",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("invitation_hash", sa.String(64), nullable=True),
        sa.Column("invitation_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("disabled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index(op.f("ix_portal_users_member_id"), "portal_users", ["member_id"])
    op.create_table(
        "portal_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", SERIAL, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["portal_users.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_portal_sessions_user_id"), "portal_sessions", ["user_id"])
    op.create_table(
        "portal_audit",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_portal_audit_member_id"), "portal_audit", ["member_id"])


def downgrade() -> None:
    op.drop_table("portal_audit")
    op.drop_table("portal_sessions")
    op.drop_table("portal_users")
