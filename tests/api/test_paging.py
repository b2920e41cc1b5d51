"""``fetch_page``: the rows of a page and the list's total, counted only when the page
cannot tell it (on SQLite, and on PostgreSQL with ``SCF_TEST_DATABASE_URL``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from api.readmodel.paging import fetch_page
from tests.api.databases import fresh_database


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "paging_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    kept: Mapped[bool]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    directory: Path = tmp_path_factory.mktemp("paging")
    with fresh_database(directory) as url:
        engine = create_engine(url)
        _Base.metadata.create_all(engine)
        yield engine
        engine.dispose()


@contextmanager
def _selects(engine: Engine) -> Iterator[list[str]]:
    """The SELECT statements sent to ``engine`` in the ``with`` block."""
    seen: list[str] = []

    def record(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@settings(max_examples=60, deadline=None)
@given(
    kept=st.lists(st.booleans(), max_size=12),
    limit=st.integers(1, 6),
    offset=st.integers(0, 14),
)
def test_a_page_and_the_total_are_those_of_the_whole_list(
    engine: Engine, kept: list[bool], limit: int, offset: int
) -> None:
    with Session(engine) as session:
        session.execute(delete(_Row))
        session.add_all(_Row(id=i + 1, kept=k) for i, k in enumerate(kept))
        session.commit()
        query = select(_Row).where(_Row.kept)
        rows, total = fetch_page(session, query, _Row.id.desc(), limit=limit, offset=offset)
    expected = sorted((i + 1 for i, k in enumerate(kept) if k), reverse=True)
    assert [r.id for r in rows] == expected[offset : offset + limit]
    assert total == len(expected)


@pytest.mark.parametrize(
    ("rows", "limit", "offset", "queries"),
    [
        (3, 5, 0, 1),  # a short page is the last one
        (0, 5, 0, 1),  # an empty first page: nothing at all
        (7, 5, 5, 1),  # a short page after a full one
        (5, 5, 0, 2),  # a full page: there may be more
        (3, 5, 5, 2),  # an empty page past the end: the total is below the offset
    ],
)
def test_the_count_runs_only_when_the_page_cannot_tell(
    engine: Engine, rows: int, limit: int, offset: int, queries: int
) -> None:
    with Session(engine) as session:
        session.execute(delete(_Row))
        session.add_all(_Row(id=i + 1, kept=True) for i in range(rows))
        session.commit()
        with _selects(engine) as seen:
            _, total = fetch_page(session, select(_Row), _Row.id, limit=limit, offset=offset)
    assert total == rows
    assert len(seen) == queries
