"""member documents: a record of a document per uploader

Documents were keyed by their content hash alone: a member uploading bytes another
member had stored privately got ``409 document_exists`` and so learned that the other
holds them. Each uploader now has a record of its own (``member_documents``, unique per
owner and hash, with a serial id its parties refer to). Every existing document moves
over as its owner's record, with its parties; the old tables go.

Downgrading keeps, per hash, the record stored first and its parties: the old tables
cannot hold a second uploader's record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COLUMNS = "hash, owner_id, filename, content_type, size, key_id, nonce, ciphertext, created_at"


def upgrade() -> None:
    op.create_table(
        "member_documents",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "hash"),
    )
    op.create_index(op.f("ix_member_documents_hash"), "member_documents", ["hash"], unique=False)
    op.create_table(
        "member_document_parties",
        sa.Column("document_id", _SERIAL, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["member_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id", "member_id"),
    )
    op.create_index(
        op.f("ix_member_document_parties_member_id"),
        "member_document_parties",
        ["member_id"],
        unique=False,
    )
    # the old hash was unique: one record per document, its owner's, in the order stored
    op.execute(
        sa.text(
            f"INSERT INTO member_documents ({_COLUMNS}) "
            f"SELECT {_COLUMNS} FROM documents ORDER BY created_at, hash"
        )
    )
    op.execute(
        sa.text(
            "INSERT INTO member_document_parties (document_id, member_id) "
            "SELECT d.id, p.member_id FROM document_parties p "
            "JOIN member_documents d ON d.hash = p.document_hash"
        )
    )
    op.drop_index(op.f("ix_document_parties_member_id"), table_name="document_parties")
    op.drop_table("document_parties")
    op.drop_index(op.f("ix_documents_owner_id"), table_name="documents")
    op.drop_table("documents")


def downgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_index(op.f("ix_documents_owner_id"), "documents", ["owner_id"], unique=False)
    op.create_table(
        "document_parties",
        sa.Column("document_hash", sa.String(length=66), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["document_hash"], ["documents.hash"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_hash", "member_id"),
    )
    op.create_index(
        op.f("ix_document_parties_member_id"), "document_parties", ["member_id"], unique=False
    )
    first = "SELECT MIN(id) FROM member_documents GROUP BY hash"
    op.execute(
        sa.text(
            f"INSERT INTO documents ({_COLUMNS}) "
            f"SELECT {_COLUMNS} FROM member_documents WHERE id IN ({first})"
        )
    )
    op.execute(
        sa.text(
            "INSERT INTO document_parties (document_hash, member_id) "
            "SELECT d.hash, p.member_id FROM member_document_parties p "
            f"JOIN member_documents d ON d.id = p.document_id WHERE d.id IN ({first})"
        )
    )
    op.drop_index(
        op.f("ix_member_document_parties_member_id"), table_name="member_document_parties"
    )
    op.drop_table("member_document_parties")
    op.drop_index(op.f("ix_member_documents_hash"), table_name="member_documents")
    op.drop_table("member_documents")
