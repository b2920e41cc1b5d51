"""Migration 0007: documents keyed by hash alone become one record per uploader, with
every stored document and party moved over (and back, on a downgrade)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, text

from api.readmodel.database import alembic_config, make_engine, session_factory
from api.readmodel.models import MemberRow
from api.services.documents import Documents, DocumentVault
from tests.api.databases import fresh_database

OWNER, PARTY, OTHER, STRANGER = 3, 5, 7, 9


def _sha(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


def _store_at_0006(engine: Engine, vault: DocumentVault, content: bytes, parties: list[int]) -> str:
    """A document as the schema at 0006 held it: one row per hash, parties by hash."""
    digest = _sha(content)
    nonce, ciphertext = vault.seal(content, digest)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO documents (hash, owner_id, filename, content_type, size, key_id, "
                "nonce, ciphertext, created_at) VALUES (:hash, :owner, :filename, "
                "'application/pdf', :size, :key_id, :nonce, :ciphertext, 1764000000)"
            ),
            {
                "hash": digest,
                "owner": OWNER,
                "filename": f"{digest[2:10]}.pdf",
                "size": len(content),
                "key_id": vault.key_id,
                "nonce": nonce,
                "ciphertext": ciphertext,
            },
        )
        for party in parties:
            connection.execute(
                text("INSERT INTO document_parties (document_hash, member_id) VALUES (:h, :m)"),
                {"h": digest, "m": party},
            )
    return digest


def _member(member_id: int) -> MemberRow:
    return MemberRow(id=member_id, name=f"m{member_id}", roles=0, status="active")


def test_documents_stored_at_0006_move_to_their_owners_records(tmp_path: Path) -> None:
    vault = DocumentVault(bytes(range(32)))
    with fresh_database(tmp_path) as url:
        engine = make_engine(url)
        try:
            command.upgrade(alembic_config(engine), "0006")
            shared = _store_at_0006(engine, vault, b"an invoice shared with two", [PARTY, OTHER])
            private = _store_at_0006(engine, vault, b"the owner's private agreement", [])

            command.upgrade(alembic_config(engine), "head")

            with engine.connect() as connection:
                records = connection.execute(
                    text("SELECT id, hash, owner_id, created_at FROM member_documents ORDER BY id")
                ).all()
                parties = connection.execute(
                    text(
                        "SELECT d.hash, p.member_id FROM member_document_parties p "
                        "JOIN member_documents d ON d.id = p.document_id ORDER BY p.member_id"
                    )
                ).all()
            assert sorted((r.hash, r.owner_id, r.created_at) for r in records) == sorted(
                [(shared, OWNER, 1764000000), (private, OWNER, 1764000000)]
            )
            assert [tuple(p) for p in parties] == [(shared, PARTY), (shared, OTHER)]

            sessions = session_factory(engine)
            with sessions() as session:
                documents = Documents(session, vault, 1024)
                for reader in (OWNER, PARTY, OTHER):
                    row, plaintext = documents.read(_member(reader), shared)
                    assert (row.owner_id, plaintext) == (OWNER, b"an invoice shared with two")
                assert documents.read(_member(OWNER), private)[1].startswith(b"the owner's")
                for digest in (shared, private):
                    assert documents.verify(_member(OWNER), digest).intact

            # a second uploader's record of the same bytes does not survive a downgrade
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO member_documents (hash, owner_id, filename, content_type, "
                        "size, key_id, nonce, ciphertext, created_at) SELECT hash, :other, "
                        "filename, content_type, size, key_id, nonce, ciphertext, 1764000100 "
                        "FROM member_documents WHERE hash = :hash"
                    ),
                    {"other": STRANGER, "hash": private},
                )
            command.downgrade(alembic_config(engine), "0006")
            with engine.connect() as connection:
                back = connection.execute(
                    text("SELECT hash, owner_id FROM documents ORDER BY hash")
                ).all()
                back_parties = connection.execute(
                    text("SELECT document_hash, member_id FROM document_parties ORDER BY member_id")
                ).all()
            assert sorted(tuple(r) for r in back) == sorted([(shared, OWNER), (private, OWNER)])
            assert [tuple(p) for p in back_parties] == [(shared, PARTY), (shared, OTHER)]
        finally:
            engine.dispose()
