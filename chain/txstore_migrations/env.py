"""Alembic environment of the transaction store: runs its migrations on the engine handed
over by ``chain.txstore_migrations.migrate``, with a version table of its own (the store may
share a database with the API's read model, whose migrations are another history)."""

from __future__ import annotations

from alembic import context

from chain.txstore import metadata
from chain.txstore_migrations import VERSION_TABLE

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
