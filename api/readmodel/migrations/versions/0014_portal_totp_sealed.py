"""portal users' TOTP secrets sealed with the node's data key: room for the sealed form

A sealed secret (``v1.`` and the base64 of nonce, ciphertext and tag) is longer than the
base32 secret. The secrets already stored in plain text are sealed by the node when it
starts (``api.portal.totp_secrets.seal_plaintext_totp_secrets``): the key is the node's,
not the database's.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_users") as batch:
        batch.alter_column(
            "totp_secret", existing_type=sa.String(64), type_=sa.String(128), nullable=True
        )


def downgrade() -> None:
    # a sealed secret does not fit the old column: downgrade before any is sealed
    with op.batch_alter_table("portal_users") as batch:
        batch.alter_column(
            "totp_secret", existing_type=sa.String(128), type_=sa.String(64), nullable=True
        )
