"""What the request and response bodies share: ids, path and query integers, amounts,
hashes and instants in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path as FastApiPath
from fastapi import Query
from pydantic import AfterValidator, BeforeValidator, Field, Strict

# Ids are positive and fit a signed 64-bit SQL integer. In a JSON body an id is a JSON
# integer: strict, so "4.0", 4.0, "4" and true are refused rather than read as 4.
MAX_ID = 2**63 - 1
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]

_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,18}")


def _canonical_int(value: Any) -> Any:
    """A path or query integer spelled one way only: ASCII digits without sign, leading
    zero, fraction or underscore (pydantic alone reads "1.0", "+1", "01" and "1_0" as 1).
    At most 19 digits, so that a huge number is refused before it is converted."""
    if isinstance(value, str) and not _CANONICAL_INT.fullmatch(value):
        raise ValueError("must be a whole number written in plain digits, such as 42")
    return value


# Every integer in a path or query goes through this, then its bounds.
CanonicalInt = BeforeValidator(_canonical_int)
# how many rows a list skips: bounded, so that the database never gets a number it
# cannot hold (9223372036854775808 was a 500)
Offset = Annotated[int, CanonicalInt, Query(ge=0, le=MAX_ID, description="rows to skip")]


def _in_utc(moment: datetime) -> datetime:
    # A naive time would be ambiguous on the wire; every time the API answers is aware.
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


# An instant in a response: ISO 8601 in UTC with a Z suffix, "2026-11-25T17:12:55Z"
# (pydantic writes UTC as Z). Calendar days are plain ``date``: "2027-01-31".
UtcDateTime = Annotated[
    datetime,
    AfterValidator(_in_utc),
    Field(examples=["2026-11-25T17:12:55Z"]),
]


Hash32 = Annotated[str, Field(pattern="^0x[0-9a-fA-F]{64}$", description="32 bytes, 0x-hex")]
Amount = Annotated[
    str,
    Field(pattern=r"^[0-9]{1,16}(\.[0-9]{1,2})?$", description='decimal, e.g. "125000.50"'),
]


PathId = Annotated[int, CanonicalInt, FastApiPath(ge=1, le=MAX_ID)]
