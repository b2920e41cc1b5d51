"""How deep a JSON text nests, measured without parsing it.

Python's ``json`` parser recurses once per ``[`` or ``{``. py_ecc and py-evm raise
``sys.setrecursionlimit`` when they are imported (py_ecc to 100,000), so in this
project's processes the interpreter no longer stops a deep text before the C stack
ends: 70,000 nested brackets crashed the process (SIGSEGV). Every server that parses
JSON from a client (the REST API, the ledger's JSON-RPC) first bounds the body's size
and then its nesting with ``nesting_exceeds``, which reads only bytes.
"""

from __future__ import annotations

import re
from itertools import accumulate

# A JSON string: a quote, then anything but a quote or a backslash, or an escape pair.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENS, _CLOSES = b"[{", b"]}"
# after ``translate``: an opening bracket the signed byte 1, a closing one -1
_STEPS = bytes.maketrans(_OPENS + _CLOSES, b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _OPENS + _CLOSES)


def nesting_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects deeper than ``max_depth``.

    Brackets inside strings do not count. The text need not be valid JSON (the parser
    judges that later); an unterminated string counts its brackets, which can only make
    the answer stricter. Linear in ``len(body)`` and mostly in C: a body with no more
    brackets than ``max_depth`` is answered by two counts.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False  # cannot nest deeper than it has brackets
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= max_depth:
        return False
    steps = memoryview(brackets.translate(_STEPS)).cast("b")
    return max(accumulate(steps)) > max_depth
