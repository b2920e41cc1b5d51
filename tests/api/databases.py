"""The read model's database for API tests: a SQLite file by default; with
``SCF_TEST_DATABASE_URL`` (a PostgreSQL server, e.g.
``postgresql+psycopg://scf:scf@127.0.0.1/postgres``) a fresh database per test module,
dropped afterwards, so the same tests prove the schema and queries on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

SERVER_ENV = "SCF_TEST_DATABASE_URL"


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """The URL of an empty database that is gone again after the ``with`` block."""
    server = os.environ.get(SERVER_ENV)
    if not server:
        yield f"sqlite:///{directory / 'api.db'}"
        return
    url = make_url(server)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"{SERVER_ENV} must name a PostgreSQL server, not {url.drivername}")
    name = f"scf_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE needs it
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # FORCE: end connections a test's engine may still hold (PostgreSQL 13+), and
            # an autovacuum worker on it (the role needs pg_signal_backend for that)
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
