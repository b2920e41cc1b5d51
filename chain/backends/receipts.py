"""Receipts of the embedded backend, formatted for web3.py only when they are read.

Every transaction the transaction manager sends is waited for, and all it reads of
the receipt is its status; most writers read no more than its block, its hash and
their own event (``ContractHandle.event_args`` decodes it from the raw logs). web3.py's
receipt formatter (hex strings to integers, bytes and checksummed addresses, each log
too) costs more than anything else in a receipt read, so ``LazyReceipt`` holds the
node's JSON-RPC answer and runs that formatter the first time a field other than these
is read. From then on it is the very ``AttributeDict`` web3.py would have returned: same
fields, same types, equal to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexbytes import HexBytes
from web3.datastructures import AttributeDict

from chain.web3_internals import format_receipt_fields


def format_receipt(answer: dict[str, Any]) -> AttributeDict[str, Any]:
    """A JSON-RPC receipt as web3.py returns it (its formatter, without its middlewares)."""
    formatted: AttributeDict[str, Any] = AttributeDict.recursive(format_receipt_fields(answer))
    return formatted


def _quantity(value: str) -> int:
    return int(value, 16)


# fields read on every write, and what web3.py's formatter makes of each
_CHEAP: dict[str, Callable[[Any], Any]] = {
    "status": _quantity,
    "blockNumber": _quantity,
    "transactionHash": HexBytes,
}


class LazyReceipt(AttributeDict[str, Any]):
    """A receipt as web3.py returns it, formatted on first use of a field not in ``_CHEAP``.

    The fields live in the instance ``__dict__`` as in every ``AttributeDict``; until they
    are formatted it is empty and the JSON-RPC answer waits in a slot.
    """

    __slots__ = ("_answer",)
    _answer: dict[str, Any]

    def __init__(self, answer: dict[str, Any]) -> None:
        object.__setattr__(self, "_answer", answer)  # AttributeDict refuses attributes

    def _fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = self.__dict__
        if not fields:  # two threads may both format: the same result, written twice
            fields.update(format_receipt(self._answer))
        return fields

    @property
    def status(self) -> int:
        return self["status"]  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> Any:
        if not self.__dict__ and key in _CHEAP:
            return _CHEAP[key](self._answer[key])  # what the formatter makes of it
        return self._fields()[key]

    @property
    def raw_logs(self) -> list[dict[str, Any]] | None:
        """The logs as the node sent them (hex strings), while the receipt is unformatted:
        enough for ``ContractHandle.event_args``."""
        return None if self.__dict__ else self._answer["logs"]

    def __getattr__(self, name: str) -> Any:
        # only for names not found the usual way: the fields before they are formatted
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._fields()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Any:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())

    def __repr__(self) -> str:
        return f"AttributeDict({self._fields()!r})"

    def _repr_pretty_(self, builder: Any, cycle: bool) -> None:
        self._fields()
        super()._repr_pretty_(builder, cycle)

    def __hash__(self) -> int:
        self._fields()
        return super().__hash__()

    def __eq__(self, other: Any) -> bool:
        self._fields()
        return super().__eq__(other)

    def __reduce__(self) -> tuple[Any, ...]:
        # copies and pickles are plain AttributeDicts of the formatted fields
        return (AttributeDict, (dict(self._fields()),))
