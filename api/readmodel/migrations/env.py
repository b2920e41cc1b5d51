"""Alembic environment: runs migrations on the engine handed over by api.readmodel.database."""

from __future__ import annotations

from alembic import context

from api.readmodel.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
