"""The read model's database for API tests: a SQLite file by default; with
``SCF_TEST_DATABASE_URL`` (a PostgreSQL server, e.g.
``postgresql+psycopg://scf:scf@127.0.0.1/postgres``) a fresh database per test module,
dropped afterwards, so the same tests prove the schema and queries on PostgreSQL.

A database can start as a copy of another (``template``): the API tests build one read
model per worker and give each module a copy of it (SQLite's backup API, PostgreSQL's
``CREATE DATABASE … TEMPLATE``)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

SERVER_ENV = "SCF_TEST_DATABASE_URL"


@contextmanager
def fresh_database(directory: Path, template: str | None = None) -> Iterator[str]:
    """The URL of a database that is gone again after the ``with`` block: empty, or a copy
    of the database at the URL ``template`` (one ``fresh_database`` gave, with no
    connection open to it)."""
    server = os.environ.get(SERVER_ENV)
    if not server:
        path = directory / "api.db"
        if template is not None:
            _copy_sqlite(make_url(template).database or "", path)
        yield f"sqlite:///{path}"
        return
    url = make_url(server)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"{SERVER_ENV} must name a PostgreSQL server, not {url.drivername}")
    name = f"scf_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE needs it
    copy = "" if template is None else f' TEMPLATE "{make_url(template).database}"'
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # FORCE: end connections a test's engine may still hold (PostgreSQL 13+), and
            # an autovacuum worker on it (the role needs pg_signal_backend for that)
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _copy_sqlite(source: str, target: Path) -> None:
    """A consistent copy of the SQLite database ``source``, its WAL included."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
