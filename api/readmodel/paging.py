"""One page of a list route and the total it reports, in one query when the page tells.

A list answer carries ``total``. Counting costs a second query, and most pages do not
need it: a page shorter than ``limit`` is the last
one, so its rows and the ``offset`` before them are all there are. The count runs only
for a full page, or an empty page past the first (the total may be below the offset).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


def fetch_page(
    session: Session, query: Select[T], *order_by: Any, limit: int, offset: int
) -> tuple[list[T], int]:
    """Rows ``offset`` to ``offset + limit`` of ``query`` in ``order_by`` order, and how
    many rows the query has in all."""
    rows = list(session.scalars(query.order_by(*order_by).limit(limit).offset(offset)))
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return rows, total
